"""C9: how far apart are consecutive self-heal syncs? Run on the controller's defaults."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, ClusterHandle, FixtureApp
from harness._argocd.controller_flags import flag_defaults
from harness._chaos.controls import DriftInjector
from harness._report.claims_plugin import ClaimContext
from harness._scenario.timeline import Timeline, gaps, spacing
from suites.conftest import deploy_self_healing

DRIFTS = 4
#: Enough for four heals with a backoff that grows 2 s, 6 s, 18 s, 54 s (the v3 defaults).
HEAL_TIMEOUT = 120


@pytest.mark.claim("C9")
def test_gaps_between_consecutive_self_heal_syncs(
    app_under_test: AppUnderTest, claim: ClaimContext, drift: DriftInjector, chaos_cluster: ClusterHandle
) -> None:
    app = app_under_test
    delays: list[float] = []
    with Timeline(app.api, app.name, app.namespace) as timeline:
        deploy_self_healing(app, FixtureApp.load("selfheal"))
        previous = app.wait_operation("Succeeded", after="")
        for i in range(DRIFTS):
            # Drift again as soon as the previous heal is done: the fastest a loop can go.
            drifted_at = drift.set_data("app-config", setting=f"drift-{i}")
            previous = app.wait_operation("Succeeded", after=previous, timeout=HEAL_TIMEOUT)
            heal = timeline.operations()[-1]
            delays.append(round(heal.first_seen - drifted_at, 2))
    heals = timeline.operations()[1:]
    heal_gaps = gaps([h.first_seen for h in heals])
    flags = flag_defaults(chaos_cluster.bin_dir, "self-heal") if chaos_cluster.bin_dir else {}

    claim.evidence("drift_to_heal_delay_s", delays)
    claim.evidence("gaps_between_heals_s", heal_gaps)
    claim.evidence("controller_self_heal_flags", flags)
    claim.evidence("timeline", timeline.summary())
    assert len(heals) == DRIFTS
    agrees = claim.check(
        "consecutive self-heal syncs are 5 s apart",
        claimed=spacing([5.0] * (DRIFTS - 1), nominal=5.0),
        observed=spacing(heal_gaps, nominal=5.0),
    )
    if chaos_cluster.bin_dir and not any(name.startswith("self-heal-backoff") for name in flags):
        # A controller without self-heal backoff flags (v2.12 and older, read from the running
        # binary's --help) has only the fixed --self-heal-timeout-seconds: the claim's own premise.
        assert agrees, f"no self-heal backoff in this release, yet the gaps were {heal_gaps}"
        return
    assert agrees is False
    # The measured behaviour: the wait grows with every consecutive heal (an exponential backoff).
    assert all(later > earlier for earlier, later in zip(delays[1:], delays[2:], strict=False))
    assert delays[-1] > 5.0
