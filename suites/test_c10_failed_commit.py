"""C10: self-heal does not try a commit again once its sync failed; a new commit re-arms it."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp, expect_consistently
from harness._chaos.controls import DriftInjector
from harness._report.claims_plugin import ClaimContext
from harness._scenario.timeline import Timeline
from suites.conftest import deploy_self_healing, nothing_new_happens

QUIET_WINDOW = 40.0


@pytest.mark.claim("C10")
def test_drift_after_a_failed_sync_is_not_healed_until_a_new_commit(
    app_under_test: AppUnderTest, claim: ClaimContext, drift: DriftInjector
) -> None:
    app = app_under_test
    failing = FixtureApp.load("selfheal").with_hook_outcome("post-hook", "fail")
    with Timeline(app.api, app.name, app.namespace) as timeline:
        # retry limit 0: one attempt only, so the failed commit is settled before the drift.
        deploy_self_healing(app, failing, retry={"limit": 0})
        failed = app.wait_operation("Failed", after="")
        drift.set_data("app-config", setting="edited-by-hand")
        expect_consistently(nothing_new_happens(app, timeline), for_=QUIET_WINDOW, every=2.0)
        during = app.status()
        cm = app.core.read_namespaced_config_map("app-config", app.namespace)

        app.commit_revision(2, FixtureApp.load("selfheal"))
        app.argocd.refresh(app.name)
        fixed = app.wait_operation("Succeeded", after=failed)
    healed = app.core.read_namespaced_config_map("app-config", app.namespace)

    claim.evidence("failed_operation", {"message": failed.message, "hooks": failed.hooks()})
    claim.evidence("status_during_window", {"sync": during.sync, "conditions": during.conditions})
    claim.evidence("timeline", timeline.summary())
    assert claim.check(
        f"self-heal does not attempt the failed commit again ({QUIET_WINDOW:.0f}s window, refreshed)",
        claimed=1,
        observed=len([o for o in timeline.operations() if o.revision == app.revisions[1]]),
    )
    assert claim.check("a new commit is synced", claimed="Succeeded", observed=fixed.phase)
    assert during.sync == "OutOfSync"
    assert (cm.data or {}).get("setting") == "edited-by-hand"
    assert fixed.revision == app.revisions[2]
    assert (healed.data or {}).get("setting") == "desired"
