"""App-of-apps: child Application manifests made for the app's own repository."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from harness._argocd.driver import ARGOCD_NAMESPACE, LABEL_TEST, RESOURCES_FINALIZER
from harness._scenario.app import AppUnderTest
from harness._scenario.fixtures import FixtureApp
from harness._wait import Timeouts


def _app(tmp_path: Path) -> AppUnderTest:
    # No request reaches an API server here: child_app only builds manifests.
    return AppUnderTest(
        client.ApiClient(), test_id="t1", run_id="r1", repo_root=tmp_path, timeouts=Timeouts.from_env()
    )


def test_a_child_reads_its_folder_of_the_parents_repo(tmp_path: Path) -> None:
    app = _app(tmp_path)
    child = app.child_app("a", path="child-a", automated=True)

    assert child["kind"] == "Application"
    assert child["metadata"]["name"] == "chaos-t1-a"
    assert child["metadata"]["namespace"] == ARGOCD_NAMESPACE
    assert child["metadata"]["labels"][LABEL_TEST] == "t1"
    assert child["metadata"]["finalizers"] == [RESOURCES_FINALIZER]  # deleting it prunes what it made
    src = child["spec"]["source"]
    assert (src["repoURL"], src["path"]) == (app.repo_url, "child-a")
    assert child["spec"]["destination"]["namespace"] == app.namespace
    assert child["spec"]["syncPolicy"]["automated"] == {"prune": False, "selfHeal": False}


def test_children_are_remembered_once_for_cleanup(tmp_path: Path) -> None:
    app = _app(tmp_path)
    app.child_app("a", path="child-a")
    app.child_app("a", path="child-a")
    app.child_app("b", path="child-b")
    assert app._children == ["chaos-t1-a", "chaos-t1-b"]


def test_the_fixture_takes_children_in_the_parents_folder(tmp_path: Path) -> None:
    app = _app(tmp_path)
    fixture = FixtureApp.load("app-of-apps").with_object(app.child_app("a", path="child-a"), folder="apps")
    files = fixture.files()
    assert any(f.startswith("apps/") and "application-chaos-t1-a" in f for f in files)
    assert any(f.startswith("child-a/") for f in files)
    assert any(f.startswith("child-b/") for f in files)
