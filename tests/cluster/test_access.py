"""Scenarios share the cluster; an exclusive test waits for the running ones and keeps new ones out."""

from __future__ import annotations

import subprocess
import sys
import time

from harness._cluster.access import cluster_access

NAME = "access-test"
SCRIPT = """
import sys
from harness._cluster.access import cluster_access
with cluster_access(
    sys.argv[1], exclusive=sys.argv[2] == "exclusive", behind_writers=sys.argv[2] != "child-of-reader"
):
    print("in", flush=True)
    sys.stdin.readline()
"""


class Holder:
    """Another process (a pytest-xdist worker) holding the cluster while its test runs."""

    def __init__(self, mode: str) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, NAME, mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def entered(self, timeout: float) -> bool:
        import select

        assert self.p.stdout is not None
        ready, _, _ = select.select([self.p.stdout], [], [], timeout)
        return bool(ready) and self.p.stdout.readline() == b"in\n"

    def leave(self) -> None:
        self.p.communicate(b"\n", timeout=30)


def test_scenarios_share_and_an_exclusive_test_waits_for_them(chaos_dirs: object) -> None:
    a, b = Holder("shared"), Holder("shared")
    assert a.entered(30)
    assert b.entered(30)  # two scenarios at once
    writer = Holder("exclusive")
    assert not writer.entered(1.0)  # the delay is the scenario: the writer must still be waiting
    a.leave()
    assert not writer.entered(0.5)
    b.leave()
    assert writer.entered(30)
    writer.leave()


def test_a_waiting_exclusive_test_keeps_new_scenarios_out(chaos_dirs: object) -> None:
    a = Holder("shared")
    assert a.entered(30)
    writer = Holder("exclusive")
    time.sleep(1.0)  # the delay is the scenario: the writer is queued behind the running scenario
    late = Holder("shared")
    assert not late.entered(1.0)  # no reader slips in ahead of the queued writer
    a.leave()
    assert writer.entered(30)
    assert not late.entered(0.5)
    writer.leave()
    assert late.entered(30)
    late.leave()


def test_in_one_process_shared_then_exclusive(chaos_dirs: object) -> None:
    with cluster_access(NAME, exclusive=False):
        pass
    with cluster_access(NAME, exclusive=True):
        pass


def test_a_reader_started_by_a_reader_joins_although_a_writer_waits(chaos_dirs: object) -> None:
    """`argocd-chaos reproduce` run by a test: queueing behind the writer would deadlock its parent."""
    parent = Holder("shared")
    assert parent.entered(30)
    writer = Holder("exclusive")
    time.sleep(1.0)  # the delay is the scenario: the writer is queued behind the running scenario
    child = Holder("child-of-reader")
    assert child.entered(30)
    child.leave()
    assert not writer.entered(0.5)
    parent.leave()
    assert writer.entered(30)
    writer.leave()
