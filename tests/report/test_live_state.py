"""Reading every kind of the app's objects (`harness._report.evidence.live_state`) from a fake API
served on loopback: discovery, namespaced lists, cluster-scoped reads by name, Secret values kept out."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from kubernetes import client
from testkit.http import reply_json, serving

from harness._report.evidence import live_state

NS = "chaos-x"
CORE = {
    "resources": [
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True, "verbs": ["get", "list"]},
        {"name": "secrets", "kind": "Secret", "namespaced": True, "verbs": ["get", "list"]},
        {"name": "namespaces", "kind": "Namespace", "namespaced": False, "verbs": ["get", "list"]},
        {"name": "namespaces/status", "kind": "Namespace", "namespaced": False, "verbs": ["get"]},
    ]
}
RBAC = {
    "resources": [
        {"name": "clusterroles", "kind": "ClusterRole", "namespaced": False, "verbs": ["get", "list"]},
        {"name": "roles", "kind": "Role", "namespaced": True, "verbs": ["get", "list"]},
    ]
}


def meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-11-30T21:00:00Z", **extra}


ROUTES: dict[str, Any] = {
    "/api/v1": CORE,
    "/apis/rbac.authorization.k8s.io/v1": RBAC,
    f"/api/v1/namespaces/{NS}/configmaps": {
        "items": [
            {"metadata": meta("kube-root-ca.crt", namespace=NS), "data": {"ca.crt": "x"}},
            {
                "metadata": meta(
                    "app-config",
                    namespace=NS,
                    labels={"team": "a"},
                    annotations={"argocd.argoproj.io/hook": "Skip"},
                    finalizers=["example.com/hold"],
                    ownerReferences=[{"kind": "Job", "name": "post-delete"}],
                ),
                "data": {"revision": "edited"},
            },
        ]
    },
    f"/api/v1/namespaces/{NS}/secrets": {
        "items": [{"metadata": meta("creds", namespace=NS), "data": {"password": "czNjcmV0"}}]
    },
    f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles": {
        "items": [
            {"metadata": meta("cleanup", namespace=NS, annotations={"argocd.argoproj.io/hook": "PostDelete"})}
        ]
    },
    f"/api/v1/namespaces/{NS}": {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": meta(NS, deletionTimestamp="2026-11-30T21:05:00Z"),
        "status": {"phase": "Terminating"},
    },
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/chaos-x-reader": {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": meta("chaos-x-reader", labels={"argocd-chaos.io/test-id": "x"}),
    },
}


class FakeAPI(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        path = self.path.split("?")[0]
        if path in ROUTES:
            reply_json(self, 200, ROUTES[path])
        else:
            reply_json(self, 404, {"kind": "Status", "code": 404, "reason": "NotFound"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass


@pytest.fixture
def api() -> Iterator[client.ApiClient]:
    with serving(FakeAPI) as url:
        cfg = client.Configuration()
        cfg.host = url
        api = client.ApiClient(cfg)
        try:
            yield api
        finally:
            api.close()


def test_every_kind_namespaced_and_cluster_scoped(api: client.ApiClient) -> None:
    live = live_state(
        api,
        NS,
        kinds=[
            ("v1", "ConfigMap"),
            ("v1", "Secret"),
            ("rbac.authorization.k8s.io/v1", "Role"),
            ("example.com/v1", "Widget"),  # a group the cluster does not serve: left out
        ],
        named=[
            ("v1", "Namespace", "", NS),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "chaos-x-reader"),
            ("rbac.authorization.k8s.io/v1", "ClusterRole", "", "gone"),
        ],
    )
    assert [(o.kind, o.name) for o in live.objects] == [
        ("ClusterRole", "chaos-x-reader"),
        ("ConfigMap", "app-config"),
        ("Namespace", NS),
        ("Role", "cleanup"),
        ("Secret", "creds"),
    ]
    cm = live.get("ConfigMap", "app-config")
    assert cm is not None
    assert (dict(cm.data), cm.keys, cm.hook) == ({"revision": "edited"}, ("revision",), "Skip")
    assert (dict(cm.labels), cm.finalizers, cm.owners) == (
        {"team": "a"},
        ("example.com/hold",),
        ("Job/post-delete",),
    )
    assert cm.api_version == "v1"
    ns = live.get("Namespace", NS)
    assert ns is not None
    assert (ns.phase, ns.deleting) == ("Terminating", True)
    secret = live.get("Secret", "creds")
    assert secret is not None
    assert (secret.keys, dict(secret.data)) == (("password",), {})
    assert "czNjcmV0" not in repr(live)
    assert [o.name for o in live.hooks("PostDelete")] == ["cleanup"]
