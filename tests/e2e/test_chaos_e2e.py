"""Chaos controls on the embedded cluster: outcome switches and drift, through the real API.

A switch decides how real Job pods end, its fixture removes it even after a failing test, and drift
on an object that is not there says so. Run against a running cluster with `--cluster-name <name>`;
the session reuses it and leaves it running.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._chaos.controls import ChaosError, DriftInjector, OutcomeSwitch
from harness._cluster.embedded import kwok_stages as stages
from harness._cluster.provider import ClusterHandle
from harness._scenario.app import AppUnderTest
from harness._wait import Expectation, Outcome, expect

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.cluster


@pytest.fixture
def api(chaos_cluster: ClusterHandle) -> Iterator[client.ApiClient]:
    a = chaos_cluster.api_client()
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    """A fresh namespace whose `default` ServiceAccount exists (pods cannot be created before)."""
    core = client.CoreV1Api(api)
    name = f"chaos-switch-{uuid.uuid4().hex[:6]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:

        def default_sa() -> Outcome:
            names = [sa.metadata.name for sa in core.list_namespaced_service_account(name).items]
            return Outcome.simple("default" in names, f"service accounts in {name}: {names}")

        expect(Expectation(f"ServiceAccount default exists in {name}", default_sa), timeout=60)
        yield name
    finally:
        core.delete_namespace(name, propagation_policy="Background")


def _create_job(api: client.ApiClient, namespace: str, name: str, annotations: dict[str, str]) -> None:
    body: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "hook", "image": "busybox:1.36", "command": ["true"]}],
                },
            },
        },
    }
    client.BatchV1Api(api).create_namespaced_job(namespace, body)


def _job_ends(
    api: client.ApiClient, namespace: str, name: str, condition: str, exit_code: int
) -> Expectation:
    """Job `name` has condition `condition` and its one pod's container exited with `exit_code`."""
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    other = "Complete" if condition == "Failed" else "Failed"

    def check() -> Outcome:
        job = batch.read_namespaced_job(name, namespace)
        conds = {c.type: c.status for c in (job.status.conditions or [])}
        selector = f"batch.kubernetes.io/job-name={name}"
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        codes = [
            cs.state.terminated.exit_code if cs.state and cs.state.terminated else None
            for p in pods
            for cs in (p.status.container_statuses or [])
        ]
        seen = f"job conditions {conds}, pod phases {[p.status.phase for p in pods]}, exit codes {codes}"
        if conds.get(other) == "True":
            return Outcome.failed(seen)
        return Outcome.simple(conds.get(condition) == "True" and codes == [exit_code], seen)

    return Expectation(f"Job {namespace}/{name} is {condition} with exit code {exit_code}", check)


def test_outcome_switch_decides_how_job_pods_end(
    api: client.ApiClient, namespace: str, outcome_switch: Callable[[str], OutcomeSwitch]
) -> None:
    sw = outcome_switch("e2e")
    sw.set(exit_code=3)

    _create_job(api, namespace, "run-1", sw.pod_annotations)
    expect(_job_ends(api, namespace, "run-1", "Failed", 3), timeout=90)

    sw.set(exit_code=0)
    _create_job(api, namespace, "run-2", sw.pod_annotations)
    expect(_job_ends(api, namespace, "run-2", "Complete", 0), timeout=90)

    assert [(code, duration) for _, code, duration in sw.history] == [(3, None), (0, None)]


INNER_TEST = """
from pathlib import Path

from kubernetes import client


def test_sets_a_switch_then_fails(outcome_switch, chaos_cluster):
    sw = outcome_switch("{prefix}")
    sw.set(exit_code=2)
    api = chaos_cluster.api_client()
    try:
        stage = client.CustomObjectsApi(api).get_cluster_custom_object(
            "kwok.x-k8s.io", "v1alpha1", "stages", "switch-" + sw.name + "-exit"
        )
    finally:
        api.close()
    Path("stage-name.txt").write_text(stage["metadata"]["name"])
    assert False, "failing on purpose, after the switch was set"
"""


def _stage_names(api: client.ApiClient) -> list[str]:
    res = client.CustomObjectsApi(api).list_cluster_custom_object(
        stages.STAGE_GROUP, stages.STAGE_VERSION, stages.STAGE_PLURAL
    )
    return [item["metadata"]["name"] for item in res["items"]]


def test_outcome_switch_fixture_removes_its_stage_after_a_failing_test(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    chaos_cluster: ClusterHandle,
    api: client.ApiClient,
) -> None:
    # pytester points HOME at a temporary directory; keep the inner run on this cluster's state and
    # build, so that it attaches to the running cluster instead of building and booting its own.
    state_dir = chaos_cluster.kubeconfig.parent
    assert state_dir.name == chaos_cluster.name
    monkeypatch.setenv("ARGOCD_CHAOS_STATE", str(state_dir.parent))
    if chaos_cluster.bin_dir is not None:
        monkeypatch.setenv("ARGOCD_CHAOS_CACHE", str(chaos_cluster.bin_dir.parent.parent))
    prefix = f"cleanup-{uuid.uuid4().hex[:6]}"
    pytester.makepyfile(test_inner=textwrap.dedent(INNER_TEST).replace("{prefix}", prefix))

    result = pytester.runpytest_subprocess(
        "-p", "no:pytest-kind", "-p", "no:cacheprovider", "--cluster-name", chaos_cluster.name, timeout=300
    )

    result.assert_outcomes(failed=1)
    output = "\n".join(result.outlines + result.errlines)
    assert "failing on purpose, after the switch was set" in output
    assert f"reusing running embedded cluster {chaos_cluster.name!r}" in output
    stage_name = (pytester.path / "stage-name.txt").read_text()
    assert stage_name.startswith(f"switch-{prefix}-")
    assert stage_name.endswith("-exit")
    with pytest.raises(ApiException) as info:
        client.CustomObjectsApi(api).get_cluster_custom_object(
            stages.STAGE_GROUP, stages.STAGE_VERSION, stages.STAGE_PLURAL, stage_name
        )
    assert info.value.status == 404
    assert [n for n in _stage_names(api) if n.startswith(f"switch-{prefix}-")] == []


def test_drift_on_a_missing_config_map_is_a_chaos_error_with_http_404(
    app_under_test: AppUnderTest, drift: DriftInjector
) -> None:
    app_under_test.ensure_namespace()

    with pytest.raises(ChaosError) as info:
        drift.set_data("no-such-config", revision="drifted")

    text = str(info.value)
    assert "HTTP 404" in text
    assert "ConfigMap/no-such-config" in text
    assert app_under_test.namespace in text
    assert drift.injections == []


def test_drift_changes_a_live_config_map_and_records_it(
    app_under_test: AppUnderTest, drift: DriftInjector
) -> None:
    app_under_test.ensure_namespace()
    app_under_test.core.create_namespaced_config_map(
        app_under_test.namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="app-config"), data={"revision": "1"}),
    )

    at = drift.set_data("app-config", revision="drifted")

    live = app_under_test.core.read_namespaced_config_map("app-config", app_under_test.namespace)
    assert live.data == {"revision": "drifted"}
    managers = [m.manager for m in live.metadata.managed_fields or []]
    assert "kubectl-edit" in managers
    assert drift.injections == [(at, "ConfigMap/app-config", {"data": {"revision": "drifted"}})]
