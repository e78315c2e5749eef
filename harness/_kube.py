"""Thin helpers over the official Kubernetes client for applying plain manifest dicts.

Seeding and fixtures deal in dicts read from YAML; server-side apply through the dynamic client
lets one code path create or update any kind without per-kind API classes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

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


@dataclass(frozen=True)
class ApiResource:
    """One kind an API group version serves: its plural path segment and its scope."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool


def _get(api: client.ApiClient, path: str) -> Obj:
    """GET one API path and decode the JSON; raises `ApiException` on a non-2xx answer.

    Works for any kind without the dynamic client's discovery cache file.
    """
    method, url, headers, _, _ = api.param_serialize(
        "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"]
    )
    resp = api.call_api(method, url, header_params=headers)
    resp.read()
    if not 200 <= resp.status < 300:
        raise ApiException(status=resp.status, reason=resp.reason)
    return cast(Obj, json.loads(resp.data or b"{}"))


def discover(api: client.ApiClient, api_version: str) -> dict[str, ApiResource]:
    """`kind -> ApiResource` for every listable top-level resource of one group version."""
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    out: dict[str, ApiResource] = {}
    for r in _get(api, path).get("resources") or []:
        if "/" in r.get("name", "") or "list" not in (r.get("verbs") or []):
            continue
        out[r["kind"]] = ApiResource(api_version, r["kind"], r["name"], bool(r.get("namespaced")))
    return out


def _path(res: ApiResource, namespace: str | None) -> str:
    base = "/api/v1" if res.api_version == "v1" else f"/apis/{res.api_version}"
    if res.namespaced and namespace:
        return f"{base}/namespaces/{namespace}/{res.plural}"
    return f"{base}/{res.plural}"


def list_objects(api: client.ApiClient, res: ApiResource, namespace: str | None = None) -> list[Obj]:
    """Every object of that resource (in `namespace` when it is namespaced), as plain dicts."""
    items = _get(api, _path(res, namespace)).get("items") or []
    for it in items:
        # Lists leave apiVersion and kind off their items.
        it.setdefault("apiVersion", res.api_version)
        it.setdefault("kind", res.kind)
    return list(items)


def get_object(
    api: client.ApiClient, res: ApiResource, name: str, namespace: str | None = None
) -> Obj | None:
    try:
        return _get(api, f"{_path(res, namespace)}/{name}")
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
