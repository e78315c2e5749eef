"""C1: a failing PreSync hook ends the operation before the Sync phase applies anything."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp
from harness._report.claims_plugin import ClaimContext
from suites.conftest import deploy_revision_1, revisions


@pytest.mark.claim("C1")
def test_failing_presync_hook_keeps_revision_1_running(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    fixture = FixtureApp.load("presync-hook")
    deploy_revision_1(app, fixture)
    runs_before = app.live().named("Job", "pre-migrate-")

    app.commit_revision(2, fixture.copy().with_hook_outcome("pre-migrate", "fail", exit_code=3))
    app.sync()
    op = app.wait_operation("Failed")

    live = revisions(app)
    runs_after = app.live().named("Job", "pre-migrate-")
    claim.evidence("operation", {"phase": op.phase, "message": op.message, "resources": op.resources})
    claim.evidence("live_revisions", live)
    claim.evidence("hook_jobs_before", runs_before)
    claim.evidence("hook_jobs_after", runs_after)
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
    assert op.message == "one or more synchronization tasks completed unsuccessfully"
    hooks = op.hooks("PreSync")
    assert [h.hook_phase for h in hooks] == ["Failed"]
    # What is left of the hook: the failed run's Job next to revision 1's successful one
    # (generateName makes each run a new object; nothing deletes the earlier run).
    assert len(runs_before) == 1
    assert sorted(j.status for j in runs_after) == ["Complete", "Failed"]
    assert {j.uid for j in runs_before} < {j.uid for j in runs_after}
    failed_run = next(j for j in runs_after if j.status == "Failed")
    assert failed_run.name == hooks[0].name
