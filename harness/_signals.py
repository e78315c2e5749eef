"""Turn SIGTERM and SIGHUP into the same clean shutdown path as Ctrl-C.

Python's default handling of both exits without unwinding, so `finally` blocks and pytest fixture
finalizers would not run and the cluster's processes would outlive us. SIGHUP is what a closed
terminal or a dropped SSH session sends; the components run in sessions of their own, so the
hang-up never reaches them and only the test process can stop them (or, if it is killed first,
its reaper: `harness._cluster.reaper`).
"""

from __future__ import annotations

import signal
from types import FrameType

HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM or SIGHUP so cleanup code runs as on Ctrl-C."""


def _raise(signum: int, _frame: FrameType | None) -> None:
    for sig in HANDLED:
        signal.signal(sig, signal.SIG_DFL)  # a second signal exits at once
    raise Terminated(f"received signal {signal.Signals(signum).name}")


def install_sigterm_handler() -> None:
    """Handle SIGTERM and SIGHUP in the main thread (call it from there)."""
    for sig in HANDLED:
        signal.signal(sig, _raise)
