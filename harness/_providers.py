"""Cluster providers behind one handle, so suites never know which kind of cluster they run on."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kubernetes import client

from harness._config import HarnessConfig
from harness._errors import ConfigError
from harness._kube import api_client
from harness._versions import normalise_version
from harness._webhook import LOOPBACK, WebhookEndpoint

if TYPE_CHECKING:
    from harness._embedded import EmbeddedCluster


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


class Provider:
    """Brings a cluster up (or finds a running one) and takes it down again when it owns it."""

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        raise NotImplementedError

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        raise NotImplementedError


def say(msg: str) -> None:
    """Progress for the person at the terminal: stderr, so it never mixes with pytest's report."""
    print(msg, file=sys.stderr, flush=True)


class EmbeddedProvider(Provider):
    def __init__(self) -> None:
        self.cluster: EmbeddedCluster | None = None

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        from harness._build import ensure_build
        from harness._embedded import EmbeddedCluster, EmbeddedOptions

        existing = EmbeddedCluster.attach(cfg.cluster_name)
        owned = True
        if existing and all(existing.running().values()):
            _check_reusable(existing, cfg)
            say(f"argocd-chaos: reusing running embedded cluster {cfg.cluster_name!r}")
            self.cluster, owned = existing, False
        else:
            build = ensure_build(cfg.argocd_version, out=say)
            self.cluster = EmbeddedCluster(cfg.cluster_name, build)
            options = EmbeddedOptions(
                name=cfg.cluster_name,
                controller_args=list(cfg.controller_args),
                argocd_cm=dict(cfg.argocd_cm),
            )
            self.cluster.up(options, say=say)
        c = self.cluster
        v = c.versions
        return ClusterHandle(
            provider="embedded",
            name=c.name,
            kubeconfig=c.kubeconfig,
            versions={
                "argocd": v.argocd,
                "kubernetes": v.kubernetes,
                "kwok": v.kwok,
                "etcd": v.etcd,
                "go_toolchain": v.toolchain,
            },
            owned=owned,
            log_files={n: c.log(n) for n in c.records},
            settings={
                "controller_args": " ".join(c.options.controller_args) or "(defaults)",
                **{f"argocd-cm.{k}": val for k, val in c.options.argocd_cm.items()},
            },
            boot_seconds=c.timings.get("total"),
            bin_dir=c.build.bin,
            webhook_endpoint=configured_webhook_endpoint(cfg) or LOOPBACK,
        )

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        if self.cluster is None:
            return
        if keep or not handle.owned:
            say(
                f"argocd-chaos: keeping cluster {handle.name!r}; export KUBECONFIG={handle.kubeconfig}; "
                f"stop it with `argocd-chaos cluster down --name {handle.name}`"
            )
            return
        self.cluster.down()
        self.cluster = None


def _check_reusable(existing: EmbeddedCluster, cfg: HarnessConfig) -> None:
    """Refuse to run against a running cluster that is not what this run asks for.

    Reusing by name is for speed; silently testing another Argo CD version, or other controller
    settings, than the ones asked for would make the ledger lie.
    """
    differences = []
    running_version = existing.versions.argocd
    wanted = normalise_version(cfg.argocd_version) if cfg.argocd_version else None
    if wanted is not None and wanted != running_version:
        differences.append(f"Argo CD {running_version}, not {wanted}")
    if list(cfg.controller_args) != list(existing.options.controller_args):
        differences.append(
            f"controller flags {list(existing.options.controller_args)}, not {list(cfg.controller_args)}"
        )
    if dict(cfg.argocd_cm) != dict(existing.options.argocd_cm):
        differences.append(f"argocd-cm {dict(existing.options.argocd_cm)}, not {dict(cfg.argocd_cm)}")
    if differences:
        raise ConfigError(
            f"the running embedded cluster {cfg.cluster_name!r} has {'; '.join(differences)}: take it down "
            f"(argocd-chaos cluster down --name {cfg.cluster_name}) or pick another --cluster-name"
        )


def configured_webhook_endpoint(cfg: HarnessConfig) -> WebhookEndpoint | None:
    """The --webhook-host the user gave, which wins over the provider's own choice."""
    if cfg.webhook_host is None:
        return None
    return WebhookEndpoint(host=cfg.webhook_host, bind=cfg.webhook_host)


def provider_for(cfg: HarnessConfig) -> Provider:
    if cfg.provider == "embedded":
        return EmbeddedProvider()
    # Imported here: both modules build on this one (Provider, ClusterHandle).
    if cfg.provider == "kind":
        from harness._kind import KindProvider

        return KindProvider()
    if cfg.provider == "existing":
        from harness._existing import ExistingProvider

        return ExistingProvider()
    raise ConfigError(
        f"the {cfg.provider} provider is not part of this version of argocd-chaos yet; "
        "run with --cluster embedded (the default)."
    )
