"""Which upstream versions a build uses, read from the Go module proxy and Argo CD's own go.mod.

The Kubernetes version is not ours to choose: the control plane follows the release of
`k8s.io/kubernetes` that the chosen Argo CD release compiles against, so client and server skew
is exactly what that release was tested with.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness._errors import BuildError, ConfigError
from harness._paths import cache_root

ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
K8S_MODULE = "k8s.io/kubernetes"
KWOK_MODULE = "sigs.k8s.io/kwok"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"

#: Newest Argo CD release the module proxy served when this was pinned (`go list -m -versions`).
DEFAULT_ARGOCD_VERSION = "v3.6.1"
KWOK_VERSION = "v0.8.0"
#: The one newer toolchain the module proxy is known to serve; used when a module needs Go > local.
NEWER_TOOLCHAIN = "go1.27.3"

_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?$")


@dataclass(frozen=True)
class ArgoGoMod:
    """What the build needs to know from one Argo CD release's go.mod."""

    go_directive: str
    kubernetes: str
    replaces: dict[str, str]
    gitops_engine_module: str
    gitops_engine_required: str
    gitops_engine_local_replace: bool


@dataclass(frozen=True)
class BuildVersions:
    """The exact versions of one embedded build; printed in run headers and the report."""

    argocd: str
    kubernetes: str
    kwok: str
    toolchain: str
    argocd_commit: str = ""
    etcd: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"argocd-{self.argocd}-k8s-{self.kubernetes}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BuildVersions:
        return cls(**json.loads(text))


def normalise_version(version: str) -> str:
    """Accept `3.6.1` or `v3.6.1`; reject anything that is not a release tag."""
    v = version.strip()
    if not v.startswith("v"):
        v = "v" + v
    if not _VERSION_RE.match(v):
        raise ConfigError(
            f"Argo CD version {version!r} is not a release tag like v3.6.1; "
            "list served versions with `go list -m -versions github.com/argoproj/argo-cd/v3`."
        )
    return v


def go_binary() -> str:
    go = shutil.which("go")
    if not go:
        raise BuildError(
            "Go is not installed or not on PATH: the embedded cluster is compiled from Go modules. "
            "Install Go >= 1.26 (https://go.dev/dl/) and run the command again, or use --cluster existing."
        )
    return go


def go_env(toolchain: str = "local") -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = toolchain
    env["CGO_ENABLED"] = "0"
    env.setdefault("GOFLAGS", "-mod=mod")
    return env


def local_go_version() -> tuple[int, ...]:
    out = subprocess.run(
        [go_binary(), "env", "GOVERSION"], env=go_env(), capture_output=True, text=True, check=False
    )
    return _parse_go_version(out.stdout.strip().removeprefix("go"))


def _parse_go_version(text: str) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) or (0,)


def parse_argocd_gomod(text: str) -> ArgoGoMod:
    """Read the few facts the wrapper modules need; ignores everything else in the file."""
    go_directive = ""
    kubernetes = ""
    ge_module = ""
    ge_required = ""
    ge_local = False
    replaces: dict[str, str] = {}
    in_replace = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.startswith("go "):
            go_directive = line.split()[1]
            continue
        if line.startswith("replace ("):
            in_replace = True
            continue
        if in_replace and line == ")":
            in_replace = False
            continue
        body = line.removeprefix("replace ").strip() if line.startswith("replace ") else line
        tokens = body.split()
        if (in_replace or line.startswith("replace ")) and "=>" in tokens:
            i = tokens.index("=>")
            left, right = tokens[0], tokens[i + 1 :]
            if left.startswith("github.com/argoproj/argo-cd/gitops-engine"):
                ge_local = right[0].startswith("./")
                continue
            if len(right) == 2:
                replaces[left] = f"{right[0]}@{right[1]}"
            continue
        if len(tokens) >= 2 and tokens[0] == K8S_MODULE:
            kubernetes = tokens[1]
        if len(tokens) >= 2 and tokens[0].startswith("github.com/argoproj/argo-cd/gitops-engine"):
            ge_module, ge_required = tokens[0], tokens[1]
    if not (go_directive and kubernetes):
        raise BuildError("Argo CD go.mod has no `go` directive or no k8s.io/kubernetes requirement")
    return ArgoGoMod(go_directive, kubernetes, replaces, ge_module, ge_required, ge_local)


def toolchain_for(go_directive: str, local: tuple[int, ...]) -> str:
    """`local` when the machine's Go covers the module, else the one newer served toolchain."""
    return "local" if _parse_go_version(go_directive) <= local else NEWER_TOOLCHAIN


def served_versions(module: str) -> list[str]:
    out = _go_probe(["list", "-m", "-versions", module])
    return out.split()[1:]


def _go_probe(args: list[str]) -> str:
    """Run a read-only `go` query from a throwaway module so no project go.mod is consulted."""
    probe = cache_root() / "probe"
    probe.mkdir(parents=True, exist_ok=True)
    gomod = probe / "go.mod"
    if not gomod.exists():
        gomod.write_text("module probe\n\ngo 1.24\n")
    proc = subprocess.run(
        [go_binary(), *args],
        cwd=probe,
        env=go_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if proc.returncode != 0 and not proc.stdout:
        raise BuildError(f"`go {' '.join(args)}` failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def fetch_argocd_gomod(version: str) -> tuple[str, str]:
    """Return (go.mod text, tag commit) of a served Argo CD release, or say which ones are served."""
    v = normalise_version(version)
    info = json.loads(_go_probe(["mod", "download", "-json", f"{ARGOCD_MODULE}@{v}"]) or "{}")
    gomod = info.get("GoMod", "")
    if not gomod or not Path(gomod).is_file():
        served = [s for s in served_versions(ARGOCD_MODULE) if s.startswith("v3.")]
        raise ConfigError(
            f"Argo CD {v} is not served by the Go module proxy ({info.get('Error', 'no go.mod')}). "
            f"Served v3 releases: {' '.join(served) or 'none'}. Pass one of them with --argocd-version."
        )
    origin = info.get("Origin") or {}
    commit = str(origin.get("Hash", ""))
    if not commit:
        listed = json.loads(_go_probe(["list", "-m", "-json", f"{ARGOCD_MODULE}@{v}"]) or "{}")
        commit = str((listed.get("Origin") or {}).get("Hash", ""))
    return Path(gomod).read_text(), commit


def resolve(version: str | None = None) -> tuple[BuildVersions, ArgoGoMod]:
    v = normalise_version(version or DEFAULT_ARGOCD_VERSION)
    text, commit = fetch_argocd_gomod(v)
    mod = parse_argocd_gomod(text)
    toolchain = toolchain_for(mod.go_directive, local_go_version())
    return BuildVersions(v, mod.kubernetes, KWOK_VERSION, toolchain, argocd_commit=commit), mod
