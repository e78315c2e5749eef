"""The driver's writes against a fake API on loopback: a sync clears the previous operation state
and is guarded by the resourceVersion it read, terminate and delete set what argocd-server sets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from kubernetes import client
from testkit.http import reply_json, serving

from harness._argocd.driver import (
    CASCADE_FINALIZERS,
    RESOURCES_FINALIZER,
    AppSpec,
    ArgoCD,
    OperationInProgress,
)
from harness._errors import HarnessError

PATH = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/chaos-x"


class Store:
    app: dict[str, Any] = {}
    patches: list[dict[str, Any]] = []
    deletes: int = 0


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = v


class FakeAPI(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
        reply_json(self, 200, Store.app)

    def do_PATCH(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Store.patches.append(body)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != Store.app["metadata"]["resourceVersion"]:
            reply_json(self, 409, {"kind": "Status", "code": 409, "reason": "Conflict"})
            return
        merge(Store.app, body)
        Store.app["metadata"]["resourceVersion"] = str(int(Store.app["metadata"]["resourceVersion"]) + 1)
        reply_json(self, 200, Store.app)

    def do_DELETE(self) -> None:  # noqa: N802
        Store.deletes += 1
        reply_json(self, 200, {"kind": "Status", "status": "Success"})

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet server
        pass


@pytest.fixture
def argocd() -> Iterator[ArgoCD]:
    Store.app = AppSpec(name="chaos-x", repo_url="file:///r", dest_namespace="chaos-x").to_manifest()
    Store.app["metadata"]["resourceVersion"] = "7"
    Store.app["status"] = {"operationState": {"phase": "Succeeded", "startedAt": "2026-11-30T21:50:07Z"}}
    Store.patches, Store.deletes = [], 0
    with serving(FakeAPI) as url:
        cfg = client.Configuration()
        cfg.host = url
        api = client.ApiClient(cfg)
        try:
            yield ArgoCD(api)
        finally:
            api.close()


def test_a_sync_clears_the_previous_state_guarded_by_the_version_read(argocd: ArgoCD) -> None:
    request_id = argocd.sync("chaos-x", revision="abc")
    patch = Store.patches[-1]
    assert patch["metadata"] == {"resourceVersion": "7"}
    assert patch["status"] == {"operationState": None}
    assert patch["operation"]["info"] == [{"name": "argocd-chaos-request", "value": request_id}]
    assert "operationState" not in Store.app["status"]
    with pytest.raises(OperationInProgress, match="already has an operation"):
        argocd.sync("chaos-x")


def test_terminate_sets_the_phase_and_refuses_without_an_operation(argocd: ArgoCD) -> None:
    with pytest.raises(HarnessError, match="no operation in progress"):
        argocd.terminate("chaos-x")
    Store.app["operation"] = {"sync": {}}
    Store.app["status"]["operationState"]["phase"] = "Running"
    argocd.terminate("chaos-x")
    assert Store.app["status"]["operationState"]["phase"] == "Terminating"


def test_delete_with_a_cascade_sets_the_finalizers_first(argocd: ArgoCD) -> None:
    argocd.delete("chaos-x", cascade="background")
    assert Store.app["metadata"]["finalizers"] == [RESOURCES_FINALIZER, CASCADE_FINALIZERS["background"]]
    argocd.delete("chaos-x", cascade="orphan")
    assert Store.app["metadata"]["finalizers"] == []
    assert Store.deletes == 2
