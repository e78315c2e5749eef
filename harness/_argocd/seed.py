"""The objects an embedded cluster needs before Argo CD's processes start.

Argo CD's workloads are replaced by local processes, so from the upstream install manifest only
the CRDs and the config objects are taken. The `default` AppProject is normally created by
argocd-server, which the embedded cluster does not run, so the harness creates it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ARGOCD_NAMESPACE = "argocd"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
MANAGED_BY = {"app.kubernetes.io/managed-by": "argocd-chaos"}

_CRDS = {"applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"}
_CONFIG_MAPS = {
    "argocd-cm",
    "argocd-cmd-params-cm",
    "argocd-rbac-cm",
    "argocd-gpg-keys-cm",
    "argocd-ssh-known-hosts-cm",
    "argocd-tls-certs-cm",
    "argocd-notifications-cm",
}
_SECRETS = {"argocd-secret"}

Obj = dict[str, Any]


def _docs(text: str) -> Iterator[Obj]:
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict) and doc.get("kind"):
            yield doc


def crds_from_install(install_yaml: Path) -> list[Obj]:
    return [
        d
        for d in _docs(install_yaml.read_text())
        if d["kind"] == "CustomResourceDefinition" and d["metadata"]["name"] in _CRDS
    ]


def config_from_install(install_yaml: Path, namespace: str = ARGOCD_NAMESPACE) -> list[Obj]:
    """ConfigMaps and the Secret, placed in the Argo CD namespace, keeping the part-of label."""
    out: list[Obj] = []
    for d in _docs(install_yaml.read_text()):
        name = d["metadata"]["name"]
        if (d["kind"] == "ConfigMap" and name in _CONFIG_MAPS) or (
            d["kind"] == "Secret" and name in _SECRETS
        ):
            d["metadata"]["namespace"] = namespace
            labels = d["metadata"].setdefault("labels", {})
            labels.update(PART_OF)  # without it Argo CD's settings informer cannot see the object
            out.append(d)
    return out


def namespace(name: str, labels: dict[str, str] | None = None) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**MANAGED_BY, **(labels or {})}},
    }


def default_project(namespace: str = ARGOCD_NAMESPACE) -> Obj:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "default", "namespace": namespace},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


def fake_node(name: str) -> Obj:
    """A Node that only KWOK manages; its status is filled in by the node-initialize stage."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                **MANAGED_BY,
            },
        },
        "spec": {},
    }


def stage_crd(path: Path) -> Obj:
    docs = list(_docs(path.read_text()))
    if len(docs) != 1 or docs[0]["kind"] != "CustomResourceDefinition":
        raise ValueError(f"{path} does not hold exactly one CustomResourceDefinition")
    return docs[0]
