"""A sync request the controller misses is refreshed once, and that is recorded.

The controller is replaced at the HTTP boundary: `ArgoCD.refresh` is the one call the wait makes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from harness._argocd.observe import REQUEST_INFO
from harness._argocd.operations import OperationLog
from harness._scenario.app import PICKUP_GRACE_SECONDS, AppUnderTest
from harness._wait import Timeouts

REQUEST = "0123456789abcdef0123456789abcdef"
OPERATION = {"info": [{"name": REQUEST_INFO, "value": REQUEST}]}


def _requested(at: float) -> OperationLog:
    """An operation log that saw the request (`.operation`, state cleared) at `at`, and nothing since."""
    log = OperationLog()
    log.observe(
        {"metadata": {"resourceVersion": "7"}, "operation": OPERATION},
        now=at,
    )
    return log


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppUnderTest:
    app = AppUnderTest(
        client.ApiClient(), test_id="t1", run_id="r1", repo_root=tmp_path, timeouts=Timeouts.from_env()
    )
    refreshes: list[str] = []
    monkeypatch.setattr(app.argocd, "refresh", lambda name, hard=False: refreshes.append(name))
    app.refreshes = refreshes  # type: ignore[attr-defined]
    return app


def test_the_log_keeps_the_request_unstarted() -> None:
    rec = _requested(100.0).latest()
    assert rec is not None
    assert (rec.request_id, rec.started_at, rec.phase, rec.state()) == (REQUEST, "", "", None)


def test_no_refresh_within_the_grace(app: AppUnderTest) -> None:
    rec = _requested(100.0).latest()
    assert app._refresh_if_not_picked_up(rec, now=100.0 + PICKUP_GRACE_SECONDS - 0.1) == ""
    assert app.refreshes == []  # type: ignore[attr-defined]
    assert app.pickup_refreshes == []


def test_one_refresh_after_the_grace_recorded(app: AppUnderTest) -> None:
    rec = _requested(100.0).latest()
    first = app._refresh_if_not_picked_up(rec, now=100.0 + PICKUP_GRACE_SECONDS + 2.5)
    again = app._refresh_if_not_picked_up(rec, now=100.0 + PICKUP_GRACE_SECONDS + 20)
    assert app.refreshes == ["chaos-t1"]  # type: ignore[attr-defined]
    assert app.pickup_refreshes == [{"request": REQUEST[:8], "unstarted_seconds": PICKUP_GRACE_SECONDS + 2.5}]
    assert first == "; refresh requested"
    assert "a refresh was requested" in again


def test_a_started_operation_is_never_refreshed(app: AppUnderTest) -> None:
    log = _requested(100.0)
    log.observe(
        {
            "metadata": {"resourceVersion": "8"},
            "operation": OPERATION,
            "status": {
                "operationState": {
                    "phase": "Running",
                    "startedAt": "2026-12-01T06:00:00Z",
                    "operation": OPERATION,
                }
            },
        },
        now=101.0,
    )
    assert app._refresh_if_not_picked_up(log.latest(), now=500.0) == ""
    assert app._refresh_if_not_picked_up(None, now=500.0) == ""
    assert app.refreshes == []  # type: ignore[attr-defined]
