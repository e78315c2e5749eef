"""A stand-in for the module proxy at the `go` subprocess boundary (`versions._go_probe`).

It answers `go list -m -e -json MODULE@VERSION` and `go list -m -versions MODULE` the way the go
command does, from a table of go.mod texts, and records every question. The go.mod texts are
shaped like each Argo CD release's (the lines the build reads: `module`, `go`, gitops-engine,
k8s.io/kubernetes, replaces), as seen with `go list -m -json` on 2026-11-30.
"""

from __future__ import annotations

import json
from pathlib import Path

ARGO = "github.com/argoproj/argo-cd"

#: What the proxy served on 2026-11-30 (../shared/docs/releases.md), per module path.
SERVED = {
    f"{ARGO}/v2": "v2.8.0 v2.12.3 v2.12.6 v2.13.2 v2.13.3 v2.13.9 v2.14.11 v2.14.21",
    f"{ARGO}/v3": "v3.0.0 v3.0.20 v3.0.23 v3.1.0 v3.1.8 v3.1.9 v3.1.16 v3.2.0 v3.2.1 v3.2.2 v3.2.3 "
    "v3.2.5 v3.2.6 v3.2.11 v3.2.12 v3.3.0 v3.3.9 v3.3.19 v3.4.0 v3.4.2 v3.4.7 v3.4.13 v3.5.0 v3.5.1 "
    "v3.5.7 v3.6.0-rc2 v3.6.0 v3.6.1",
}

_EXTERNAL_GE = "github.com/argoproj/gitops-engine"
_NESTED_GE = f"{ARGO}/gitops-engine"

#: release -> (go directive, gitops-engine require line, k8s.io/kubernetes, gitops-engine replace line)
RELEASES: dict[str, tuple[str, str, str, str]] = {
    "v2.12.6": ("1.21.0", f"{_EXTERNAL_GE} v0.7.1-0.20240714153147-adb68bcaab73", "v1.29.6", ""),
    "v2.13.9": ("1.22.0", f"{_EXTERNAL_GE} v0.7.1-0.20250129155113-4c6e03c46314", "v1.31.0", ""),
    "v2.14.21": ("1.24.6", f"{_EXTERNAL_GE} v0.7.1-0.20250521000818-c08b0a72c1f1", "v1.31.0", ""),
    "v3.0.23": ("1.24.6", f"{_EXTERNAL_GE} v0.7.1-0.20250905171100-0882c168faa3", "v1.32.2", ""),
    "v3.1.16": ("1.24.6", f"{_EXTERNAL_GE} v0.7.1-0.20250905160054-e48120133eec", "v1.33.1", ""),
    "v3.2.11": ("1.25.5", f"{_EXTERNAL_GE} v0.7.1-0.20251217140045-5baed5604d2d", "v1.34.2", ""),
    "v3.2.12": ("1.25.5", f"{_EXTERNAL_GE} v0.7.1-0.20260512161450-ff8d2f5207dc", "v1.34.2", ""),
    "v3.3.19": (
        "1.25.5",
        f"{_EXTERNAL_GE} v0.7.1-0.20250908182407-97ad5b59a627",
        "v1.34.2",
        f"replace {_EXTERNAL_GE} => ./gitops-engine",
    ),
    "v3.3.0": (
        "1.25.5",
        f"{_EXTERNAL_GE} v0.7.1-0.20250908182407-97ad5b59a627",
        "v1.34.2",
        f"replace {_EXTERNAL_GE} => ./gitops-engine",
    ),
    "v3.4.0": (
        "1.26.0",
        f"{_NESTED_GE} v0.7.1-0.20250908182407-97ad5b59a627",
        "v1.34.2",
        f"replace {_NESTED_GE} => ./gitops-engine",
    ),
    "v3.4.7": (
        "1.26.0",
        f"{_NESTED_GE} v0.7.1-0.20250908182407-97ad5b59a627",
        "v1.34.2",
        f"replace {_NESTED_GE} => ./gitops-engine",
    ),
    "v3.5.7": (
        "1.26.3",
        f"{_NESTED_GE} v0.7.1-0.20250908182407-97ad5b59a627",
        "v1.36.1",
        f"replace {_NESTED_GE} => ./gitops-engine",
    ),
    "v3.6.1": ("1.27.0", f"{_NESTED_GE}/v3 v3.6.1", "v1.37.0", f"replace {_NESTED_GE}/v3 => ./gitops-engine"),
}


def argocd_gomod(release: str) -> str:
    go, ge, k8s, ge_replace = RELEASES[release]
    major = release.split(".")[0]
    return (
        f"module {ARGO}/{major}\n\ngo {go}\n\nrequire (\n\t{ge}\n\tk8s.io/client-go v0.{k8s[3:]}\n)\n\n"
        f"require k8s.io/kubernetes {k8s} // indirect\n\n"
        f"replace k8s.io/client-go => k8s.io/client-go v0.{k8s[3:]}\n\n{ge_replace}\n"
    )


class FakeGoProxy:
    """Callable like `versions._go_probe(args) -> stdout`; go.mod files are written under `tmp`."""

    def __init__(self, tmp: Path, served: dict[str, str] | None = None) -> None:
        self.tmp = tmp
        self.served = SERVED if served is None else served
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> str:
        self.calls.append(list(args))
        if args[:4] == ["list", "-m", "-e", "-json"]:
            module, version = args[4].rsplit("@", 1)
            if version not in self.served.get(module, "").split():
                url = f"https://proxy.golang.org/{module}/@v/{version}.info"
                err = f"{module}@{version}: reading {url}: 403 Forbidden"
                return json.dumps({"Path": module, "Version": version, "Error": {"Err": err}}, indent="\t")
            info: dict[str, object] = {"Path": module, "Version": version}
            if version in RELEASES:
                gomod = self.tmp / f"{module.replace('/', '_')}@{version}.mod"
                gomod.write_text(argocd_gomod(version))
                info["GoMod"] = str(gomod)
            return json.dumps(info, indent="\t")
        if args[:3] == ["list", "-m", "-versions"]:
            return f"{args[3]} {self.served.get(args[3], '')}\n".replace("  ", " ")
        raise AssertionError(f"unexpected go {args}")
