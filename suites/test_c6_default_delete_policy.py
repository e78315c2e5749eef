"""C6: with no delete policy, the previous hook object is deleted just before the next run."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, FixtureApp
from harness._argocd.observe import LiveObject
from harness._report.claims_plugin import ClaimContext


def _two_syncs(app: AppUnderTest, fixture: FixtureApp) -> tuple[list[LiveObject], list[LiveObject]]:
    """Sync the same commit twice; return the hook Jobs left after each sync."""
    app.commit_revision(1, fixture)
    app.create()
    after: list[list[LiveObject]] = []
    for _ in range(2):
        app.sync()
        app.wait_operation("Succeeded")
        after.append(app.live().named("Job", "hook"))
    return after[0], after[1]


@pytest.mark.claim("C6")
def test_fixed_name_hook_keeps_only_the_latest_run(app_under_test: AppUnderTest, claim: ClaimContext) -> None:
    first, second = _two_syncs(app_under_test, FixtureApp.load("single-hook"))

    claim.evidence("fixed_name_after_sync_1", first)
    claim.evidence("fixed_name_after_sync_2", second)
    assert claim.check("only the latest run is left (fixed name)", claimed=1, observed=len(second))
    assert claim.check(
        "the previous run was replaced by a new object", claimed=True, observed=first[0].uid != second[0].uid
    )
    assert claim.check("nothing is deleted on success", claimed="Complete", observed=second[0].status)
    assert [j.name for j in first] == ["hook"]
    assert [j.name for j in second] == ["hook"]


@pytest.mark.claim("C6")
def test_generated_name_hook_runs_accumulate(app_under_test: AppUnderTest, claim: ClaimContext) -> None:
    fixture = FixtureApp.load("single-hook").with_generate_name("Job", "hook")
    first, second = _two_syncs(app_under_test, fixture)

    claim.evidence("generate_name_after_sync_1", first)
    claim.evidence("generate_name_after_sync_2", second)
    # BeforeHookCreation finds the previous run by name; a generated name never matches again.
    assert claim.check("only the latest run is left (generateName)", claimed=1, observed=len(second)) is False
    assert len(first) == 1
    assert len(second) == 2
    assert {j.uid for j in first} < {j.uid for j in second}
    assert [j.status for j in second] == ["Complete", "Complete"]
