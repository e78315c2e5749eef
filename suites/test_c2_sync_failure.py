"""C2: a failure in the Sync phase leaves the cluster between the old and the new revision."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp
from harness._report.claims_plugin import ClaimContext
from suites.conftest import deploy_revision_1, revisions

INVALID_CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "wave-2-invalid", "annotations": {"argocd.argoproj.io/sync-wave": "2"}},
    # A data key with spaces is rejected by the API server's validation when applied.
    "data": {"not a valid key!": "x"},
}


@pytest.mark.claim("C2")
def test_failing_hook_between_waves_leaves_earlier_waves_at_revision_2(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    fixture = FixtureApp.load("sync-waves")
    deploy_revision_1(app, fixture)

    app.commit_revision(2, fixture.copy().with_hook_outcome("between-waves", "fail"))
    app.sync()
    op = app.wait_operation("Failed")

    live = revisions(app)
    claim.evidence("operation", {"phase": op.phase, "message": op.message, "resources": op.resources})
    claim.evidence("live_revisions", live)
    assert claim.check("the operation ends Failed", claimed="Failed", observed=op.phase)
    assert claim.check(
        "the cluster matches neither revision: wave 0 is new, wave 2 is old",
        claimed={"ConfigMap/wave-0": "2", "ConfigMap/wave-2": "1"},
        observed=live,
    )
    assert [(r.name[: len("between-waves-")], r.hook_phase) for r in op.hooks("Sync")] == [
        ("between-waves-", "Failed")
    ]
    assert "wave-2" not in [r.name for r in op.resources]
    assert app.status().sync == "OutOfSync"


@pytest.mark.claim("C2")
def test_resource_that_fails_to_apply_leaves_a_mix(app_under_test: AppUnderTest, claim: ClaimContext) -> None:
    app = app_under_test
    fixture = FixtureApp.load("sync-waves")
    deploy_revision_1(app, fixture)
    broken = fixture.copy()
    broken.docs.append(dict(INVALID_CONFIGMAP))

    app.commit_revision(2, broken)
    app.sync()
    op = app.wait_operation("Failed")

    live = revisions(app)
    results = {r.name: (r.status, r.hook_phase) for r in op.resources if not r.hook_type}
    claim.evidence("operation", {"phase": op.phase, "message": op.message, "resources": op.resources})
    claim.evidence("live_revisions", live)
    assert claim.check("the operation ends Failed", claimed="Failed", observed=op.phase)
    # The invalid object never exists, while its wave-mates and earlier waves are at revision 2:
    # the cluster matches neither revision 1 (all at 1) nor revision 2 (all four objects).
    assert claim.check(
        "some resources are applied and others not",
        claimed={"ConfigMap/wave-0": "2", "ConfigMap/wave-2": "2"},
        observed=live,
    )
    assert app.live().get("ConfigMap", "wave-2-invalid") is None
    assert results["wave-2-invalid"] == ("SyncFailed", "Failed")
    assert results["wave-2"][0] == "Synced"  # applied on every release
    # How the result reports the applied wave-mate differs by release: v3.4.7 and v3.6.1 say
    # Succeeded; v2.12.6 left it Running, the wave having failed around it.
    claim.check(
        "the failed object's applied wave-mate is reported Synced and Succeeded",
        claimed="Synced/Succeeded",
        observed="/".join(results["wave-2"]),
    )
    # The message names the object and why it was refused on every release; its opening words
    # changed ("one or more objects failed to apply" on v3.2.11, "... synchronization tasks completed
    # unsuccessfully" on v3.4.7 and v3.6.1): recorded, for the matrix to show where.
    summary, sep, reason = op.message.partition(", reason: ")
    assert sep, op.message
    assert 'ConfigMap "wave-2-invalid" is invalid' in reason
    claim.check(
        "the operation message opens with what failed",
        claimed="one or more synchronization tasks completed unsuccessfully",
        observed=summary,
    )
