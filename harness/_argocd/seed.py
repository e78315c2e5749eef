"""The objects an embedded cluster needs before Argo CD's processes start.

Argo CD's workloads are replaced by local processes, so from the upstream install manifest only
the CRDs and the config objects are taken. The `default` AppProject is normally created by
argocd-server, which the embedded cluster does not run, so the harness creates it.

The install manifest is about 2 MB of YAML; PyYAML's pure-Python loader needs seconds for it, which
was most of a warm boot. It is therefore parsed with libyaml when PyYAML has it, only once, and the
few objects taken from it are kept as JSON next to the manifest, keyed by the manifest's SHA-256, so
later boots read a few hundred kB of JSON instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ARGOCD_NAMESPACE = "argocd"
PART_OF = {"app.kubernetes.io/part-of": "argocd"}
MANAGED_BY = {"app.kubernetes.io/managed-by": "argocd-chaos"}

#: The CRDs the application controller watches. The ApplicationSet CRD is left out: the embedded
#: cluster runs no applicationset-controller, nothing in the harness creates ApplicationSets, and
#: with its 0.4 MB schema it cost the API server about 2 s of a boot to establish.
_CRDS = {"applications.argoproj.io", "appprojects.argoproj.io"}
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


#: libyaml's loader is about five times faster than the pure-Python one on the install manifest.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Bumped when what is taken from the manifest changes, so that an old JSON copy is not reused.
_CACHE_FORMAT = 2


def _docs(text: str) -> Iterator[Obj]:
    for doc in yaml.load_all(text, Loader=_LOADER):  # noqa: S506 - a safe loader, C or Python
        if isinstance(doc, dict) and doc.get("kind"):
            yield doc


@dataclass(frozen=True)
class InstallObjects:
    """What the embedded cluster takes from Argo CD's `manifests/install.yaml`.

    `crds`: the CustomResourceDefinitions named in `_CRDS`, as in the manifest. `config`: the
    ConfigMaps and the Secret named in `_CONFIG_MAPS`/`_SECRETS`, without a namespace (the caller
    places them, see `config_from_install`).
    """

    crds: list[Obj]
    config: list[Obj]


def _pick(docs: Iterator[Obj]) -> InstallObjects:
    crds: list[Obj] = []
    config: list[Obj] = []
    for d in docs:
        kind, name = d["kind"], d["metadata"]["name"]
        if kind == "CustomResourceDefinition" and name in _CRDS:
            crds.append(d)
        elif (kind == "ConfigMap" and name in _CONFIG_MAPS) or (kind == "Secret" and name in _SECRETS):
            config.append(d)
    return InstallObjects(crds, config)


def install_objects(install_yaml: Path) -> InstallObjects:
    """The CRDs and config objects of the install manifest, parsed once per manifest content.

    The parsed objects are kept in `<manifest>.seed-<sha256 prefix>.json` beside the manifest (an
    unwritable directory only means no cache). Raises OSError if the manifest cannot be read and
    yaml.YAMLError if it is not YAML.
    """
    raw = install_yaml.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()[:16]
    cache = install_yaml.with_name(f"{install_yaml.name}.seed-{digest}.json")
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(cache.read_text())
        if data["format"] == _CACHE_FORMAT:
            return InstallObjects(list(data["crds"]), list(data["config"]))
    objs = _pick(_docs(raw.decode()))
    _write_atomically(cache, json.dumps({"format": _CACHE_FORMAT, "crds": objs.crds, "config": objs.config}))
    return objs


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and a rename, so that a concurrent boot never reads half a file."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def crds_from_install(install_yaml: Path) -> list[Obj]:
    return install_objects(install_yaml).crds


def config_from_install(install_yaml: Path, namespace: str = ARGOCD_NAMESPACE) -> list[Obj]:
    """ConfigMaps and the Secret, placed in the Argo CD namespace, keeping the part-of label."""
    return place_config(install_objects(install_yaml).config, namespace)


def place_config(config: list[Obj], namespace: str = ARGOCD_NAMESPACE) -> list[Obj]:
    """Copies of the config objects, in `namespace`, with Argo CD's part-of label added."""
    out: list[Obj] = []
    for d in json.loads(json.dumps(config)):  # a deep copy: the caller's objects stay as they were
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
