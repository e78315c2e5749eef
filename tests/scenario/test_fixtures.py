"""Fixture apps (`harness._scenario.fixtures`): the manifests under fixtures/ and the typed edits on them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._argocd.observe import REVISION_ANNOTATION
from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._scenario.fixtures import FIXTURES_DIR, HOOK, FixtureApp

ALL_FIXTURES = sorted(p.name for p in FIXTURES_DIR.iterdir() if p.is_dir())
#: Folders of plain manifests; charts and kustomizations (source trees) are tested below as such.
FIXTURE_NAMES = [n for n in ALL_FIXTURES if FixtureApp.load(n).source_type == "Directory"]
SOURCE_FIXTURES = [n for n in ALL_FIXTURES if n not in FIXTURE_NAMES]


def template_annotations(doc: dict[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = doc["spec"]["template"].get("metadata", {}).get("annotations", {})
    return annotations


def is_hook(doc: dict[str, Any]) -> bool:
    return HOOK in (doc.get("metadata", {}).get("annotations") or {})


# --------------------------------------------------------------------------------------------------
# The fixtures themselves


def test_there_are_fixtures() -> None:
    assert {"presync-hook", "postsync-hook", "syncfail-hook", "sync-waves"} <= set(FIXTURE_NAMES)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_parses(name: str) -> None:
    app = FixtureApp.load(name)

    assert app.name == name
    assert app.docs, f"fixture {name} has no manifests"
    for doc in app.docs:
        assert doc.get("apiVersion"), doc
        assert doc.get("kind"), doc
        meta = doc.get("metadata") or {}
        assert meta.get("name") or meta.get("generateName"), doc
        # The harness owns the destination namespace; a fixture that names one would escape it.
        assert "namespace" not in meta, doc


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_fixture_job_runs_its_pod_once_with_a_stated_outcome(name: str) -> None:
    jobs = [d for d in FixtureApp.load(name).docs if d["kind"] == "Job"]
    for job in jobs:
        ident = f"{name}: Job/{job['metadata'].get('name')}"
        spec = job["spec"]
        assert spec.get("backoffLimit") == 0, f"{ident} needs backoffLimit: 0"
        assert spec["template"]["spec"].get("restartPolicy") == "Never", f"{ident} needs restartPolicy: Never"
        outcome = template_annotations(job).get(stages.OUTCOME)
        assert outcome in ("succeed", "fail"), (
            f"{ident} needs a {stages.OUTCOME} annotation on its pod template"
        )


def test_every_fixture_hook_names_a_phase() -> None:
    phases = {"PreSync", "Sync", "PostSync", "SyncFail", "Skip", "PreDelete", "PostDelete"}
    for name in FIXTURE_NAMES:
        for doc in FixtureApp.load(name).docs:  # source trees: test_source_fixtures.py
            if is_hook(doc):
                assert set(doc["metadata"]["annotations"][HOOK].split(",")) <= phases, (name, doc)


def test_load_reads_every_yaml_file_in_name_order() -> None:
    app = FixtureApp.load("presync-hook")
    assert [(d["kind"], d["metadata"].get("name") or d["metadata"]["generateName"]) for d in app.docs] == [
        ("ConfigMap", "app-config"),
        ("Deployment", "web"),
        ("Job", "pre-migrate-"),
    ]


def test_unknown_fixture_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="no fixture app 'nope'") as exc:
        FixtureApp.load("nope")
    assert f"known: {', '.join(ALL_FIXTURES)}" in str(exc.value)


def test_load_from_another_root_skips_empty_documents(tmp_path: Path) -> None:
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "a.yaml").write_text(
        "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one}\n---\n"
    )
    (tmp_path / "mini" / "notes.txt").write_text("not a manifest")
    (tmp_path / "other").mkdir()

    app = FixtureApp.load("mini", root=tmp_path)
    assert app.docs == [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}}]
    with pytest.raises(ConfigError, match="known: mini, other$"):
        FixtureApp.load("missing", root=tmp_path)


# --------------------------------------------------------------------------------------------------
# with_hook_outcome


def test_with_hook_outcome_sets_fail_and_exit_code() -> None:
    app = FixtureApp.load("presync-hook")
    out = app.with_hook_outcome("pre-migrate", "fail", exit_code=3, duration="2s")

    assert out is app
    assert template_annotations(app.find("Job", "pre-migrate")) == {
        stages.OUTCOME: "fail",
        stages.EXIT_CODE: "3",
        stages.DURATION: "2s",
    }


def test_with_hook_outcome_replaces_earlier_outcome_annotations_and_keeps_the_rest() -> None:
    app = FixtureApp.load("syncfail-hook")
    app.with_annotation("Job", "sync-step", "unrelated", "kept")  # the Job's own annotations
    app.with_hook_outcome("sync-step", "fail", exit_code=42, duration="5s")
    template_annotations(app.find("Job", "sync-step"))[stages.START_DELAY] = "1s"
    template = app.find("Job", "sync-step")["spec"]["template"]
    containers = copy.deepcopy(template["spec"]["containers"])

    app.with_hook_outcome("sync-step", "succeed")

    assert template_annotations(app.find("Job", "sync-step")) == {
        stages.OUTCOME: "succeed",
        stages.START_DELAY: "1s",
    }
    assert template["spec"]["containers"] == containers
    assert app.find("Job", "sync-step")["metadata"]["annotations"]["unrelated"] == "kept"
    # The other hook is not touched.
    assert template_annotations(app.find("Job", "on-failure-cleanup")) == {stages.OUTCOME: "succeed"}


def test_with_hook_outcome_replaces_an_outcome_switch() -> None:
    """KWOK's outcome stages only match pods without a switch: a left-over switch would win silently."""
    app = FixtureApp.load("presync-hook")
    template_annotations(app.find("Job", "pre-migrate"))[stages.SWITCH] = "migrations"

    app.with_hook_outcome("pre-migrate", "fail", exit_code=2)

    assert template_annotations(app.find("Job", "pre-migrate")) == {
        stages.OUTCOME: "fail",
        stages.EXIT_CODE: "2",
    }


@pytest.mark.parametrize(
    ("outcome", "exit_code", "message"),
    [
        ("fail", 0, "exit_code 0 of a failing pod must be in 1..255"),
        ("fail", 256, "exit_code 256 of a failing pod must be in 1..255"),
        ("succeed", 3, "exit_code 3 contradicts outcome 'succeed'"),
    ],
)
def test_with_hook_outcome_rejects_a_bad_exit_code(outcome: Any, exit_code: int, message: str) -> None:
    app = FixtureApp.load("presync-hook")
    before = copy.deepcopy(app.docs)
    with pytest.raises(ConfigError, match=message):
        app.with_hook_outcome("pre-migrate", outcome, exit_code=exit_code)
    # Nothing is left half changed: the fixture still says what it said.
    assert app.docs == before


def test_with_hook_outcome_of_an_unknown_job_names_what_the_fixture_has() -> None:
    app = FixtureApp.load("presync-hook")
    with pytest.raises(
        ConfigError,
        match="fixture 'presync-hook' has no Job/migrate; it has ConfigMap/app-config, Deployment/web, "
        "Job/pre-migrate",
    ):
        app.with_hook_outcome("migrate", "fail")


def test_find_does_not_match_another_kind_of_the_same_name() -> None:
    with pytest.raises(ConfigError, match="has no Job/web"):
        FixtureApp.load("presync-hook").find("Job", "web")


# --------------------------------------------------------------------------------------------------
# at_revision


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_at_revision_stamps_non_hook_objects_and_leaves_hooks_alone(name: str) -> None:
    app = FixtureApp.load(name)
    original = copy.deepcopy(app.docs)

    rev = app.at_revision(7)

    assert rev is not app
    assert rev.name == name
    assert app.docs == original, "at_revision must not change the fixture it was called on"
    assert len(rev.docs) == len(original)
    for before, after in zip(original, rev.docs, strict=True):
        if is_hook(before):
            assert after == before
            continue
        assert after["metadata"]["annotations"][REVISION_ANNOTATION] == "7"
        if before["kind"] == "ConfigMap" and "revision" in before.get("data", {}):
            assert after["data"]["revision"] == "7"
        if "template" in before.get("spec", {}):
            assert template_annotations(after)[REVISION_ANNOTATION] == "7"


def test_at_revision_of_presync_hook() -> None:
    rev = FixtureApp.load("presync-hook").at_revision(2)

    cm, deploy, hook = rev.docs
    assert cm["metadata"]["annotations"] == {REVISION_ANNOTATION: "2"}
    assert cm["data"] == {"revision": "2"}
    assert deploy["metadata"]["annotations"] == {REVISION_ANNOTATION: "2"}
    assert deploy["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {REVISION_ANNOTATION: "2"},
    }
    assert REVISION_ANNOTATION not in hook["metadata"]["annotations"]
    assert REVISION_ANNOTATION not in template_annotations(hook)


def test_at_revision_of_objects_without_annotations_or_revision_data() -> None:
    plain_job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "plain"},
        "spec": {"template": {"spec": {"restartPolicy": "Never"}}},
    }
    other_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "v"}}
    app = FixtureApp("custom", [plain_job, other_cm])

    rev = app.at_revision(3)

    assert rev.docs[0]["metadata"]["annotations"] == {REVISION_ANNOTATION: "3"}
    assert template_annotations(rev.docs[0]) == {REVISION_ANNOTATION: "3"}
    assert rev.docs[1]["data"] == {"k": "v"}
    assert app.docs[0] == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "plain"},
        "spec": {"template": {"spec": {"restartPolicy": "Never"}}},
    }


def test_copy_is_deep() -> None:
    app = FixtureApp.load("presync-hook")
    dup = app.copy()
    dup.with_hook_outcome("pre-migrate", "fail").with_data("app-config", revision="9")

    assert template_annotations(app.find("Job", "pre-migrate")) == {stages.OUTCOME: "succeed"}
    assert app.find("ConfigMap", "app-config")["data"] == {"revision": "1"}


# --------------------------------------------------------------------------------------------------
# files


def test_files_are_named_by_position_kind_and_name() -> None:
    assert list(FixtureApp.load("syncfail-hook").files()) == [
        "00-configmap-app-config.yaml",
        "01-job-sync-step.yaml",
        "02-job-on-failure-cleanup.yaml",
    ]


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_files_are_stable_across_revisions_and_round_trip(name: str) -> None:
    app = FixtureApp.load(name)
    files = app.files()

    assert files == FixtureApp.load(name).files()
    assert list(app.at_revision(2).files()) == list(files)
    assert [yaml.safe_load(text) for text in files.values()] == app.docs
    rev = app.at_revision(5)
    assert [yaml.safe_load(text) for text in rev.files().values()] == rev.docs


def test_files_of_a_generate_name_object() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"generateName": "migrate-"}}
    app = FixtureApp("gen", [job])
    assert list(app.files()) == ["00-job-migrate.yaml"]
    assert app.find("Job", "migrate-") is job


# --------------------------------------------------------------------------------------------------
# Any kind, nested folders, outcomes as public names


def test_nested_folders_are_loaded_and_committed_with_their_layout() -> None:
    app = FixtureApp.load("postdelete-hook")
    kinds = [(d["kind"], d["metadata"]["name"]) for d in app.docs]
    assert kinds[0] == ("ConfigMap", "app-config")
    assert set(kinds[1:]) == {
        ("ServiceAccount", "cleanup"),
        ("Role", "cleanup"),
        ("RoleBinding", "cleanup"),
        ("Job", "post-delete"),
    }
    files = app.files()
    assert "00-configmap-app-config.yaml" in files
    assert sorted(f for f in files if f.startswith("hooks/")) == [
        "hooks/01-job-post-delete.yaml",
        "hooks/02-serviceaccount-cleanup.yaml",
        "hooks/03-role-cleanup.yaml",
        "hooks/04-rolebinding-cleanup.yaml",
    ]
    assert app.copy().folders == app.folders


def test_any_kind_can_be_added_made_a_hook_edited_and_removed() -> None:
    app = FixtureApp.load("single-hook")
    app.with_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "chaos-x"}})
    app.with_hook("ConfigMap", "app-config", "Skip")
    app.edit("ConfigMap", "app-config", lambda d: d["data"].update(extra="1"))
    app.with_labels("ConfigMap", "app-config", team="a")
    cm = app.find("ConfigMap", "app-config")
    assert cm["metadata"]["annotations"][HOOK] == "Skip"
    assert cm["data"] == {"revision": "1", "extra": "1"}
    assert cm["metadata"]["labels"] == {"team": "a"}
    app.with_hook("ConfigMap", "app-config", None)
    assert HOOK not in cm["metadata"]["annotations"]
    app.without("Namespace", "chaos-x")
    assert [d["kind"] for d in app.docs] == ["ConfigMap", "Job"]
    assert len(app.folders) == 2


def test_an_object_without_a_name_is_rejected() -> None:
    with pytest.raises(ConfigError, match="metadata.name"):
        FixtureApp.load("single-hook").with_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})


def test_outcomes_on_a_bare_pod_and_hang() -> None:
    app = FixtureApp.load("single-hook").with_object(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": []}}
    )
    app.with_hook_outcome("p", "fail", exit_code=2, kind="Pod")
    assert app.find("Pod", "p")["metadata"]["annotations"] == {stages.OUTCOME: "fail", stages.EXIT_CODE: "2"}
    app.with_hook_outcome("hook", "hang")
    assert template_annotations(app.find("Job", "hook"))[stages.DURATION] == "87600h"
    with pytest.raises(ConfigError, match="no pods"):
        app.with_hook_outcome("app-config", "succeed", kind="ConfigMap")
    with pytest.raises(ConfigError, match="hang"):
        app.with_hook_outcome("hook", "hang", duration="1s")


def test_number_like_strings_are_written_quoted_for_go_yaml() -> None:
    """A test id such as "975e77" is a float to Go's YAML reader (seen: the repo-server's apply
    failed with "cannot unmarshal number into ... labels of type string")."""
    app = FixtureApp.load("single-hook").with_labels(
        "ConfigMap", "app-config", id="975e77", hex="0x1f", word="abc"
    )
    text = next(v for k, v in app.files().items() if "configmap" in k)
    assert 'id: "975e77"' in text
    assert 'hex: "0x1f"' in text
    assert "word: abc" in text
    assert yaml.safe_load(text)["metadata"]["labels"]["id"] == "975e77"


# Bad fixture files: one ConfigError naming the file and the document (issue 10, item 4)

_GOOD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: good\n"


@pytest.mark.parametrize(
    ("text", "document", "problem"),
    [
        ("apiVersion: v1\nkind: [ConfigMap\n", "document 1 is not valid YAML", "at line 3, column 1"),
        (
            _GOOD + "---\n" + "kind: Job\n  metadata: x\n",
            "document 2 is not valid YAML",
            "at line 7, column 11",
        ),
        (_GOOD + "---\n- a\n- b\n", "document 2 (line 6) is a list", "not a Kubernetes object"),
        ("just a string\n", "document 1 (line 1) is a str ('just a string')", "not a Kubernetes object"),
        ("42\n", "document 1 (line 1) is a int (42)", "not a Kubernetes object"),
        (
            _GOOD + "---\napiVersion: batch/v1\nmetadata:\n  name: hook\n",
            "document 2 (line 6) has no `kind`",
            "every object needs apiVersion, kind and a name",
        ),
        ("kind: Job\nmetadata: {name: x}\n", "document 1 (line 1) has no `apiVersion`", "apiVersion"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {}\n",
            "document 1 (line 1) (Pod) has no metadata.name",
            "or metadata.generateName",
        ),
    ],
)
def test_bad_fixture_document_is_one_config_error_naming_file_and_document(
    tmp_path: Path, text: str, document: str, problem: str
) -> None:
    app = tmp_path / "broken"
    app.mkdir()
    (app / "01-ok.yaml").write_text(_GOOD)
    (app / "02-bad.yaml").write_text(text)

    with pytest.raises(ConfigError) as info:
        FixtureApp.load("broken", tmp_path)

    message = str(info.value)
    assert message.startswith(f"fixture file {app / '02-bad.yaml'}: {document}")
    assert problem in message
    assert "<unicode string>" not in message


def test_empty_documents_are_skipped_not_errors(tmp_path: Path) -> None:
    app = tmp_path / "sparse"
    app.mkdir()
    (app / "a.yaml").write_text("---\n" + _GOOD + "---\n---\n# only a comment\n")
    assert [d["metadata"]["name"] for d in FixtureApp.load("sparse", tmp_path).docs] == ["good"]
