"""helm and kustomize for the repo-server: versions from the release's tree, built once per version."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness._build import render_tools as rt
from harness._build import versions
from harness._build.binaries import Build
from harness._build.versions import BuildVersions
from harness._errors import BuildError

V361 = BuildVersions("v3.6.1", "v1.37.0", "v0.8.0", "go1.27.3")

#: The shapes of `hack/tool-versions.sh` (written here, in the layout the releases use): v3.6,
#: v3.5 (helm 4 before the upper-case names), and up to v3.4.
V35_STYLE = "#!/bin/sh\nhelm4_version=4.2.1\nkustomize5_version=5.8.1\nprotoc_version=29.3\n"
NEW_STYLE = "#!/bin/sh\n# comments\nHELM_VERSION=4.3.1\nKUSTOMIZE_VERSION=5.8.3\nprotoc_version=29.3\n"
OLD_STYLE = "#!/bin/sh\nhelm3_version=3.16.3\nkubectl_version=1.17.8\nkustomize5_version=5.4.3\n"


@pytest.mark.parametrize(
    ("text", "helm", "kustomize"),
    [(NEW_STYLE, "v4.3.1", "v5.8.3"), (V35_STYLE, "v4.2.1", "v5.8.1"), (OLD_STYLE, "v3.16.3", "v5.4.3")],
)
def test_parse_tool_versions_reads_every_layout(text: str, helm: str, kustomize: str) -> None:
    assert rt.parse_tool_versions(text) == rt.RenderToolVersions(helm=helm, kustomize=kustomize)


def test_parse_tool_versions_names_what_is_missing() -> None:
    with pytest.raises(
        BuildError, match=r"x/tool-versions.sh names no kustomize version .*KUSTOMIZE_VERSION"
    ):
        rt.parse_tool_versions("HELM_VERSION=4.3.1\n", where="x/tool-versions.sh")


@pytest.mark.parametrize(
    ("tool", "version", "module", "package"),
    [
        ("helm", "v4.3.1", "helm.sh/helm/v4", "helm.sh/helm/v4/cmd/helm"),
        ("helm", "v3.16.3", "helm.sh/helm/v3", "helm.sh/helm/v3/cmd/helm"),
        ("kustomize", "v5.8.3", "sigs.k8s.io/kustomize/kustomize/v5", "sigs.k8s.io/kustomize/kustomize/v5"),
    ],
)
def test_module_of(tool: str, version: str, module: str, package: str) -> None:
    assert rt.module_of(tool, version) == (module, package)


class FakeGo:
    """Stands in for `subprocess.run([go, ...])` in render_tools."""

    def __init__(self, tmp: Path) -> None:
        self.tree = tmp / "argo-cd"
        (self.tree / "hack").mkdir(parents=True)
        (self.tree / "hack" / "tool-versions.sh").write_text(NEW_STYLE)
        self.gomod = tmp / "tool.mod"
        self.gomod.write_text("module x\n\ngo 1.26.0\n")
        self.calls: list[tuple[tuple[str, ...], dict[str, str]]] = []
        self.fail = False
        self.hold = threading.Event()
        self.entered = threading.Event()

    def __call__(self, cmd: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        args = tuple(cmd[1:])
        self.calls.append((args, dict(kw.get("env") or {})))
        if args[:3] == ("mod", "download", "-json"):
            if args[3].startswith("github.com/argoproj/argo-cd/v3@"):
                return subprocess.CompletedProcess(cmd, 0, json.dumps({"Dir": str(self.tree)}), "")
            return subprocess.CompletedProcess(cmd, 0, json.dumps({"GoMod": str(self.gomod)}), "")
        if args[:2] in (("mod", "edit"), ("mod", "tidy")):
            return subprocess.CompletedProcess(cmd, 0, "", "")
        if args[0] == "build":
            if self.fail:
                return subprocess.CompletedProcess(cmd, 1, "", "go: downloading x\n" * 30 + "compile error\n")
            self.entered.set()
            self.hold.wait(30)
            out = Path(args[args.index("-o") + 1])
            out.write_bytes(b"\x7fELF")
            return subprocess.CompletedProcess(cmd, 0, "", "")
        raise AssertionError(f"unexpected go command {args}")

    def installs(self) -> list[tuple[str, ...]]:
        return [a for a, _ in self.calls if a[0] == "build"]

    def edits(self, tool: str) -> tuple[str, ...]:
        return next(a for a, _ in self.calls if a[:2] == ("mod", "edit") and any(tool in x for x in a))


@pytest.fixture
def go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chaos_dirs: object) -> FakeGo:
    fake = FakeGo(tmp_path)
    fake.hold.set()
    monkeypatch.setattr(rt.subprocess, "run", fake)
    monkeypatch.setattr(versions, "go_binary", lambda: "go")
    monkeypatch.setattr(versions, "local_go_version", lambda: (1, 26, 8))
    return fake


def _build(tmp_path: Path) -> Build:
    return Build(tmp_path / "entry", V361)


def test_tools_are_built_once_into_their_own_entries_and_go_on_the_path(go: FakeGo, tmp_path: Path) -> None:
    said: list[str] = []
    b = rt.ensure_render_tools(_build(tmp_path), said.append)

    assert b.tool_dirs == (rt.tool_dir("helm", "v4.3.1") / "bin", rt.tool_dir("kustomize", "v5.8.3") / "bin")
    assert (b.tool_dirs[0] / "helm").is_file()
    assert (
        json.loads((rt.tool_dir("helm", "v4.3.1") / "tool.json").read_text())["module"] == "helm.sh/helm/v4"
    )
    helm = next(a for a in go.installs() if "helm" in a[-1])
    assert helm[-1] == "helm.sh/helm/v4/cmd/helm"
    assert "-require=helm.sh/helm/v4@v4.3.1" in go.edits("helm")
    # kustomize v5.8.3 needs a kube-openapi the proxy still serves (DEPENDENCY_REPLACES).
    assert "-replace=k8s.io/kube-openapi=k8s.io/kube-openapi@v0.0.0-20260721132016-d427ff9ee9ad" in go.edits(
        "kustomize"
    )
    assert "-X helm.sh/helm/v4/internal/version.version=v4.3.1" in helm[helm.index("-ldflags") + 1]
    assert any("build: kustomize v5.8.3 done in" in m for m in said)
    # The Argo CD tree is read with the release's toolchain (its go line needs Go 1.27).
    download = next(env for a, env in go.calls if a[-1].startswith("github.com/argoproj/argo-cd/v3@"))
    assert download["GOTOOLCHAIN"] == "go1.27.3"

    again = rt.ensure_render_tools(_build(tmp_path), said.append)
    assert again.tool_dirs == b.tool_dirs
    assert len(go.installs()) == 2  # cached: no second build


def test_two_sessions_at_once_build_a_tool_once(go: FakeGo, tmp_path: Path) -> None:
    go.hold.clear()
    results: list[Build] = []
    waited = threading.Event()

    def second_say(msg: str) -> None:
        if "is running; waiting" in msg:
            waited.set()

    first = threading.Thread(target=lambda: results.append(rt.ensure_render_tools(_build(tmp_path), print)))
    first.start()
    assert go.entered.wait(30)
    second = threading.Thread(
        target=lambda: results.append(rt.ensure_render_tools(_build(tmp_path), second_say))
    )
    second.start()
    assert waited.wait(30), "the second session did not wait on the tool's lock"
    go.hold.set()
    first.join(30)
    second.join(30)
    assert len(results) == 2
    assert results[0].tool_dirs == results[1].tool_dirs
    assert len(go.installs()) == 2  # helm and kustomize, once each


def test_a_failed_tool_build_names_the_module_and_leaves_no_entry(go: FakeGo, tmp_path: Path) -> None:
    go.fail = True
    with pytest.raises(
        BuildError, match=r"(?s)building helm.sh/helm/v4@v4.3.1 failed .*compile error"
    ) as info:
        rt.ensure_render_tools(_build(tmp_path), lambda _m: None)
    assert str(info.value).count("go: downloading") <= 25  # the tail, not the whole log
    assert not rt.tool_dir("helm", "v4.3.1").exists()


def test_a_source_build_reads_the_checkout(go: FakeGo, tmp_path: Path) -> None:
    src = tmp_path / "checkout"
    (src / "hack").mkdir(parents=True)
    (src / "hack" / "tool-versions.sh").write_text(OLD_STYLE)
    b = Build(tmp_path / "entry", BuildVersions("v3.4.7", "v1.34.2", "v0.8.0", "local", source=f"{src}@abc"))
    assert rt.release_tool_versions(b) == rt.RenderToolVersions("v3.16.3", "v5.4.3")


def test_a_tree_without_the_file_is_one_error(go: FakeGo, tmp_path: Path) -> None:
    (go.tree / "hack" / "tool-versions.sh").unlink()
    with pytest.raises(BuildError, match=r"cannot read .*tool-versions.sh .*names the helm and kustomize"):
        rt.release_tool_versions(_build(tmp_path))


def test_the_entry_keeps_the_versions_so_a_cached_build_needs_no_go(go: FakeGo, tmp_path: Path) -> None:
    b = _build(tmp_path)
    (b.root / "manifests").mkdir(parents=True)
    assert rt.release_tool_versions(b) == rt.RenderToolVersions("v4.3.1", "v5.8.3")
    assert (b.root / "manifests" / "tool-versions.sh").read_text() == NEW_STYLE
    downloads = len(go.calls)

    (go.tree / "hack" / "tool-versions.sh").unlink()  # the tree is not read again
    assert rt.release_tool_versions(b) == rt.RenderToolVersions("v4.3.1", "v5.8.3")
    assert len(go.calls) == downloads
