from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from harness._build import binaries as _build
from harness._build import versions as _versions
from harness._build.binaries import ARGOCD_ALIASES, BINARIES, Build, _Builder, ensure_build, find_build
from harness._build.versions import ArgoGoMod, BuildVersions, parse_argocd_gomod
from harness._errors import ConfigError

FakeBuild = Callable[..., Build]

V361 = BuildVersions(argocd="v3.6.1", kubernetes="v1.37.0", kwok="v0.8.0", toolchain="local")

GOMOD = """\
module github.com/argoproj/argo-cd/v3

go 1.27.0

require (
\tgithub.com/argoproj/argo-cd/gitops-engine/v3 v3.6.1
\tk8s.io/kubernetes v1.37.0 // indirect
)

replace (
\tk8s.io/api => k8s.io/api v0.37.0
)

replace github.com/argoproj/argo-cd/gitops-engine/v3 => ./gitops-engine
"""


@pytest.fixture
def no_go(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve versions or run a program fails the test."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"must not be called: {args}")

    monkeypatch.setattr(_versions, "resolve", forbidden)
    monkeypatch.setattr(_versions, "_go_probe", forbidden)
    monkeypatch.setattr(_versions, "go_binary", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)


# -- find_build --------------------------------------------------------------------------------------


def test_find_build_in_a_missing_cache(chaos_dirs: object) -> None:
    assert find_build() is None
    assert find_build("v3.6.1") is None


def test_find_build_in_an_empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_CACHE", str(tmp_path))
    assert find_build() is None


def test_find_build_returns_a_complete_build(fake_build: FakeBuild) -> None:
    made = fake_build(V361)

    found = find_build("3.6.1")

    assert found == made
    assert found is not None
    assert found.versions == V361
    assert found.bin == made.root / "bin"
    assert found.binary("argocd-repo-server").resolve() == made.root / "bin" / "argocd"
    assert find_build() == made  # the default version is the pinned one
    assert _versions.DEFAULT_ARGOCD_VERSION == "v3.6.1"


@pytest.mark.parametrize("missing", [*BINARIES, *ARGOCD_ALIASES, "install.yaml", "kwok-stage-crd.yaml"])
def test_find_build_ignores_an_incomplete_build(fake_build: FakeBuild, missing: str) -> None:
    fake_build(V361, skip=[missing])
    assert find_build("v3.6.1") is None


def test_find_build_ignores_a_build_without_versions_json(fake_build: FakeBuild) -> None:
    made = fake_build(V361)
    (made.root / "versions.json").unlink()  # an interrupted build never wrote its stamp
    assert find_build("v3.6.1") is None


def test_find_build_only_returns_the_asked_version(fake_build: FakeBuild) -> None:
    fake_build(BuildVersions("v3.5.7", "v1.34.0", "v0.8.0", "local"))
    assert find_build("v3.6.1") is None
    found = find_build("v3.5.7")
    assert found is not None
    assert found.versions.argocd == "v3.5.7"


def test_find_build_does_not_mistake_a_release_candidate_for_the_release(fake_build: FakeBuild) -> None:
    fake_build(BuildVersions("v3.6.1-rc1", "v1.37.0", "v0.8.0", "local"))
    assert find_build("v3.6.1") is None
    found = find_build("v3.6.1-rc1")
    assert found is not None
    assert found.versions.argocd == "v3.6.1-rc1"


def test_find_build_validates_the_version_first(chaos_dirs: object) -> None:
    with pytest.raises(ConfigError, match="'junk' is not a release tag"):
        find_build("junk")


# -- ensure_build ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_go")
def test_ensure_build_on_a_complete_cache_is_a_no_op(fake_build: FakeBuild) -> None:
    made = fake_build(V361)
    before = sorted(p.relative_to(made.root) for p in made.root.rglob("*"))
    said: list[str] = []

    first = ensure_build("v3.6.1", out=said.append)
    second = ensure_build(None, out=said.append)

    assert first == made
    assert second == made
    assert said == [f"build: cached {V361.key} at {made.bin}"] * 2
    assert sorted(p.relative_to(made.root) for p in made.root.rglob("*")) == before


@pytest.mark.usefixtures("no_go", "chaos_dirs")
def test_ensure_build_rejects_a_bad_version_without_running_go() -> None:
    with pytest.raises(ConfigError, match="'3.6' is not a release tag"):
        ensure_build("3.6", out=lambda _m: None)


def test_ensure_build_builds_what_resolve_reports(
    chaos_dirs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = parse_argocd_gomod(GOMOD)
    runs: list[tuple[BuildVersions, ArgoGoMod]] = []

    def fake_run(self: _Builder) -> Build:
        runs.append((self.v, self.mod))
        return Build(self.root, self.v)

    monkeypatch.setattr(_versions, "resolve", lambda version: (V361, mod))
    monkeypatch.setattr(_Builder, "run", fake_run)

    b = ensure_build("v3.6.1", out=lambda _m: None)

    assert runs == [(V361, mod)]
    assert b.root == _build.build_dir(V361)


# -- _Builder ----------------------------------------------------------------------------------------


@pytest.fixture
def builder(no_go: None, chaos_dirs: object) -> _Builder:
    """A builder constructed without running anything (no_go proves it)."""
    v = BuildVersions("v3.6.1", "v1.37.0", "v0.8.0", "go1.27.3", argocd_commit="e" * 40)
    return _Builder(v, parse_argocd_gomod(GOMOD), lambda _m: None)


def test_builder_init_only_prepares_its_environment(builder: _Builder) -> None:
    assert builder.root == _build.build_dir(builder.v)
    assert builder.root.name == "v3.6.1-v1.37.0"
    assert not builder.root.exists()
    assert builder.env["GOTOOLCHAIN"] == "go1.27.3"
    assert builder.env["CGO_ENABLED"] == "0"


def test_k8s_ldflags_stamp_the_kubernetes_version(builder: _Builder) -> None:
    flags = builder._k8s_ldflags()

    assert flags.startswith("-s -w ")
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion=v1.37.0" in flags
        assert f"-X {pkg}.gitMajor=1 " in flags
        assert f"-X {pkg}.gitMinor=37 " in flags
        assert f"-X {pkg}.gitTreeState=clean" in flags
        assert f"-X {pkg}.buildDate=" in flags


def test_argocd_ldflags_stamp_the_argocd_version(builder: _Builder) -> None:
    flags = builder._argocd_ldflags().split(" -X ")
    pkg = "github.com/argoproj/argo-cd/v3/common"

    assert flags[0] == "-s -w"
    assert f"{pkg}.version=3.6.1" in flags
    assert f"{pkg}.gitTag=v3.6.1" in flags
    assert f"{pkg}.gitCommit={'e' * 40}" in flags
    assert f"{pkg}.kubectlVersion=v0.37.0" in flags


def test_gitops_engine_v3_local_replace_needs_no_edit(builder: _Builder) -> None:
    assert builder._gitops_engine_replace() == []


def test_gitops_engine_untagged_v3_is_pinned_to_the_release(builder: _Builder) -> None:
    builder.mod = parse_argocd_gomod(GOMOD.replace(" v3.6.1\n", " v3.0.0-00010101000000-000000000000\n"))
    module = "github.com/argoproj/argo-cd/gitops-engine/v3"
    assert builder._gitops_engine_replace() == [f"-replace={module}={module}@v3.6.1"]


V35_GOMOD = GOMOD.replace(
    "gitops-engine/v3 v3.6.1", "gitops-engine v0.7.1-0.20250908182407-97ad5b59a627"
).replace("gitops-engine/v3 => ./gitops-engine", "gitops-engine => ./gitops-engine")


def test_gitops_engine_in_tree_is_not_the_builders_business(builder: _Builder) -> None:
    # versions.resolve refuses a release whose gitops-engine exists only in the argo-cd tree; a
    # source build maps the ./gitops-engine replace into the checkout instead.
    builder.mod = parse_argocd_gomod(V35_GOMOD)
    assert builder.mod.gitops_engine_in_tree
    assert builder._gitops_engine_replace() == []


def test_argocd_module_follows_the_release_major(no_go: None, chaos_dirs: object) -> None:
    v2 = BuildVersions("v2.14.21", "v1.31.0", "v0.8.0", "local", argocd_commit="a" * 40)
    b = _Builder(v2, parse_argocd_gomod(GOMOD.replace("argo-cd/v3\n", "argo-cd/v2\n")), lambda _m: None)
    assert b.argocd_module == "github.com/argoproj/argo-cd/v2"
    assert "-X github.com/argoproj/argo-cd/v2/common.version=2.14.21" in b._argocd_ldflags()


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (59.9, "59s"), (60, "1m00s"), (3725, "62m05s")])
def test_fmt(seconds: float, text: str) -> None:
    assert _build._fmt(seconds) == text
