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
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from harness._errors import BuildError, ConfigError
from harness._paths import cache_root

ARGOCD_REPO = "github.com/argoproj/argo-cd"
#: The module of the default release; other majors live at `/v2`, ... (see `argocd_module`).
ARGOCD_MODULE = "github.com/argoproj/argo-cd/v3"
#: gitops-engine as a module of its own repository (Argo CD up to v3.3's go.mod) and as a module
#: nested in the argo-cd repository (v3.4 on; a tagged `/v3` module from v3.6).
GITOPS_ENGINE_MODULES = ("github.com/argoproj/gitops-engine", "github.com/argoproj/argo-cd/gitops-engine")
K8S_MODULE = "k8s.io/kubernetes"
KWOK_MODULE = "sigs.k8s.io/kwok"
ETCD_MODULE = "go.etcd.io/etcd/server/v3"

#: Newest Argo CD release the module proxy served when this was pinned (`go list -m -versions`).
DEFAULT_ARGOCD_VERSION = "v3.6.1"
KWOK_VERSION = "v0.8.0"
#: The one newer toolchain the module proxy is known to serve; used when a module needs Go > local.
NEWER_TOOLCHAIN = "go1.27.3"

_VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?$")

#: Served releases that do not compile, and why (found on 2026-11-30; ../shared/docs/releases.md).
#: Refused before any slow work, naming the nearest releases that do build.
UNBUILDABLE = {
    "v3.2.12": "the module proxy's copy is not the v3.2.12 tag in git: its controller/cache/info.go "
    "calls settings.ValidateExternalURL, which its util/settings/settings.go leaves unexported "
    "(the proxy cached the tag before it was moved and keeps that copy)",
}


@dataclass(frozen=True)
class ArgoGoMod:
    """What the build needs to know from one Argo CD release's go.mod."""

    go_directive: str
    kubernetes: str
    replaces: dict[str, str]
    gitops_engine_module: str
    gitops_engine_required: str
    gitops_engine_local_replace: bool
    module: str = ""
    #: `replace X => ./dir` lines (X -> dir); a module build has no use for them, a source build
    #: points them into the checkout.
    local_replaces: dict[str, str] = field(default_factory=dict)

    @property
    def gitops_engine_in_tree(self) -> bool:
        """True when only the argo-cd tree itself has this gitops-engine (v3.3 to v3.5).

        Such a release replaces gitops-engine by `./gitops-engine` and requires it at an untagged
        pseudo-version the module proxy does not serve, so it builds from a source checkout only.
        From v3.6 the nested module is tagged (`gitops-engine/v3 v3.6.1`) and served.
        """
        tagged = self.gitops_engine_module.endswith("/v3") and not self.gitops_engine_required.startswith(
            "v3.0.0-00010101000000"
        )
        return self.gitops_engine_local_replace and not tagged


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
    #: Set for a build from a source checkout: `DIR@COMMIT` (plus `+dirty-HASH` for local edits).
    source: str = ""
    #: The Kubernetes version the release's go.mod pins, when the control plane had to use another
    #: patch of the same minor (the module proxy does not serve all of the pinned one); '' otherwise.
    kubernetes_pinned: str = ""

    @property
    def key(self) -> str:
        if self.source:
            return f"argocd-{self.argocd}-src-{self.source_id}-k8s-{self.kubernetes}"
        return f"argocd-{self.argocd}-k8s-{self.kubernetes}"

    @property
    def source_id(self) -> str:
        """The short commit (and dirty hash) of a source build, for cache folder names; '' otherwise."""
        if not self.source:
            return ""
        commit = self.source.rsplit("@", 1)[-1]
        head, _, dirty = commit.partition("+dirty-")
        return head[:12] + (f"-dirty-{dirty[:8]}" if dirty else "")

    def to_json(self) -> str:
        data = asdict(self)
        for optional in ("source", "kubernetes_pinned"):
            if not data[optional]:
                del data[optional]  # a stamp stays readable by harness versions before the field
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BuildVersions:
        """Read a `versions.json`; keys a later harness version added are ignored."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


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


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """(major, minor, patch, rc or a large number for a final release) for ordering tags."""
    m = re.match(r"^v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$", version)
    if not m:
        raise ConfigError(f"{version!r} is not a release tag like v3.6.1")
    rc = int(m.group(4)) if m.group(4) else 10**6
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), rc


def argocd_module(version: str) -> str:
    """The Go module path of one Argo CD release: `.../argo-cd/v2` for v2.x, `.../v3` for v3.x.

    Go's semantic import versioning: a major version >= 2 is a suffix of the module path, so the
    module proxy serves v2.14.21 under `/v2` and answers "not found" for it under `/v3`.
    """
    major = version_tuple(normalise_version(version))[0]
    return f"{ARGOCD_REPO}/v{major}" if major >= 2 else ARGOCD_REPO


def argocd_module_major(module: str) -> int:
    """2 for `.../argo-cd/v2`; 1 for the unsuffixed path."""
    tail = module.rsplit("/", 1)[-1]
    return int(tail[1:]) if re.fullmatch(r"v\d+", tail) else 1


def nearest_buildable(version: str, served: list[str]) -> list[str]:
    """The served final releases just below and just above `version` that are not known unbuildable."""
    want = version_tuple(version)
    usable = [s for s in served if _VERSION_RE.match(s) and "-rc" not in s]
    finals = sorted((s for s in usable if s not in UNBUILDABLE and s != version), key=version_tuple)
    below = [s for s in finals if version_tuple(s) < want]
    above = [s for s in finals if version_tuple(s) > want]
    return [*below[-1:], *above[:1]]


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
    local: dict[str, str] = {}
    module = ""
    in_replace = False
    for raw in text.splitlines():
        line = raw.split("//", 1)[0].strip()
        if not line:
            continue
        if line.startswith("module "):
            module = line.split()[1]
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
        body = body.removeprefix("require ").strip()  # a one-line `require X v1`
        tokens = body.split()
        if (in_replace or line.startswith("replace ")) and "=>" in tokens:
            i = tokens.index("=>")
            left, right = tokens[0], tokens[i + 1 :]
            if right[0].startswith(("./", "../")):
                local[left] = right[0]
            if left.startswith(GITOPS_ENGINE_MODULES):
                ge_local = right[0].startswith("./")
                continue
            if len(right) == 2:
                replaces[left] = f"{right[0]}@{right[1]}"
            continue
        if len(tokens) >= 2 and tokens[0] == K8S_MODULE:
            kubernetes = tokens[1]
        if len(tokens) >= 2 and tokens[0].startswith(GITOPS_ENGINE_MODULES):
            ge_module, ge_required = tokens[0], tokens[1]
    if not (go_directive and kubernetes):
        raise BuildError("Argo CD go.mod has no `go` directive or no k8s.io/kubernetes requirement")
    return ArgoGoMod(go_directive, kubernetes, replaces, ge_module, ge_required, ge_local, module, local)


def toolchain_for(go_directive: str, local: tuple[int, ...]) -> str:
    """`local` when the machine's Go covers the module, else the one newer served toolchain."""
    return "local" if _parse_go_version(go_directive) <= local else NEWER_TOOLCHAIN


def served_versions(module: str) -> list[str]:
    """Release tags the module proxy lists for `module`; [] when it knows no such module."""
    try:
        out = _go_probe(["list", "-m", "-versions", module])
    except BuildError:
        return []
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
    """Return (go.mod text, tag commit or '') of a served Argo CD release.

    Reads only the release's `.info` and `.mod` from the module proxy (`go list -m -json`), never
    its source zip, so a refusal costs seconds. Raises ConfigError for a release the proxy does not
    serve, naming the nearest served ones.
    """
    v = normalise_version(version)
    module = argocd_module(v)
    info = json.loads(_go_probe(["list", "-m", "-e", "-json", f"{module}@{v}"]) or "{}")
    gomod = str(info.get("GoMod", ""))
    if info.get("Error") or not gomod or not Path(gomod).is_file():
        err = info.get("Error") or "the proxy has no go.mod for it"
        if isinstance(err, dict):
            err = err.get("Err", "the proxy has no go.mod for it")
        raise ConfigError(_not_served(v, module, str(err)))
    commit = str((info.get("Origin") or {}).get("Hash", ""))
    return Path(gomod).read_text(), commit


def _not_served(v: str, module: str, reason: str) -> str:
    served = served_versions(module)
    near = nearest_buildable(v, served)
    reason = " ".join(reason.split())[-300:]  # one line: the go command's error spans several
    text = f"Argo CD {v} is not served by the Go module proxy as {module} ({reason}). "
    if near:
        text += f"Nearest served releases: {_how_each_builds(near)}; pass one with --argocd-version"
    else:
        text += f"It serves no release of {module}; list them with `go list -m -versions {module}`"
    return text + ", or build a source checkout of the tag with --argocd-source DIR."


def _how_each_builds(releases: list[str]) -> str:
    """`v3.2.11, v3.3.0 (from a source checkout)`: each release's go.mod says whether it needs one."""
    out = []
    for r in releases:
        try:
            in_tree = parse_argocd_gomod(fetch_argocd_gomod(r)[0]).gitops_engine_in_tree
        except (ConfigError, BuildError):
            in_tree = False  # an unreadable go.mod: no annotation, the build itself will say more
        out.append(f"{r} (from a source checkout)" if in_tree else r)
    return ", ".join(out)


def resolve(version: str | None = None) -> tuple[BuildVersions, ArgoGoMod]:
    """Everything a build of one served release needs, or one clear error before any slow work.

    Order of checks (each costs at most a few proxy requests): the tag's shape, the known-unbuildable
    list, whether the proxy serves it under its major's module path, and whether its gitops-engine
    exists outside the argo-cd tree (v3.3 to v3.5 need `--argocd-source`).
    Raises ConfigError for each refusal.
    """
    v = normalise_version(version or DEFAULT_ARGOCD_VERSION)
    module = argocd_module(v)
    if v in UNBUILDABLE:
        near = nearest_buildable(v, served_versions(module))
        raise ConfigError(
            f"Argo CD {v} is served but cannot be built: {UNBUILDABLE[v]}. "
            f"Nearest releases that build: {_how_each_builds(near) or 'none served'}; pass one with "
            "--argocd-version, or build a source checkout of the tag with --argocd-source DIR."
        )
    text, commit = fetch_argocd_gomod(v)
    mod = parse_argocd_gomod(text)
    if mod.gitops_engine_in_tree:
        raise ConfigError(
            f"Argo CD {v} builds from a source checkout only: its go.mod replaces "
            f"{mod.gitops_engine_module} by ./gitops-engine at {mod.gitops_engine_required}, a version "
            "the module proxy does not serve (the release zip leaves that folder out). Check out the "
            f"tag and pass the folder: `git clone --depth 1 --branch {v} https://{ARGOCD_REPO} DIR` "
            "then `argocd-chaos build --argocd-source DIR`."
        )
    toolchain = toolchain_for(mod.go_directive, local_go_version())
    return BuildVersions(v, mod.kubernetes, KWOK_VERSION, toolchain, argocd_commit=commit), mod
