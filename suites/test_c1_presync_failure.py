"""C1: a failing PreSync hook ends the operation before the Sync phase applies anything."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp
from harness._claims_plugin import ClaimContext
from suites.conftest import deploy_revision_1, revisions


@pytest.mark.claim("C1")
def test_failing_presync_hook_keeps_revision_1_running(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    fixture = FixtureApp.load("presync-hook")
    deploy_revision_1(app, fixture)
    hook_before = app.live().get("Job", "pre-migrate")

    app.commit_revision(2, fixture.copy().with_hook_outcome("pre-migrate", "fail", exit_code=3))
    app.sync()
    op = app.wait_operation("Failed")

    live = revisions(app)
    hook = app.live().get("Job", "pre-migrate")
    claim.evidence("operation", {"phase": op.phase, "message": op.message, "resources": op.resources})
    claim.evidence("live_revisions", live)
    claim.evidence("hook_object_after", hook)
    applied_in_sync_phase = [f"{r.kind}/{r.name}" for r in op.resources if r.sync_phase == "Sync"]

    assert claim.check("the operation ends Failed", claimed="Failed", observed=op.phase)
    assert claim.check(
        "no Sync-phase task runs after the PreSync failure", claimed=[], observed=applied_in_sync_phase
    )
    assert claim.check(
        "no revision-2 manifest reaches the cluster",
        claimed=[],
        observed=sorted(k for k, v in live.items() if v == "2"),
    )
    assert claim.check(
        "the previously deployed version keeps running",
        claimed={"ConfigMap/app-config": "1", "Deployment/web": "1"},
        observed=live,
    )
    assert app.status().health == "Healthy"
    # What is left of the hook: the failed run's Job, a new object replacing revision 1's run.
    assert op.message == "one or more synchronization tasks completed unsuccessfully"
    assert [(h.name, h.hook_phase) for h in op.hooks("PreSync")] == [("pre-migrate", "Failed")]
    assert hook is not None
    assert hook_before is not None
    assert hook.uid != hook_before.uid
    job = app.job("pre-migrate")
    assert job is not None
    assert job.status.failed == 1
