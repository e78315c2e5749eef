"""Helm charts and kustomizations rendered by the embedded repo-server with its release's tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import AppUnderTest, ClusterHandle, EmbeddedCluster, FixtureApp

pytestmark = pytest.mark.cluster


def test_the_repo_server_runs_with_the_release_helm_and_kustomize(chaos_cluster: ClusterHandle) -> None:
    if chaos_cluster.provider != "embedded":
        pytest.skip("the embedded cluster's repo-server is a local process")
    cluster = EmbeddedCluster.attach(chaos_cluster.name)
    assert cluster is not None
    pid = cluster.records["argocd-repo-server"].pid
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    path = next(e for e in environ if e.startswith(b"PATH=")).decode().removeprefix("PATH=").split(":")
    helm = next(Path(d) / "helm" for d in path if (Path(d) / "helm").is_file())
    kustomize = next(Path(d) / "kustomize" for d in path if (Path(d) / "kustomize").is_file())
    # The first helm and kustomize on its PATH are the ones built for the release, by version.
    assert helm.parent.parent.name.startswith("helm-v"), helm
    assert kustomize.parent.parent.name.startswith("kustomize-v"), kustomize


def test_a_kustomization_syncs_with_its_hook(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    app.commit_revision(1, FixtureApp.load("kustomize-hooks"))
    app.create()
    app.sync()
    op = app.wait_operation("Succeeded")

    assert [(h.name, h.hook_phase) for h in op.hooks("PreSync")] == [("kz-pre-migrate", "Succeeded")]
    live = app.live()
    config = live.get("ConfigMap", "kz-app-config")
    assert config is not None
    assert config.revision == "1"  # the kustomization's commonAnnotations, set per revision
    assert config.labels["app.kubernetes.io/part-of"] == "kustomize-hooks"


def test_a_chart_syncs_and_a_new_revision_reaches_it(app_under_test: AppUnderTest) -> None:
    app = app_under_test
    fixture = FixtureApp.load("helm-hooks")
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.commit_revision(2, fixture)
    request = app.sync()
    op = app.wait_operation("Succeeded", after=request)

    assert {h.name for h in op.hooks("PreSync")} == {"pre-install-r2", "pre-upgrade-r2"}
    config = app.live().get("ConfigMap", "app-config")
    assert config is not None
    assert config.data["revision"] == "2"
