"""`crds_served` against a fake API server: the Kubernetes client runs for real, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.http import reply_json, serving

from harness._cluster.embedded.cluster import crds_served
from harness._kube import api_client

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"


def crd(name: str, versions: list[tuple[str, bool]]) -> dict[str, Any]:
    plural, group = name.split(".", 1)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": name},
        "spec": {
            "group": group,
            "names": {"plural": plural, "kind": plural.title()},
            "versions": [{"name": v, "served": served} for v, served in versions],
        },
    }


def established(obj: dict[str, Any], status: str = "True") -> dict[str, Any]:
    conditions = [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": status}]
    return {**obj, "status": {"conditions": conditions}}


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    routes: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = routes.get(self.path)
            if body is None:
                not_found = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404}
                reply_json(self, 404, not_found)
            else:
                reply_json(self, 200, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        kc = tmp_path / "kubeconfig"
        kc.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "c", "cluster": {"server": url}}],
                    "users": [{"name": "c", "user": {"token": "t"}}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "c"}}],
                    "current-context": "c",
                }
            )
        )
        yield routes, kc


def resource_list(group_version: str, *plurals: str) -> dict[str, Any]:
    """An APIResourceList as the API server's discovery returns it."""
    resources = [
        {"name": p, "singularName": p[:-1], "namespaced": True, "kind": p[:-1].title(), "verbs": ["get"]}
        for p in plurals
    ]
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


APPS = crd("applications.argoproj.io", [("v1alpha1", True)])
STAGES = crd("stages.kwok.x-k8s.io", [("v1alpha1", True), ("v1alpha0", False)])


def test_met_when_established_and_listed_in_discovery(fake: tuple[dict[str, Any], Path]) -> None:
    routes, kc = fake
    routes[CRDS + "applications.argoproj.io"] = established(APPS)
    routes[CRDS + "stages.kwok.x-k8s.io"] = established(STAGES)
    routes["/apis/argoproj.io/v1alpha1"] = resource_list(
        "argoproj.io/v1alpha1", "applications", "appprojects"
    )
    routes["/apis/kwok.x-k8s.io/v1alpha1"] = resource_list("kwok.x-k8s.io/v1alpha1", "stages")
    api = api_client(kc)
    try:
        outcome = crds_served(api, [APPS, STAGES])
    finally:
        api.close()
    assert outcome.is_met, outcome.message
    assert outcome.message == "all Established and served"


def test_pending_while_not_established(fake: tuple[dict[str, Any], Path]) -> None:
    routes, kc = fake
    routes[CRDS + "applications.argoproj.io"] = established(APPS, status="False")
    api = api_client(kc)
    try:
        outcome = crds_served(api, [APPS])
    finally:
        api.close()
    assert outcome.is_pending
    assert outcome.message == "applications.argoproj.io not Established"


def test_pending_while_discovery_does_not_list_the_kind_yet(fake: tuple[dict[str, Any], Path]) -> None:
    # Established is set before the discovery controller has caught up: the kind is not served yet.
    routes, kc = fake
    routes[CRDS + "applications.argoproj.io"] = established(APPS)
    routes["/apis/argoproj.io/v1alpha1"] = resource_list("argoproj.io/v1alpha1", "appprojects")
    api = api_client(kc)
    try:
        outcome = crds_served(api, [APPS])
    finally:
        api.close()
    assert outcome.is_pending
    assert outcome.message == "applications not yet in /apis/argoproj.io/v1alpha1"


def test_a_crd_not_created_yet_raises_for_the_wait_to_retry(fake: tuple[dict[str, Any], Path]) -> None:
    # `expect` counts a raising check as "not yet"; the message then quotes the 404.
    _routes, kc = fake
    api = api_client(kc)
    try:
        with pytest.raises(Exception, match="404"):
            crds_served(api, [APPS])
    finally:
        api.close()
