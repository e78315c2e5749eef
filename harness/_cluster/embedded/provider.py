"""The embedded provider: builds (or reuses) the embedded cluster for a pytest session."""

from __future__ import annotations

import shutil

from harness._build.binaries import ensure_build
from harness._build.render_tools import ensure_render_tools
from harness._build.versions import normalise_version
from harness._cluster.embedded.cluster import EmbeddedCluster, EmbeddedOptions, StateFileError
from harness._cluster.endpoint import LOOPBACK
from harness._cluster.provider import ClusterHandle, Provider, configured_webhook_endpoint, say
from harness._config import HarnessConfig
from harness._errors import ConfigError, HarnessError
from harness._paths import state_root


class EmbeddedProvider(Provider):
    def __init__(self) -> None:
        self.cluster: EmbeddedCluster | None = None

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        try:
            existing = EmbeddedCluster.attach(cfg.cluster_name)
        except StateFileError:
            existing = None  # `up` removes unreadable state, or says which processes still run
        owned = True
        if existing and existing.booted and all(existing.running().values()):
            _check_reusable(existing, cfg)
            say(f"argocd-chaos: reusing running embedded cluster {cfg.cluster_name!r}")
            self.cluster, owned = existing, False
        else:
            build = ensure_render_tools(
                ensure_build(cfg.argocd_version, source=cfg.argocd_source, out=say), say
            )
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
                # the release's own pin, when the control plane had to use another patch of it
                **({"kubernetes_pinned": v.kubernetes_pinned} if v.kubernetes_pinned else {}),
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

    def running(self, cfg: HarnessConfig) -> bool:
        try:
            cluster = EmbeddedCluster.attach(cfg.cluster_name)
        except Exception:  # noqa: BLE001 - unreadable state: nothing that could be reused
            return False
        return cluster is not None and cluster.booted and all(cluster.running().values())

    def reap(self, cfg: HarnessConfig) -> None:
        # `remove` works from any state file, or none: it also stops the processes found writing
        # into the cluster's logs, which is what a session killed mid-boot may not have recorded.
        try:
            EmbeddedCluster.remove(cfg.cluster_name)
        except HarnessError as exc:
            say(f"argocd-chaos: warning: {exc}")
        shutil.rmtree(state_root() / cfg.cluster_name, ignore_errors=True)


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
    running_source = existing.versions.source.rsplit("@", 1)[0]
    if cfg.argocd_source is not None and running_source != str(cfg.argocd_source.expanduser().resolve()):
        differences.append(f"Argo CD from {running_source or 'a release'}, not from {cfg.argocd_source}")
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
