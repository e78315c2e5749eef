"""Release -> module path, gitops-engine and Kubernetes, for every minor from v2.12 to v3.6.

The module proxy is faked at the go-subprocess boundary (`versions._go_probe`) by
testkit.goproxy.FakeGoProxy, which serves go.mod texts shaped like each release's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit.goproxy import FakeGoProxy

from harness._build import binaries as _build
from harness._build import kubernetes, versions
from harness._errors import ConfigError

ARGO = "github.com/argoproj/argo-cd"


@pytest.fixture
def proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGoProxy:
    fake = FakeGoProxy(tmp_path)
    monkeypatch.setattr(versions, "_go_probe", fake)
    monkeypatch.setattr(versions, "local_go_version", lambda: (1, 26, 8))
    return fake


# release, module path, gitops-engine module, Kubernetes, toolchain on a go1.26.8 machine
PROXY_BUILDS = [
    ("v2.12.6", f"{ARGO}/v2", "github.com/argoproj/gitops-engine", "v1.29.6", "local"),
    ("v2.13.9", f"{ARGO}/v2", "github.com/argoproj/gitops-engine", "v1.31.0", "local"),
    ("v2.14.21", f"{ARGO}/v2", "github.com/argoproj/gitops-engine", "v1.31.0", "local"),
    ("v3.0.23", f"{ARGO}/v3", "github.com/argoproj/gitops-engine", "v1.32.2", "local"),
    ("v3.1.16", f"{ARGO}/v3", "github.com/argoproj/gitops-engine", "v1.33.1", "local"),
    ("v3.2.11", f"{ARGO}/v3", "github.com/argoproj/gitops-engine", "v1.34.2", "local"),
    ("v3.6.1", f"{ARGO}/v3", f"{ARGO}/gitops-engine/v3", "v1.37.0", versions.NEWER_TOOLCHAIN),
]


@pytest.mark.parametrize(("release", "module", "gitops_engine", "kubernetes", "toolchain"), PROXY_BUILDS)
def test_each_minor_served_by_the_proxy_resolves(
    proxy: FakeGoProxy, release: str, module: str, gitops_engine: str, kubernetes: str, toolchain: str
) -> None:
    v, mod = versions.resolve(release)

    assert versions.argocd_module(release) == module
    assert proxy.calls == [["list", "-m", "-e", "-json", f"{module}@{release}"]]  # go.mod only, no zip
    assert mod.module == module
    assert (v.argocd, v.kubernetes, v.toolchain) == (release, kubernetes, toolchain)
    assert mod.gitops_engine_module == gitops_engine
    assert not mod.gitops_engine_in_tree
    assert _build.build_dir(v).name == f"{release}-{kubernetes}"  # the layout of the first v3.6.1 build


def test_releases_sharing_a_kubernetes_version_share_one_control_plane(proxy: FakeGoProxy) -> None:
    v213, _ = versions.resolve("v2.13.9")
    v214, _ = versions.resolve("v2.14.21")
    v300, _ = versions.resolve("v3.0.23")

    cp = _build.controlplane_dir(v213.kubernetes, v213.kwok)
    assert cp == _build.controlplane_dir(v214.kubernetes, v214.kwok)
    assert cp.name == "controlplane-v1.31.0-kwok-v0.8.0"
    assert _build.controlplane_dir(v300.kubernetes, v300.kwok) != cp


@pytest.mark.parametrize(
    ("release", "gitops_engine"),
    [
        ("v3.3.19", "github.com/argoproj/gitops-engine"),  # external path, replaced by ./gitops-engine
        ("v3.4.7", f"{ARGO}/gitops-engine"),
        ("v3.5.7", f"{ARGO}/gitops-engine"),
    ],
)
def test_in_tree_gitops_engine_releases_say_to_build_a_source_checkout(
    proxy: FakeGoProxy, release: str, gitops_engine: str
) -> None:
    with pytest.raises(ConfigError) as err:
        versions.resolve(release)

    msg = str(err.value)
    assert msg.startswith(f"Argo CD {release} builds from a source checkout only")
    assert f"replaces {gitops_engine} by ./gitops-engine" in msg
    assert f"git clone --depth 1 --branch {release} https://github.com/argoproj/argo-cd DIR" in msg
    assert "argocd-chaos build --argocd-source DIR" in msg
    assert len(proxy.calls) == 1  # one go.mod read, nothing built


def test_a_v2_release_is_looked_up_under_the_v2_module(proxy: FakeGoProxy) -> None:
    versions.resolve("2.14.21")
    assert proxy.calls[0][-1] == f"{ARGO}/v2@v2.14.21"


def test_an_unserved_release_names_the_nearest_served_ones(proxy: FakeGoProxy) -> None:
    with pytest.raises(ConfigError) as err:
        versions.resolve("v3.4.1")

    msg = str(err.value)
    assert msg.startswith(f"Argo CD v3.4.1 is not served by the Go module proxy as {ARGO}/v3 (")
    assert "403 Forbidden" in msg
    # v3.4.2 is served but its go.mod is not in the fake's table: no annotation, no crash
    assert "Nearest served releases: v3.4.0 (from a source checkout), v3.4.2; pass one with" in msg
    assert "--argocd-source DIR" in msg
    assert "\n" not in msg
    assert proxy.calls[:2] == [
        ["list", "-m", "-e", "-json", f"{ARGO}/v3@v3.4.1"],
        ["list", "-m", "-versions", f"{ARGO}/v3"],
    ]


def test_a_served_but_unbuildable_release_is_refused_before_its_go_mod_is_read(proxy: FakeGoProxy) -> None:
    with pytest.raises(ConfigError) as err:
        versions.resolve("v3.2.12")

    msg = str(err.value)
    assert msg.startswith("Argo CD v3.2.12 is served but cannot be built: the module proxy's copy is not")
    assert "settings.ValidateExternalURL" in msg
    assert "Nearest releases that build: v3.2.11, v3.3.0 (from a source checkout);" in msg
    assert proxy.calls[0] == ["list", "-m", "-versions", f"{ARGO}/v3"]
    assert f"{ARGO}/v3@v3.2.12" not in str(proxy.calls)  # its go.mod is never read


def test_an_unserved_major_says_the_proxy_has_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(versions, "_go_probe", FakeGoProxy(tmp_path, served={}))
    with pytest.raises(ConfigError, match=f"It serves no release of {ARGO}/v9; list them with"):
        versions.resolve("v9.9.9")


def test_a_newer_patch_of_a_known_minor_is_resolved_from_its_own_go_mod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any served patch builds, not only the ones in a list: the facts come from its go.mod.
    served = {f"{ARGO}/v3": "v3.6.1"}
    fake = FakeGoProxy(tmp_path, served=served)
    monkeypatch.setattr(versions, "_go_probe", fake)
    monkeypatch.setattr(versions, "local_go_version", lambda: (1, 27, 3))
    v, _ = versions.resolve("v3.6.1")
    assert (v.kubernetes, v.toolchain) == ("v1.37.0", "local")


@pytest.mark.parametrize(
    ("version", "served", "nearest"),
    [
        ("v3.4.1", "v3.4.0 v3.4.2 v3.4.7", ["v3.4.0", "v3.4.2"]),
        ("v3.2.12", "v3.2.11 v3.2.12 v3.3.0", ["v3.2.11", "v3.3.0"]),
        ("v3.7.0", "v3.6.0-rc2 v3.6.0 v3.6.1", ["v3.6.1"]),
        ("v3.0.0", "v3.0.0-rc1 v3.0.23", ["v3.0.23"]),
        ("v3.1.0", "", []),
    ],
)
def test_nearest_buildable(version: str, served: str, nearest: list[str]) -> None:
    assert versions.nearest_buildable(version, served.split()) == nearest


@pytest.mark.parametrize(
    ("version", "module"),
    [("v2.12.6", f"{ARGO}/v2"), ("3.6.1", f"{ARGO}/v3"), ("v1.8.0", ARGO), ("v4.0.0-rc1", f"{ARGO}/v4")],
)
def test_argocd_module(version: str, module: str) -> None:
    assert versions.argocd_module(version) == module
    assert versions.argocd_module_major(module) == int(version.lstrip("v").split(".")[0])


@pytest.mark.parametrize(
    ("pinned", "candidates"),
    [
        ("v1.29.6", ["v1.29.5", "v1.29.7", "v1.29.4", "v1.29.8"]),  # nearest first, lower on a tie
        ("v1.31.0", ["v1.31.1", "v1.31.2", "v1.31.3", "v1.31.4"]),  # never another minor
        ("v1.34.1", ["v1.34.0", "v1.34.2", "v1.34.3", "v1.34.4"]),
    ],
)
def test_other_kubernetes_patches_are_tried_nearest_first(pinned: str, candidates: list[str]) -> None:
    assert kubernetes.same_minor_candidates(pinned) == candidates
