"""One app under test: its own git repo, destination namespace and Application, cleaned up after.

Everything is named from the test id and labelled with the run id and test id, so parallel or
leftover tests never touch each other's objects and a sweep by label finds all of them. Each
action is an Allure step, so the report reads as the scenario did.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import allure
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.driver import LABEL_RUN, LABEL_TEST, AppSpec, ArgoCD
from harness._argocd.gitrepo import GitRepo
from harness._argocd.observe import AppStatus, LiveState, OperationState
from harness._cluster.provider import RepoPublisher
from harness._report import evidence as _evidence
from harness._scenario.fixtures import FixtureApp
from harness._wait import Expectation, Outcome, Timeouts, expect

#: Components whose log lines about this app go into evidence and diagnostics.
LOGGED_COMPONENTS = ("argocd-application-controller", "argocd-repo-server")


@dataclass
class SyncRequest:
    """What was asked, so a wait can tell this operation's result from an earlier one's."""

    revision: str
    previous_started_at: str


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
        self._logs = {c: p for c, p in (log_files or {}).items() if c in LOGGED_COMPONENTS}
        self._log_offsets = {c: _evidence.log_offset(p) for c, p in self._logs.items()}

    # -- given -----------------------------------------------------------------------------------------
    def commit(self, app: FixtureApp, message: str) -> str:
        """Commit a fixture revision; on a real cluster its hooks become real commands and it is pushed."""
        with allure.step(f"commit {message!r}"):
            if self.repos is None:
                return self.repo.commit_files(app.files(), message)
            real = FixtureApp(app.name, self.repos.real_manifests(app.docs))
            sha = self.repo.commit_files(real.files(), message)
            self.repos.push_repo(self.repo.path)
            return sha

    @property
    def repo_url(self) -> str:
        return self.repos.repo_url(self.repo.path) if self.repos else self.repo.url

    def commit_revision(self, n: int, app: FixtureApp) -> str:
        """Commit fixture revision `n`, every non-hook object stamped with it to tell later what is live."""
        sha = self.commit(app.at_revision(n), f"revision {n}")
        self.revisions[n] = sha
        return sha

    def create(self, **options: Any) -> dict[str, Any]:
        """Create the destination namespace and the Application (no sync policy unless asked)."""
        with allure.step(f"create Application {self.name} {options or ''}"):
            self.ensure_namespace()
            spec = AppSpec(
                name=self.name,
                repo_url=self.repo_url,
                dest_namespace=self.namespace,
                labels=self.labels,
                **options,
            )
            return self.argocd.create(spec)

    def ensure_namespace(self) -> None:
        """The destination namespace, labelled with the test's identity (created once)."""
        ns = client.V1Namespace(metadata=client.V1ObjectMeta(name=self.namespace, labels=self.labels))
        try:
            self.core.create_namespace(ns)
        except ApiException as exc:
            if exc.status != 409:
                raise

    # -- when ------------------------------------------------------------------------------------------
    def sync(self, revision: str | None = None) -> SyncRequest:
        rev = revision or self.repo.head()
        with allure.step(f"sync to {rev[:10]}"):
            prev = self.status().operation
            self.argocd.sync(self.name, revision=rev)
            self.last_sync = SyncRequest(rev, prev.started_at if prev else "")
            return self.last_sync

    # -- then ------------------------------------------------------------------------------------------
    def app(self) -> dict[str, Any]:
        return self.argocd.get(self.name)

    def status(self) -> AppStatus:
        return AppStatus.from_app(self.app())

    def live(self) -> LiveState:
        return _evidence.live_state(self.api, self.namespace)

    def events(self) -> list[str]:
        return _evidence.events(self.api, self.namespace)

    def log_excerpts(self) -> dict[str, list[str]]:
        """Lines about this app that each Argo CD component logged since the test began."""
        return {
            c: _evidence.log_lines(p, needles=(self.name,), since_offset=self._log_offsets.get(c, 0))
            for c, p in self._logs.items()
        }

    def operation_ends(self, phase: str, *, after: str | None = None) -> Expectation:
        """The next operation finishes in `phase`; finishing in any other phase fails at once.

        "Next" means started after the operation whose `startedAt` is `after`, or else after the
        last sync this scenario requested: an older result must never satisfy the wait.
        """
        previous = (
            after if after is not None else (self.last_sync.previous_started_at if self.last_sync else "")
        )

        def check() -> Outcome:
            st = self.status()
            op = st.operation
            if op is None or (previous and op.started_at == previous) or st.operation_requested:
                return Outcome.pending(f"operation not started or still requested; {st.excerpt()}")
            if not op.done:
                return Outcome.pending(st.excerpt())
            if op.phase != phase:
                return Outcome.failed(st.excerpt())
            return Outcome.met(st.excerpt())

        return Expectation(f"operation of {self.name} ends in phase {phase}", check)

    def current_started_at(self) -> str:
        op = self.status().operation
        return op.started_at if op else ""

    def wait_operation(
        self, phase: str, timeout: float | None = None, *, after: str | None = None
    ) -> OperationState:
        with allure.step(f"wait for the operation to end in {phase}"), self._timed():
            expect(
                self.operation_ends(phase, after=after),
                timeout=timeout or self.timeouts.assert_,
                hint="see the controller log excerpt attached to the test report",
            )
            op = self.status().operation
            assert op is not None
            return op

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
        """Delete the app (its finalizer prunes what it deployed), the namespace and the repo."""
        self.argocd.delete(self.name)
        try:
            self.core.delete_namespace(self.namespace, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        shutil.rmtree(self.repo.path, ignore_errors=True)
