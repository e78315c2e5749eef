"""Argo CD from a git checkout (a release tag, a fork, a pull-request branch) instead of the proxy.

v3.3 to v3.5 can only be built this way: their go.mod replaces gitops-engine by the `./gitops-engine`
folder of the same tree, which the module proxy's release zips leave out. The checkout is only read:
the build's wrapper module points Argo CD's module path and every `./dir` replace at it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness._build import versions
from harness._errors import ConfigError

_TAG_RE = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?$")


@dataclass(frozen=True)
class SourceCheckout:
    """What a build needs to know about one checkout; `release` names it in the cache and reports."""

    path: Path
    commit: str
    dirty: str  # sha256 prefix of `git diff HEAD` plus untracked names; '' for a clean tree
    release: str  # the tag at HEAD, else `v<VERSION file>-<commit[:12]>`
    gomod: versions.ArgoGoMod

    @property
    def source(self) -> str:
        """`DIR@COMMIT[+dirty-HASH]`, stored in the build's versions.json."""
        return f"{self.path}@{self.commit}" + (f"+dirty-{self.dirty}" if self.dirty else "")


def _git(path: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(path), *args], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode != 0:
        raise ConfigError(f"`git {' '.join(args)}` in {path} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def inspect_checkout(directory: str | Path) -> SourceCheckout:
    """Read release name, commit and go.mod of an argo-cd checkout; nothing is built or written.

    Raises ConfigError when DIR is not a git checkout of argo-cd (no go.mod whose module is
    github.com/argoproj/argo-cd[/vN], or no commit).
    """
    path = Path(directory).expanduser().resolve()
    gomod_file = path / "go.mod"
    if not gomod_file.is_file():
        raise ConfigError(
            f"--argocd-source {directory}: no go.mod there; pass the top folder of a git checkout of "
            "github.com/argoproj/argo-cd (e.g. `git clone --branch v3.4.7 https://github.com/argoproj/argo-cd`)."
        )
    mod = versions.parse_argocd_gomod(gomod_file.read_text())
    if not re.fullmatch(re.escape(versions.ARGOCD_REPO) + r"(/v\d+)?", mod.module):
        raise ConfigError(
            f"--argocd-source {directory}: its go.mod declares module {mod.module!r}, not "
            f"{versions.ARGOCD_REPO}/vN; pass a checkout of argo-cd."
        )
    if not (path / ".git").exists():
        raise ConfigError(
            f"--argocd-source {directory}: not a git checkout (no .git); the cache key needs its commit."
        )
    commit = _git(path, "rev-parse", "HEAD").strip()
    tags = [t for t in _git(path, "tag", "--points-at", "HEAD").split() if _TAG_RE.match(t)]
    status = _git(path, "status", "--porcelain", "--untracked-files=normal")
    dirty = ""
    if status.strip():
        digest = hashlib.sha256((_git(path, "diff", "HEAD") + status).encode())
        dirty = digest.hexdigest()[:12]
    if tags:
        release = max(tags, key=versions.version_tuple)
    else:
        version_file = path / "VERSION"
        base = version_file.read_text().strip() if version_file.is_file() else "0.0.0"
        release = f"v{base.removeprefix('v')}-{commit[:12]}"
    return SourceCheckout(path, commit, dirty, release, mod)


def resolve_source(directory: str | Path) -> tuple[versions.BuildVersions, SourceCheckout]:
    """Build versions for a checkout: Kubernetes from its go.mod, the toolchain its `go` line needs."""
    co = inspect_checkout(directory)
    toolchain = versions.toolchain_for(co.gomod.go_directive, versions.local_go_version())
    v = versions.BuildVersions(
        co.release,
        co.gomod.kubernetes,
        versions.KWOK_VERSION,
        toolchain,
        argocd_commit=co.commit,
        source=co.source,
    )
    return v, co
