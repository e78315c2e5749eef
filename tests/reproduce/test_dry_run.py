"""The server-side dry run of the manifests, with the API server faked at the HTTP boundary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client

from harness._reproduce.run import dry_run
from harness._scenario.fixtures import FixtureApp


@dataclass
class _Response:
    status: int
    data: bytes
    reason: str = ""

    def read(self) -> bytes:
        return self.data


class _FakeServer(client.ApiClient):
    """Answers discovery and dry-run POSTs the way kube-apiserver does; records the requests."""

    def __init__(self) -> None:
        super().__init__(client.Configuration(host="https://127.0.0.1:6443"))
        self.posts: list[tuple[str, dict[str, list[str]], dict[str, Any]]] = []

    def call_api(self, method: str, url: str, header_params: Any = None, body: Any = None, **_: Any) -> Any:
        parsed = urlparse(url)
        if method == "GET" and parsed.path == "/apis/apps/v1":
            resources = [{"name": "deployments", "kind": "Deployment", "namespaced": True, "verbs": ["list"]}]
            return _Response(200, json.dumps({"resources": resources}).encode())
        if method == "GET" and parsed.path == "/api/v1":
            resources = [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True, "verbs": ["list"]}]
            return _Response(200, json.dumps({"resources": resources}).encode())
        if method == "GET":
            return _Response(404, b"{}", "Not Found")
        sent = body if isinstance(body, dict) else json.loads(body)
        self.posts.append((parsed.path, parse_qs(parsed.query), sent))
        if sent["kind"] == "Deployment":
            message = 'Deployment.apps "web" is invalid: spec.selector: Required value'
            return _Response(422, json.dumps({"message": message}).encode(), "Unprocessable Entity")
        return _Response(201, b"{}")


def test_rejections_and_unknown_kinds_are_reported_by_object() -> None:
    api = _FakeServer()
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "elsewhere"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "sm"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "names": {"kind": "Widget"}},
        },
    ]
    problems = dry_run(api, [FixtureApp("m", docs[:4])], "chaos-abc123")
    assert problems == [
        'Deployment/web: Deployment.apps "web" is invalid: spec.selector: Required value',
        "ServiceMonitor/sm: the API server does not serve ServiceMonitor in monitoring.coreos.com/v1",
        "Widget/w: the API server does not serve Widget in example.com/v1",
    ]
    # Every object goes to the replay's namespace, as a dry run only.
    (cm_path, cm_query, cm_body), _ = api.posts
    assert cm_path == "/api/v1/namespaces/chaos-abc123/configmaps"
    assert cm_query == {"dryRun": ["All"]}
    assert cm_body["metadata"]["namespace"] == "chaos-abc123"
    # A kind whose CRD comes with the manifests exists only once Argo CD applied it: not asked.
    api = _FakeServer()
    assert dry_run(api, [FixtureApp("m", [docs[3], docs[4]])], "ns") == [
        "CustomResourceDefinition/widgets.example.com: the API server does not serve "
        "CustomResourceDefinition in apiextensions.k8s.io/v1"
    ]
