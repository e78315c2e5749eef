"""Reading, checking and rewriting the user's Application and manifests (no cluster)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._reproduce import inputs
from harness._reproduce.prepare import prepare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "reproduce"


def _write(path: Path, *docs: object) -> Path:
    path.write_text(yaml.safe_dump_all(docs))
    return path


def _app(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": "argocd", "uid": "u-1", "resourceVersion": "9"},
        "spec": {
            "destination": {"namespace": "shop", "server": "https://kubernetes.default.svc"},
            "project": "shop",
            "source": {
                "repoURL": "https://git.example.com/x.git",
                "path": "deploy",
                "targetRevision": "main",
            },
            **spec,
        },
        "status": {"sync": {"status": "Synced"}},
    }


JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "migrate", "annotations": {"argocd.argoproj.io/hook": "PreSync"}},
    "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "x"}], "restartPolicy": "Never"}}},
}
CM = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "cfg", "namespace": "shop"},
    "data": {"a": "1"},
}


def test_application_is_stripped_of_what_the_server_wrote(tmp_path: Path) -> None:
    app = inputs.load_application(_write(tmp_path / "a.yaml", _app()))
    assert "status" not in app.manifest
    assert "uid" not in app.manifest["metadata"]
    assert "resourceVersion" not in app.manifest["metadata"]
    assert app.stripped == ["status", "metadata.uid", "metadata.resourceVersion"]


def test_kubectl_output_of_the_examples_is_read(tmp_path: Path) -> None:
    app = inputs.load_application(EXAMPLES / "presync-migration-retry" / "application.yaml")
    assert app.manifest_name == "shop"
    assert app.automated
    assert app.spec["syncPolicy"]["retry"]["limit"] == 2
    assert "managedFields" not in app.manifest["metadata"]
    assert "kubectl.kubernetes.io/last-applied-configuration" not in app.manifest["metadata"].get(
        "annotations", {}
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            "is not an Argo CD Application",
        ),
        ({**_app(), "apiVersion": "example.com/v1"}, "is not an Argo CD Application"),
        ({**_app(), "metadata": {}}, "has no metadata.name"),
        (
            _app(source={"repoURL": "r", "chart": "redis", "helm": {"values": "a: 1"}}),
            "renders its source with helm",
        ),
        ({**_app(), "spec": {**_app()["spec"], "source": None, "sources": [{}, {}]}}, "has 2 sources"),  # type: ignore[dict-item]
    ],
)
def test_not_an_application_or_not_replayable(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        inputs.load_application(_write(tmp_path / "a.yaml", doc))


def test_two_objects_in_the_application_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds 2 objects"):
        inputs.load_application(_write(tmp_path / "a.yaml", _app(), _app()))


def test_application_file_missing_or_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        inputs.load_application(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Application\n  spec: [\n")
    with pytest.raises(ConfigError, match=r"not valid YAML.*line"):
        inputs.load_application(bad)


def test_manifests_from_a_file_a_folder_and_a_list(tmp_path: Path) -> None:
    stream = _write(tmp_path / "all.yaml", CM, JOB)
    assert [d["kind"] for d in inputs.load_manifests(stream).docs] == ["ConfigMap", "Job"]
    folder = tmp_path / "dir"
    (folder / "hooks").mkdir(parents=True)
    _write(folder / "cm.yaml", CM)
    _write(folder / "hooks" / "job.yml", {"apiVersion": "v1", "kind": "List", "items": [JOB]})
    m = inputs.load_manifests(folder)
    assert [(d["kind"], f) for d, f in zip(m.docs, m.folders, strict=True)] == [
        ("ConfigMap", ""),
        ("Job", "hooks"),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- a\n- b\n", "is not a mapping"),
        ("kind: ConfigMap\nmetadata: {name: x}\n", "has no `apiVersion`"),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "has no metadata.name"),
        ("apiVersion: v1\nkind: [\n", "not valid YAML"),
    ],
)
def test_bad_manifests(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "m.yaml"
    f.write_text(content)
    with pytest.raises(ConfigError, match=message):
        inputs.load_manifests(f)


def test_empty_manifests(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        inputs.load_manifests(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="has no .yaml"):
        inputs.load_manifests(tmp_path / "empty")


def test_secret_values_are_replaced_and_keys_kept(tmp_path: Path) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": '{"data":{"pw":"aHVudGVyMg=="}}'
            },
        },
        "data": {"pw": base64.b64encode(b"hunter2").decode()},
        "stringData": {"url": "postgres://u:hunter2@db/x"},
    }
    m = inputs.load_manifests(_write(tmp_path / "s.yaml", secret))
    rewrites = inputs.redact_secrets(m)
    text = json.dumps(m.docs)
    assert "hunter2" not in text
    assert "aHVudGVyMg" not in text
    assert sorted(m.docs[0]["data"]) == ["pw"]
    assert sorted(m.docs[0]["stringData"]) == ["url"]
    assert [r.before for r in rewrites] == ["values of pw, url"]
    assert all("hunter2" not in "".join(f.values()) for f in [m.files()])


def test_hook_flags_parse_and_apply(tmp_path: Path) -> None:
    m = inputs.load_manifests(_write(tmp_path / "m.yaml", CM, JOB))
    plans = inputs.parse_hook_flags(["migrate=3"], [], ["migrate=2s"])
    assert plans == {"migrate": inputs.HookPlan("fail", 3, "2s")}
    inputs.apply_hook_plans(m, plans, known={"migrate"})
    ann = m.find("Job", "migrate")["spec"]["template"]["metadata"]["annotations"]
    assert ann[stages.OUTCOME] == "fail"
    assert ann[stages.EXIT_CODE] == "3"
    assert ann[stages.DURATION] == "2s"


def test_hooks_succeed_unless_told_and_hang(tmp_path: Path) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "check-", "annotations": {"helm.sh/hook": "post-install"}},
        "spec": {"containers": [{"name": "c", "image": "x"}]},
    }
    m = inputs.load_manifests(_write(tmp_path / "m.yaml", JOB, pod))
    assert sorted(inputs.hooks(m)) == ["check", "migrate"]
    inputs.apply_hook_plans(m, inputs.parse_hook_flags([], ["migrate"], []), known={"migrate", "check"})
    job_ann = m.find("Job", "migrate")["spec"]["template"]["metadata"]["annotations"]
    assert job_ann[stages.DURATION] == "87600h"
    # A bare hook Pod would otherwise stay Running for ever on KWOK: it is told to succeed.
    assert m.find("Pod", "check")["metadata"]["annotations"][stages.OUTCOME] == "succeed"


@pytest.mark.parametrize(
    ("fail", "hang", "duration", "message"),
    [
        (["nope"], [], [], r"no hook named 'nope'.*the hooks found are: migrate"),
        (["migrate=x"], [], [], "is not a number"),
        (["migrate=0"], [], [], "1 to 255"),
        (["migrate"], ["migrate"], [], "both --fail and --hang"),
        ([], ["migrate"], ["migrate=2s"], "takes no --duration"),
        ([], [], ["migrate=2 s"], "not a Go duration"),
        ([], [], ["migrate"], "give HOOK=DURATION"),
        (["=3"], [], [], "needs a hook name"),
    ],
)
def test_bad_hook_flags(
    tmp_path: Path, fail: list[str], hang: list[str], duration: list[str], message: str
) -> None:
    m = inputs.load_manifests(_write(tmp_path / "m.yaml", CM, JOB))
    with pytest.raises(ConfigError, match=message):
        inputs.apply_hook_plans(m, inputs.parse_hook_flags(fail, hang, duration), known=set(inputs.hooks(m)))


def test_a_flag_on_a_hook_without_pods(tmp_path: Path) -> None:
    cm_hook = {**CM, "metadata": {"name": "marker", "annotations": {"argocd.argoproj.io/hook": "PreSync"}}}
    m = inputs.load_manifests(_write(tmp_path / "m.yaml", cm_hook))
    with pytest.raises(ConfigError, match="has no pods"):
        inputs.apply_hook_plans(m, inputs.parse_hook_flags(["marker"], [], []), known={"marker"})


def test_prepare_rewrites_only_what_must_change(tmp_path: Path) -> None:
    app = _app(
        syncPolicy={
            "automated": {"selfHeal": True, "prune": True},
            "retry": {"limit": 3},
            "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            "managedNamespaceMetadata": {"labels": {"team": "a"}},
        },
        ignoreDifferences=[{"kind": "Deployment", "jsonPointers": ["/spec/replicas"]}],
    )
    _write(tmp_path / "a.yaml", app)
    _write(tmp_path / "m.yaml", CM, JOB)
    p = prepare(tmp_path / "a.yaml", tmp_path / "m.yaml", fail=["migrate"], test_id="abc123")
    spec = p.application_manifest("file:///repo")["spec"]
    assert spec["syncPolicy"] == app["spec"]["syncPolicy"]  # type: ignore[index]
    assert spec["ignoreDifferences"] == app["spec"]["ignoreDifferences"]  # type: ignore[index]
    assert spec["source"] == {"repoURL": "file:///repo", "path": ".", "targetRevision": "HEAD"}
    assert spec["destination"] == {"namespace": "chaos-abc123", "server": "https://kubernetes.default.svc"}
    assert spec["project"] == "default"
    where = [r.where for r in p.rewrites]
    assert where[:2] == ["Application metadata", "metadata.name"]
    assert "spec.project" in where
    assert "spec.source.repoURL" in where
    assert "manifests: ConfigMap/cfg metadata.namespace" in where
    assert p.manifests.find("ConfigMap", "cfg")["metadata"]["namespace"] == "chaos-abc123"


def test_prepare_reads_hooks_from_steps_and_checks_later_revisions(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", _app())
    _write(tmp_path / "m.yaml", CM)
    (tmp_path / "v2").mkdir()
    _write(tmp_path / "v2" / "m.yaml", CM, JOB)
    (tmp_path / "steps.yaml").write_text(
        "hooks:\n  migrate: {outcome: fail, exit_code: 4}\nsteps:\n  - commit: v2\n"
    )
    p = prepare(tmp_path / "a.yaml", tmp_path / "m.yaml", steps_path=tmp_path / "steps.yaml")
    assert p.hook_plans == {"migrate": inputs.HookPlan("fail", 4, None)}
    rev = p.revisions[str((tmp_path / "v2").resolve())]
    assert rev.find("Job", "migrate")["spec"]["template"]["metadata"]["annotations"][stages.EXIT_CODE] == "4"
