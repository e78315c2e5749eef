"""Slowness on the embedded cluster: pods that take their grace period to go, a component frozen
for some seconds while an operation runs."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import AppUnderTest, ClusterHandle, EmbeddedCluster, FixtureApp, OutcomeAnnotations

pytestmark = pytest.mark.cluster


def _pod(name: str, annotations: dict[str, str]) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, annotations=annotations),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]),
    )


def _deleted_after(core: client.CoreV1Api, ns: str, name: str, timeout: float) -> float:
    """Delete the pod and return how many seconds it took to be gone (polled every 0.1 s)."""
    t0 = time.monotonic()
    core.delete_namespaced_pod(name, ns)
    while time.monotonic() - t0 < timeout:
        try:
            core.read_namespaced_pod(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                return time.monotonic() - t0
            raise
        time.sleep(0.1)  # polling a deletion another process carries out
    raise AssertionError(f"pod {ns}/{name} still there {timeout}s after its deletion")


def _running(core: client.CoreV1Api, ns: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    phase = ""
    while time.monotonic() < deadline:
        phase = core.read_namespaced_pod(name, ns).status.phase or ""
        if phase == "Running":
            return
        time.sleep(0.1)  # polling what KWOK does
    raise AssertionError(f"pod {ns}/{name} not Running after {timeout}s (phase {phase!r})")


def test_a_deleted_pod_stays_terminating_for_its_grace(
    chaos_cluster: ClusterHandle, app_under_test: AppUnderTest
) -> None:
    if chaos_cluster.provider != "embedded":
        pytest.skip("the termination grace is played by KWOK on the embedded cluster")
    app_under_test.ensure_namespace()
    ns = app_under_test.namespace
    api = chaos_cluster.api_client()
    try:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(ns, _pod("graceful", {OutcomeAnnotations.TERMINATION_GRACE: "4s"}))
        core.create_namespaced_pod(ns, _pod("prompt", {}))
        _running(core, ns, "graceful")
        _running(core, ns, "prompt")

        graceful = _deleted_after(core, ns, "graceful", timeout=30)
        prompt = _deleted_after(core, ns, "prompt", timeout=30)
    finally:
        api.close()
    assert graceful >= 4, f"the pod with a 4 s grace was gone after {graceful:.1f}s"
    assert prompt < 4, f"the pod without a grace took {prompt:.1f}s"


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


@pytest.mark.exclusive("freezes the application controller every app relies on")
def test_a_paused_controller_delays_the_operation(
    chaos_cluster: ClusterHandle, app_under_test: AppUnderTest
) -> None:
    if chaos_cluster.provider != "embedded":
        pytest.skip("pausing a component needs the embedded cluster's local processes")
    cluster = EmbeddedCluster.attach(chaos_cluster.name)
    assert cluster is not None
    app = app_under_test
    app.commit_revision(1, FixtureApp.load("single-hook").with_hook_outcome("hook", "succeed", duration="2s"))
    app.create()
    app.sync()
    app.wait_operation("Succeeded")

    app.commit_revision(2, FixtureApp.load("single-hook").with_hook_outcome("hook", "succeed", duration="2s"))
    request = app.sync()
    paused_wall = time.time()
    with cluster.pause("argocd-application-controller", 6) as paused:
        # While frozen, nothing it alone writes changes: the operation it was asked for never ends.
        assert cluster.running()["argocd-application-controller"]
        paused.wait(timeout=30)
    assert paused.resumed_at is not None
    assert paused.resumed_at - paused.paused_at >= 6
    op = app.wait_operation("Succeeded", after=request)
    # The operation ended only after the controller ran again (1 s: the timestamps' resolution).
    assert _epoch(op.finished_at) >= paused_wall + 6 - 1, (op.started_at, op.finished_at, paused_wall)
    assert cluster.running()["argocd-application-controller"]
