"""Cluster providers behind one handle, so suites never know which kind of cluster they run on."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubernetes import client

from harness._cluster.endpoint import LOOPBACK, WebhookEndpoint
from harness._config import HarnessConfig
from harness._errors import ConfigError
from harness._kube import api_client


class RepoPublisher(Protocol):
    """Turns fixture revisions into what a real cluster runs and serves them to its repo-server."""

    def real_manifests(self, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def repo_url(self, local_path: Path) -> str: ...

    def push_repo(self, local_path: Path) -> str: ...


@dataclass
class ClusterHandle:
    """What suites and diagnostics need from any provider."""

    provider: str
    name: str
    kubeconfig: Path
    versions: dict[str, str]
    owned: bool
    log_files: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    boot_seconds: float | None = None
    #: Where the Argo CD binary of this cluster is, when the harness built it (embedded only).
    bin_dir: Path | None = None
    #: How fixture repos reach a cluster with real kubelets (kind, existing); None means the
    #: repo-server reads the local repos by file:// and KWOK plays the hook annotations out.
    repos: RepoPublisher | None = None
    #: Where a webhook served by the tests is reachable from the API server; None when the harness
    #: cannot know (an existing cluster without --webhook-host), and webhook scenarios are skipped.
    webhook_endpoint: WebhookEndpoint | None = LOOPBACK

    def api_client(self) -> client.ApiClient:
        return api_client(self.kubeconfig)

    def to_json(self) -> dict[str, Any]:
        """What another process of the same session needs to attach (the lease keeps it).

        Only handles without a repo publisher cross processes: an in-cluster git server is an object
        of the process that deployed it.
        """
        if self.repos is not None:
            raise ConfigError(
                f"a {self.provider} cluster cannot be shared between pytest-xdist workers yet; "
                "run the suites serially there (JOBS=1, or no -n)"
            )
        ep = self.webhook_endpoint
        return {
            "provider": self.provider,
            "name": self.name,
            "kubeconfig": str(self.kubeconfig),
            "versions": dict(self.versions),
            "owned": self.owned,
            "log_files": {k: str(v) for k, v in self.log_files.items()},
            "settings": dict(self.settings),
            "boot_seconds": self.boot_seconds,
            "bin_dir": str(self.bin_dir) if self.bin_dir else None,
            "webhook_endpoint": {"host": ep.host, "bind": ep.bind} if ep else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterHandle:
        ep = data.get("webhook_endpoint")
        return cls(
            provider=str(data["provider"]),
            name=str(data["name"]),
            kubeconfig=Path(data["kubeconfig"]),
            versions={str(k): str(v) for k, v in data["versions"].items()},
            owned=bool(data["owned"]),
            log_files={str(k): Path(v) for k, v in data.get("log_files", {}).items()},
            settings={str(k): str(v) for k, v in data.get("settings", {}).items()},
            boot_seconds=data.get("boot_seconds"),
            bin_dir=Path(data["bin_dir"]) if data.get("bin_dir") else None,
            webhook_endpoint=WebhookEndpoint(host=ep["host"], bind=ep["bind"]) if ep else None,
        )


class Provider:
    """Brings a cluster up (or finds a running one) and takes it down again when it owns it."""

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        raise NotImplementedError

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        raise NotImplementedError

    def running(self, cfg: HarnessConfig) -> bool:
        """Whether a cluster of `cfg`'s name already runs (acquire would reuse it, not own it)."""
        return False

    def reap(self, cfg: HarnessConfig) -> None:
        """Tear down what `acquire` made for `cfg`, from any process, without the acquiring object.

        The reaper's path (a session that died without releasing): it has only the config.
        """
        raise NotImplementedError


def say(msg: str) -> None:
    """Progress for the person at the terminal: stderr, so it never mixes with pytest's report."""
    print(msg, file=sys.stderr, flush=True)


def configured_webhook_endpoint(cfg: HarnessConfig) -> WebhookEndpoint | None:
    """The --webhook-host the user gave, which wins over the provider's own choice."""
    if cfg.webhook_host is None:
        return None
    return WebhookEndpoint(host=cfg.webhook_host, bind=cfg.webhook_host)
