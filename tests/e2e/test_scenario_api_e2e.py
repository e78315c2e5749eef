"""The scenario API on the embedded cluster: syncs as users trigger them, operation identity,
deletion as a step, and every object kind. Written with the public API only (`harness`)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from harness import (
    AppUnderTest,
    DriftInjector,
    Expectation,
    ExpectationTimeout,
    FixtureApp,
    OperationState,
    Outcome,
    SyncRetry,
    expect,
)

pytestmark = pytest.mark.cluster

#: Tries at getting two operations to start within one wall-clock second (the failing input).
SAME_SECOND_TRIES = 10


def payload() -> FixtureApp:
    """Two ConfigMaps and no hooks: a sync of it ends within a fraction of a second."""
    return (
        FixtureApp.load("single-hook")
        .without("Job", "hook")
        .with_object(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra"}, "data": {"k": "v"}}
        )
    )


def test_two_syncs_within_one_second_are_two_operations(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    rev1 = app.commit_revision(1, payload())
    rev2 = app.commit_revision(2, payload())
    app.create()
    pairs: list[tuple[OperationState, OperationState]] = []
    for _ in range(SAME_SECOND_TRIES):
        first = app.sync(rev1)
        op1 = app.wait_operation("Succeeded", timeout=30)
        second = app.sync(rev2)
        op2 = app.wait_operation("Succeeded", timeout=30)
        assert (op1.request_id, op2.request_id) == (first.request_id, second.request_id)
        assert (op1.revision, op2.revision) == (rev1, rev2)
        assert op2.seq == op1.seq + 1
        pairs.append((op1, op2))
        if op1.started_at == op2.started_at:
            break
    started = [(a.started_at, b.started_at) for a, b in pairs]
    assert any(a == b for a, b in started), f"no two operations started within one second: {started}"
    # An earlier operation, read again by its request, is still itself.
    again = app.wait_operation("Succeeded", after=first)
    assert (again.request_id, again.revision) == (first.request_id, rev1)


def test_sync_options_as_the_cli_offers_them(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    app.commit_revision(1, payload())
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.commit_revision(2, payload().without("ConfigMap", "extra"))

    app.sync(dry_run=True)
    app.wait_operation("Succeeded")
    assert app.live().get("ConfigMap", "app-config").data["revision"] == "1"  # type: ignore[union-attr]

    app.sync(resources=[":ConfigMap:app-config"])
    op = app.wait_operation("Succeeded")
    assert [(r.kind, r.name) for r in op.resources] == [("ConfigMap", "app-config")]
    assert app.live().get("ConfigMap", "app-config").data["revision"] == "2"  # type: ignore[union-attr]

    app.sync(sync_options=["Replace=true"])
    op = app.wait_operation("Succeeded")
    assert [r.message for r in op.resources if r.name == "app-config"] == ["configmap/app-config replaced"]
    assert app.live().get("ConfigMap", "extra") is not None  # no prune asked
    extra = app.status().resource("ConfigMap", "extra")
    assert extra is not None
    assert extra.requires_pruning

    app.sync(prune=True, force=True)
    op = app.wait_operation("Succeeded")
    assert [r.status for r in op.resources if r.name == "extra"] == ["Pruned"]
    assert app.live().get("ConfigMap", "extra") is None


def test_retry_wait_and_terminate(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    app.commit_revision(1, FixtureApp.load("presync-hook").with_hook_outcome("pre-migrate", "fail"))
    app.create()
    app.sync(retry=SyncRetry(limit=1, duration="1s", factor=1, max_duration="1s"))
    op = app.wait_ended()
    assert (op.phase, op.retry_count) == ("Failed", 1)

    app.sync(retry=SyncRetry(limit=10, duration="1s", factor=1, max_duration="1s"))
    running = app.wait_retrying(2)
    assert running.phase == "Running"
    assert running.retry_count >= 2
    app.terminate()
    ended = app.wait_ended()
    assert ended.phase == "Failed"
    assert "terminated" in ended.message.lower()
    assert ended.seq == op.seq + 1


def test_operation_state_is_waited_for_not_read_once(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    app.commit_revision(1, FixtureApp.load("presync-hook").with_hook_outcome("pre-migrate", "hang"))
    app.create()
    request = app.sync()
    op = app.operation()
    assert op.request_id == request.request_id
    assert op.phase == "Running"
    app.terminate()
    assert app.wait_ended().phase == "Failed"


def test_live_covers_cluster_scoped_objects_secret_keys_and_status_resources(
    app_under_test: AppUnderTest,
) -> None:
    app = app_under_test
    fixture = payload().with_object(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"password": "s3cret"},
        }
    )
    fixture.with_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.namespace}})
    fixture.with_object(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{app.name}-reader", "labels": app.labels},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
        }
    )
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    live = app.live()

    ns = live.get("Namespace", app.namespace)
    assert ns is not None
    assert ns.phase == "Active"
    role = live.get("ClusterRole", f"{app.name}-reader")
    assert role is not None
    assert role.labels == app.labels
    secret = live.get("Secret", "creds")
    assert secret is not None
    assert (secret.keys, dict(secret.data)) == (("password",), {})
    assert "s3cret" not in repr(live)
    status = app.status()
    assert {(r.kind, r.name) for r in status.resources} >= {("Namespace", app.namespace), ("Secret", "creds")}
    if not status.resource_health_stored:
        assert {r.health for r in status.resources} == {""}


def _finalizer_set(app: AppUnderTest, prefix: str) -> Expectation:
    def check() -> Outcome:
        fins = app.status().finalizers
        return Outcome.simple(any(f.startswith(prefix) for f in fins), f"finalizers {list(fins)}")

    return Expectation(f"{app.name} carries a {prefix} finalizer", check)


def test_non_cascading_delete_of_an_app_with_a_postdelete_hook(app_under_test: AppUnderTest) -> None:
    """Failing input: an orphaning delete keeps the hook finalizers, and the resources stay."""
    app = app_under_test
    app.commit_revision(1, FixtureApp.load("postdelete-hook"))
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    expect(_finalizer_set(app, "post-delete-finalizer.argocd.argoproj.io"), timeout=app.timeouts.assert_)

    app.delete(cascade="orphan")
    app.wait_gone()
    live = app.live()
    assert live.get("ConfigMap", "app-config") is not None  # orphaned, not deleted
    # What the PostDelete hook left: its Job ran (no delete policy: cleaned up after, see C13).
    assert {o.kind for o in live.hooks("PostDelete")} <= {"ServiceAccount", "Role", "RoleBinding", "Job"}


#: A finalizer no controller removes: it holds a deletion for as long as the test wants.
HOLD = "argocd-chaos.io/test-hold"


def test_wait_gone_names_what_blocks_the_deletion(app_under_test: AppUnderTest) -> None:
    """A deletion held by a finalizer: the timeout names it (a hanging PreDelete hook did not always
    hold the deletion, the race C12 records, so a finalizer nobody removes is the blocker here)."""
    app = app_under_test
    app.commit_revision(1, payload())
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    current = (app.argocd.get(app.name).get("metadata") or {}).get("finalizers") or []
    app.argocd.patch(app.name, {"metadata": {"finalizers": [*current, HOLD]}})
    app.delete(cascade="foreground")
    try:
        with pytest.raises(ExpectationTimeout, match="finalizers left") as err:
            app.wait_gone(timeout=30)
    finally:
        left = (app.argocd.get(app.name).get("metadata") or {}).get("finalizers") or []
        app.argocd.patch(app.name, {"metadata": {"finalizers": [f for f in left if f != HOLD]}})
    text = str(err.value)
    assert "deleting" in text
    assert HOLD in text
    app.wait_gone()


def test_skip_hook_configmap_edited_by_hand_keeps_the_edit(
    app_under_test: AppUnderTest, drift: DriftInjector
) -> None:
    """Failing input: `hook: Skip` on a ConfigMap whose data was then edited by hand."""
    app = app_under_test
    app.commit_revision(1, payload())
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.commit_revision(2, payload().with_hook("ConfigMap", "app-config", "Skip"))
    app.sync()
    app.wait_operation("Succeeded")

    drift.set_data("app-config", revision="edited-by-hand")
    app.sync()
    op = app.wait_operation("Succeeded")

    cm = app.live().get("ConfigMap", "app-config")
    assert cm is not None
    assert cm.data["revision"] == "edited-by-hand"
    assert cm.revision == "1"  # a Skip hook is never applied: revision 2's copy never reached the cluster
    assert "app-config" not in [r.name for r in op.resources]


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_a_hook_job_that_takes_8s_to_go_away(app_under_test: AppUnderTest) -> None:
    """Failing input: a hook Job that takes 8 s to go away when deleted, as a kubelet grace period
    would make it. A stuck fixed-name PreSync hook is terminated (Argo CD deletes the running hook);
    its pod stays Terminating 8 s, so does the Job, and the next sync can create its run of the
    hook (BeforeHookCreation) only once the old Job is gone."""
    app = app_under_test
    fixture = FixtureApp.load("single-hook").with_termination_grace("hook", "8s")
    app.commit_revision(1, fixture.copy().with_hook_outcome("hook", "hang"))
    app.create()
    app.sync()

    def hook_running() -> Outcome:
        pods = [p for p in app.live().of_kind("Pod") if "Job/hook" in p.owners]
        return Outcome.simple(any(p.phase == "Running" for p in pods), f"hook pods {[p.phase for p in pods]}")

    expect(Expectation("the hook's pod runs", hook_running), timeout=app.timeouts.assert_)
    stuck = app.live().get("Job", "hook")
    assert stuck is not None
    terminated_at = time.time()
    app.terminate()
    ended = app.wait_ended()
    assert ended.phase == "Failed"
    going = app.live().get("Job", "hook")
    assert going is not None  # still there: its pod takes its grace period to stop
    assert going.uid == stuck.uid
    assert going.deleting

    app.commit_revision(2, fixture.copy().with_hook_outcome("hook", "succeed"))
    request = app.sync()
    op = app.wait_operation("Succeeded", after=request)
    rerun = app.live().get("Job", "hook")
    assert rerun is not None
    assert rerun.uid != stuck.uid
    # The new run was created once the old Job was gone, 8 s after it was deleted (1 s: the
    # resolution of creationTimestamp).
    waited = _epoch(rerun.created) - terminated_at
    assert waited >= 8 - 1, f"the re-run was created {waited:.1f}s after the terminate ({op.excerpt()})"


def test_app_of_apps_sharing_one_repo(app_under_test: AppUnderTest) -> None:
    """A parent app whose folder holds two child Applications, each reading its own folder of the
    same repository; a new commit reaches a child, deleting the parent removes children and theirs."""
    app = app_under_test

    def with_children(fixture: FixtureApp) -> FixtureApp:
        for child in ("a", "b"):
            fixture.with_object(app.child_app(child, path=f"child-{child}", automated=True), folder="apps")
        return fixture

    app.commit_revision(1, with_children(FixtureApp.load("app-of-apps")))
    app.create(path="apps")
    app.sync()
    op = app.wait_operation("Succeeded")
    assert sorted(r.name for r in op.resources if r.kind == "Application") == [
        f"{app.name}-a",
        f"{app.name}-b",
    ]

    def children(want: dict[str, str]) -> Expectation:
        def check() -> Outcome:
            seen = {}
            for child in ("a", "b"):
                st = app.child_status(child)
                cm = app.live().get("ConfigMap", f"{child}-config")
                seen[child] = (st.sync if st else "absent", cm.data.get("revision") if cm else None)
            ok = all(seen[c] == ("Synced", rev) for c, rev in want.items())
            return Outcome.simple(ok, f"children (sync, ConfigMap revision): {seen}")

        return Expectation(f"children synced at {want}", check)

    expect(children({"a": "1", "b": "1"}), timeout=app.timeouts.assert_)
    a_hooks = [j for j in app.live().named("Job", "a-pre-")]
    assert len(a_hooks) == 1  # child a's PreSync hook ran when the child synced

    app.commit_revision(2, with_children(FixtureApp.load("app-of-apps")))
    app.argocd.refresh(f"{app.name}-b")  # no webhook reaches a local repo: ask, as a user would
    expect(children({"b": "2"}), timeout=app.timeouts.assert_)

    app.delete(cascade="foreground")
    app.wait_gone()

    def children_gone() -> Outcome:
        left = [c for c in ("a", "b") if app.child_status(c) is not None]
        configs = [o.name for o in app.live().of_kind("ConfigMap") if o.name.endswith("-config")]
        return Outcome.simple(not left and not configs, f"children {left}, their ConfigMaps {configs}")

    expect(
        Expectation("the children and their objects are gone", children_gone), timeout=app.timeouts.assert_
    )
