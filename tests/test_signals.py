"""SIGTERM and SIGHUP unwind like Ctrl-C, so finalizers run (a closed terminal sends SIGHUP)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

SCRIPT = """
import os, signal, sys, time
from harness._signals import install_sigterm_handler
install_sigterm_handler()
try:
    print("ready", flush=True)
    time.sleep(60)
finally:
    print("finally ran", flush=True)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_signal_runs_finally_blocks(sig: signal.Signals) -> None:
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(sig)
    out, err = p.communicate(timeout=30)
    assert b"finally ran" in out
    assert f"Terminated: received signal {sig.name}".encode() in err
