"""Turn SIGTERM into the same clean shutdown path as Ctrl-C.

Python's default SIGTERM handling exits without unwinding, so `finally` blocks and pytest fixture
finalizers would not run and the cluster's processes would outlive us.
"""

from __future__ import annotations

import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM so cleanup code runs as on Ctrl-C."""


def _raise(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM exits at once
    raise Terminated(f"received signal {signum}")


def install_sigterm_handler() -> None:
    signal.signal(signal.SIGTERM, _raise)
