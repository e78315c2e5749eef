"""Smoke test of the embedded cluster: the real controller runs a PostSync hook to its end."""

from __future__ import annotations

import pytest

from harness._scenario.app import AppUnderTest
from harness._scenario.fixtures import FixtureApp

pytestmark = pytest.mark.cluster


def test_succeeding_postsync_hook_completes_the_sync(app_under_test: AppUnderTest) -> None:
    app_under_test.commit(FixtureApp.load("posthook"), "revision 1")
    app_under_test.create()

    app_under_test.sync()
    op = app_under_test.wait_operation("Succeeded")

    status = app_under_test.status()
    assert status.sync == "Synced"
    assert [(h.name, h.hook_type, h.hook_phase) for h in op.hooks()] == [
        ("post-check", "PostSync", "Succeeded")
    ]
    job = app_under_test.job("post-check")
    assert job is not None
    assert job.status.succeeded == 1
    cm = app_under_test.core.read_namespaced_config_map("app-config", app_under_test.namespace)
    assert cm.data == {"revision": "1"}


def test_failing_postsync_hook_fails_the_operation(app_under_test: AppUnderTest) -> None:
    fixture = FixtureApp.load("posthook").with_hook_outcome("post-check", "fail", exit_code=1)
    app_under_test.commit(fixture, "revision 1, failing hook")
    app_under_test.create()

    app_under_test.sync()
    op = app_under_test.wait_operation("Failed")

    hooks = op.hooks("PostSync")
    assert [(h.name, h.hook_phase) for h in hooks] == [("post-check", "Failed")]
    job = app_under_test.job("post-check")
    assert job is not None
    assert job.status.failed == 1
    cm = app_under_test.core.read_namespaced_config_map("app-config", app_under_test.namespace)
    assert cm.data == {"revision": "1"}
