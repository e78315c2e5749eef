from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._argocd import seed as _seed
from harness._argocd.seed import (
    config_from_install,
    crds_from_install,
    default_project,
    fake_node,
    stage_crd,
)


def _crd(name: str) -> str:
    group = name.split(".", 1)[1]
    plural = name.split(".", 1)[0]
    return f"""\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {name}
  labels:
    app.kubernetes.io/part-of: argocd
spec:
  group: {group}
  names:
    kind: Thing
    plural: {plural}
  scope: Namespaced
  versions: []
"""


def names(objs: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objs]


# Shaped like Argo CD's manifests/install.yaml: CRDs, config objects without a namespace, workloads.
INSTALL_YAML = "\n---\n".join(
    [
        "# This is an auto-generated file. DO NOT EDIT",
        _crd("applications.argoproj.io"),
        _crd("applicationsets.argoproj.io"),
        _crd("appprojects.argoproj.io"),
        _crd("widgets.example.com"),
        """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: argocd-application-controller
""",
        """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
""",
        """\
apiVersion: v1
kind: ConfigMap
metadata:
  labels:
    app.kubernetes.io/name: argocd-rbac-cm
    app.kubernetes.io/part-of: argocd
  name: argocd-rbac-cm
data:
  policy.default: role:readonly
""",
        """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cmd-params-cm
  namespace: somewhere-else
  labels:
    app.kubernetes.io/name: argocd-cmd-params-cm
""",
        """\
apiVersion: v1
kind: Secret
metadata:
  labels:
    app.kubernetes.io/name: argocd-secret
    app.kubernetes.io/part-of: argocd
  name: argocd-secret
type: Opaque
""",
        """\
apiVersion: v1
kind: Secret
metadata:
  name: argocd-redis
""",
        """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: unrelated-cm
""",
        """\
apiVersion: v1
kind: Service
metadata:
  name: argocd-repo-server
spec:
  ports:
  - port: 8081
""",
        """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: argocd-cm
spec:
  replicas: 1
""",
        "",
    ]
)


@pytest.fixture
def install_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "install.yaml"
    path.write_text(INSTALL_YAML)
    return path


def test_crds_from_install_takes_only_the_crds_the_controller_watches(install_yaml: Path) -> None:
    crds = crds_from_install(install_yaml)
    assert names(crds) == [
        "CustomResourceDefinition/applications.argoproj.io",
        "CustomResourceDefinition/appprojects.argoproj.io",
    ]
    assert crds[0]["spec"]["group"] == "argoproj.io"


def test_config_from_install_takes_config_maps_and_the_secret(install_yaml: Path) -> None:
    objs = config_from_install(install_yaml)

    assert names(objs) == [
        "ConfigMap/argocd-cm",
        "ConfigMap/argocd-rbac-cm",
        "ConfigMap/argocd-cmd-params-cm",
        "Secret/argocd-secret",
    ]
    for obj in objs:
        assert obj["metadata"]["namespace"] == "argocd"
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "argocd"


def test_config_from_install_adds_the_part_of_label_and_keeps_the_others(install_yaml: Path) -> None:
    by_name = {o["metadata"]["name"]: o for o in config_from_install(install_yaml)}

    assert by_name["argocd-cm"]["metadata"]["labels"] == {"app.kubernetes.io/part-of": "argocd"}
    assert by_name["argocd-cmd-params-cm"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": "argocd-cmd-params-cm",
        "app.kubernetes.io/part-of": "argocd",
    }
    assert by_name["argocd-rbac-cm"]["data"] == {"policy.default": "role:readonly"}
    assert by_name["argocd-secret"]["type"] == "Opaque"


def test_config_from_install_into_another_namespace(install_yaml: Path) -> None:
    objs = config_from_install(install_yaml, namespace="chaos-argocd")
    assert {o["metadata"]["namespace"] for o in objs} == {"chaos-argocd"}


def test_default_project_allows_everything() -> None:
    assert default_project() == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }
    assert default_project("other")["metadata"]["namespace"] == "other"


def test_fake_node_is_marked_for_kwok() -> None:
    node = fake_node("kwok-node-0")

    assert node["kind"] == "Node"
    assert node["apiVersion"] == "v1"
    assert node["metadata"]["name"] == "kwok-node-0"
    assert node["metadata"]["annotations"] == {
        "kwok.x-k8s.io/node": "fake",
        "node.alpha.kubernetes.io/ttl": "0",
    }
    assert node["metadata"]["labels"] == {
        "kubernetes.io/hostname": "kwok-node-0",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "app.kubernetes.io/managed-by": "argocd-chaos",
    }
    assert node["spec"] == {}


def test_fake_nodes_do_not_share_label_dicts() -> None:
    a, b = fake_node("a"), fake_node("b")
    a["metadata"]["labels"]["extra"] = "x"
    assert "extra" not in b["metadata"]["labels"]
    assert "extra" not in _seed.MANAGED_BY


def test_namespace_carries_the_managed_by_label() -> None:
    ns = _seed.namespace("argocd", {"team": "chaos"})
    assert ns == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "argocd",
            "labels": {"app.kubernetes.io/managed-by": "argocd-chaos", "team": "chaos"},
        },
    }


def test_stage_crd_reads_one_crd(tmp_path: Path) -> None:
    path = tmp_path / "stage.yaml"
    path.write_text("---\n" + _crd("stages.kwok.x-k8s.io"))
    assert stage_crd(path)["metadata"]["name"] == "stages.kwok.x-k8s.io"


def test_stage_crd_rejects_two_documents(tmp_path: Path) -> None:
    path = tmp_path / "stage.yaml"
    path.write_text(_crd("stages.kwok.x-k8s.io") + "---\n" + _crd("attaches.kwok.x-k8s.io"))
    with pytest.raises(ValueError, match="does not hold exactly one CustomResourceDefinition"):
        stage_crd(path)


def test_stage_crd_rejects_something_else(tmp_path: Path) -> None:
    path = tmp_path / "stage.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
    with pytest.raises(ValueError, match=f"{path} does not hold exactly one"):
        stage_crd(path)


def test_install_objects_are_kept_as_json_beside_the_manifest_and_reused(install_yaml: Path) -> None:
    first = _seed.install_objects(install_yaml)
    caches = list(install_yaml.parent.glob("install.yaml.seed-*.json"))
    assert len(caches) == 1

    # A changed copy proves the second call reads the JSON, not the manifest.
    data = json.loads(caches[0].read_text())
    data["config"][0]["data"] = {"from": "the json copy"}
    caches[0].write_text(json.dumps(data))
    second = _seed.install_objects(install_yaml)

    assert [c["metadata"]["name"] for c in second.crds] == [c["metadata"]["name"] for c in first.crds]
    assert second.config[0]["data"] == {"from": "the json copy"}


def test_a_changed_manifest_is_parsed_again(install_yaml: Path) -> None:
    _seed.install_objects(install_yaml)
    install_yaml.write_text(INSTALL_YAML.replace("role:readonly", "role:admin"))

    objs = _seed.install_objects(install_yaml)

    rbac = next(o for o in objs.config if o["metadata"]["name"] == "argocd-rbac-cm")
    assert rbac["data"] == {"policy.default": "role:admin"}
    assert len(list(install_yaml.parent.glob("install.yaml.seed-*.json"))) == 2


def test_an_unreadable_json_copy_is_replaced(install_yaml: Path) -> None:
    expected = _seed.install_objects(install_yaml)
    (cache,) = install_yaml.parent.glob("install.yaml.seed-*.json")
    cache.write_text("{not json")

    assert _seed.install_objects(install_yaml) == expected
    assert json.loads(cache.read_text())["format"] == _seed._CACHE_FORMAT


def test_place_config_leaves_the_given_objects_unchanged(install_yaml: Path) -> None:
    config = _seed.install_objects(install_yaml).config
    before = json.dumps(config, sort_keys=True)

    placed = _seed.place_config(config, "elsewhere")

    assert {o["metadata"]["namespace"] for o in placed} == {"elsewhere"}
    assert json.dumps(config, sort_keys=True) == before
