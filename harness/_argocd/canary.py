"""Readiness of the Argo CD controller, proven by reconciling a throwaway Application.

A healthy `/healthz` only says the process serves HTTP; a reconciled canary app says the controller,
the repo-server, git, redis and the API server work together.

A boot can split the proof into its steps (`Canary.prepare` before the API server is up,
`create` before the controller starts, so that its first list already holds the app, then `wait`);
`canary_reconciles` does all of them in one call.
"""

from __future__ import annotations

from pathlib import Path

from harness._argocd.driver import AppSpec, ArgoCD
from harness._argocd.gitrepo import GitRepo
from harness._kube import api_client
from harness._wait import Expectation, Outcome, expect

CANARY = "argocd-chaos-canary"
_MANIFEST = """apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-chaos-canary
data:
  purpose: proves the controller reconciles
"""


class Canary:
    """The canary app's git repo, and the app once `create` has been called."""

    def __init__(self, repo: GitRepo) -> None:
        self.repo = repo

    @classmethod
    def prepare(cls, repos_dir: Path) -> Canary:
        """A fresh git repo under `repos_dir` holding one ConfigMap; needs no cluster."""
        repo = GitRepo.init(repos_dir / CANARY)
        repo.commit_files({"canary.yaml": _MANIFEST}, "canary")
        return cls(repo)

    def create(self, kubeconfig: Path) -> None:
        """Create the Application (replacing a leftover one); the controller need not run yet."""
        api = api_client(kubeconfig)
        try:
            argo = ArgoCD(api)
            argo.delete(CANARY)
            argo.create(
                AppSpec(name=CANARY, repo_url=self.repo.url, dest_namespace="default", cascade_delete=False)
            )
        finally:
            api.close()

    def wait(self, kubeconfig: Path, *, timeout: float, hint: str, max_interval: float = 1.0) -> None:
        """Wait until the app is reconciled (OutOfSync or Synced), then delete it.

        Raises ExpectationTimeout with `hint` and the last status seen. The app is deleted in
        every case. `max_interval` caps the polling backoff, in seconds.
        """
        api = api_client(kubeconfig)
        argo = ArgoCD(api)
        try:

            def reconciled() -> Outcome:
                app = argo.get(CANARY)
                st = app.get("status") or {}
                sync = (st.get("sync") or {}).get("status", "")
                conds = [c.get("message", "") for c in st.get("conditions") or []]
                ok = bool(st.get("reconciledAt")) and sync in ("OutOfSync", "Synced")
                return Outcome.simple(
                    ok, f"sync={sync or '-'} reconciledAt={st.get('reconciledAt')} conditions={conds}"
                )

            expect(
                Expectation("the canary Application is reconciled (OutOfSync or Synced)", reconciled),
                timeout=timeout,
                hint=hint,
                max_interval=max_interval,
            )
        finally:
            argo.delete(CANARY)
            api.close()


def canary_reconciles(kubeconfig: Path, repos_dir: Path, *, timeout: float, hint: str) -> None:
    """Create the canary app from a fresh repo under `repos_dir`; raises ExpectationTimeout with `hint`."""
    canary = Canary.prepare(repos_dir)
    canary.create(kubeconfig)
    canary.wait(kubeconfig, timeout=timeout, hint=hint)
