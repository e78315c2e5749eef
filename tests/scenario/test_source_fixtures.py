"""Helm charts and kustomizations as fixtures: loaded as file trees, edited, stamped per revision."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._argocd.observe import REVISION_ANNOTATION
from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._paths import cache_root
from harness._scenario.fixtures import FixtureApp

HELM_VERSION = "v4.3.1"  # what Argo CD v3.6.1's hack/tool-versions.sh names
KUSTOMIZE_VERSION = "v5.8.3"
#: The user's build cache, read at import: the tests themselves run with a temporary cache root.
BUILD_CACHE = cache_root()


def _tool(name: str, version: str) -> Path:
    """The helm or kustomize binary the build cache holds, else a skip naming how to get it."""
    path = BUILD_CACHE / f"{name}-{version}" / "bin" / name
    if not path.is_file():
        pytest.skip(f"{name} {version} is not built yet (`argocd-chaos build` builds it into {path.parent})")
    return path


def _render(app: FixtureApp, tmp_path: Path, command: list[str]) -> list[dict[str, Any]]:
    root = tmp_path / app.name
    for rel, text in app.files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    out = subprocess.run([*command, str(root)], capture_output=True, text=True, check=True, timeout=60)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_a_chart_is_a_source_tree_kept_as_its_files() -> None:
    app = FixtureApp.load("helm-hooks")
    assert app.source_type == "Helm"
    assert app.docs == []
    assert {"Chart.yaml", "values.yaml", "templates/hooks.yaml", "templates/_job.tpl"} <= set(app.raw)
    assert app.files() == app.raw  # committed as they are
    assert app.values()["preUpgrade"] == {"outcome": "succeed"}


def test_a_kustomization_is_a_source_tree() -> None:
    app = FixtureApp.load("kustomize-hooks")
    assert app.source_type == "Kustomize"
    assert set(app.raw) == {"kustomization.yaml", "configmap.yaml", "presync-job.yaml"}
    with pytest.raises(ConfigError, match="is not a Helm chart"):
        app.with_values(x=1)


def test_with_values_merges_nested_values_and_keeps_the_rest() -> None:
    app = FixtureApp.load("helm-hooks")
    before = app.copy()
    app.with_values(preUpgrade={"outcome": "fail"}, argoHook=True)
    values = app.values()
    assert values["preUpgrade"] == {"outcome": "fail"}
    assert values["argoHook"] is True
    assert values["preInstall"] == {"outcome": "succeed"}
    assert before.values()["preUpgrade"] == {"outcome": "succeed"}  # copies are independent


def test_at_revision_of_a_chart_sets_the_revision_value() -> None:
    app = FixtureApp.load("helm-hooks")
    rev = app.at_revision(3)
    assert rev.values()["revision"] == "3"  # a string: templates quote it into annotations
    assert app.values()["revision"] == "1"


def test_at_revision_of_a_kustomization_adds_a_common_annotation() -> None:
    rev = FixtureApp.load("kustomize-hooks").at_revision(4)
    kz = yaml.safe_load(rev.raw["kustomization.yaml"])
    assert kz["commonAnnotations"] == {REVISION_ANNOTATION: "4"}
    assert kz["namePrefix"] == "kz-"


@pytest.mark.parametrize("path", ["/etc/passwd", "../x.yaml", ""])
def test_with_file_refuses_paths_outside_the_fixture(path: str) -> None:
    with pytest.raises(ConfigError, match="must be relative"):
        FixtureApp.load("helm-hooks").with_file(path, "x")


def test_with_file_adds_a_template() -> None:
    app = FixtureApp.load("helm-hooks").with_file("templates/extra.yaml", "# nothing\n")
    assert app.files()["templates/extra.yaml"] == "# nothing\n"


def test_the_chart_renders_every_hook_with_a_stated_outcome(tmp_path: Path) -> None:
    helm = _tool("helm", HELM_VERSION)
    app = FixtureApp.load("helm-hooks").at_revision(2).with_values(argoHook=True, deleteHooks=True)
    docs = _render(app, tmp_path, [str(helm), "template", "t"])
    jobs = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Job"}
    assert set(jobs) == {
        f"{n}-r2"
        for n in (
            "pre-install",
            "pre-upgrade",
            "post-install",
            "post-upgrade",
            "chart-test",
            "pre-rollback",
            "both",
            "argo-postsync",
            "pre-delete",
            "post-delete",
        )
    }
    for job in jobs.values():
        assert job["spec"]["backoffLimit"] == 0
        pod = job["spec"]["template"]
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["metadata"]["annotations"][stages.OUTCOME] in ("succeed", "fail")
    ann = jobs["pre-upgrade-r2"]["metadata"]["annotations"]
    assert ann == {
        "helm.sh/hook": "pre-upgrade",
        "helm.sh/hook-weight": "5",
        "helm.sh/hook-delete-policy": "before-hook-creation",
    }
    cm = next(d for d in docs if d["metadata"]["name"] == "app-config")
    assert cm["metadata"]["annotations"][REVISION_ANNOTATION] == "2"


def test_a_failing_pre_upgrade_value_reaches_the_hook_pod(tmp_path: Path) -> None:
    helm = _tool("helm", HELM_VERSION)
    app = FixtureApp.load("helm-hooks").with_values(preUpgrade={"outcome": "fail"})
    docs = _render(app, tmp_path, [str(helm), "template", "t"])
    job = next(d for d in docs if d["metadata"]["name"] == "pre-upgrade-r1")
    assert job["spec"]["template"]["metadata"]["annotations"][stages.OUTCOME] == "fail"


def test_the_kustomization_renders_a_prefixed_hook(tmp_path: Path) -> None:
    kustomize = _tool("kustomize", KUSTOMIZE_VERSION)
    docs = _render(FixtureApp.load("kustomize-hooks").at_revision(2), tmp_path, [str(kustomize), "build"])
    by_name = {d["metadata"]["name"]: d for d in docs}
    assert set(by_name) == {"kz-app-config", "kz-pre-migrate"}
    assert by_name["kz-pre-migrate"]["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert by_name["kz-app-config"]["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
