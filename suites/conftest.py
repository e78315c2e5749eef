"""Shared helpers of the claim suites: Given-steps that several claims start from."""

from __future__ import annotations

import time

from harness import AppStatus, AppUnderTest, ClusterHandle, Expectation, FixtureApp, Outcome, expect
from harness._argocd.controller_flags import flag_defaults
from harness._cluster.controller_live import live_controller_flags
from harness._scenario.timeline import Timeline


def deploy_revision_1(app: AppUnderTest, fixture: FixtureApp) -> None:
    """Given: revision 1 of the fixture is synced, Succeeded and Healthy."""
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.wait_healthy()


def revisions(app: AppUnderTest) -> dict[str, str]:
    """`kind/name -> fixture revision` of the app's own objects (hooks and pods left out)."""
    return {k: v for k, v in app.live().revisions().items() if v and not k.startswith("Pod/")}


#: Set to ask the controller for a comparison; the controller removes it once it has refreshed the app
#: (`pkg/apis/application/v1alpha1/application_annotations.go`, AnnotationKeyRefresh).
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
#: The finalizers the controller puts on an app whose manifests hold deletion hooks.
PRE_DELETE_FINALIZER = "pre-delete-finalizer.argocd.argoproj.io"
POST_DELETE_FINALIZER = "post-delete-finalizer.argocd.argoproj.io"
#: The first Argo CD tag with the PreDelete hook type (README, "Checks a release cannot have").
PRE_DELETE_SINCE = "v3.3.0"
#: The controller race in deletion hooks (controller/hook.go, executeHooks): a pass that finds the
#: hook it has just created AlreadyExists but not yet in its cluster cache has no hook to wait for and
#: counts the phase done, so the deletion goes on while the hook still runs. Checks it decides carry it.
ARGO_CD_29100 = "argoproj/argo-cd#29100"
#: A Job's states (harness._argocd.observe) once its pod has ended one way or the other.
JOB_FINISHED = frozenset({"Failed", "FailureTarget", "Complete", "SuccessCriteriaMet"})


def settled_status(app: AppUnderTest) -> AppStatus:
    """The app's status from a comparison made after the last operation ended.

    The operation's end and the app's sync status are written by different steps of the controller;
    under load the first read after an operation can still carry the comparison from before it.
    Asking for a refresh and waiting until the controller has done it gives a status that belongs to
    the state the operation left.
    """
    app.argocd.refresh(app.name)

    def refreshed() -> Outcome:
        annotations = (app.argocd.get(app.name).get("metadata") or {}).get("annotations") or {}
        pending = REFRESH_ANNOTATION in annotations
        return Outcome.simple(not pending, "refresh still pending" if pending else "refreshed")

    expect(Expectation(f"the controller refreshed {app.name}", refreshed), timeout=app.timeouts.assert_)
    return app.status()


def deployed_with_finalizer(app: AppUnderTest, fixture: FixtureApp, finalizer: str) -> None:
    """Given: the app synced, seen Synced and Healthy by the controller, carrying `finalizer` (a
    deletion hook's).

    Synced and Healthy matter, not only the operation's end: every deletion step decides from the
    controller's cluster cache (`getPermittedAppLiveObjects` in finalizeApplicationDeletion,
    controller/appcontroller.go, and the hooks found in executeHooks, controller/hook.go, v3.6.1),
    which takes watch events in 100 ms batches (`processEvents`, gitops-engine pkg/cache/cluster.go).
    An app deleted within that lag of its sync is a different scenario: on kind (2026-12-01) the
    controller "Successfully deleted 0 resources" (the synced ConfigMap was not in its cache yet, so
    it stayed), and the status update that followed the ConfigMap's late arrival started another
    deletion pass before the new PostDelete hooks were cached: they were "already exists, skipping"
    and absent from the cache, so the phase counted as done and the app was gone before its hook ran.
    The app's status says Synced and Healthy only from a comparison whose cache holds the resources.
    """
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.wait_healthy()

    def check() -> Outcome:
        fins = app.status().finalizers
        return Outcome.simple(finalizer in fins, f"finalizers {list(fins)}")

    expect(Expectation(f"{app.name} carries {finalizer}", check), timeout=app.timeouts.assert_)


def nothing_new_happens(app: AppUnderTest, timeline: Timeline, *, refresh_every: float = 10.0) -> Expectation:
    """No new operation and no new hook run after now, while the app is refreshed periodically.

    The periodic refresh makes the controller reconcile (and consider an automated sync) during
    the window without waiting for the default resync period.
    """
    since = time.time()
    ops_before = len(timeline.operations())
    last_refresh = [0.0]

    def check() -> Outcome:
        now = time.time()
        if now - last_refresh[0] >= refresh_every:
            app.argocd.refresh(app.name)
            last_refresh[0] = now
        new_ops = len(timeline.operations()) - ops_before
        new_runs = [j.name for j in timeline.job_runs(since=since)]
        op = app.status().operation
        msg = f"new operations={new_ops} new hook runs={new_runs} last phase={op.phase if op else '-'}"
        return Outcome.simple(new_ops == 0 and not new_runs, msg)

    return Expectation(f"nothing new happens to {app.name}", check)


def deploy_self_healing(app: AppUnderTest, fixture: FixtureApp, **options: object) -> None:
    """Given: the app with automated sync and self-heal, after its first automated sync ended."""
    app.commit_revision(1, fixture)
    app.create(automated=True, self_heal=True, **options)


#: The defaults of `--app-resync` and `--app-resync-jitter` (seconds) in
#: cmd/argocd-application-controller/commands/argocd_application_controller.go, v2.12 to v3.6.1.
APP_RESYNC_DEFAULTS = {"app-resync": "120", "app-resync-jitter": "60"}


def full_resync_bound_s(cluster: ClusterHandle) -> float:
    """Seconds within which the controller reprocesses every app even without a watch event.

    `--app-resync` plus `--app-resync-jitter`: from the binary under test where it is local
    (embedded); where the controller runs in a pod (kind, existing), from what its workload sets
    (container arguments, or the variables fed from `argocd-cm`, e.g. `timeout.reconciliation`),
    else the release's defaults.
    """
    if cluster.bin_dir:
        flags = flag_defaults(cluster.bin_dir, "app-resync")
    else:
        with cluster.api_client() as api:
            flags = live_controller_flags(api, APP_RESYNC_DEFAULTS)
    values = {**APP_RESYNC_DEFAULTS, **flags}
    return float(values["app-resync"]) + float(values["app-resync-jitter"])
