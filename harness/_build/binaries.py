"""Compile the embedded cluster's binaries from upstream Go modules into a versioned cache.

Two wrapper modules are generated per build: one holding Kubernetes alone (so the control plane
gets exactly the module graph Kubernetes tested), one holding Argo CD with its own replace block.

Cache layout (under `cache_root()`):
- `<argocd>-<kubernetes>/` one release (`v3.6.1-v1.37.0/`), `<release>-src-<commit>-<kubernetes>/`
  one source checkout: `bin/`, `manifests/`, `src/` (the wrapper modules) and `versions.json`;
- `controlplane-<kubernetes>-kwok-<kwok>/` the etcd, kube-* and kwok binaries that every release
  pinning that Kubernetes version links into its own `bin/` (built once, shared);
- `.locks/<entry>.lock` one file lock per entry: a second build of the same entry waits for the
  first and reuses its result;
- `.staging/<entry>/` where an entry is built; it is renamed into place only when complete, so an
  interrupted build never leaves an entry that looks complete, and the next build starts it afresh.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from harness._build import cache as cache
from harness._build import kubernetes as kubernetes
from harness._build import sources as sources
from harness._build import versions as versions
from harness._errors import BuildError, ConfigError
from harness._paths import cache_root

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "argocd", "kwok")
CONTROLPLANE_BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
#: Lines of a failed go command's output quoted in the BuildError.
GO_ERROR_LINES = 25
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
    #: Folders of the render tools (helm, kustomize) of this release, put on the repo-server's PATH
    #: after `bin`; set by `harness._build.render_tools.ensure_render_tools`, empty until then.
    tool_dirs: tuple[Path, ...] = ()

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
    """The cache entry of one build; a release's name is unchanged since the first layout."""
    if v.source:
        return cache_root() / f"{v.argocd}-src-{v.source_id}-{v.kubernetes}"
    return cache_root() / f"{v.argocd}-{v.kubernetes}"


def controlplane_dir(kubernetes: str, kwok: str) -> Path:
    return cache_root() / f"controlplane-{kubernetes}-kwok-{kwok}"


def _load(root: Path) -> Build | None:
    """The build at `root` if it is complete; an unreadable stamp counts as incomplete."""
    stamp = root / "versions.json"
    try:
        b = Build(root, versions.BuildVersions.from_json(stamp.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return b if _complete(b) else None


def find_build(argocd_version: str | None = None) -> Build | None:
    """A completed build of that Argo CD release (not of a source checkout), without the network."""
    want = versions.normalise_version(argocd_version or versions.DEFAULT_ARGOCD_VERSION)
    root = cache_root()
    if not root.is_dir():
        return None
    for stamp in sorted(root.glob(f"{want}-*/versions.json")):
        b = _load(stamp.parent)
        # `v3.6.1-*` also matches v3.6.1-rc1 builds and source builds of the v3.6.1 tag
        if b and b.versions.argocd == want and not b.versions.source:
            return b
    return None


def _complete(b: Build) -> bool:
    names = (*BINARIES, *ARGOCD_ALIASES, *ARGOCD_SCRIPTS)
    return all(b.binary(n).exists() for n in names) and b.install_yaml.is_file() and b.stage_crd.is_file()


def ensure_build(
    argocd_version: str | None = None, *, source: str | Path | None = None, out: Printer | None = None
) -> Build:
    """Build once per release (or per checkout commit); later calls return the cached build.

    `source` is a git checkout of argo-cd (`--argocd-source`): its release name, Kubernetes version
    and commit come from the checkout. Concurrent calls for one entry build it once: the others
    wait on the entry's lock and reuse the result. Raises ConfigError for bad input (before any
    slow work) and BuildError naming the module when a go command fails.
    """
    say = out or _stderr
    checkout: sources.SourceCheckout | None = None
    if source is not None:
        if argocd_version:
            raise ConfigError(
                "pass --argocd-version or --argocd-source, not both: a source build takes its release "
                "name from the checkout"
            )
        v, checkout = sources.resolve_source(source)
        mod = checkout.gomod
        cached = _cached_source(v)
        if cached:
            say(f"build: cached {cached.versions.key} at {cached.bin}")
            return cached
    else:
        cached = find_build(argocd_version)
        if cached:
            say(f"build: cached {cached.versions.key} at {cached.bin}")
            return cached
        v, mod = versions.resolve(argocd_version)
    v = _buildable_kubernetes(v, say)
    root = build_dir(v)
    with cache.entry_lock(root.name, say) as waited:
        done = _load(root)
        if done:
            how = "reusing the build another process just finished" if waited else "cached"
            say(f"build: {how}: {done.versions.key} at {done.bin}")
            return done
        return _Builder(v, mod, say, checkout).run()


def _cached_source(v: versions.BuildVersions) -> Build | None:
    """A completed build of the same checkout state, whichever Kubernetes patch it ended up on."""
    for stamp in sorted(cache_root().glob(f"{v.argocd}-src-{v.source_id}-*/versions.json")):
        b = _load(stamp.parent)
        if b and b.versions.source == v.source:
            return b
    return None


def _buildable_kubernetes(v: versions.BuildVersions, say: Printer) -> versions.BuildVersions:
    """`v`, or `v` on the nearest Kubernetes patch the proxy serves in full (see `kubernetes`).

    A control plane that is already built (or lent by a release entry) needs no check.
    """
    if _load_controlplane(controlplane_dir(v.kubernetes, v.kwok)) or _controlplane_of_a_release(
        v.kubernetes, v.kwok
    ):
        return v
    k8s = kubernetes.servable_kubernetes(v.kubernetes, say)
    return v if k8s == v.kubernetes else replace(v, kubernetes=k8s, kubernetes_pinned=v.kubernetes)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _ControlPlane:
    bin: Path
    stage_crd: Path
    etcd: str


class _Builder:
    def __init__(
        self,
        v: versions.BuildVersions,
        mod: versions.ArgoGoMod,
        say: Printer,
        checkout: sources.SourceCheckout | None = None,
    ) -> None:
        self.v = v
        self.mod = mod
        self.say = say
        self.checkout = checkout
        self.root = build_dir(v)
        self.env = versions.go_env(v.toolchain)
        self.t0 = time.monotonic()
        #: Argo CD's module path: from the checkout's go.mod, else by the release's major.
        self.argocd_module = mod.module or versions.argocd_module(v.argocd)

    def run(self) -> Build:
        origin = f" from {self.checkout.path} at {self.checkout.commit[:12]}" if self.checkout else ""
        self.say(
            f"build: Argo CD {self.v.argocd}{origin}, Kubernetes {self.v.kubernetes}, kwok {self.v.kwok}, "
            f"toolchain {self.v.toolchain} -> {self.root}"
        )
        cp = self._controlplane()
        self.v = replace(self.v, etcd=cp.etcd)
        staging = cache.fresh_staging(self.root.name)
        for name in CONTROLPLANE_BINARIES:
            cache.link_binary(cp.bin / name, staging / "bin" / name)
        shutil.copyfile(cp.stage_crd, staging / "manifests" / "kwok-stage-crd.yaml")
        argo = self._argocd_module(staging)
        self._step(
            "argocd",
            argo,
            [
                "build",
                "-trimpath",
                "-o",
                str(staging / "bin" / "argocd"),
                "-ldflags",
                self._argocd_ldflags(),
                f"{self.argocd_module}/cmd",
            ],
            module=self._argocd_ref(),
        )
        for alias in ARGOCD_ALIASES:
            (staging / "bin" / alias).symlink_to("argocd")
        self._copy_argocd_files(argo, staging)
        (staging / "versions.json").write_text(self.v.to_json())
        cache.install_entry(staging, self.root)
        self.say(f"build: done in {self._elapsed()}; binaries in {self.root / 'bin'}")
        return Build(self.root, self.v)

    def _argocd_ref(self) -> str:
        if self.checkout:
            return f"{self.argocd_module} from {self.checkout.path}@{self.checkout.commit[:12]}"
        return f"{self.argocd_module}@{self.v.argocd}"

    # -- the shared control plane ---------------------------------------------------------------------
    def _controlplane(self) -> _ControlPlane:
        """etcd, kube-* and kwok for this Kubernetes version: built once, shared by every release."""
        root = controlplane_dir(self.v.kubernetes, self.v.kwok)
        with cache.entry_lock(root.name, self.say):
            found = _load_controlplane(root) or _controlplane_of_a_release(self.v.kubernetes, self.v.kwok)
            if found:
                self.say(f"build: control plane for Kubernetes {self.v.kubernetes} shared from {found.bin}")
                return found
            staging = cache.fresh_staging(root.name)
            cp = self._controlplane_module(staging)
            etcd = self._go(["list", "-m", "-f", "{{.Version}}", versions.ETCD_MODULE], cp).strip()
            self._step(
                "kube-apiserver, kube-controller-manager, kube-scheduler",
                cp,
                [
                    "build",
                    "-trimpath",
                    "-o",
                    str(staging / "bin") + "/",
                    "-ldflags",
                    self._k8s_ldflags(),
                    "k8s.io/kubernetes/cmd/kube-apiserver",
                    "k8s.io/kubernetes/cmd/kube-controller-manager",
                    "k8s.io/kubernetes/cmd/kube-scheduler",
                ],
                module=f"{versions.K8S_MODULE}@{self.v.kubernetes}",
            )
            self._step(
                "etcd",
                cp,
                [
                    "build",
                    "-trimpath",
                    "-o",
                    str(staging / "bin" / "etcd"),
                    "-ldflags",
                    "-s -w",
                    versions.ETCD_MODULE,
                ],
                module=f"{versions.ETCD_MODULE}@{etcd}",
            )
            self._step(
                "kwok",
                cp,
                ["install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{self.v.kwok}"],
                extra_env={"GOBIN": str(staging / "bin")},
                module=f"{versions.KWOK_MODULE}@{self.v.kwok}",
            )
            kwok_info = versions._go_probe(
                ["mod", "download", "-json", f"{versions.KWOK_MODULE}@{self.v.kwok}"]
            )
            crd = (
                Path(json.loads(kwok_info)["Dir"])
                / "kustomize"
                / "crd"
                / "bases"
                / "kwok.x-k8s.io_stages.yaml"
            )
            shutil.copyfile(crd, staging / "manifests" / "kwok-stage-crd.yaml")
            stamp = {"kubernetes": self.v.kubernetes, "kwok": self.v.kwok, "etcd": etcd}
            (staging / "controlplane.json").write_text(json.dumps(stamp, indent=2, sort_keys=True))
            cache.install_entry(staging, root)
            return _ControlPlane(root / "bin", root / "manifests" / "kwok-stage-crd.yaml", etcd)

    # -- wrapper modules ------------------------------------------------------------------------------
    def _controlplane_module(self, entry: Path) -> Path:
        d = entry / "src" / "controlplane"
        d.mkdir(parents=True)
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
        self._step(
            "control-plane module graph (go mod tidy)",
            d,
            ["mod", "tidy"],
            module=f"{versions.K8S_MODULE}@{self.v.kubernetes}",
        )
        return d

    def _argocd_module(self, staging: Path) -> Path:
        d = staging / "src" / "argocd"
        d.mkdir(parents=True)
        # The `tool` directive needs go >= 1.24 in the wrapper; v2.12's go.mod says 1.21.0.
        go_line = max(self.mod.go_directive, "1.24.0", key=versions._parse_go_version)
        (d / "go.mod").write_text(f"module argocd-chaos.local/argocd\n\ngo {go_line}\n")
        module = self.argocd_module
        edits = [f"-require={module}@{self._required_version()}"]
        edits += [f"-replace={k}={r}" for k, r in sorted(self.mod.replaces.items())]
        if self.checkout:
            # The checkout is Argo CD; its `./dir` replaces (gitops-engine up to v3.5) point into it.
            edits.append(f"-replace={module}={self.checkout.path}")
            edits += [
                f"-replace={k}={self.checkout.path / rel}"
                for k, rel in sorted(self.mod.local_replaces.items())
            ]
        minor = "v0." + self.v.kubernetes.removeprefix("v1.")
        edits.append(f"-replace=k8s.io/streaming=k8s.io/streaming@{minor}")
        if not self.checkout:
            edits += self._gitops_engine_replace()
        edits.append(f"-tool={module}/cmd")
        self._go(["mod", "edit", *edits], d)
        self._step("Argo CD module graph (go mod tidy)", d, ["mod", "tidy"], module=self._argocd_ref())
        return d

    def _required_version(self) -> str:
        """The version the wrapper requires; a checkout's replace makes any valid one point at it."""
        if self.checkout is None or versions._VERSION_RE.match(self.v.argocd):
            return self.v.argocd
        major = versions.argocd_module_major(self.argocd_module)
        return f"v{major}.0.0-00010101000000-000000000000"

    def _gitops_engine_replace(self) -> list[str]:
        """A `/v3` gitops-engine required at the zero pseudo-version is pinned to the release tag.

        An external gitops-engine (up to v3.2) and a tagged `/v3` one (v3.6) need no edit; an
        in-tree one (v3.3 to v3.5) was refused by `versions.resolve` before any build started.
        """
        m = self.mod
        if m.gitops_engine_module.endswith("/v3") and m.gitops_engine_required.startswith(
            "v3.0.0-00010101000000"
        ):
            return [f"-replace={m.gitops_engine_module}={m.gitops_engine_module}@{self.v.argocd}"]
        return []

    def _probe_gomod(self, module: str, version: str) -> str:
        info = json.loads(versions._go_probe(["mod", "download", "-json", f"{module}@{version}"]) or "{}")
        path = str(info.get("GoMod", ""))
        if not path or not Path(path).is_file():
            raise BuildError(f"{module}@{version} is not served by the module proxy: {info.get('Error')}")
        return path

    # -- link flags -----------------------------------------------------------------------------------
    def _k8s_ldflags(self) -> str:
        return k8s_ldflags(self.v.kubernetes)

    def _argocd_ldflags(self) -> str:
        pkg = f"{self.argocd_module}/common"
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
    def _copy_argocd_files(self, argo: Path, staging: Path) -> None:
        """Take install.yaml, the image's helper scripts and its tool versions from the Argo CD tree."""
        argo_dir = Path(self._go(["list", "-m", "-f", "{{.Dir}}", self.argocd_module], argo).strip())
        shutil.copyfile(argo_dir / "manifests" / "install.yaml", staging / "manifests" / "install.yaml")
        # The helm and kustomize versions the release's image ships (read by `render_tools`).
        tool_versions = argo_dir / "hack" / "tool-versions.sh"
        if tool_versions.is_file():
            shutil.copyfile(tool_versions, staging / "manifests" / "tool-versions.sh")
        for script in ARGOCD_SCRIPTS:
            dst = staging / "bin" / script
            shutil.copyfile(argo_dir / "hack" / script, dst)
            dst.chmod(0o755)

    # -- running go -----------------------------------------------------------------------------------
    def _go(
        self,
        args: Sequence[str],
        cwd: Path,
        extra_env: dict[str, str] | None = None,
        module: str = "",
    ) -> str:
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run(
            [versions.go_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            tail = "\n".join(_error_lines(proc.stderr)[-GO_ERROR_LINES:])
            what = f" building {module}" if module else ""
            raise BuildError(
                f"`go {' '.join(args)}`{what} failed (in {cwd}, toolchain {self.v.toolchain}); "
                f"last lines of the go error:\n{tail}"
            )
        return proc.stdout

    def _step(
        self,
        what: str,
        cwd: Path,
        args: Sequence[str],
        extra_env: dict[str, str] | None = None,
        module: str = "",
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
            self._go(args, cwd, extra_env, module=module)
        finally:
            done.set()
            t.join()
        self.say(f"build: {what} done in {_fmt(time.monotonic() - started)}")

    def _elapsed(self) -> str:
        return _fmt(time.monotonic() - self.t0)


def k8s_ldflags(kubernetes: str) -> str:
    """Link flags of a Kubernetes command: stripped, and the version stamped as a release build does."""
    major, minor = kubernetes.removeprefix("v").split(".")[:2]
    date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for k, val in (
            ("gitVersion", kubernetes),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("gitCommit", "0" * 40),
            ("buildDate", date),
        ):
            flags.append(f"-X {pkg}.{k}={val}")
    return " ".join(flags)


def _error_lines(stderr: str) -> list[str]:
    """The go error's lines that say what went wrong.

    `go mod tidy` prints every failing import as a chain (`X imports`, `Y tested by`, then the
    failure); the chain lines alone, which a plain tail may be all of, say nothing.
    """
    lines = [ln.rstrip() for ln in stderr.strip().splitlines() if ln.strip()]
    reasons = [ln for ln in lines if not ln.rstrip().endswith((" imports", " tested by"))]
    return reasons or lines


def _fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def _load_controlplane(root: Path) -> _ControlPlane | None:
    try:
        stamp = json.loads((root / "controlplane.json").read_text())
    except (OSError, ValueError):
        return None
    crd = root / "manifests" / "kwok-stage-crd.yaml"
    if not all((root / "bin" / n).exists() for n in CONTROLPLANE_BINARIES) or not crd.is_file():
        return None
    return _ControlPlane(root / "bin", crd, str(stamp.get("etcd", "")))


def _controlplane_of_a_release(kubernetes: str, kwok: str) -> _ControlPlane | None:
    """A complete release build with the same Kubernetes and kwok, whose binaries can be shared.

    Entries made before the shared control plane existed (the first v3.6.1 build) lend theirs
    instead of a rebuild.
    """
    for stamp in sorted(cache_root().glob(f"*-{kubernetes}/versions.json")):
        b = _load(stamp.parent)
        if b and b.versions.kubernetes == kubernetes and b.versions.kwok == kwok and b.versions.etcd:
            return _ControlPlane(b.bin, b.stage_crd, b.versions.etcd)
    return None
