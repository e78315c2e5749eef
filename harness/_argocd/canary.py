"""Readiness of the Argo CD controller, proven by reconciling a throwaway Application.

A healthy `/healthz` only says the process serves HTTP; a Synced canary app says the controller,
the repo-server, git, redis and the API server work together.
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


def canary_reconciles(kubeconfig: Path, repos_dir: Path, *, timeout: float, hint: str) -> None:
    """Create the canary app from a fresh repo under `repos_dir`; raises ExpectationTimeout with `hint`."""
    repo = GitRepo.init(repos_dir / CANARY)
    repo.commit_files({"canary.yaml": _MANIFEST}, "canary")
    api = api_client(kubeconfig)
    argo = ArgoCD(api)
    try:
        argo.delete(CANARY)
        argo.create(AppSpec(name=CANARY, repo_url=repo.url, dest_namespace="default", cascade_delete=False))

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
        )
    finally:
        argo.delete(CANARY)
        api.close()
