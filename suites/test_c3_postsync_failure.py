"""C3: a failing PostSync hook marks the operation Failed after the new revision is deployed."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp
from harness._report.claims_plugin import ClaimContext
from suites.conftest import deploy_revision_1, revisions, settled_status


@pytest.mark.claim("C3")
def test_failing_postsync_hook_leaves_revision_2_live_and_healthy(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    fixture = FixtureApp.load("postsync-hook")
    deploy_revision_1(app, fixture)

    rev2 = app.commit_revision(2, fixture.copy().with_hook_outcome("smoke-test", "fail"))
    app.sync()
    op = app.wait_operation("Failed")
    status = settled_status(app)

    live = revisions(app)
    history = [(h.get("id"), h.get("revision")) for h in status.history]
    claim.evidence("operation", {"phase": op.phase, "message": op.message, "resources": op.resources})
    claim.evidence("live_revisions", live)
    claim.evidence("status", {"sync": status.sync, "health": status.health, "history": history})
    assert claim.check("the operation is marked Failed", claimed="Failed", observed=op.phase)
    assert claim.check(
        "the new manifests are applied and nothing is rolled back",
        claimed={"ConfigMap/app-config": "2", "Deployment/web": "2"},
        observed=live,
    )
    assert claim.check("the workloads are up", claimed="Healthy", observed=status.health)
    assert [(h.name[: len("smoke-test-")], h.hook_phase) for h in op.hooks("PostSync")] == [
        ("smoke-test-", "Failed")
    ]
    assert status.sync == "Synced"
    assert status.revision == rev2
    # status.history records successful syncs only: the failed revision-2 sync adds no entry.
    assert history == [(0, app.revisions[1])]
