"""The kind provider: the suites on a kind cluster, where hook pods are real containers.

kind runs each Kubernetes node as a Docker container, so this is the highest-fidelity mode and the
one users with Docker get from `make chaos CLUSTER=kind`. The cluster is driven through pytest-kind's
`KindCluster` with `kind-config.yaml` from the repo root; Argo CD is installed from the release's
upstream manifest (`harness._cluster.argocd_install`).

Nothing is downloaded behind the user's back: the kind binary is `--kind-path` or the `kind` on
PATH (`go install sigs.k8s.io/kind@<KIND_VERSION>` builds the pinned release from the Go module
proxy), never pytest-kind's download from GitHub; the node image is pinned by digest and pulled by
Docker, as any `kind create cluster` does. Without a Docker engine the provider refuses at once,
naming the embedded cluster, which needs none.

Pins (`KIND_VERSION`, `KIND_NODE_IMAGE`): kind v0.33.0, the newest release the Go module proxy serves
(`go list -m -versions sigs.k8s.io/kind`; published 2026-08-26), and the node image that release
creates clusters with by default, read from `pkg/apis/config/defaults/image.go` in the
`sigs.k8s.io/kind@v0.33.0` module: Kubernetes v1.37.0, the version Argo CD v3.6.1 is built against.
kind supports a node image only with the kind release it was published for (best effort with
others), so another kind binary gets a warning, not a refusal. Podman (KIND_EXPERIMENTAL_PROVIDER)
is not supported: the engine check asks Docker.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._build import images
from harness._build.images import engine
from harness._build.images.docker import Docker
from harness._cluster import argocd_install as install
from harness._cluster.embedded.cluster import validate_name
from harness._cluster.kind.docker_network import kind_network, webhook_endpoint
from harness._cluster.kind.hook_commands import HOOK_IMAGE
from harness._cluster.provider import ClusterHandle, Provider, configured_webhook_endpoint, say
from harness._cluster.real_repos import RealClusterRepos
from harness._config import HarnessConfig
from harness._errors import ClusterSetupError, ConfigError, HarnessError
from harness._paths import PROJECT_ROOT, state_root
from harness._redact import redact_tree

KIND_VERSION: Final = images.KIND_VERSION
KIND_NODE_IMAGE: Final = (
    "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5"
)
KIND_CONFIG: Final = PROJECT_ROOT / "kind-config.yaml"
KIND_INSTALL: Final = f"go install sigs.k8s.io/kind@{KIND_VERSION}"
#: Image pulls on a cold node dominate; Argo CD's images are large.
ARGOCD_ROLLOUT_TIMEOUT: Final = 600.0
GIT_SERVER_TIMEOUT: Final = 300.0
_PROBE_TIMEOUT: Final = 60.0
_KIND_VERSION_RE = re.compile(r"\bv?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.+-]+)?)\b")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def require_docker_engine(docker: str | None = None) -> str:
    """The Docker engine's version, or a ConfigError naming --cluster embedded as the way out.

    `docker info` talks to the engine, not just the client, so it fails exactly when kind would:
    no client installed, no engine running, or no permission on its socket.
    """
    alternative = "or run with --cluster embedded, which needs no Docker."
    exe = docker or shutil.which("docker")
    if not exe:
        raise ConfigError(
            "the kind provider needs a Docker engine, and the docker command is not installed: "
            f"install Docker (https://docs.docker.com/engine/install/), {alternative}"
        )
    argv = [exe, "info", "--format", "{{.ServerVersion}}"]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"the kind provider needs a Docker engine, and `{' '.join(argv)}` did not answer within "
            f"{_PROBE_TIMEOUT:.0f}s: check that the engine is healthy, {alternative}"
        ) from None
    version = p.stdout.strip()
    if p.returncode != 0 or not version:
        reason = _last_line(p.stderr) or f"exit {p.returncode}"
        raise ConfigError(
            f"the kind provider needs a Docker engine, and none answers (`{' '.join(argv)}`: {reason}). "
            f"Start Docker (or fix access to its socket), {alternative}"
        )
    return version


def find_kind(kind_path: Path | None = None) -> str:
    """The kind binary: `--kind-path`, else `kind` on PATH; never downloaded."""
    if kind_path is not None:
        if not (kind_path.is_file() and os.access(kind_path, os.X_OK)):
            raise ConfigError(
                f"--kind-path {kind_path} is not an executable file; point it at a kind binary, "
                f"or build the pinned one with `{KIND_INSTALL}`."
            )
        return str(kind_path)
    found = shutil.which("kind")
    if not found:
        raise ConfigError(
            f"kind is not installed: build the pinned release with `{KIND_INSTALL}` (from the Go module "
            "proxy, into $(go env GOPATH)/bin, which must be on PATH) or pass --kind-path /path/to/kind; "
            "or run with --cluster embedded, which needs neither kind nor Docker."
        )
    return found


def _run(argv: Sequence[str], what: str, timeout: float = _PROBE_TIMEOUT) -> str:
    try:
        p = subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ClusterSetupError(
            "kind", f"`{' '.join(argv)}` ({what}) did not finish in {timeout:.0f}s"
        ) from None
    if p.returncode != 0:
        raise ClusterSetupError(
            "kind", f"`{' '.join(argv)}` ({what}) failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}"
        )
    return p.stdout


def engine_facts(docker: str | None = None) -> tuple[str, str]:
    """The engine's cgroup version ("1" or "2") and default runtime, from `docker info`."""
    exe = docker or shutil.which("docker") or "docker"
    out = _run([exe, "info", "--format", "{{.CgroupVersion}} {{.DefaultRuntime}}"], "engine facts").split()
    return (out[0] if out else "", out[1] if len(out) > 1 else "")


def kind_config(base: Path, *, cgroup_v1: bool, static_cni: bool) -> dict[str, Any]:
    """The project's kind config with what this engine and these images need.

    * `cgroup_v1`: the engine's host runs cgroup v1, which the kubelet refuses from Kubernetes
      v1.35 on unless its configuration says `failCgroupV1: false` (KubeletConfiguration,
      k8s.io/kubelet/config/v1beta1); kind v0.33.0 only warns.
    * `static_cni`: the local node image brings its own CNI config (no kindnetd), so kind must not
      install its default CNI.
    """
    cfg: dict[str, Any] = yaml.safe_load(base.read_text()) or {}
    if cgroup_v1:
        patches = list(cfg.get("kubeadmConfigPatches") or [])
        patches.append("kind: KubeletConfiguration\nfailCgroupV1: false\n")
        cfg["kubeadmConfigPatches"] = patches
    if static_cni:
        cfg.setdefault("networking", {})["disableDefaultCNI"] = True
    return cfg


def kind_version(kind: str) -> str:
    """`kind version` ("kind v0.33.0 go1.26.8 linux/amd64") as "v0.33.0"."""
    out = _run([kind, "version"], "version of the kind binary")
    m = _KIND_VERSION_RE.search(out)
    if not m:
        raise ClusterSetupError("kind", f"cannot read a version from `{kind} version`: {out.strip()!r}")
    return "v" + m.group(1)


def kind_clusters(kind: str) -> list[str]:
    return [
        ln.strip() for ln in _run([kind, "get", "clusters"], "list kind clusters").splitlines() if ln.strip()
    ]


def node_kubernetes_version(image: str = KIND_NODE_IMAGE) -> str:
    return install.image_version(image) or "unknown"


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    """Run in `path`: KindCluster makes `.pytest-kind/<name>` in the working directory when built."""
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


class KindProvider(RealClusterRepos, Provider):
    """A kind cluster per session (or a running one reused by name) with Argo CD installed."""

    def __init__(self) -> None:
        self.cluster: Any = None  # pytest_kind.KindCluster (untyped)
        self.kind: str | None = None
        self.name: str | None = None
        self.kubeconfig: Path | None = None
        self.git = None
        self.local: images.LocalImages | None = None
        self.node_image: str = KIND_NODE_IMAGE

    def state_dir(self, name: str) -> Path:
        # "kind." cannot start an embedded cluster's name, so the two never share a directory.
        return state_root() / f"kind.{name}"

    def _local_images(self, cfg: HarnessConfig) -> images.LocalImages | None:
        if not cfg.kind_local_images:
            return None
        docker = Docker(shutil.which("docker") or "docker", say)
        found = images.find_images(cfg.argocd_version, docker)
        if found is None:
            flag = f" --argocd-version {cfg.argocd_version}" if cfg.argocd_version else ""
            raise ConfigError(
                "--kind-local-images: the local images of this release are not built (or no longer in "
                f"the Docker engine); build them with `argocd-chaos images build{flag}`"
            )
        return found

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        name = validate_name(cfg.cluster_name)
        docker_version = require_docker_engine()
        cgroup, runtime = engine_facts()
        if engine.lacks_sys_resource():
            engine.check_runtime(
                engine.Engine("docker", docker_version, runtime, started=False), needs_wrapper=True
            )
        local = self._local_images(cfg)
        self.local = local
        kind = find_kind(cfg.kind_path or (local.kind if local else None))
        found = kind_version(kind)
        self.node_image = cfg.kind_node_image or (local.node_image if local else KIND_NODE_IMAGE)
        say(
            f"argocd-chaos: kind {found} ({kind}); pinned kind {KIND_VERSION}, node image {self.node_image}; "
            f"Docker engine {docker_version} (cgroup v{cgroup or '?'}, runtime {runtime or '?'})"
        )
        if found != KIND_VERSION:
            say(
                f"argocd-chaos: warning: the node image is published for kind {KIND_VERSION}, and kind "
                f"supports node images only with their own release; `{KIND_INSTALL}` builds the pinned one."
            )
        kubectl_path = install.find_kubectl()
        state = self.state_dir(name)
        state.mkdir(parents=True, exist_ok=True)
        os.chmod(state, 0o700)
        kubeconfig = state / "kubeconfig"
        self.kind, self.name, self.kubeconfig = kind, name, kubeconfig

        from pytest_kind import KindCluster

        with _cwd(state):
            self.cluster = KindCluster(
                name,
                kubeconfig=kubeconfig,
                image=self.node_image,
                kind_path=Path(kind),
                kubectl_path=Path(kubectl_path),
            )
        owned = name not in kind_clusters(kind)
        t0 = time.monotonic()
        try:
            if owned:
                config = state / "kind-config.yaml"
                config.write_text(
                    yaml.safe_dump(
                        kind_config(KIND_CONFIG, cgroup_v1=cgroup == "1", static_cni=local is not None),
                        sort_keys=False,
                    )
                )
                say(f"argocd-chaos: creating kind cluster {name!r} from {config} (based on {KIND_CONFIG})")
                try:
                    self.cluster.create(config_file=config)
                except subprocess.CalledProcessError as exc:
                    raise ClusterSetupError(
                        "kind",
                        f"`{' '.join(map(str, exc.cmd))}` failed (exit {exc.returncode}); "
                        "its output is above",
                    ) from None
            else:
                say(f"argocd-chaos: reusing running kind cluster {name!r}")
                text = _run(
                    [kind, "get", "kubeconfig", f"--name={name}"], "kubeconfig of the running cluster"
                )
                kubeconfig.write_text(text)
            os.chmod(kubeconfig, 0o600)
            say(f"argocd-chaos: export KUBECONFIG={kubeconfig}")
            self._load_local_images(kind, name)
            kubectl = install.Kubectl(kubectl_path, kubeconfig)
            handle = self._install(cfg, kubectl, name, kubeconfig, owned, found)
        except BaseException:
            self._failed_setup(cfg, owned)
            raise
        handle.boot_seconds = time.monotonic() - t0
        return handle

    def _install(
        self,
        cfg: HarnessConfig,
        kubectl: install.Kubectl,
        name: str,
        kubeconfig: Path,
        owned: bool,
        kind_found: str,
    ) -> ClusterHandle:
        from harness._kube import api_client

        settings = install.ControllerSettings(tuple(cfg.controller_args), dict(cfg.argocd_cm))
        endpoint = configured_webhook_endpoint(cfg) or webhook_endpoint(kind_network())
        api = api_client(kubeconfig)
        try:
            argocd = install.install_argocd(
                kubectl,
                install.workloads_lister(api, ARGOCD_NAMESPACE),
                version=cfg.argocd_version,
                manifest=cfg.argocd_manifest,
                settings=settings,
                timeout=ARGOCD_ROLLOUT_TIMEOUT,
                say=say,
                # the node has the local images and no registry to pull them from
                pull_policy="IfNotPresent" if self.local else None,
            )
            self.git = install.GitServer(kubectl)
            self.git.deploy(
                argocd.image,
                labels=None,
                timeout=GIT_SERVER_TIMEOUT,
                list_workloads=install.workloads_lister(api, install.GIT_NAMESPACE),
            )
        finally:
            api.close()
        return ClusterHandle(
            provider="kind",
            name=name,
            kubeconfig=kubeconfig,
            versions={
                "argocd": argocd.version,
                "kubernetes": self.local.kubernetes
                if self.local
                else node_kubernetes_version(self.node_image),
                "kind": kind_found,
                "kind_pinned": KIND_VERSION,
                "kind_node_image": self.node_image,
                "kind_images": "local (argocd-chaos images build)" if self.local else "upstream (pulled)",
                "hook_image": HOOK_IMAGE,
            },
            repos=self,
            webhook_endpoint=endpoint,
            owned=owned,
            settings={
                "controller_args": " ".join(settings.controller_args) or "(defaults)",
                **{f"argocd-cm.{k}": v for k, v in settings.argocd_cm.items()},
                "settings_hash": argocd.settings_hash,
                "webhook_endpoint": f"{endpoint.host} (bound on {endpoint.bind})",
            },
        )

    def _load_local_images(self, kind: str, name: str) -> None:
        """Side-load images Docker already has, so the node need not pull them; pulls still work.

        With --kind-local-images every image Argo CD and the hooks run is loaded, and a failed load
        is an error: nothing could be pulled instead.
        """
        docker = shutil.which("docker") or "docker"
        if self.local is not None:
            t0 = time.monotonic()
            for image in self.local.app_images:
                try:
                    self.cluster.load_docker_image(image)
                except subprocess.CalledProcessError as exc:
                    raise ClusterSetupError(
                        "kind", f"`kind load docker-image {image}` failed ({exc}); its output is above"
                    ) from None
            say(
                f"argocd-chaos: loaded {len(self.local.app_images)} local images into the node "
                f"in {time.monotonic() - t0:.1f}s"
            )
            return
        for image in (HOOK_IMAGE,):
            p = subprocess.run(
                [docker, "image", "inspect", "--format", "{{.Id}}", image],
                capture_output=True,
                text=True,
                check=False,
                timeout=_PROBE_TIMEOUT,
            )
            if p.returncode != 0:
                say(f"argocd-chaos: {image} is not in the local Docker images; the node pulls it")
                continue
            try:
                self.cluster.load_docker_image(image)
            except subprocess.CalledProcessError as exc:
                say(
                    f"argocd-chaos: warning: `kind load docker-image {image}` failed ({exc}); "
                    "the node pulls it"
                )

    def _failed_setup(self, cfg: HarnessConfig, owned: bool) -> None:
        if self.cluster is None or not owned:
            return
        if cfg.keep_cluster in ("on-failure", "always"):
            say(f"argocd-chaos: kept the kind cluster {self.name!r} that failed to set up, for inspection")
            return
        self.export_logs(cfg.reports_dir / "kind-logs")
        with contextlib.suppress(Exception):
            self.cluster.delete()
        self.cluster = None

    def export_logs(self, dest: Path) -> Path | None:
        """`kind export logs` into `dest` (diagnostics for a failed session); never raises."""
        if self.kind is None or self.name is None:
            return None
        dest.mkdir(parents=True, exist_ok=True)
        argv = [self.kind, "export", "logs", str(dest), f"--name={self.name}"]
        try:
            p = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            say(f"argocd-chaos: warning: `{' '.join(argv)}` failed: {exc}")
            return None
        if p.returncode != 0:
            say(f"argocd-chaos: warning: `{' '.join(argv)}` failed: {_last_line(p.stderr)}")
            return None
        # The dump holds every node and pod log verbatim and is uploaded with the reports.
        redact_tree(dest)
        say(f"argocd-chaos: kind logs exported to {dest}")
        return dest

    def running(self, cfg: HarnessConfig) -> bool:
        try:
            return cfg.cluster_name in kind_clusters(find_kind(cfg.kind_path))
        except HarnessError:
            return False

    def reap(self, cfg: HarnessConfig) -> None:
        name = validate_name(cfg.cluster_name)
        kind = find_kind(cfg.kind_path)
        subprocess.run([kind, "delete", "cluster", "--name", name], capture_output=True, check=False)
        shutil.rmtree(self.state_dir(name), ignore_errors=True)

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        if self.cluster is None:
            return
        if keep or not handle.owned:
            say(
                f"argocd-chaos: keeping kind cluster {handle.name!r}; export KUBECONFIG={handle.kubeconfig}; "
                f"delete it with `kind delete cluster --name {handle.name}` and its kubeconfig and state "
                f"with `rm -r {self.state_dir(handle.name)}`"
            )
            return
        try:
            self.cluster.delete()
        except subprocess.CalledProcessError as exc:
            raise ClusterSetupError(
                "kind",
                f"deleting kind cluster {handle.name!r} failed (exit {exc.returncode}); its output is above",
            ) from None
        shutil.rmtree(self.state_dir(handle.name), ignore_errors=True)
        self.cluster = None
