"""C7: a failed fixed-name HookSucceeded hook stays behind and wedges later syncs."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, Expectation, FixtureApp, Outcome, expect
from harness._argocd.observe import LiveObject, OperationState
from harness._report.claims_plugin import ClaimContext
from harness._scenario.fixtures import HOOK_DELETE_POLICY


def _failing_hook(policy: str | None) -> FixtureApp:
    fixture = FixtureApp.load("single-hook").with_hook_outcome("hook", "fail")
    return fixture.with_annotation("Job", "hook", HOOK_DELETE_POLICY, policy)


def _sync_failed(app: AppUnderTest) -> OperationState:
    app.sync()
    return app.wait_operation("Failed")


def _hook_jobs_settled(app: AppUnderTest) -> list[LiveObject]:
    """The live Jobs named `hook` once none is still being deleted.

    A delete policy's deletion is sent as the operation ends and completes later (the Job's
    foregroundDeletion finalizer waits for its pods), so right after the operation a deleted hook
    can still be listed, with a deletionTimestamp.
    """
    found: list[LiveObject] = []

    def settled() -> Outcome:
        found[:] = app.live().named("Job", "hook")
        deleting = [j.uid for j in found if j.deleting]
        return Outcome.simple(not deleting, f"Jobs named hook still being deleted: {deleting}")

    expect(Expectation("no Job named hook is still being deleted", settled), timeout=app.timeouts.assert_)
    return found


@pytest.mark.claim("C7")
def test_failed_hooksucceeded_hook_is_left_and_wedges_the_next_sync(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    fixture = _failing_hook("HookSucceeded")
    app.commit_revision(1, fixture)
    app.create()

    first = _sync_failed(app)
    left = app.live().named("Job", "hook")
    second = _sync_failed(app)  # same commit, same hook template
    after_second = app.live().named("Job", "hook")
    # Changed pod template: an immutable field of a Job. On a cluster with kubelets the hook's command
    # is replaced by the outcome's (harness._cluster.kind.hook_commands), which keeps the fixture's
    # command in a template annotation, so the change reaches the cluster there too (until it did, the
    # two revisions were the same Job on kind and the third sync ended like the second).
    app.commit_revision(2, fixture.copy().with_container_command("hook", ["sh", "-c", "echo changed"]))
    third = _sync_failed(app)
    after_third = app.live().named("Job", "hook")

    claim.evidence("left_after_failure", left)
    claim.evidence("same_template", {"message": second.message, "hooks": second.hooks()})
    claim.evidence("changed_template", {"message": third.message[:300], "hooks": len(third.hooks())})
    assert claim.check(
        "the failed hook is left behind", claimed=["Failed"], observed=[j.status for j in left]
    )
    assert claim.check(
        "the next sync with the same template does not run the hook again",
        claimed=True,
        observed=[j.uid for j in after_second] == [j.uid for j in left],
    )
    assert claim.check(
        "a changed template cannot be applied over the existing Job",
        claimed=True,
        observed="field is immutable" in third.message,
    )
    # The two messages are gitops-engine's (pkg/sync/sync_context.go, Sync and executeSyncFailPhase,
    # v3.6.1): a hook that was applied and ended Failed is a task "completed unsuccessfully"; a hook
    # the API server refuses to patch fails at apply, and its task's message (the server's) is
    # appended as the reason.
    assert first.message == "one or more synchronization tasks completed unsuccessfully"
    assert [(h.name, h.hook_phase) for h in second.hooks()] == [("hook", "Failed")]
    assert third.message.startswith("one or more objects failed to apply, reason: ")
    assert [j.uid for j in after_third] == [j.uid for j in left]


@pytest.mark.claim("C7")
def test_generated_name_gives_every_run_a_fresh_object(
    app_under_test: AppUnderTest, claim: ClaimContext
) -> None:
    app = app_under_test
    app.commit_revision(1, _failing_hook("HookSucceeded").with_generate_name("Job", "hook"))
    app.create()

    first = _sync_failed(app)
    second = _sync_failed(app)
    jobs = app.live().named("Job", "hook-")

    claim.evidence("generate_name_jobs", jobs)
    assert claim.check(
        "with generateName every run is a fresh object",
        claimed=True,
        observed=first.hooks()[0].name != second.hooks()[0].name,
    )
    # Failed runs are not deleted by HookSucceeded, so they pile up: one per sync.
    assert [j.status for j in jobs] == ["Failed", "Failed"]


@pytest.mark.claim("C7")
@pytest.mark.parametrize(
    ("policy", "left_after_each_sync"),
    [("HookFailed", 0), ("BeforeHookCreation", 1)],
)
def test_other_delete_policies_on_a_failing_fixed_name_hook(
    app_under_test: AppUnderTest, claim: ClaimContext, policy: str, left_after_each_sync: int
) -> None:
    app = app_under_test
    app.commit_revision(1, _failing_hook(policy))
    app.create()

    _sync_failed(app)
    first = _hook_jobs_settled(app)
    second_op = _sync_failed(app)
    second = _hook_jobs_settled(app)

    claim.evidence(f"{policy}_jobs", {"after_sync_1": first, "after_sync_2": second})
    # Both policies let the second sync run the hook again (it is not wedged).
    assert [(h.name, h.hook_phase) for h in second_op.hooks()] == [("hook", "Failed")]
    assert len(first) == left_after_each_sync
    assert len(second) == left_after_each_sync
    if left_after_each_sync:
        assert first[0].uid != second[0].uid
