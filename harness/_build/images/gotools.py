"""The Go (and one C) programs in the local images, each built once into its own cache entry.

* `kind` (the CLI) from `sigs.k8s.io/kind` at the pinned release;
* `kubelet`, `kubeadm`, `kubectl`, `kube-proxy` from `k8s.io/kubernetes` at the release's
  Kubernetes version, in a copy of the control-plane wrapper module the embedded build made (its
  `src/controlplane/go.mod`, with the staging-module replaces), so they share its module graph, flags
  (`-trimpath`, `CGO_ENABLED=0`, stripped, version stamped) and Go build cache;
* `crictl` from `sigs.k8s.io/cri-tools` (kind's `kind load` asks it whether an image is there);
* `coredns` from `github.com/coredns/coredns` at the tag kubeadm asks for;
* `pause` compiled with gcc from `build/pause/linux/pause.c`, which the `k8s.io/kubernetes` module
  zip ships (how upstream builds registry.k8s.io/pause).

Every `go install MODULE@VERSION` builds with the module's own go.mod, as its release does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Final

from harness._build import binaries, versions
from harness._build.images import steps
from harness._errors import BuildError

NODE_BINARIES: Final = ("kubelet", "kubeadm", "kubectl", "kube-proxy")
CRI_TOOLS_MODULE: Final = "sigs.k8s.io/cri-tools"
COREDNS_MODULE: Final = "github.com/coredns/coredns"
KIND_MODULE: Final = "sigs.k8s.io/kind"


def _env(toolchain: str, **extra: str) -> dict[str, str]:
    return {**versions.go_env(toolchain), **extra}


def go_install(entry: str, package: str, binary: str, toolchain: str, say: steps.Say) -> Path:
    """`go install -trimpath -ldflags='-s -w' package` into the `bin/` of cache entry `entry`."""

    def build(staging: Path) -> None:
        steps.run(
            [versions.go_binary(), "install", "-trimpath", "-ldflags=-s -w", package],
            f"go install {package}",
            say,
            env=_env(toolchain, GOBIN=str(staging / "bin")),
        )

    return steps.cached_entry(entry, lambda r: steps.executables(r, [binary]), build, say) / "bin" / binary


def kind(version: str, toolchain: str, say: steps.Say) -> Path:
    return go_install(f"kind-{version}", f"{KIND_MODULE}@{version}", "kind", toolchain, say)


def crictl(version: str, toolchain: str, say: steps.Say) -> Path:
    return go_install(
        f"crictl-{version}", f"{CRI_TOOLS_MODULE}/cmd/crictl@{version}", "crictl", toolchain, say
    )


def coredns(version: str, toolchain: str, say: steps.Say) -> Path:
    return go_install(f"coredns-{version}", f"{COREDNS_MODULE}@{version}", "coredns", toolchain, say)


def module_dir(module: str, version: str, toolchain: str = "local") -> Path:
    """Where the go command extracted `module@version` (downloading it through the proxy if needed)."""
    out = steps.run(
        [versions.go_binary(), "mod", "download", "-json", f"{module}@{version}"],
        f"go mod download {module}@{version}",
        lambda _m: None,
        env=_env(toolchain),
        quiet=True,
    )
    d = json.loads(out or "{}").get("Dir", "")
    if not d or not Path(d).is_dir():
        raise BuildError(
            f"{module}@{version} was downloaded but not extracted (go mod download -json: {out[:300]})"
        )
    return Path(d)


def node_binaries(build: binaries.Build, say: steps.Say) -> Path:
    """kubelet, kubeadm, kubectl and kube-proxy of the build's Kubernetes version; their `bin/`."""
    kubernetes, toolchain = build.versions.kubernetes, build.versions.toolchain
    # the release entry holds the module when it built its own control plane; else the shared entry does
    candidates = [
        build.root / "src" / "controlplane",
        binaries.controlplane_dir(kubernetes, build.versions.kwok) / "src" / "controlplane",
    ]
    template = next((c for c in candidates if (c / "go.mod").is_file()), None)
    if template is None:
        raise BuildError(
            f"no control-plane wrapper module (go.mod) in {' or '.join(map(str, candidates))}, which the "
            "node binaries are built from; rebuild the release with `argocd-chaos build`"
        )

    def make(staging: Path) -> None:
        mod = staging / "src" / "node"
        mod.mkdir(parents=True)
        for name in ("go.mod", "go.sum"):
            shutil.copyfile(template / name, mod / name)
        tools = [f"-tool=k8s.io/kubernetes/cmd/{b}" for b in NODE_BINARIES]
        env = _env(toolchain)
        steps.run(
            [versions.go_binary(), "mod", "edit", *tools],
            "node module: add the node commands",
            say,
            cwd=mod,
            env=env,
            quiet=True,
        )
        steps.run(
            [versions.go_binary(), "mod", "tidy"], "node module graph (go mod tidy)", say, cwd=mod, env=env
        )
        steps.run(
            [
                versions.go_binary(),
                "build",
                "-trimpath",
                "-o",
                str(staging / "bin") + "/",
                "-ldflags",
                binaries.k8s_ldflags(kubernetes),
                *(f"k8s.io/kubernetes/cmd/{b}" for b in NODE_BINARIES),
            ],
            f"go build {', '.join(NODE_BINARIES)} ({versions.K8S_MODULE}@{kubernetes})",
            say,
            cwd=mod,
            env=env,
        )

    entry = steps.cached_entry(
        f"kube-node-{kubernetes}", lambda r: steps.executables(r, NODE_BINARIES), make, say
    )
    return entry / "bin"


def pause(kubernetes: str, tag: str, toolchain: str, say: steps.Say) -> Path:
    """The pause binary, version `tag` (from kubeadm's image list), from the Kubernetes module's C source."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise BuildError(
            "gcc is not installed: the pause image is compiled from C (apt-get install gcc libc6-dev)"
        )

    def make(staging: Path) -> None:
        src = module_dir(versions.K8S_MODULE, kubernetes, toolchain) / "build" / "pause" / "linux" / "pause.c"
        steps.run(
            [
                gcc,
                "-Os",
                "-Wall",
                "-Werror",
                "-static",
                f"-DVERSION=v{tag}-0",
                "-o",
                str(staging / "bin" / "pause"),
                str(src),
            ],
            f"gcc pause {tag}",
            say,
        )

    return (
        steps.cached_entry(f"pause-{tag}", lambda r: steps.executables(r, ["pause"]), make, say)
        / "bin"
        / "pause"
    )
