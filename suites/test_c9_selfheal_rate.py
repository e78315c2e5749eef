"""C9: how far apart are consecutive self-heal syncs? Run on the controller's defaults."""

from __future__ import annotations

import datetime as dt

import pytest

from harness import AppUnderTest, ClusterHandle, FixtureApp
from harness._argocd.controller_flags import flag_defaults, self_heal_backoff_s
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
    drifted_at: list[float] = []
    with Timeline(app.api, app.name, app.namespace) as timeline:
        deploy_self_healing(app, FixtureApp.load("selfheal"))
        previous = app.wait_operation("Succeeded", after="")
        # Each operation's finishedAt as the test saw it end: the timeline samples on its own thread
        # and can miss an end when the next operation starts within one sample (seen on v3.2.11).
        finished_at = [previous.finished_at]
        for i in range(DRIFTS):
            # Drift again as soon as the previous heal is done: the fastest a loop can go.
            drifted_at.append(drift.set_data("app-config", setting=f"drift-{i}"))
            previous = app.wait_operation("Succeeded", after=previous, timeout=HEAL_TIMEOUT)
            finished_at.append(previous.finished_at)
    ops = timeline.operations()
    heals = ops[1:]
    # Read after the loop: the timeline samples on its own thread and may not have seen a heal yet
    # when wait_operation returns.
    delays = [round(heal.first_seen - at, 2) for heal, at in zip(heals, drifted_at, strict=False)]
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
    # The measured behaviour: an exponential backoff. The controller counts each wait from the
    # previous operation's finishedAt, on its own clock, so the wait is read from startedAt and
    # finishedAt (whole seconds) rather than from our sampling, which a loaded host delays. Both are
    # truncated to the second, so a wait of at least `floor` seconds reads as at least `floor`.
    waits = [seconds_between(end, heal.started_at) for end, heal in zip(finished_at, heals, strict=False)]
    claim.evidence("wait_after_previous_operation_s", waits)
    assert [h.self_heal_attempts for h in heals] == list(range(1, DRIFTS + 1)), "heals in a row, counted"
    if not flags:
        # No local controller binary (kind, existing): its flag defaults are unknown here, so the
        # observation is the shape alone: each wait after the first longer than the one before.
        assert all(later > earlier for earlier, later in zip(waits[1:], waits[2:], strict=False)), waits
        return
    floors = [self_heal_backoff_s(flags, heal.self_heal_attempts - 1) for heal in heals]
    claim.evidence("backoff_floor_s", floors)
    assert all(wait >= floor for wait, floor in zip(waits, floors, strict=True)), (waits, floors)
    assert floors == sorted(floors), floors
    assert floors[-1] > 5.0, floors


def seconds_between(earlier: str, later: str) -> float:
    """Seconds from one RFC 3339 timestamp of the Application's status to another."""
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()
