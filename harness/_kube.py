"""Thin helpers over the official Kubernetes client for applying plain manifest dicts.

Seeding and fixtures deal in dicts read from YAML; server-side apply through the dynamic client
lets one code path create or update any kind without per-kind API classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException

FIELD_MANAGER = "argocd-chaos"

Obj = dict[str, Any]


def api_client(kubeconfig: Path, context: str | None = None) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig), context=context)


def dynamic_client(api: client.ApiClient, cache_file: Path) -> dynamic.DynamicClient:
    """A dynamic client whose discovery cache lives where we say, not in a shared /tmp file.

    The library's default cache file in the system temp dir would outlive the cluster and could
    be read back by a later cluster that reuses the same port.
    """
    return dynamic.DynamicClient(api, cache_file=str(cache_file))


def resource(dyn: dynamic.DynamicClient, api_version: str, kind: str) -> Any:
    return dyn.resources.get(api_version=api_version, kind=kind)


def apply(dyn: dynamic.DynamicClient, obj: Mapping[str, Any], *, force: bool = True) -> Any:
    """Server-side apply one object, as `kubectl apply --server-side --force-conflicts` would."""
    res = resource(dyn, obj["apiVersion"], obj["kind"])
    meta = obj.get("metadata", {})
    kwargs: dict[str, Any] = {"body": dict(obj), "field_manager": FIELD_MANAGER, "force_conflicts": force}
    if res.namespaced:
        kwargs["namespace"] = meta.get("namespace", "default")
    return res.server_side_apply(**kwargs)


def apply_all(dyn: dynamic.DynamicClient, objs: Iterable[Mapping[str, Any]]) -> list[Any]:
    return [apply(dyn, o) for o in objs]


def get_or_none(
    dyn: dynamic.DynamicClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> Any | None:
    try:
        return resource(dyn, api_version, kind).get(name=name, namespace=namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
