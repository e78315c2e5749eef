"""Outcome switches and drift injection (`harness._chaos.controls`), offline.

The Kubernetes API classes are replaced by fakes that record each call and answer as the API server
would (an object, or an `ApiException` with its status and JSON body); everything above that
boundary is the real harness code.
"""

from __future__ import annotations

import json
import time
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._chaos.controls import ChaosError, DriftInjector, OutcomeSwitch
from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._kube import FIELD_MANAGER

# The fakes never use the ApiClient; any object stands in for one.
API = cast(client.ApiClient, object())


def api_error(status: int, reason: str, message: str) -> ApiException:
    body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status})
    return ApiException(status=status, reason=reason, body=body)


NO_STAGE_CRD = api_error(404, "Not Found", "the server could not find the requested resource")


class FakeCustomObjects:
    """Records patch/delete calls on cluster-scoped custom objects; raises `error` when set."""

    def __init__(self, api: object = None) -> None:
        self.patches: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        self.deletes: list[tuple[Any, ...]] = []
        self.error: ApiException | None = None

    def patch_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.patches.append((args, kwargs))
        return dict(args[4])

    def delete_cluster_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.deletes.append(args)
        return {"kind": "Status", "status": "Success"}


@pytest.fixture
def custom_objects(monkeypatch: pytest.MonkeyPatch) -> FakeCustomObjects:
    fake = FakeCustomObjects()
    monkeypatch.setattr(client, "CustomObjectsApi", lambda api=None: fake)
    return fake


# --------------------------------------------------------------------------------------------------
# OutcomeSwitch


@pytest.mark.parametrize("bad", ["Upper", "has_underscore", "-leading", "trailing-", "", "x" * 52])
def test_invalid_switch_name_is_a_config_error_at_construction(
    custom_objects: FakeCustomObjects, bad: str
) -> None:
    with pytest.raises(ConfigError) as info:
        OutcomeSwitch(API, bad)

    assert repr(bad) in str(info.value)
    assert custom_objects.patches == []


def test_longest_valid_switch_name_is_accepted(custom_objects: FakeCustomObjects) -> None:
    sw = OutcomeSwitch(API, "x" * 51)

    assert sw.pod_annotations == {stages.SWITCH: "x" * 51}


def test_pod_annotations_name_the_switch(custom_objects: FakeCustomObjects) -> None:
    sw = OutcomeSwitch(API, "presync-ab12cd")

    assert sw.pod_annotations == {"chaos.argocd-chaos.io/switch": "presync-ab12cd"}


def test_set_server_side_applies_the_switch_stage_and_records_history(
    custom_objects: FakeCustomObjects,
) -> None:
    sw = OutcomeSwitch(API, "hook-ab12cd")
    before = time.time()

    sw.set(exit_code=3, duration="2s")

    expected = stages.switch_stages("hook-ab12cd", exit_code=3, duration="2s")
    assert len(expected) == 1
    [(args, kwargs)] = custom_objects.patches
    assert args == (
        "kwok.x-k8s.io",
        "v1alpha1",
        "stages",
        "switch-hook-ab12cd-exit",
        expected[0],
    )
    assert kwargs == {
        "field_manager": FIELD_MANAGER,
        "force": True,
        "_content_type": "application/apply-patch+yaml",
    }
    [(at, code, duration)] = sw.history
    assert before <= at <= time.time()
    assert (code, duration) == (3, "2s")


def test_flipping_a_switch_replaces_the_same_stage_and_keeps_every_setting(
    custom_objects: FakeCustomObjects,
) -> None:
    sw = OutcomeSwitch(API, "hook-ab12cd")

    sw.set(exit_code=1)
    sw.set(exit_code=0)

    names = [args[3] for args, _ in custom_objects.patches]
    assert names == ["switch-hook-ab12cd-exit", "switch-hook-ab12cd-exit"]
    assert [args[4] for args, _ in custom_objects.patches] == [
        stages.switch_stages("hook-ab12cd", exit_code=1, duration=None)[0],
        stages.switch_stages("hook-ab12cd", exit_code=0, duration=None)[0],
    ]
    assert [(code, duration) for _, code, duration in sw.history] == [(1, None), (0, None)]
    assert sw.history[0][0] <= sw.history[1][0]


def test_set_with_an_invalid_exit_code_sends_nothing(custom_objects: FakeCustomObjects) -> None:
    sw = OutcomeSwitch(API, "hook-ab12cd")

    with pytest.raises(ConfigError, match="256"):
        sw.set(exit_code=256)

    assert custom_objects.patches == []
    assert sw.history == []


def test_set_without_a_stage_crd_names_the_switch_and_the_missing_crd(
    custom_objects: FakeCustomObjects,
) -> None:
    sw = OutcomeSwitch(API, "hook-ab12cd")
    custom_objects.error = NO_STAGE_CRD

    with pytest.raises(ChaosError) as info:
        sw.set(exit_code=1)

    text = str(info.value)
    assert "hook-ab12cd" in text
    assert "404" in text
    assert "Stage CRD" in text
    assert "embedded cluster" in text
    assert sw.history == []


def test_set_passes_other_api_errors_through(custom_objects: FakeCustomObjects) -> None:
    sw = OutcomeSwitch(API, "hook-ab12cd")
    custom_objects.error = api_error(500, "Internal Server Error", "etcdserver: request timed out")

    with pytest.raises(ApiException) as info:
        sw.set(exit_code=1)

    assert info.value.status == 500
    assert sw.history == []


def test_remove_deletes_the_switch_stage(custom_objects: FakeCustomObjects) -> None:
    OutcomeSwitch(API, "hook-ab12cd").remove()

    assert custom_objects.deletes == [("kwok.x-k8s.io", "v1alpha1", "stages", "switch-hook-ab12cd-exit")]


def test_remove_of_a_stage_that_is_gone_is_quiet(custom_objects: FakeCustomObjects) -> None:
    gone = 'stages.kwok.x-k8s.io "switch-hook-ab12cd-exit" not found'
    custom_objects.error = api_error(404, "Not Found", gone)

    OutcomeSwitch(API, "hook-ab12cd").remove()


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (500, "Internal Server Error")])
def test_remove_re_raises_other_api_errors(
    custom_objects: FakeCustomObjects, status: int, reason: str
) -> None:
    custom_objects.error = api_error(status, reason, "no")

    with pytest.raises(ApiException) as info:
        OutcomeSwitch(API, "hook-ab12cd").remove()

    assert info.value.status == status


# --------------------------------------------------------------------------------------------------
# DriftInjector


class FakeCoreV1:
    """Merge-patches ConfigMaps in an in-memory store; a missing one answers 404 like the API server."""

    def __init__(self) -> None:
        self.config_maps: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []

    def patch_namespaced_config_map(
        self, name: str, namespace: str, body: dict[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        self.calls.append((name, namespace, body, kwargs))
        live = self.config_maps.get((namespace, name))
        if live is None:
            raise api_error(404, "Not Found", f'configmaps "{name}" not found')
        live.setdefault("data", {}).update(body.get("data", {}))
        return live


@pytest.fixture
def core(monkeypatch: pytest.MonkeyPatch) -> FakeCoreV1:
    fake = FakeCoreV1()
    monkeypatch.setattr(client, "CoreV1Api", lambda api=None: fake)
    return fake


def test_drift_patches_the_live_config_map_and_records_when(core: FakeCoreV1) -> None:
    core.config_maps[("chaos-ab12cd", "x")] = {"data": {"revision": "1"}}
    drift = DriftInjector(API, "chaos-ab12cd")
    before = time.time()

    at = drift.set_data("x", revision="drifted")

    assert before <= at <= time.time()
    assert drift.injections == [(at, "ConfigMap/x", {"data": {"revision": "drifted"}})]
    assert core.config_maps[("chaos-ab12cd", "x")] == {"data": {"revision": "drifted"}}
    [(name, namespace, body, kwargs)] = core.calls
    assert (name, namespace, body) == ("x", "chaos-ab12cd", {"data": {"revision": "drifted"}})
    assert kwargs == {"field_manager": "kubectl-edit"}


def test_drift_on_a_missing_object_names_it_and_the_http_status(core: FakeCoreV1) -> None:
    drift = DriftInjector(API, "chaos-ab12cd")

    with pytest.raises(ChaosError) as info:
        drift.patch("ConfigMap", "absent", {"data": {"k": "v"}})

    text = str(info.value)
    assert "ConfigMap/absent" in text
    assert "'chaos-ab12cd'" in text
    assert "HTTP 404" in text
    assert 'configmaps "absent" not found' in text
    assert drift.injections == []


def test_drift_error_without_a_json_body_falls_back_to_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenApps:
        def patch_namespaced_deployment(self, *args: Any, **kwargs: Any) -> None:
            raise ApiException(status=503, reason="Service Unavailable", body="upstream connect error")

    monkeypatch.setattr(client, "AppsV1Api", lambda api=None: BrokenApps())
    drift = DriftInjector(API, "chaos-ab12cd")

    with pytest.raises(ChaosError, match=r"Deployment/web .*HTTP 503: Service Unavailable"):
        drift.patch("Deployment", "web", {"spec": {"replicas": 3}})

    assert drift.injections == []


def test_drift_on_an_unsupported_kind_lists_the_supported_ones(core: FakeCoreV1) -> None:
    drift = DriftInjector(API, "chaos-ab12cd")

    with pytest.raises(ChaosError) as info:
        drift.patch("Secret", "creds", {"data": {}})

    text = str(info.value)
    assert "Secret" in text
    assert "ConfigMap" in text
    assert "Deployment" in text
    assert core.calls == []
    assert drift.injections == []


class FakeCore:
    """Records ConfigMap applies and deletes for the real-cluster switch."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        self.deleted: list[tuple[str, str]] = []
        self.delete_error: ApiException | None = None

    def patch_namespaced_config_map(self, name: str, namespace: str, body: dict[str, Any], **kw: Any) -> Any:
        self.applied.append((name, namespace, body, kw))
        return body

    def delete_namespaced_config_map(self, name: str, namespace: str, **kw: Any) -> Any:
        if self.delete_error is not None:
            raise self.delete_error
        self.deleted.append((name, namespace))
        return {}


def test_real_cluster_switch_is_a_configmap_in_the_hook_namespace(
    monkeypatch: pytest.MonkeyPatch, custom_objects: FakeCustomObjects
) -> None:
    core = FakeCore()
    monkeypatch.setattr(client, "CoreV1Api", lambda api=None: core)
    sw = OutcomeSwitch(API, "flaky", real_pods_namespace="chaos-abc123")

    sw.set(exit_code=1)
    sw.set(exit_code=0, duration="2s")
    sw.remove()

    assert custom_objects.patches == []  # no KWOK Stage on a real cluster
    assert [(n, ns, b["data"]) for n, ns, b, _ in core.applied] == [
        ("argocd-chaos-switch-flaky", "chaos-abc123", {"exit-code": "1", "duration-seconds": "0"}),
        ("argocd-chaos-switch-flaky", "chaos-abc123", {"exit-code": "0", "duration-seconds": "2"}),
    ]
    assert all(kw["field_manager"] == FIELD_MANAGER and kw["force"] for *_, kw in core.applied)
    assert core.deleted == [("argocd-chaos-switch-flaky", "chaos-abc123")]
    assert [code for _, code, _ in sw.history] == [1, 0]


def test_real_cluster_switch_remove_ignores_a_missing_configmap(monkeypatch: pytest.MonkeyPatch) -> None:
    core = FakeCore()
    core.delete_error = api_error(404, "Not Found", "configmaps not found")
    monkeypatch.setattr(client, "CoreV1Api", lambda api=None: core)

    OutcomeSwitch(API, "gone", real_pods_namespace="ns").remove()

    assert core.deleted == []
