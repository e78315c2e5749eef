"""Which Kubernetes patch a control plane is built from: the pinned one, or the nearest served one.

A release's go.mod pins one Kubernetes patch (Argo CD v2.12.6: v1.29.6), and the control plane is
built from `k8s.io/kubernetes` at that version with every staging module (`k8s.io/api`,
`k8s.io/endpointslice`, ...) at the matching `v0.<minor>.<patch>`. A module proxy may serve the
main module and not every staging one (here: `k8s.io/endpointslice@v0.29.6` answers 403 "not
available"). Then the control plane is built from the nearest patch of the same minor that is
served in full, and the build says so; the API server then differs from the pinned one by patch
only, which keeps the API the release was built against.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from harness._build import versions
from harness._errors import BuildError

Printer = Callable[[str], None]

#: How many other patches of the minor are tried before giving up (each try is one `go mod download`).
MAX_OTHER_PATCHES = 4


def staging_modules(kubernetes: str) -> list[str]:
    """The `k8s.io/...` modules Kubernetes `kubernetes` builds from its `./staging/` folder.

    Read from `k8s.io/kubernetes`'s own go.mod (its `replace k8s.io/x => ./staging/src/k8s.io/x`
    lines). Raises BuildError when the proxy does not serve that go.mod.
    """
    out = versions._go_probe(["mod", "download", "-json", f"{versions.K8S_MODULE}@{kubernetes}"])
    info = json.loads(out or "{}")
    gomod = str(info.get("GoMod", ""))
    if info.get("Error") or not gomod or not Path(gomod).is_file():
        raise BuildError(
            f"{versions.K8S_MODULE}@{kubernetes} is not served by the module proxy: {info.get('Error')}"
        )
    lines = (ln.strip().removeprefix("replace ").strip() for ln in Path(gomod).read_text().splitlines())
    return sorted({ln.split()[0] for ln in lines if "=> ./staging/" in ln and ln.startswith("k8s.io/")})


def needed_staging_modules(kubernetes: str) -> list[str]:
    """The staging modules a control-plane build can import: all but the `k8s.io/sample-*` examples."""
    return [m for m in staging_modules(kubernetes) if not m.startswith("k8s.io/sample-")]


def staging_version(kubernetes: str) -> str:
    """`v1.29.6` -> `v0.29.6`: the version every staging module is tagged with."""
    return "v0." + kubernetes.removeprefix("v1.")


def unserved_staging(kubernetes: str) -> list[str]:
    """`module@version: error` for each staging module of `kubernetes` the proxy does not serve.

    Downloads them (a build needs them anyway; the module cache keeps them), one go command.
    """
    tag = staging_version(kubernetes)
    mods = needed_staging_modules(kubernetes)
    if not mods:
        return []
    out = versions._go_probe(["mod", "download", "-json", *(f"{m}@{tag}" for m in mods)])
    missing = []
    decoder, pos = json.JSONDecoder(), 0
    while pos < len(out):
        while pos < len(out) and out[pos].isspace():
            pos += 1
        if pos >= len(out):
            break
        item, pos = decoder.raw_decode(out, pos)
        if item.get("Error"):
            reason = " ".join(str(item["Error"]).split())
            status = re.search(r"\b(\d{3} [A-Z][A-Za-z ]*?)(?: server response|$)", reason)
            short = status.group(1) if status else reason[-160:]
            missing.append(f"{item.get('Path')}@{item.get('Version', tag)} ({short})")
    return missing


def same_minor_candidates(pinned: str, count: int = MAX_OTHER_PATCHES) -> list[str]:
    """Other patches of the pinned minor, nearest first, the lower one first on a tie.

    Made by counting, not from the proxy's version list: the proxy here lists only a few versions
    of each module, far fewer than it serves.
    """
    major, minor, patch, _ = versions.version_tuple(pinned)
    out: list[str] = []
    for step in range(1, 2 * count + 1):
        for p in (patch - step, patch + step):
            if p >= 0 and len(out) < count:
                out.append(f"v{major}.{minor}.{p}")
    return out


def servable_kubernetes(pinned: str, say: Printer) -> str:
    """`pinned` when the proxy serves all of it, else the nearest patch of its minor that it does.

    Says on `say` which modules are missing and which patch is used instead. Raises BuildError,
    naming the missing modules and the patches tried, when no patch within MAX_OTHER_PATCHES is
    served in full.
    """
    missing = unserved_staging(pinned)
    if not missing:
        return pinned
    tried: list[str] = []
    for candidate in same_minor_candidates(pinned):
        tried.append(candidate)
        try:
            unserved = unserved_staging(candidate)
        except BuildError:
            continue  # no such Kubernetes release (a patch past the newest) or not served at all
        if not unserved:
            say(
                f"build: Kubernetes {pinned} (the release's go.mod pins it) cannot be built here: the "
                f"module proxy does not serve {'; '.join(missing)}. The control plane is built from "
                f"{candidate} instead, the nearest patch of the same minor it serves in full."
            )
            return candidate
    raise BuildError(
        f"Kubernetes {pinned} (pinned by the release's go.mod) cannot be built: the module proxy does "
        f"not serve {'; '.join(missing)}; no other patch of the minor is served in full either "
        f"(tried {', '.join(tried) or 'none served'}). Use a module proxy that serves them (GOPROXY)."
    )
