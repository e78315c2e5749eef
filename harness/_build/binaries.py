"""Compile the embedded cluster's binaries from upstream Go modules into a versioned cache.

Two wrapper modules are generated per build: one holding Kubernetes alone (so the control plane
gets exactly the module graph Kubernetes tested), one holding Argo CD with its own replace block.
A finished build writes `versions.json` last; its presence with every binary is what makes a
second build a no-op.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from harness._build import versions as versions
from harness._errors import BuildError
from harness._paths import cache_root

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "argocd", "kwok")
ARGOCD_ALIASES = ("argocd-application-controller", "argocd-repo-server")
#: Helper scripts the Argo CD image puts on PATH; the repo-server execs them (v3.6 always runs the
#: commit-signature wrapper, even with GPG disabled), so they are taken from the same module.
ARGOCD_SCRIPTS = ("git-verify-wrapper.sh", "gpg-wrapper.sh")

Printer = Callable[[str], None]


@dataclass(frozen=True)
class Build:
    """A finished build: where its binaries and upstream manifests are."""

    root: Path
    versions: versions.BuildVersions

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def binary(self, name: str) -> Path:
        return self.bin / name

    @property
    def install_yaml(self) -> Path:
        return self.root / "manifests" / "install.yaml"

    @property
    def stage_crd(self) -> Path:
        return self.root / "manifests" / "kwok-stage-crd.yaml"


def build_dir(v: versions.BuildVersions) -> Path:
    return cache_root() / f"{v.argocd}-{v.kubernetes}"


def find_build(argocd_version: str | None = None) -> Build | None:
    """A completed build for that Argo CD version, without touching the network."""
    want = versions.normalise_version(argocd_version or versions.DEFAULT_ARGOCD_VERSION)
    root = cache_root()
    if not root.is_dir():
        return None
    for stamp in sorted(root.glob(f"{want}-*/versions.json")):
        b = Build(stamp.parent, versions.BuildVersions.from_json(stamp.read_text()))
        if b.versions.argocd == want and _complete(b):  # `v3.6.1-*` also matches v3.6.1-rc1 builds
            return b
    return None


def _complete(b: Build) -> bool:
    names = (*BINARIES, *ARGOCD_ALIASES, *ARGOCD_SCRIPTS)
    return all(b.binary(n).exists() for n in names) and b.install_yaml.is_file() and b.stage_crd.is_file()


def ensure_build(argocd_version: str | None = None, *, out: Printer | None = None) -> Build:
    """Build once per version; later calls return the cached build immediately."""
    say = out or _stderr
    cached = find_build(argocd_version)
    if cached:
        say(f"build: cached {cached.versions.key} at {cached.bin}")
        return cached
    v, mod = versions.resolve(argocd_version)
    return _Builder(v, mod, say).run()


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class _Builder:
    def __init__(self, v: versions.BuildVersions, mod: versions.ArgoGoMod, say: Printer) -> None:
        self.v = v
        self.mod = mod
        self.say = say
        self.root = build_dir(v)
        self.env = versions.go_env(v.toolchain)
        self.t0 = time.monotonic()

    def run(self) -> Build:
        self.say(
            f"build: Argo CD {self.v.argocd}, Kubernetes {self.v.kubernetes}, kwok {self.v.kwok}, "
            f"toolchain {self.v.toolchain} -> {self.root}"
        )
        (self.root / "bin").mkdir(parents=True, exist_ok=True)
        (self.root / "manifests").mkdir(exist_ok=True)
        cp = self._controlplane_module()
        argo = self._argocd_module()
        etcd = self._go(["list", "-m", "-f", "{{.Version}}", versions.ETCD_MODULE], cp).strip()
        self.v = replace(self.v, etcd=etcd)
        self._step(
            "kube-apiserver, kube-controller-manager, kube-scheduler",
            cp,
            [
                "build",
                "-trimpath",
                "-o",
                str(self.root / "bin") + "/",
                "-ldflags",
                self._k8s_ldflags(),
                "k8s.io/kubernetes/cmd/kube-apiserver",
                "k8s.io/kubernetes/cmd/kube-controller-manager",
                "k8s.io/kubernetes/cmd/kube-scheduler",
            ],
        )
        self._step(
            "etcd",
            cp,
            [
                "build",
                "-trimpath",
                "-o",
                str(self.root / "bin" / "etcd"),
                "-ldflags",
                "-s -w",
                versions.ETCD_MODULE,
            ],
        )
        self._step(
            "argocd",
            argo,
            [
                "build",
                "-trimpath",
                "-o",
                str(self.root / "bin" / "argocd"),
                "-ldflags",
                self._argocd_ldflags(),
                f"{versions.ARGOCD_MODULE}/cmd",
            ],
        )
        for alias in ARGOCD_ALIASES:
            link = self.root / "bin" / alias
            link.unlink(missing_ok=True)
            link.symlink_to("argocd")
        kwok_env = {"GOBIN": str(self.root / "bin")}
        self._step(
            "kwok",
            cp,
            ["install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{self.v.kwok}"],
            extra_env=kwok_env,
        )
        self._copy_manifests(argo, cp)
        (self.root / "versions.json").write_text(self.v.to_json())
        self.say(f"build: done in {self._elapsed()}; binaries in {self.root / 'bin'}")
        return Build(self.root, self.v)

    # -- wrapper modules ------------------------------------------------------------------------------
    def _controlplane_module(self) -> Path:
        d = self.root / "src" / "controlplane"
        if (d / "go.sum").is_file():
            return d
        d.mkdir(parents=True, exist_ok=True)
        (d / "go.mod").write_text("module argocd-chaos.local/controlplane\n\ngo 1.26.0\n")
        k8s_mod = Path(self._probe_gomod(versions.K8S_MODULE, self.v.kubernetes))
        staging = [
            line.split()[0]
            for line in k8s_mod.read_text().splitlines()
            if "=> ./staging/" in line and line.strip().startswith("k8s.io/")
        ]
        minor = "v0." + self.v.kubernetes.removeprefix("v1.")
        edits = [f"-replace={m}={m}@{minor}" for m in staging]
        edits.append(f"-require={versions.K8S_MODULE}@{self.v.kubernetes}")
        tools = [
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kube-controller-manager",
            "k8s.io/kubernetes/cmd/kube-scheduler",
            versions.ETCD_MODULE,
        ]
        edits += [f"-tool={t}" for t in tools]
        self._go(["mod", "edit", *edits], d)
        self._step("control-plane module graph (go mod tidy)", d, ["mod", "tidy"])
        return d

    def _argocd_module(self) -> Path:
        d = self.root / "src" / "argocd"
        if (d / "go.sum").is_file():
            return d
        d.mkdir(parents=True, exist_ok=True)
        (d / "go.mod").write_text(f"module argocd-chaos.local/argocd\n\ngo {self.mod.go_directive}\n")
        edits = [f"-require={versions.ARGOCD_MODULE}@{self.v.argocd}"]
        edits += [f"-replace={k}={r}" for k, r in sorted(self.mod.replaces.items())]
        minor = "v0." + self.v.kubernetes.removeprefix("v1.")
        edits.append(f"-replace=k8s.io/streaming=k8s.io/streaming@{minor}")
        edits += self._gitops_engine_replace()
        edits.append(f"-tool={versions.ARGOCD_MODULE}/cmd")
        self._go(["mod", "edit", *edits], d)
        self._step("Argo CD module graph (go mod tidy)", d, ["mod", "tidy"])
        return d

    def _gitops_engine_replace(self) -> list[str]:
        m = self.mod
        if m.gitops_engine_module.endswith("/v3"):
            if m.gitops_engine_required.startswith("v3.0.0-00010101000000"):
                return [f"-replace={m.gitops_engine_module}={m.gitops_engine_module}@{self.v.argocd}"]
            return []
        if not m.gitops_engine_module:
            return []
        commit = os.environ.get("ARGOCD_CHAOS_GITOPS_ENGINE_COMMIT", "") or self.v.argocd_commit
        if not commit:
            raise BuildError(
                f"Argo CD {self.v.argocd} embeds gitops-engine as an untagged nested module; "
                "its code can only be fetched by the release commit, which the module proxy does not "
                "report. Set ARGOCD_CHAOS_GITOPS_ENGINE_COMMIT to the tag's commit, or use a v3.6+ release."
            )
        return [f"-replace={m.gitops_engine_module}={m.gitops_engine_module}@{commit}"]

    def _probe_gomod(self, module: str, version: str) -> str:
        info = json.loads(versions._go_probe(["mod", "download", "-json", f"{module}@{version}"]) or "{}")
        path = str(info.get("GoMod", ""))
        if not path or not Path(path).is_file():
            raise BuildError(f"{module}@{version} is not served by the module proxy: {info.get('Error')}")
        return path

    # -- link flags -----------------------------------------------------------------------------------
    def _k8s_ldflags(self) -> str:
        major, minor = self.v.kubernetes.removeprefix("v").split(".")[:2]
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        flags = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            for k, val in (
                ("gitVersion", self.v.kubernetes),
                ("gitMajor", major),
                ("gitMinor", minor),
                ("gitTreeState", "clean"),
                ("gitCommit", "0" * 40),
                ("buildDate", date),
            ):
                flags.append(f"-X {pkg}.{k}={val}")
        return " ".join(flags)

    def _argocd_ldflags(self) -> str:
        pkg = f"{versions.ARGOCD_MODULE}/common"
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        minor = "v0." + self.v.kubernetes.removeprefix("v1.").split(".")[0] + ".0"
        vals = {
            "version": self.v.argocd.removeprefix("v"),
            "gitTag": self.v.argocd,
            "gitTreeState": "clean",
            "gitCommit": self.v.argocd_commit or "unknown",
            "buildDate": date,
            "kubectlVersion": minor,
        }
        return " ".join(["-s", "-w", *(f"-X {pkg}.{k}={val}" for k, val in vals.items())])

    # -- upstream data files ---------------------------------------------------------------------------
    def _copy_manifests(self, argo: Path, cp: Path) -> None:
        """Take install.yaml, the Stage CRD and the image's helper scripts from the same modules."""
        argo_dir = Path(self._go(["list", "-m", "-f", "{{.Dir}}", versions.ARGOCD_MODULE], argo).strip())
        shutil.copyfile(argo_dir / "manifests" / "install.yaml", self.root / "manifests" / "install.yaml")
        for script in ARGOCD_SCRIPTS:
            dst = self.root / "bin" / script
            shutil.copyfile(argo_dir / "hack" / script, dst)
            dst.chmod(0o755)
        kwok_info = versions._go_probe(["mod", "download", "-json", f"{versions.KWOK_MODULE}@{self.v.kwok}"])
        kwok_dir = Path(json.loads(kwok_info)["Dir"])
        crd = kwok_dir / "kustomize" / "crd" / "bases" / "kwok.x-k8s.io_stages.yaml"
        shutil.copyfile(crd, self.root / "manifests" / "kwok-stage-crd.yaml")

    # -- running go -----------------------------------------------------------------------------------
    def _go(self, args: Sequence[str], cwd: Path, extra_env: dict[str, str] | None = None) -> str:
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run(
            [versions.go_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise BuildError(f"`go {' '.join(args)}` in {cwd} failed:\n{proc.stderr.strip()[-3000:]}")
        return proc.stdout

    def _step(
        self, what: str, cwd: Path, args: Sequence[str], extra_env: dict[str, str] | None = None
    ) -> None:
        started = time.monotonic()
        self.say(f"build: {what} ... (total {self._elapsed()})")
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(30):
                self.say(
                    f"build: still on {what}: {_fmt(time.monotonic() - started)} (total {self._elapsed()})"
                )

        t = threading.Thread(target=heartbeat, daemon=True)
        t.start()
        try:
            self._go(args, cwd, extra_env)
        finally:
            done.set()
            t.join()
        self.say(f"build: {what} done in {_fmt(time.monotonic() - started)}")

    def _elapsed(self) -> str:
        return _fmt(time.monotonic() - self.t0)


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"
