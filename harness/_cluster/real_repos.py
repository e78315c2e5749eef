"""Fixture repos on clusters with real kubelets (kind, existing): real hook commands, in-cluster git."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness._cluster import argocd_install as install
from harness._cluster.kind.hook_commands import to_real_manifests
from harness._errors import HarnessError


class RealClusterRepos:
    """What a provider with real kubelets does to fixture apps: real hook commands, in-cluster repos.

    The suites commit KWOK-annotated manifests; on a real cluster each revision is committed with
    its pod templates translated (`real_manifests`), pushed to the in-cluster git server
    (`push_repo`) and read by Argo CD from `repo_url`.
    """

    git: install.GitServer | None = None

    @staticmethod
    def real_manifests(docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return to_real_manifests(docs)

    def repo_url(self, local_path: Path) -> str:
        return self._git().url(local_path)

    def push_repo(self, local_path: Path) -> str:
        git = self._git()
        git.push(local_path)
        return git.url(local_path)

    def _git(self) -> install.GitServer:
        if self.git is None:
            raise HarnessError("the in-cluster git server is not deployed; acquire the cluster first")
        return self.git
