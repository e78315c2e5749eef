"""Builds from a git checkout of argo-cd: what is read from the checkout, and the clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from testkit.git import git
from testkit.goproxy import argocd_gomod

from harness._build import binaries as _build
from harness._build import sources, versions
from harness._build.binaries import ensure_build
from harness._cli import main
from harness._config import HarnessConfig
from harness._errors import ConfigError


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git checkout shaped like argo-cd at the v3.4.7 tag (go.mod, VERSION, gitops-engine/)."""
    monkeypatch.setattr(versions, "local_go_version", lambda: (1, 26, 8))
    repo = tmp_path / "argo-cd"
    (repo / "gitops-engine").mkdir(parents=True)
    (repo / "go.mod").write_text(argocd_gomod("v3.4.7"))
    (repo / "VERSION").write_text("3.4.7\n")
    (repo / "gitops-engine" / "go.mod").write_text("module github.com/argoproj/argo-cd/gitops-engine\n")
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "release", cwd=repo)
    git("tag", "v3.4.7", cwd=repo)
    return repo


def test_a_tagged_checkout_is_named_by_its_tag(checkout: Path) -> None:
    v, co = sources.resolve_source(checkout)

    commit = git("rev-parse", "HEAD", cwd=checkout)
    assert (v.argocd, v.kubernetes, v.toolchain, v.argocd_commit) == ("v3.4.7", "v1.34.2", "local", commit)
    assert v.source == f"{checkout}@{commit}"
    assert co.gomod.local_replaces == {"github.com/argoproj/argo-cd/gitops-engine": "./gitops-engine"}
    # The cache key includes the commit, and never collides with a release build of the same tag.
    assert _build.build_dir(v).name == f"v3.4.7-src-{commit[:12]}-v1.34.2"
    assert v.key == f"argocd-v3.4.7-src-{commit[:12]}-k8s-v1.34.2"


def test_a_branch_past_the_tag_is_named_by_version_file_and_commit(checkout: Path) -> None:
    git("checkout", "-q", "-b", "fix", cwd=checkout)
    (checkout / "fix.go").write_text("package fix\n")
    git("add", "-A", cwd=checkout)
    git("commit", "-q", "-m", "a fix", cwd=checkout)

    v, _ = sources.resolve_source(checkout)

    commit = git("rev-parse", "HEAD", cwd=checkout)
    assert v.argocd == f"v3.4.7-{commit[:12]}"
    assert _build.build_dir(v).name == f"v3.4.7-{commit[:12]}-src-{commit[:12]}-v1.34.2"


def test_local_edits_get_their_own_cache_key(checkout: Path) -> None:
    clean, _ = sources.resolve_source(checkout)
    (checkout / "VERSION").write_text("3.4.7-patched\n")
    edited, co = sources.resolve_source(checkout)
    assert co.dirty
    assert edited.source.endswith(f"+dirty-{co.dirty}")
    assert _build.build_dir(edited) != _build.build_dir(clean)
    assert _build.build_dir(edited).name.endswith(f"-dirty-{co.dirty[:8]}-v1.34.2")


def test_a_folder_without_go_mod_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no go.mod there; pass the top folder of a git checkout"):
        sources.inspect_checkout(tmp_path)


def test_another_module_is_refused(checkout: Path) -> None:
    (checkout / "go.mod").write_text(argocd_gomod("v3.4.7").replace("argoproj/argo-cd/v3", "example/fork"))
    with pytest.raises(
        ConfigError, match="declares module 'github.com/example/fork', not github.com/argoproj"
    ):
        sources.inspect_checkout(checkout)


def test_an_export_without_git_is_refused(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(argocd_gomod("v3.4.7"))
    with pytest.raises(ConfigError, match=r"not a git checkout \(no .git\); the cache key needs its commit"):
        sources.inspect_checkout(tmp_path)


def test_version_and_source_together_are_refused(checkout: Path) -> None:
    with pytest.raises(ConfigError, match="pass --argocd-version or --argocd-source, not both"):
        ensure_build("v3.4.7", source=checkout, out=lambda _m: None)
    with pytest.raises(ConfigError, match="not both"):
        HarnessConfig(argocd_version="v3.4.7", argocd_source=checkout)
    with pytest.raises(ConfigError, match="embedded cluster only, not --cluster kind"):
        HarnessConfig(provider="kind", argocd_source=checkout)


def test_cli_build_of_a_missing_folder_fails_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", "--argocd-source", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"argocd-chaos: error: --argocd-source {tmp_path / 'nope'}: no go.mod there")
