from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._build import versions as versions
from harness._build.versions import (
    NEWER_TOOLCHAIN,
    ArgoGoMod,
    BuildVersions,
    go_binary,
    normalise_version,
    parse_argocd_gomod,
    toolchain_for,
)
from harness._errors import BuildError, ConfigError

# Shaped like Argo CD v3.6.1's go.mod: gitops-engine is a nested /v3 module of the same repo,
# required at the release tag and replaced by its local directory.
GOMOD_V36 = """\
module github.com/argoproj/argo-cd/v3

go 1.27.0

require (
\tcode.gitea.io/sdk/gitea v0.22.1
\tgithub.com/argoproj/argo-cd/gitops-engine/v3 v3.6.1 // keep in step with the release
\tgithub.com/argoproj/pkg v0.13.7-0.20250305113207-cbc37dc61de5
\tk8s.io/api v0.37.0
\tk8s.io/client-go v0.37.0
)

require (
\tgithub.com/beorn7/perks v1.0.1 // indirect
\tk8s.io/kubernetes v1.37.0 // indirect
\tsigs.k8s.io/yaml v1.6.0 // indirect
)

replace (
\t// https://github.com/golang/go/issues/33546#issuecomment-519656923
\tgithub.com/go-check/check => github.com/go-check/check v0.0.0-20180628173108-788fd7840127

\tk8s.io/api => k8s.io/api v0.37.0
\tk8s.io/apiextensions-apiserver => k8s.io/apiextensions-apiserver v0.37.0
\tk8s.io/apimachinery => k8s.io/apimachinery v0.37.0
\tk8s.io/client-go => k8s.io/client-go v0.37.0
\tk8s.io/kubectl => k8s.io/kubectl v0.37.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
"""

# Shaped like Argo CD v3.5: gitops-engine without a major suffix, at an untagged pseudo-version.
GOMOD_V35 = """\
module github.com/argoproj/argo-cd/v3

go 1.25.5

require (
\tgithub.com/argoproj/argo-cd/gitops-engine v0.7.1-0.20250908182407-97ad5b59a627
\tk8s.io/api v0.34.0
\tk8s.io/kubernetes v1.34.0
)

replace (
\tk8s.io/api => k8s.io/api v0.34.0
)

replace github.com/argoproj/argo-cd/gitops-engine => ./gitops-engine
"""


# -- parse_argocd_gomod ------------------------------------------------------------------------------


def test_parse_v36_gomod() -> None:
    mod = parse_argocd_gomod(GOMOD_V36)

    assert mod == ArgoGoMod(
        go_directive="1.27.0",
        kubernetes="v1.37.0",
        replaces={
            "github.com/go-check/check": "github.com/go-check/check@v0.0.0-20180628173108-788fd7840127",
            "k8s.io/api": "k8s.io/api@v0.37.0",
            "k8s.io/apiextensions-apiserver": "k8s.io/apiextensions-apiserver@v0.37.0",
            "k8s.io/apimachinery": "k8s.io/apimachinery@v0.37.0",
            "k8s.io/client-go": "k8s.io/client-go@v0.37.0",
            "k8s.io/kubectl": "k8s.io/kubectl@v0.37.0",
        },
        gitops_engine_module="github.com/argoproj/argo-cd/gitops-engine/v3",
        gitops_engine_required="v3.6.1",
        gitops_engine_local_replace=True,
        module="github.com/argoproj/argo-cd/v3",
        local_replaces={"github.com/argoproj/argo-cd/gitops-engine/v3": "./gitops-engine"},
    )
    assert not mod.gitops_engine_in_tree  # v3.6's nested module is tagged and served


def test_parse_v35_gomod() -> None:
    mod = parse_argocd_gomod(GOMOD_V35)

    assert mod.go_directive == "1.25.5"
    assert mod.kubernetes == "v1.34.0"
    assert mod.replaces == {"k8s.io/api": "k8s.io/api@v0.34.0"}
    assert mod.gitops_engine_module == "github.com/argoproj/argo-cd/gitops-engine"
    assert mod.gitops_engine_required == "v0.7.1-0.20250908182407-97ad5b59a627"
    assert mod.gitops_engine_local_replace is True
    assert mod.gitops_engine_in_tree


def test_parse_gitops_engine_replaced_by_a_version_is_not_local() -> None:
    text = GOMOD_V36.replace(
        "replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine",
        "replace github.com/argoproj/argo-cd/gitops-engine/v3 => "
        "github.com/argoproj/argo-cd/gitops-engine/v3 v3.6.1",
    )
    mod = parse_argocd_gomod(text)
    assert mod.gitops_engine_local_replace is False
    # The gitops-engine replace is handled on its own, never copied into the wrapper's replaces.
    assert not any("gitops-engine" in k for k in mod.replaces)


def test_parse_without_gitops_engine() -> None:
    text = "\n".join(line for line in GOMOD_V36.splitlines() if "gitops-engine" not in line)
    mod = parse_argocd_gomod(text)
    assert (mod.gitops_engine_module, mod.gitops_engine_required) == ("", "")
    assert mod.gitops_engine_local_replace is False


def test_parse_skips_local_path_replaces() -> None:
    text = GOMOD_V36.replace(
        "\tk8s.io/kubectl => k8s.io/kubectl v0.37.0\n",
        "\tk8s.io/kubectl => k8s.io/kubectl v0.37.0\n\tgithub.com/example/local => ../local\n",
    )
    assert "github.com/example/local" not in parse_argocd_gomod(text).replaces


@pytest.mark.parametrize("drop", ["go 1.27.0", "k8s.io/kubernetes v1.37.0"], ids=["no-go", "no-k8s"])
def test_parse_rejects_a_gomod_without_the_needed_facts(drop: str) -> None:
    text = "\n".join(line for line in GOMOD_V36.splitlines() if drop not in line)
    with pytest.raises(BuildError, match="no `go` directive or no k8s.io/kubernetes requirement"):
        parse_argocd_gomod(text)


# -- normalise_version -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("3.6.1", "v3.6.1"),
        ("v3.6.1", "v3.6.1"),
        ("v3.6.0-rc2", "v3.6.0-rc2"),
        ("3.6.0-rc2", "v3.6.0-rc2"),
        ("  v3.5.7\n", "v3.5.7"),
        ("v10.20.30", "v10.20.30"),
    ],
)
def test_normalise_version_accepts_release_tags(given: str, expected: str) -> None:
    assert normalise_version(given) == expected


@pytest.mark.parametrize(
    "junk",
    ["junk", "", "latest", "v3.6", "3", "v3.6.1.2", "vv3.6.1", "v3.6.1-beta1", "v3.6.1-rc", "v3.6.1 ; rm"],
)
def test_normalise_version_rejects_junk_naming_the_value(junk: str) -> None:
    with pytest.raises(ConfigError) as err:
        normalise_version(junk)
    assert repr(junk) in str(err.value)
    assert "not a release tag like v3.6.1" in str(err.value)
    assert "go list -m -versions github.com/argoproj/argo-cd/v3" in str(err.value)


# -- toolchain_for -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("directive", "local", "expected"),
    [
        ("1.27.0", (1, 27, 3), "local"),
        ("1.27.0", (1, 27, 0), "local"),
        ("1.26", (1, 26, 0), "local"),
        ("1.25.5", (1, 27, 3), "local"),
        ("1.27.0", (1, 26, 9), NEWER_TOOLCHAIN),
        ("1.27.4", (1, 27, 3), NEWER_TOOLCHAIN),
        ("1.27.0", (0,), NEWER_TOOLCHAIN),
    ],
)
def test_toolchain_for(directive: str, local: tuple[int, ...], expected: str) -> None:
    assert toolchain_for(directive, local) == expected


def test_parse_go_version() -> None:
    assert versions._parse_go_version("1.27.3") == (1, 27, 3)
    assert versions._parse_go_version("go1.26.0") == (1, 26, 0)
    assert versions._parse_go_version("") == (0,)


# -- go_binary and go_env ----------------------------------------------------------------------------


def test_go_binary_without_go_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    with pytest.raises(BuildError) as err:
        go_binary()

    msg = str(err.value)
    assert msg.startswith("Go is not installed or not on PATH")
    assert "https://go.dev/dl/" in msg
    assert "--cluster existing" in msg


def test_go_binary_finds_go_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\n")
    fake_go.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert go_binary() == str(fake_go)


def test_go_env_pins_the_toolchain_and_disables_cgo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOFLAGS", "-mod=readonly")
    monkeypatch.setenv("CGO_ENABLED", "1")
    env = versions.go_env("go1.27.3")
    assert env["GOTOOLCHAIN"] == "go1.27.3"
    assert env["CGO_ENABLED"] == "0"
    assert env["GOFLAGS"] == "-mod=readonly"  # a user's GOFLAGS wins
    monkeypatch.delenv("GOFLAGS")
    assert versions.go_env()["GOFLAGS"] == "-mod=mod"
    assert versions.go_env()["GOTOOLCHAIN"] == "local"


# -- fetch_argocd_gomod and resolve ------------------------------------------------------------------


def test_resolve_derives_the_build_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def fake_fetch(v: str) -> tuple[str, str]:  # the proxy's answer, see test_releases.py
        asked.append(v)
        return GOMOD_V36, "c" * 40

    monkeypatch.setattr(versions, "fetch_argocd_gomod", fake_fetch)
    monkeypatch.setattr(versions, "local_go_version", lambda: (1, 26, 2))

    v, mod = versions.resolve(None)

    assert asked == [versions.DEFAULT_ARGOCD_VERSION]
    assert v == BuildVersions(
        argocd=versions.DEFAULT_ARGOCD_VERSION,
        kubernetes="v1.37.0",
        kwok=versions.KWOK_VERSION,
        toolchain=NEWER_TOOLCHAIN,
        argocd_commit="c" * 40,
    )
    assert mod.gitops_engine_required == "v3.6.1"


def test_build_versions_json_round_trip() -> None:
    v = BuildVersions("v3.6.1", "v1.37.0", "v0.8.0", "local", "d" * 40, "v3.6.5", {"note": "x"})
    assert BuildVersions.from_json(v.to_json()) == v
    assert v.key == "argocd-v3.6.1-k8s-v1.37.0"


def test_build_versions_json_stays_readable_across_harness_versions() -> None:
    release = BuildVersions("v3.6.1", "v1.37.0", "v0.8.0", "local")
    assert "source" not in json.loads(release.to_json())  # the stamp the first layout wrote
    src = BuildVersions("v3.4.7", "v1.34.2", "v0.8.0", "local", source="/src@" + "a" * 40)
    assert BuildVersions.from_json(src.to_json()) == src
    later = json.loads(release.to_json()) | {"added_later": 1}
    assert BuildVersions.from_json(json.dumps(later)) == release
