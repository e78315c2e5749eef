"""One app under test: its own git repo, destination namespace and Application, cleaned up after.

Everything is named from the test id and labelled with the run id and test id, so parallel or
leftover tests never touch each other's objects and a sweep by label finds all of them. Each
action is an Allure step, so the report reads as the scenario did.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import allure
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.driver import LABEL_RUN, LABEL_TEST, AppSpec, ArgoCD, Cascade, SyncRetry
from harness._argocd.gitrepo import GitRepo
from harness._argocd.observe import AppStatus, LiveState, OperationState
from harness._argocd.operations import OperationLog, OperationRecord, OperationWatch
from harness._cluster.provider import RepoPublisher
from harness._errors import ConfigError
from harness._report import evidence as _evidence
from harness._scenario.fixtures import FixtureApp
from harness._wait import Expectation, Outcome, Timeouts, expect

#: Components whose log lines about this app go into evidence and diagnostics.
LOGGED_COMPONENTS = ("argocd-application-controller", "argocd-repo-server")

#: Seconds a requested sync may stay unstarted before a wait asks the controller for a refresh.
#: The controller can miss a request made while it writes the app back into its own informer cache
#: (`writeBackToInformer`, argo-cd `controller/appcontroller.go`, v2.12 to v3.6: the write does not
#: compare resource versions, so the copy without `.operation` replaces the newer one); it then starts
#: the operation only after its next write to the app, up to the full resync later (120 s + jitter).
#: A refresh is such a write. Requests are picked up well within a second otherwise (1715 back-to-back
#: syncs of one app at load average 8 here, 2026-12-01: p99 0.17 s, max 0.25 s, none missed; the miss
#: needs a busy controller), so 10 s only ever catches a missed one.
PICKUP_GRACE_SECONDS = 10.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyncRequest:
    """A sync this scenario requested: what was asked, and the id that finds its operation.

    `request_id` is written into the operation's `info` and copied by the controller into
    `status.operationState.operation`, so a wait finds this operation and no other, however close
    together two syncs were requested.
    """

    revision: str
    request_id: str


#: What a wait for an operation refers to: a sync request, the operation before the wanted one,
#: or "" for the latest operation, whichever it is.
After = SyncRequest | OperationState | str | None


class AppUnderTest:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        test_id: str,
        run_id: str,
        repo_root: Path,
        timeouts: Timeouts,
        log_files: Mapping[str, Path] | None = None,
        repos: RepoPublisher | None = None,
    ) -> None:
        self.api = api
        self.argocd = ArgoCD(api)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.test_id = test_id
        self.run_id = run_id
        self.name = f"chaos-{test_id}"
        self.namespace = f"chaos-{test_id}"
        self.labels = {LABEL_RUN: run_id, LABEL_TEST: test_id}
        self.repo = GitRepo.init(repo_root / self.name)
        self.repos = repos
        self.timeouts = timeouts
        self.last_sync: SyncRequest | None = None
        self.revisions: dict[int, str] = {}
        #: Seconds spent waiting on the controller, reported per scenario.
        self.wait_seconds = 0.0
        #: Sync requests the controller had not started after PICKUP_GRACE_SECONDS, for which a wait
        #: asked for a refresh: `{"request": first 8 of the id, "unstarted_seconds": float}` each.
        self.pickup_refreshes: list[dict[str, Any]] = []
        self._logs = {c: p for c, p in (log_files or {}).items() if c in LOGGED_COMPONENTS}
        self._log_offsets = {c: _evidence.log_offset(p) for c, p in self._logs.items()}
        self._watch: OperationWatch | None = None
        self._discovery = _evidence.Discovery(api)
        #: Every object any committed revision held, by (kind, namespace, name): what live() reads.
        self._manifests: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._folders: set[str] = set()
        #: Names of child Applications made by `child_app` (app-of-apps), removed at cleanup.
        self._children: list[str] = []

    # -- given -----------------------------------------------------------------------------------------
    def commit(self, app: FixtureApp, message: str) -> str:
        """Commit a fixture revision; on a real cluster its hooks become real commands and it is pushed."""
        with allure.step(f"commit {message!r}"):
            self._folders.update(app.folders)
            for d in app.docs:
                meta = d.get("metadata") or {}
                key = (
                    str(d.get("kind")),
                    str(meta.get("namespace", "")),
                    str(meta.get("name") or meta.get("generateName")),
                )
                self._manifests[key] = d
            if self.repos is None:
                return self.repo.commit_files(app.files(), message)
            # A chart's or kustomization's files go as they are: their pods get no translated command.
            real = FixtureApp(app.name, self.repos.real_manifests(app.docs), list(app.folders), dict(app.raw))
            sha = self.repo.commit_files(real.files(), message)
            self.repos.push_repo(self.repo.path)
            return sha

    def tag(self, name: str, revision: str = "HEAD") -> str:
        """Tag a commit of the app's repo (e.g. to use `create(revision="v1")`); returns the commit.

        Moving an existing tag is allowed, as re-releasing a tag does. On the embedded cluster the
        repo-server reads the repo directly; pushing tags to kind's in-cluster git server is not done.
        """
        with allure.step(f"tag {revision[:10]} as {name}"):
            return self.repo.tag(name, revision)

    @property
    def repo_url(self) -> str:
        return self.repos.repo_url(self.repo.path) if self.repos else self.repo.url

    def commit_revision(self, n: int, app: FixtureApp) -> str:
        """Commit fixture revision `n`, every non-hook object stamped with it to tell later what is live."""
        sha = self.commit(app.at_revision(n), f"revision {n}")
        self.revisions[n] = sha
        return sha

    def create(self, **options: Any) -> dict[str, Any]:
        """Create the destination namespace and the Application (no sync policy unless asked).

        `options` are `AppSpec` fields. When a committed fixture has subfolders, `recurse` defaults
        to True (Argo CD reads only the top folder of a directory source otherwise).
        """
        if any(self._folders) and "recurse" not in options:
            options["recurse"] = True
        with allure.step(f"create Application {self.name} {options or ''}"):
            self.ensure_namespace()
            spec = AppSpec(
                name=self.name,
                repo_url=self.repo_url,
                dest_namespace=self.namespace,
                labels=self.labels,
                **options,
            )
            created = self.argocd.create(spec)
            self._operations()  # number operations from the first one on
            return created

    def create_application(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the destination namespace and this Application manifest as given, whole.

        For an Application written elsewhere (a user's, in `argocd-chaos reproduce`): its name,
        namespace and destination must already be this app's; the run's labels are added.
        Raises ConfigError when they are not.
        """
        meta = manifest.get("metadata") or {}
        dest = (manifest.get("spec") or {}).get("destination") or {}
        if meta.get("name") != self.name or dest.get("namespace") != self.namespace:
            raise ConfigError(
                f"the Application must be named {self.name} and deploy to namespace {self.namespace}; got "
                f"{meta.get('name')!r} deploying to {dest.get('namespace')!r}"
            )
        body = {**manifest, "metadata": {**meta, "labels": {**(meta.get("labels") or {}), **self.labels}}}
        with allure.step(f"create Application {self.name} from a manifest"):
            self.ensure_namespace()
            created = cast(
                dict[str, Any],
                self.argocd.co.create_namespaced_custom_object(
                    "argoproj.io", "v1alpha1", self.argocd.namespace, "applications", body
                ),
            )
            self._operations()  # number operations from the first one on
            return created

    def child_app(self, name: str, path: str, **options: Any) -> dict[str, Any]:
        """An Application manifest for the app-of-apps pattern: commit it in the parent's folder.

        The child reads `path` of this app's own repository, deploys into this app's namespace and
        carries its labels; its name is `<app name>-<name>`. `options` are `AppSpec` fields
        (`automated=True` makes it sync itself once the parent created it). The manifest names the
        Argo CD namespace, where Applications live, so the parent's sync puts it there whatever the
        parent's destination. Children are removed at cleanup.
        """
        spec = AppSpec(
            name=f"{self.name}-{name}",
            repo_url=self.repo_url,
            dest_namespace=self.namespace,
            path=path,
            labels=dict(self.labels),
            **options,
        )
        if spec.name not in self._children:
            self._children.append(spec.name)
        return spec.to_manifest()

    def child_status(self, name: str) -> AppStatus | None:
        """The status of child Application `name` (as given to `child_app`), None while it does not exist."""
        child = self.argocd.get_or_none(f"{self.name}-{name}")
        return AppStatus.from_app(child) if child is not None else None

    def ensure_namespace(self) -> None:
        """The destination namespace, labelled with the test's identity (created once)."""
        ns = client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace, labels=self.labels))
        try:
            self.core.create_namespace(ns)
        except ApiException as exc:
            if exc.status != 409:
                raise

    # -- when ------------------------------------------------------------------------------------------
    def sync(
        self,
        revision: str | None = None,
        *,
        prune: bool = False,
        force: bool = False,
        dry_run: bool = False,
        resources: Sequence[str] = (),
        sync_options: Sequence[str] | None = None,
        retry: SyncRetry | None = None,
    ) -> SyncRequest:
        """Request a sync as `argocd app sync` would, and return the request.

        `revision`: a commit, branch or tag (default: the repo's HEAD commit). `resources`: selective
        sync, each `GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (core kinds: empty group, e.g.
        `:ConfigMap:app-config`). `sync_options` replace the spec's (e.g. `["Replace=true"]`);
        `retry` replaces the spec's retry strategy. Raises `ConfigError` on a malformed argument and
        `OperationInProgress` while another operation runs.
        """
        rev = revision or self.repo.head()
        with allure.step(f"sync to {rev[:10]}"):
            self._operations()  # watch from before the request, so its first write is seen
            request_id = self.argocd.sync(
                self.name,
                revision=rev,
                prune=prune,
                force=force,
                dry_run=dry_run,
                resources=resources,
                sync_options=sync_options,
                retry=retry,
            )
            self.last_sync = SyncRequest(rev, request_id)
            return self.last_sync

    def refresh(self, *, hard: bool = False) -> None:
        """Ask the controller to compare the app again now (hard: also regenerate its manifests)."""
        self.argocd.refresh(self.name, hard=hard)

    def terminate(self) -> None:
        """End the running operation, as `argocd app terminate-op` does."""
        with allure.step("terminate the running operation"):
            self.argocd.terminate(self.name)

    def delete(self, cascade: Cascade = "foreground") -> None:
        """Delete the Application as `argocd app delete --cascade=... --propagation-policy=...` does.

        `foreground` / `background`: the app's resources are deleted with it, with that propagation
        policy; `orphan` (the CLI's `--cascade=false`): they stay, and only the propagation-policy
        finalizers are removed (pre/post-delete hook finalizers stay). Returns once the delete is
        requested; wait with :meth:`wait_gone`.
        """
        with allure.step(f"delete Application {self.name} (cascade={cascade})"):
            self.argocd.delete(self.name, cascade=cascade)

    # -- then ------------------------------------------------------------------------------------------
    def app(self) -> dict[str, Any]:
        return self.argocd.get(self.name)

    def status(self) -> AppStatus:
        """The Application's status now; its operation numbered (`seq`) when the watch has seen it."""
        app = self.app()
        st = AppStatus.from_app(app)
        if st.operation is not None and self._watch is not None:
            rv = str(app.get("metadata", {}).get("resourceVersion", ""))
            st = dataclasses.replace(st, operation=self._numbered(st.operation, rv))
        return st

    def status_or_none(self) -> AppStatus | None:
        """The status, or None once the Application is gone."""
        app = self.argocd.get_or_none(self.name)
        return AppStatus.from_app(app) if app is not None else None

    def live(self) -> LiveState:
        """Every object of the app now.

        Its namespace's objects of every kind its manifests hold, of the kinds hooks commonly are and
        of Pods; its cluster-scoped objects (a Namespace, a ClusterRole, ...) and every object
        `status.resources[]` names, by name. Secrets carry the names of their keys, never values.
        """
        kinds = list(_evidence.DEFAULT_KINDS)
        named: list[tuple[str, str, str, str]] = []
        for d in self._manifests.values():
            meta = d.get("metadata") or {}
            if not d.get("apiVersion") or not d.get("kind"):
                continue
            kinds.append((d["apiVersion"], d["kind"]))
            if meta.get("name"):
                named.append((d["apiVersion"], d["kind"], meta.get("namespace", ""), meta["name"]))
        app = self.argocd.get_or_none(self.name)
        for r in AppStatus.from_app(app).resources if app else ():
            api_version = f"{r.group}/{r.version}" if r.group else r.version
            named.append((api_version, r.kind, r.namespace, r.name))
        return _evidence.live_state(
            self.api, self.namespace, kinds=kinds, named=named, discovery=self._discovery
        )

    def events(self) -> list[str]:
        return _evidence.events(self.api, self.namespace)

    def log_excerpts(self) -> dict[str, list[str]]:
        """Lines about this app that each Argo CD component logged since the test began."""
        return {
            c: _evidence.log_lines(p, needles=(self.name,), since_offset=self._log_offsets.get(c, 0))
            for c, p in self._logs.items()
        }

    # -- operations ------------------------------------------------------------------------------------
    def _operations(self) -> OperationWatch:
        if self._watch is None:
            self._watch = OperationWatch(self.api, self.argocd.namespace, self.name)
            self._watch.start()
        return self._watch

    def operations(self) -> list[OperationState]:
        """Every operation the watch has seen so far, oldest first, each as last seen and numbered."""
        watch = self._operations()
        with watch.lock:
            states = [r.state() for r in watch.log.records]
        return [s for s in states if s is not None]

    def _numbered(self, op: OperationState, resource_version: str) -> OperationState:
        watch = self._operations()
        with watch.lock:
            rec = watch.log.at_version(resource_version)
        if rec is not None and rec.started_at == op.started_at and rec.request_id == op.request_id:
            return dataclasses.replace(op, seq=rec.seq)
        return op  # the watch has not reached this version yet: unnumbered rather than wrong

    def _target(self, after: After) -> tuple[str, Callable[[OperationLog], OperationRecord | None]]:
        """What a wait refers to, in words, and how to find it in the log."""
        if after is None:
            after = self.last_sync if self.last_sync is not None else ""
        if isinstance(after, SyncRequest):
            rid = after.request_id
            return f"the operation of sync request {rid[:8]}", lambda log: log.by_request(rid)
        if isinstance(after, OperationState):
            if after.seq <= 0:
                raise ConfigError(
                    "after= needs an operation returned by a wait of this app (it carries seq); "
                    f"got one read without the operation watch: {after.excerpt()}"
                )
            seq = after.seq
            return f"the operation after #{seq}", lambda log: log.after(seq)
        if after == "":
            return "the latest operation", lambda log: log.latest()
        raise ConfigError(
            f"after= takes a SyncRequest, an OperationState from a wait, or '' (the latest); got {after!r}. "
            "startedAt strings no longer identify operations: two can share one second"
        )

    def _expect_operation(
        self, description: str, after: After, judge: Callable[[OperationState], Outcome]
    ) -> _OpExpectation:
        what, find = self._target(after)
        watch = self._operations()
        seen: list[OperationState] = []

        def check() -> Outcome:
            with watch.lock:
                rec = find(watch.log)
                op = rec.state() if rec is not None else None
                count = len(watch.log.records)
            if op is None:
                refreshed = self._refresh_if_not_picked_up(rec)
                errors = f"; watch errors: {watch.errors[-3:]}" if watch.errors else ""
                return Outcome.pending(
                    f"{what} has no operation state yet ({count} operations seen){refreshed}{errors}"
                )
            seen[:] = [op]
            return judge(op)

        return _OpExpectation(f"{what} of {self.name} {description}", check, seen)

    def _refresh_if_not_picked_up(self, rec: OperationRecord | None, now: float | None = None) -> str:
        """Ask once for a refresh when the requested operation `rec` is not started in time.

        See :data:`PICKUP_GRACE_SECONDS` for why. Only a request the watch saw (the API server holds
        it) and the controller has not started counts; each refresh is kept in `pickup_refreshes`,
        which goes into the claims ledger as evidence. Returns words for the wait's message.
        """
        if rec is None or not rec.request_id or rec.started_at or rec.phase:
            return ""
        waited = (time.time() if now is None else now) - rec.first_seen
        if any(r["request"] == rec.request_id[:8] for r in self.pickup_refreshes):
            return f"; not started after {PICKUP_GRACE_SECONDS:.0f} s, a refresh was requested"
        if waited < PICKUP_GRACE_SECONDS:
            return ""
        self.pickup_refreshes.append({"request": rec.request_id[:8], "unstarted_seconds": round(waited, 1)})
        log.warning(
            "sync request %s of %s not started by the controller after %.1f s: requesting a refresh",
            rec.request_id[:8],
            self.name,
            waited,
        )
        with allure.step(f"sync request {rec.request_id[:8]} not started after {waited:.1f} s: refresh"):
            self.argocd.refresh(self.name)
        return "; refresh requested"

    def operation_ends(self, phase: str, *, after: After = None) -> Expectation:
        """The operation ends in `phase`; ending in any other phase fails at once.

        Which operation: `after=None` the last sync this scenario requested (else the latest
        operation); a `SyncRequest`: its operation; an `OperationState` from an earlier wait: the
        first operation that began after it; `""`: the latest operation, whichever it is.
        """

        def judge(op: OperationState) -> Outcome:
            if not op.done:
                return Outcome.pending(op.excerpt())
            return Outcome.met(op.excerpt()) if op.phase == phase else Outcome.failed(op.excerpt())

        return self._expect_operation(f"ends in phase {phase}", after, judge)

    def wait_operation(
        self, phase: str, timeout: float | None = None, *, after: After = None
    ) -> OperationState:
        """Wait for :meth:`operation_ends`; returns the ended operation (numbered, see `seq`)."""
        return self._wait_op(
            self.operation_ends(phase, after=after), timeout, f"the operation to end in {phase}"
        )

    def wait_ended(self, timeout: float | None = None, *, after: After = None) -> OperationState:
        """Wait until the operation has ended, in any phase (Succeeded, Failed or Error)."""

        def judge(op: OperationState) -> Outcome:
            return Outcome.simple(op.done, op.excerpt())

        expectation = self._expect_operation("ends, in any phase", after, judge)
        return self._wait_op(expectation, timeout, "the operation to end in any phase")

    def wait_retrying(
        self, retries: int = 1, timeout: float | None = None, *, after: After = None
    ) -> OperationState:
        """Wait until the operation is Running with at least `retries` retries; its end fails the wait."""
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            raise ConfigError(f"retries must be an integer >= 1, got {retries!r}")

        def judge(op: OperationState) -> Outcome:
            if op.done:
                return Outcome.failed(f"ended before {retries} retries: {op.excerpt()}")
            return Outcome.simple(op.phase == "Running" and op.retry_count >= retries, op.excerpt())

        expectation = self._expect_operation(f"is Running with at least {retries} retries", after, judge)
        return self._wait_op(expectation, timeout, f"the operation to be retrying ({retries}+)")

    def operation(self, timeout: float | None = None, *, after: After = None) -> OperationState:
        """The operation's state as soon as it exists.

        The controller writes it some time after the request (on a loaded host, more than a second
        later), so this waits for it instead of reading once.
        """

        def judge(op: OperationState) -> Outcome:
            return Outcome.met(op.excerpt())

        return self._wait_op(
            self._expect_operation("has a state", after, judge), timeout, "the operation state"
        )

    def _wait_op(self, expectation: Expectation, timeout: float | None, step: str) -> OperationState:
        assert isinstance(expectation, _OpExpectation)
        with allure.step(f"wait for {step}"), self._timed():
            expect(
                expectation,
                timeout=timeout or self.timeouts.assert_,
                hint="see the controller log excerpt attached to the test report",
                # The check reads the watched log in memory, not the API: polling it often is free
                # and keeps a wait from adding up to a second to the scenario.
                max_interval=0.1,
            )
        return expectation.seen[0]

    def wait_healthy(self, timeout: float | None = None) -> AppStatus:
        def check() -> Outcome:
            st = self.status()
            return Outcome.simple(st.sync == "Synced" and st.health == "Healthy", st.excerpt())

        with allure.step("wait for Synced and Healthy"), self._timed():
            expect(
                Expectation(f"{self.name} is Synced and Healthy", check),
                timeout=timeout or self.timeouts.assert_,
            )
            return self.status()

    def gone(self) -> Expectation:
        """The Application no longer exists; while it does, the message names what holds it."""

        def check() -> Outcome:
            app = self.argocd.get_or_none(self.name)
            if app is None:
                return Outcome.met(f"Application {self.name} is gone")
            return Outcome.pending(self._deletion_blockers(app))

        return Expectation(f"Application {self.name} is gone", check)

    def wait_gone(self, timeout: float | None = None) -> None:
        """Wait until the Application is gone.

        The timeout error names what blocks its deletion: the finalizers left, the `DeletionError`
        condition's text and the hook objects still there.
        """
        with allure.step(f"wait for Application {self.name} to be gone"), self._timed():
            expect(
                self.gone(),
                timeout=timeout or self.timeouts.delete,
                hint="a PreDelete/PostDelete hook that fails blocks deletion until it is fixed in Git "
                "or deleted; see the DeletionError above",
            )

    def _deletion_blockers(self, app: dict[str, Any]) -> str:
        st = AppStatus.from_app(app)
        parts = [
            "deleting" if st.deleting else "not being deleted (no deletionTimestamp)",
            f"finalizers left: {list(st.finalizers) or 'none'}",
            f"DeletionError: {st.condition('DeletionError')!r}",
        ]
        try:
            hooks = [o for o in self.live().objects if o.hook and o.kind != "Pod"]
            parts.append(
                "hook objects: "
                + (
                    ", ".join(
                        f"{o.kind}/{o.name} ({o.hook}) {o.status or o.phase or 'present'}" for o in hooks
                    )
                    or "none"
                )
            )
        except Exception as exc:  # noqa: BLE001 - the blockers are a description; a failed read is part of it
            parts.append(f"hook objects: unreadable ({type(exc).__name__})")
        return "; ".join(parts)

    @contextlib.contextmanager
    def _timed(self) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.wait_seconds += time.monotonic() - t0

    def job(self, name: str) -> client.V1Job | None:
        try:
            return self.batch.read_namespaced_job(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    # -- cleanup ---------------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Delete the app (its finalizer prunes what it deployed), the namespace and the repo.

        Argo CD's pre-/post-delete hook finalizers are removed first: the test is over, and a hook
        that fails on purpose would otherwise hold the Application forever.
        """
        if self._watch is not None:
            self._watch.stop()
        app = self.argocd.get_or_none(self.name)
        if app is not None:
            finalizers = (app.get("metadata") or {}).get("finalizers") or []
            kept = [f for f in finalizers if not f.startswith(HOOK_FINALIZER_PREFIXES)]
            if kept != finalizers:
                with contextlib.suppress(ApiException):
                    self.argocd.patch(self.name, {"metadata": {"finalizers": kept}})
        self.argocd.delete(self.name)
        for child in self._children:  # the parent's cascade removes them too; this is in case it did not
            with contextlib.suppress(ApiException):
                self.argocd.delete(child)
        try:
            self.core.delete_namespace(self.namespace, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        shutil.rmtree(self.repo.path, ignore_errors=True)


#: Finalizers Argo CD sets on an app with PreDelete/PostDelete hooks (argo-cd
#: `pkg/apis/application/v1alpha1/application_defaults.go`), with their "/cleanup" variants.
HOOK_FINALIZER_PREFIXES = (
    "pre-delete-finalizer.argocd.argoproj.io",
    "post-delete-finalizer.argocd.argoproj.io",
)


class _OpExpectation(Expectation):
    """An expectation about one operation that keeps the last state it judged, to hand it back."""

    def __init__(self, description: str, check: Callable[[], Outcome], seen: list[OperationState]) -> None:
        super().__init__(description, check)
        self.seen = seen
