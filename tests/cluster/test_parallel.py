from __future__ import annotations

import threading
import time

import pytest

from harness._cluster.embedded.parallel import run_concurrently
from harness._errors import ClusterSetupError


def test_steps_run_side_by_side_and_results_come_back_by_name() -> None:
    # Each step waits until all three have started: run one after another, they would time out.
    started = threading.Barrier(3, timeout=5)

    def step(value: int) -> object:
        def run(cancel: threading.Event) -> int:
            started.wait()
            return value * 10

        return run

    assert run_concurrently({"a": step(1), "b": step(2), "c": step(3)}) == {"a": 10, "b": 20, "c": 30}


def test_no_steps_give_no_results() -> None:
    assert run_concurrently({}) == {}


def test_the_first_failure_is_raised_and_cancels_the_other_steps() -> None:
    cancelled_seen: list[str] = []

    def fails(cancel: threading.Event) -> None:
        raise ClusterSetupError("kube-scheduler", "exited with code 1 before it was ready", "bind: in use")

    def waits_for_cancel(name: str) -> object:
        def run(cancel: threading.Event) -> None:
            if not cancel.wait(timeout=10):
                raise AssertionError(f"{name} was never cancelled")
            cancelled_seen.append(name)
            # A cancelled wait raises too, as `wait_ready` does; that must not hide the real failure.
            raise ClusterSetupError(name, "stopped waiting: another step of the boot failed")

        return run

    t0 = time.monotonic()
    with pytest.raises(ClusterSetupError) as err:
        run_concurrently(
            {"kcm": waits_for_cancel("kcm"), "kube-scheduler": fails, "kwok": waits_for_cancel("kwok")}
        )

    assert time.monotonic() - t0 < 5
    assert err.value.component == "kube-scheduler"
    assert "exited with code 1" in err.value.reason
    assert sorted(cancelled_seen) == ["kcm", "kwok"]


def test_every_step_has_returned_when_a_failure_is_raised() -> None:
    finished = threading.Event()

    def slow_to_notice(cancel: threading.Event) -> None:
        cancel.wait(timeout=10)
        time.sleep(0.2)  # the step's own poll interval before it notices
        finished.set()

    def fails(cancel: threading.Event) -> None:
        raise ValueError("bad probe")

    with pytest.raises(ValueError, match="bad probe"):
        run_concurrently({"slow": slow_to_notice, "fails": fails})

    assert finished.is_set()


def test_a_step_that_succeeds_is_not_reported_when_another_fails() -> None:
    def ok(cancel: threading.Event) -> str:
        return "ready"

    def fails(cancel: threading.Event) -> str:
        raise ClusterSetupError("redis", "not ready after 60s (last probe: no pong)")

    with pytest.raises(ClusterSetupError, match="redis"):
        run_concurrently({"ok": ok, "fails": fails})
