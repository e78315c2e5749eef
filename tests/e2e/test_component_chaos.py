"""Stop, kill -9 and restart one component of the running embedded cluster, as chaos work will."""

from __future__ import annotations

import pytest

from harness import ClusterHandle
from harness._cluster.embedded.cluster import EmbeddedCluster

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.exclusive("stops, kills and restarts components of the session cluster"),
]


@pytest.mark.parametrize("action", ["kill", "stop"])
def test_a_component_comes_back_after_kill_or_stop(chaos_cluster: ClusterHandle, action: str) -> None:
    if chaos_cluster.provider != "embedded":
        pytest.skip("component chaos needs the embedded cluster's local processes")
    cluster = EmbeddedCluster.attach(chaos_cluster.name)
    assert cluster is not None
    before = cluster.records["argocd-repo-server"]

    getattr(cluster, action)("argocd-repo-server")
    assert cluster.running()["argocd-repo-server"] is False
    assert before.alive() is False

    cluster.start("argocd-repo-server")  # waits for /healthz
    after = EmbeddedCluster.attach(chaos_cluster.name)
    assert after is not None
    assert after.running()["argocd-repo-server"] is True
    assert after.records["argocd-repo-server"].pid != before.pid
    assert all(after.running().values())


def test_restart_of_the_api_server_keeps_the_cluster_usable(chaos_cluster: ClusterHandle) -> None:
    if chaos_cluster.provider != "embedded":
        pytest.skip("component chaos needs the embedded cluster's local processes")
    cluster = EmbeddedCluster.attach(chaos_cluster.name)
    assert cluster is not None

    cluster.restart("kube-apiserver")

    api = chaos_cluster.api_client()
    try:
        from kubernetes import client

        assert client.VersionApi(api).get_code().git_version == chaos_cluster.versions["kubernetes"]
    finally:
        api.close()
