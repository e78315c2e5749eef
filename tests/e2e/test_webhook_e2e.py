"""The harness's mutating webhook against the embedded cluster's real kube-apiserver.

Every test works in its own namespace with a uniquely named configuration, so it cannot disturb other
tests sharing the cluster: the webhook's namespace selector matches that one namespace only.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._chaos.webhook import MutatingWebhook
from harness._cluster.provider import ClusterHandle
from harness._wait import Expectation, Outcome, expect, met, pending

pytestmark = pytest.mark.cluster

INJECTED = {"injected": "by-webhook"}


def inject(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Add data.injected to every ConfigMap, the way a policy webhook adds a default."""
    if not obj.get("data"):
        return [{"op": "add", "path": "/data", "value": dict(INJECTED)}]
    return [{"op": "add", "path": "/data/injected", "value": INJECTED["injected"]}]


@pytest.fixture
def api(chaos_cluster: ClusterHandle) -> client.ApiClient:
    return chaos_cluster.api_client()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    name = f"webhook-e2e-{uuid.uuid4().hex[:8]}"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/managed-by": "argocd-chaos"})
        )
    )
    # The controller-manager writes kube-root-ca.crt into every new namespace, a ConfigMap create the
    # webhook would intercept if it landed after start(); wait for it, so every call a test sees is its own.
    expect(Expectation(f"namespace {name} has its kube-root-ca.crt", lambda: _has_root_ca(core, name)))
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def _has_root_ca(core: client.CoreV1Api, namespace: str) -> Outcome:
    try:
        core.read_namespaced_config_map("kube-root-ca.crt", namespace)
    except ApiException as exc:
        if exc.status == 404:
            return pending("not published yet")
        raise
    return met("published")


def _webhook(api: client.ApiClient, namespace: str, tmp_path: Path, **kwargs: Any) -> MutatingWebhook:
    return MutatingWebhook(
        api,
        name=f"argocd-chaos-e2e-{uuid.uuid4().hex[:8]}",
        namespace=namespace,
        mutate=inject,
        state_dir=tmp_path,
        **kwargs,
    )


def _config_exists(api: client.ApiClient, name: str) -> bool:
    try:
        client.AdmissionregistrationV1Api(api).read_mutating_webhook_configuration(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _configmap(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data=data)


def test_webhook_injects_on_create_and_update_and_stop_removes_it(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    with _webhook(api, namespace, tmp_path) as wh:
        assert _config_exists(api, wh.name)

        created = core.create_namespaced_config_map(namespace, _configmap("target", a="1"))
        assert created.data == {"a": "1", **INJECTED}
        assert [(c.operation, c.kind, c.namespace, c.name, c.patched, c.dry_run) for c in wh.calls] == [
            ("CREATE", "ConfigMap", namespace, "target", True, False)
        ]

        updated = core.patch_namespaced_config_map("target", namespace, {"data": {"a": "2"}})
        assert updated.data == {"a": "2", **INJECTED}

        # The drift-loop mechanism: a writer removing the injected key gets it straight back.
        reverted = core.patch_namespaced_config_map(
            "target", namespace, [{"op": "remove", "path": "/data/injected"}]
        )
        assert reverted.data == {"a": "2", **INJECTED}
        # Remove-then-reinject nets out to no change, so the API server stores no new revision.
        assert reverted.metadata is not None
        assert updated.metadata is not None
        assert reverted.metadata.resource_version == updated.metadata.resource_version

        assert [(c.operation, c.name, c.patched) for c in wh.calls] == [
            ("CREATE", "target", True),
            ("UPDATE", "target", True),
            ("UPDATE", "target", True),
        ]
        # The real server answered every call; the probe's own call is not among them.
        assert all(c.error is None for c in wh.calls)
        calls_while_running = wh.calls

    assert not _config_exists(api, wh.name)
    after = core.create_namespaced_config_map(namespace, _configmap("after-stop", a="1"))
    assert after.data == {"a": "1"}
    assert wh.calls == calls_while_running
    assert not (tmp_path / f"webhook-{wh.name}").exists()


def test_unreachable_webhook_with_fail_policy_rejects_writes_until_stopped(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    wh = _webhook(api, namespace, tmp_path, failure_policy="Fail").start()
    try:
        url = wh.url
        wh.stop_server()  # the webhook "crashes"; its configuration stays registered

        with pytest.raises(ApiException) as info:
            core.create_namespaced_config_map(namespace, _configmap("during-outage", a="1"))

        assert info.value.body is not None
        message = json.loads(info.value.body)["message"]
        assert info.value.status == 500
        assert f'failed calling webhook "{wh.webhook_name}"' in message
        assert url in message
        assert "connection refused" in message
        assert wh.calls == []
    finally:
        wh.stop()

    assert not _config_exists(api, wh.name)
    written = core.create_namespaced_config_map(namespace, _configmap("after-outage", a="1"))
    assert written.data == {"a": "1"}


def test_unreachable_webhook_with_ignore_policy_admits_writes_unmutated(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    with _webhook(api, namespace, tmp_path, failure_policy="Ignore") as wh:
        wh.stop_server()

        written = core.create_namespaced_config_map(namespace, _configmap("during-outage", a="1"))

        assert written.data == {"a": "1"}
        assert wh.calls == []
    assert not _config_exists(api, wh.name)


def test_context_manager_removes_the_configuration_when_the_body_raises(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    names: list[str] = []

    def body() -> None:
        with _webhook(api, namespace, tmp_path) as wh:
            names.append(wh.name)
            assert _config_exists(api, wh.name)
            raise RuntimeError("the scenario failed")

    with pytest.raises(RuntimeError, match="the scenario failed"):
        body()

    assert not _config_exists(api, names[0])
    written = core.create_namespaced_config_map(namespace, _configmap("after-failure", a="1"))
    assert written.data == {"a": "1"}


def test_webhook_sees_dry_run_requests(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    with _webhook(api, namespace, tmp_path) as wh:
        dry = core.create_namespaced_config_map(namespace, _configmap("dry", a="1"), dry_run="All")

        assert dry.data == {"a": "1", **INJECTED}
        assert [(c.operation, c.name, c.dry_run) for c in wh.calls] == [("CREATE", "dry", True)]
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("dry", namespace)
    assert info.value.status == 404


def test_webhook_only_touches_its_namespace(
    api: client.ApiClient, core: client.CoreV1Api, namespace: str, tmp_path: Path
) -> None:
    other = f"webhook-e2e-other-{uuid.uuid4().hex[:8]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    try:
        with _webhook(api, namespace, tmp_path) as wh:
            elsewhere = core.create_namespaced_config_map(other, _configmap("elsewhere", a="1"))

            assert elsewhere.data == {"a": "1"}
            assert wh.calls == []
    finally:
        core.delete_namespace(other)
