"""`helm` and `kustomize` for the embedded repo-server, built from their Go modules.

Argo CD's image ships both tools at the versions its `hack/tool-versions.sh` names (installed by
`hack/installers/install-helm.sh` and `install-kustomize.sh`, copied to `/usr/local/bin` by the
Dockerfile). The repo-server execs them from PATH when an Application's source is a chart or a
kustomization. The harness reads that file from the release it builds and compiles the same versions:

- helm from `helm.sh/helm/v<major>` (`cmd/helm`), with the version stamped as helm's Makefile does;
- kustomize from `sigs.k8s.io/kustomize/kustomize/v<major>`, which reads its version from the
  module's build information.

Each tool version is its own cache entry (`helm-v4.3.1/bin/helm`, `kustomize-v5.8.3/bin/kustomize`),
shared by every release that pins the same one, with the same per-entry lock and staged install as
the release builds (`harness._build.cache`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, replace
from pathlib import Path

from harness._build import cache as cache
from harness._build import versions as versions
from harness._build.binaries import GO_ERROR_LINES, Build, Printer, _fmt, _stderr
from harness._errors import BuildError
from harness._paths import cache_root

#: Variable names of the tool versions in `hack/tool-versions.sh`, as read from the release trees:
#: v3.6 writes `HELM_VERSION`, v3.5 `helm4_version`, up to v3.4 `helm3_version`; kustomize likewise.
_VERSION_KEYS = {
    "helm": ("HELM_VERSION", "helm4_version", "helm3_version"),
    "kustomize": ("KUSTOMIZE_VERSION", "kustomize5_version"),
}
TOOLS = ("helm", "kustomize")

#: Dependencies of a tool release that the module proxy no longer serves, and the served version
#: used instead (found on 2026-12-01). kustomize v5.8.3's kyaml v0.21.3 requires kube-openapi
#: v0.0.0-20261001230523-97fa35140926, for which proxy.golang.org answers "403 This module version
#: is not available"; the kube-openapi that Kubernetes v1.37.0 pins is the nearest served one.
DEPENDENCY_REPLACES: dict[tuple[str, str], dict[str, str]] = {
    ("kustomize", "v5.8.3"): {
        "k8s.io/kube-openapi": "k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad",
    },
}


@dataclass(frozen=True)
class RenderToolVersions:
    """The helm and kustomize versions one Argo CD release ships, with a leading `v` (`v4.3.1`)."""

    helm: str
    kustomize: str

    def of(self, tool: str) -> str:
        return self.helm if tool == "helm" else self.kustomize


def parse_tool_versions(text: str, where: str = "hack/tool-versions.sh") -> RenderToolVersions:
    """Read helm's and kustomize's versions from Argo CD's `hack/tool-versions.sh`.

    Raises BuildError naming the file when either is missing.
    """
    found: dict[str, str] = {}
    for tool, keys in _VERSION_KEYS.items():
        for key in keys:
            m = re.search(rf"^{key}=\s*['\"]?v?([0-9][0-9A-Za-z.+-]*)", text, re.MULTILINE)
            if m:
                found[tool] = "v" + m.group(1)
                break
    missing = [t for t in TOOLS if t not in found]
    if missing:
        names = " or ".join(k for t in missing for k in _VERSION_KEYS[t])
        raise BuildError(f"{where} names no {' and no '.join(missing)} version (looked for {names})")
    return RenderToolVersions(helm=found["helm"], kustomize=found["kustomize"])


def module_of(tool: str, version: str) -> tuple[str, str]:
    """(module path, package to build) of one tool version; the major picks the module path."""
    major = int(version.removeprefix("v").split(".")[0])
    if tool == "helm":
        mod = "helm.sh/helm" + (f"/v{major}" if major >= 2 else "")
        return mod, f"{mod}/cmd/helm"
    if tool == "kustomize":
        mod = "sigs.k8s.io/kustomize/kustomize" + (f"/v{major}" if major >= 2 else "")
        return mod, mod
    raise BuildError(f"unknown render tool {tool!r}; known: {', '.join(TOOLS)}")


def tool_dir(tool: str, version: str) -> Path:
    return cache_root() / f"{tool}-{version}"


def argocd_tree(build: Build) -> Path:
    """The Argo CD source tree the build was made from: the checkout, or the module in Go's cache."""
    if build.versions.source:
        return Path(build.versions.source.rsplit("@", 1)[0])
    module = versions.argocd_module(build.versions.argocd)
    # The release's own toolchain: `go mod download` refuses a module whose go line it does not meet.
    info = _download(f"{module}@{build.versions.argocd}", build.versions.toolchain)
    d = str(info.get("Dir", ""))
    if not d or not Path(d).is_dir():
        raise BuildError(
            f"{module}@{build.versions.argocd}: the module proxy gave no source tree ({info.get('Error')})"
        )
    return Path(d)


def release_tool_versions(build: Build) -> RenderToolVersions:
    """The helm and kustomize versions the build's release ships, from its `hack/tool-versions.sh`.

    The build entry keeps a copy (`manifests/tool-versions.sh`), so a cached build answers without
    the network; an entry made before that copy existed gets it on the first call.
    """
    kept = build.root / "manifests" / "tool-versions.sh"
    if kept.is_file():
        return parse_tool_versions(kept.read_text(), where=str(kept))
    path = argocd_tree(build) / "hack" / "tool-versions.sh"
    try:
        text = path.read_text()
    except OSError as exc:
        raise BuildError(
            f"cannot read {path} ({exc.strerror}): it names the helm and kustomize versions"
        ) from None
    found = parse_tool_versions(text, where=str(path))
    if kept.parent.is_dir():
        # Written beside the entry and renamed: a reader never sees half a file.
        tmp = kept.with_name(f".{kept.name}.{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, kept)
    return found


def ensure_render_tools(build: Build, out: Printer | None = None) -> Build:
    """Return `build` with helm and kustomize of its release on `tool_dirs`, building each once.

    Concurrent calls for one tool version build it once (the entry's lock); a cached tool costs a
    stat. Raises BuildError naming the module when a go command fails.
    """
    say = out or _stderr
    wanted = release_tool_versions(build)
    dirs = tuple(_ensure_tool(tool, wanted.of(tool), say) for tool in TOOLS)
    return replace(build, tool_dirs=dirs)


def _ensure_tool(tool: str, version: str, say: Printer) -> Path:
    root = tool_dir(tool, version)
    if (root / "bin" / tool).is_file():
        return root / "bin"
    with cache.entry_lock(root.name, say) as waited:
        if (root / "bin" / tool).is_file():
            if waited:
                say(f"build: reusing the {tool} {version} another process just built")
            return root / "bin"
        staging = cache.fresh_staging(root.name)
        module, package = module_of(tool, version)
        gomod = Path(_probe_gomod(module, version))
        go_line = _go_directive(gomod.read_text())
        toolchain = versions.toolchain_for(go_line, versions.local_go_version())
        env = versions.go_env(toolchain)
        started = time.monotonic()
        say(f"build: {tool} {version} from {module} (toolchain {toolchain}) ...")
        # A wrapper module requiring only the tool gets the tool's own module graph (minimal version
        # selection has nothing else to weigh), plus the few replaces in `DEPENDENCY_REPLACES`.
        src = staging / "src"
        src.mkdir()
        (src / "go.mod").write_text(f"module argocd-chaos.local/{tool}\n\ngo {go_line}\n")
        replaces = DEPENDENCY_REPLACES.get((tool, version), {})
        edits = [f"-require={module}@{version}", f"-tool={package}"]
        edits += [f"-replace={k}={v}" for k, v in sorted(replaces.items())]
        _go(["mod", "edit", *edits], src, env, f"{module}@{version}", toolchain)
        _go(["mod", "tidy"], src, env, f"{module}@{version}", toolchain)
        ldflags = ["-s", "-w"]
        if tool == "helm":
            # What helm's Makefile stamps for a tagged build (`internal/version`).
            ldflags += [
                f"-X {module}/internal/version.version={version}",
                f"-X {module}/internal/version.metadata=",
            ]
        out = staging / "bin" / tool
        build = ["build", "-trimpath", "-ldflags", " ".join(ldflags), "-o", str(out), package]
        _go(build, src, env, f"{module}@{version}", toolchain)
        stamp = {
            "tool": tool,
            "version": version,
            "module": module,
            "toolchain": toolchain,
            "replaces": replaces,
        }
        (staging / "tool.json").write_text(json.dumps(stamp, indent=2, sort_keys=True))
        cache.install_entry(staging, root)
        say(f"build: {tool} {version} done in {_fmt(time.monotonic() - started)}")
        return root / "bin"


def _go(args: list[str], cwd: Path, env: dict[str, str], module: str, toolchain: str) -> None:
    proc = subprocess.run(
        [versions.go_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-GO_ERROR_LINES:])
        raise BuildError(
            f"`go {' '.join(args)}` building {module} failed (toolchain {toolchain}); "
            f"last lines of the go error:\n{tail}"
        )


def _download(ref: str, toolchain: str = "local") -> dict[str, object]:
    """`go mod download -json REF` (from the build cache's probe module), parsed; {} on no output."""
    probe = cache_root() / "probe"
    probe.mkdir(parents=True, exist_ok=True)
    if not (probe / "go.mod").exists():
        (probe / "go.mod").write_text("module probe\n\ngo 1.24\n")
    proc = subprocess.run(
        [versions.go_binary(), "mod", "download", "-json", ref],
        cwd=probe,
        env=versions.go_env(toolchain),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0 and not proc.stdout:
        raise BuildError(f"`go mod download {ref}` failed: {proc.stderr.strip()[-2000:]}")
    got = json.loads(proc.stdout or "{}")
    return got if isinstance(got, dict) else {}


def _probe_gomod(module: str, version: str) -> str:
    info = _download(f"{module}@{version}")
    path = str(info.get("GoMod", ""))
    if not path or not Path(path).is_file():
        raise BuildError(f"{module}@{version} is not served by the module proxy: {info.get('Error')}")
    return path


def _go_directive(gomod: str) -> str:
    m = re.search(r"^go\s+(\S+)", gomod, re.MULTILINE)
    return m.group(1) if m else "1.0"
