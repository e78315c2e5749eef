"""Telling operations apart (`harness._argocd.operations.OperationLog`), offline.

The Application versions below are the writes Argo CD makes, in order: the request (`.operation` set,
`status.operationState` cleared, argo-cd `util/argo/argo.go` SetAppOperation), the controller's
Running state with a copy of the operation and `startedAt`, and the final state that clears
`.operation` (argo-cd `controller/appcontroller.go` setOperationState).
"""

from __future__ import annotations

from typing import Any

from harness._argocd.operations import OperationLog

SAME_SECOND = "2026-11-30T21:50:07Z"


def operation(request_id: str = "", *, automated: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"sync": {"revision": "abc"}}
    op["initiatedBy"] = {"automated": True} if automated else {"username": "argocd-chaos"}
    if request_id:
        op["info"] = [{"name": "argocd-chaos-request", "value": request_id}]
    return op


class App:
    """Successive versions of one Application."""

    def __init__(self) -> None:
        self.rv = 100
        self.operation: dict[str, Any] | None = None
        self.state: dict[str, Any] | None = None

    def version(self) -> dict[str, Any]:
        self.rv += 1
        app: dict[str, Any] = {"metadata": {"name": "chaos-x", "resourceVersion": str(self.rv)}, "status": {}}
        if self.operation is not None:
            app["operation"] = self.operation
        if self.state is not None:
            app["status"]["operationState"] = dict(self.state)
        return app

    def request(self, op: dict[str, Any]) -> dict[str, Any]:
        self.operation, self.state = op, None
        return self.version()

    def running(self, started: str = SAME_SECOND, retries: int = 0) -> dict[str, Any]:
        assert self.operation is not None
        self.state = {
            "phase": "Running",
            "operation": self.operation,
            "startedAt": started,
            "retryCount": retries,
        }
        return self.version()

    def end(self, phase: str) -> dict[str, Any]:
        assert self.state is not None
        self.state = {**self.state, "phase": phase, "finishedAt": SAME_SECOND}
        self.operation = None
        return self.version()


def test_two_syncs_requested_within_one_second_are_two_operations() -> None:
    """The failing input of issue 13: both operations have the same startedAt."""
    app, log = App(), OperationLog()
    for v in (app.request(operation("first")), app.running(), app.end("Succeeded")):
        log.observe(v)
    for v in (app.request(operation("second")), app.running(), app.end("Failed")):
        log.observe(v)

    first, second = log.by_request("first"), log.by_request("second")
    assert first is not None
    assert second is not None
    assert (first.seq, second.seq) == (1, 2)
    assert first.started_at == second.started_at == SAME_SECOND
    state = second.state()
    assert state is not None
    assert (state.phase, state.request_id, state.seq) == ("Failed", "second", 2)
    assert log.after(1) is second


def test_a_requested_operation_has_no_state_until_the_controller_writes_it() -> None:
    app, log = App(), OperationLog()
    log.observe(app.request(operation("r1")))
    rec = log.by_request("r1")
    assert rec is not None
    assert rec.state() is None
    log.observe(app.running())
    assert rec.state() is not None


def test_automated_operations_in_the_same_second_are_numbered_apart() -> None:
    app, log = App(), OperationLog()
    for v in (app.request(operation(automated=True)), app.running(), app.end("Succeeded")):
        log.observe(v)
    for v in (app.request(operation(automated=True)), app.running(), app.end("Succeeded")):
        log.observe(v)
    assert [r.seq for r in log.records] == [1, 2]
    second = log.after(1)
    assert second is not None
    state = second.state()
    assert state is not None
    assert state.automated


def test_retries_stay_one_operation() -> None:
    app, log = App(), OperationLog()
    log.observe(app.request(operation(automated=True)))
    log.observe(app.running(retries=0))
    log.observe(app.running(retries=1))
    log.observe(app.running(retries=2))
    log.observe(app.end("Failed"))
    assert len(log.records) == 1
    assert log.records[0].max_retry_count == 2


def test_a_sampler_that_missed_the_request_still_splits_on_a_new_running_state() -> None:
    """The timeline polls: it may see only the end of one operation and the start of the next."""
    app, log = App(), OperationLog()
    app.request(operation(automated=True))
    app.running()
    log.observe(app.end("Succeeded"))
    app.request(operation(automated=True))
    log.observe(app.running())  # same startedAt, Running after an ended operation
    assert len(log.records) == 2


def test_a_sampler_that_missed_both_requests_splits_on_a_new_request_id() -> None:
    app, log = App(), OperationLog()
    app.request(operation("a"))
    app.running()
    log.observe(app.end("Succeeded"))
    app.request(operation("b"))
    app.running()
    log.observe(app.end("Succeeded"))
    assert [r.request_id for r in log.records] == ["a", "b"]


def test_an_unchanged_version_fed_twice_does_not_make_an_operation() -> None:
    app, log = App(), OperationLog()
    log.observe(app.request(operation("a")))
    running = app.running()
    log.observe(running)
    log.observe(running)
    ended = app.end("Succeeded")
    log.observe(ended)
    log.observe(ended)
    assert len(log.records) == 1


def test_an_app_with_no_operation_has_an_empty_log() -> None:
    log = OperationLog()
    log.observe(App().version())
    assert log.latest() is None
    assert log.after(0) is None


def test_the_operation_current_at_a_version() -> None:
    app, log = App(), OperationLog()
    for v in (app.request(operation("a")), app.running(), app.end("Succeeded")):
        log.observe(v)
    at_first_end = str(app.rv)
    for v in (app.request(operation("b")), app.running()):
        log.observe(v)
    first = log.at_version(at_first_end)
    assert first is not None
    assert first.request_id == "a"
    latest = log.at_version(str(app.rv))
    assert latest is not None
    assert latest.request_id == "b"
    assert log.at_version("1") is None
