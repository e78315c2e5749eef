"""C11's webhook reached by an API server inside a container, as on kind.

kind runs kube-apiserver in a node container on the Docker network ``kind``; the webhook is served by
the test process on the host. This test builds that topology with real parts and without a kind node
image: the embedded build's etcd and kube-apiserver run inside a container (busybox image, binaries
mounted read-only) on a fresh Docker bridge network, its port published on 127.0.0.1 the way kind
publishes a node's API server. The webhook endpoint is chosen by the same function the kind provider
uses (`harness._cluster.kind.docker_network.webhook_endpoint`), so what passes here is what kind gets.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from kubernetes import client
from testkit.docker import DockerEngine

from harness._build.binaries import find_build
from harness._chaos.webhook import LOOPBACK, MutatingWebhook, WebhookError
from harness._cluster.embedded import pki as _pki
from harness._cluster.kind.docker_network import network_gateway, webhook_endpoint
from harness._kube import api_client
from harness._wait import Expectation, Outcome, Timeouts, expect, failed, met, pending

pytestmark = [pytest.mark.docker, pytest.mark.cluster]

INJECTED = "by-webhook"
API_PORT = 6443


def inject(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if not obj.get("data"):
        return [{"op": "add", "path": "/data", "value": {"injected": INJECTED}}]
    return [{"op": "add", "path": "/data/injected", "value": INJECTED}]


@dataclass(frozen=True)
class ContainerAPIServer:
    network: str
    container: str
    api: client.ApiClient


def _apiserver_script(pki: _pki.ClusterPKI) -> str:
    def inside(path: Path) -> str:
        return f"/pki/{path.name}"

    etcd = (
        "etcd --name=node0 --data-dir=/tmp/etcd --listen-client-urls=http://127.0.0.1:2379 "
        "--advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 "
        "--initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=node0=http://127.0.0.1:2380 "
        "--listen-metrics-urls= --unsafe-no-fsync=true --log-level=warn"
    )
    apiserver = " ".join(
        [
            "kube-apiserver",
            "--etcd-servers=http://127.0.0.1:2379",
            f"--secure-port={API_PORT}",
            "--endpoint-reconciler-type=none",
            f"--tls-cert-file={inside(pki.serving_crt)}",
            f"--tls-private-key-file={inside(pki.serving_key)}",
            "--cert-dir=/tmp/apiserver",
            f"--client-ca-file={inside(pki.ca_crt)}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={inside(pki.sa_pub)}",
            f"--service-account-signing-key-file={inside(pki.sa_key)}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--authorization-mode=RBAC",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]
    )
    return f"{etcd} & exec {apiserver}"


@pytest.fixture
def container_apiserver(
    docker_engine: DockerEngine, busybox_image: str, tmp_path: Path
) -> Iterator[ContainerAPIServer]:
    build = find_build()
    if build is None:
        pytest.skip("no embedded build in the cache: run `make build` (etcd and kube-apiserver come from it)")
    suffix = uuid.uuid4().hex[:8]
    network, container = f"argocd-chaos-test-{suffix}", f"argocd-chaos-test-apiserver-{suffix}"
    pki = _pki.generate_pki(tmp_path / "pki")
    api: client.ApiClient | None = None
    docker_engine.ok("network", "create", "--driver", "bridge", network)
    try:
        docker_engine.ok(
            "run",
            "--detach",
            "--name",
            container,
            "--network",
            network,
            "--publish",
            f"127.0.0.1::{API_PORT}",
            "-v",
            f"{build.binary('etcd')}:/bin/etcd:ro",
            "-v",
            f"{build.binary('kube-apiserver')}:/bin/kube-apiserver:ro",
            "-v",
            f"{pki.dir}:/pki:ro",
            busybox_image,
            "sh",
            "-c",
            _apiserver_script(pki),
        )
        published = docker_engine.ok("port", container, f"{API_PORT}/tcp").splitlines()[0]
        port = int(published.rsplit(":", 1)[1])
        kubeconfig = _pki.write_kubeconfig(
            tmp_path / "kubeconfig", server=f"https://127.0.0.1:{port}", pki=pki, cluster_name=container
        )
        api = api_client(kubeconfig)
        _wait_serving(docker_engine, container, api)
        yield ContainerAPIServer(network, container, api)
    finally:
        if api is not None:
            api.close()
        docker_engine.run("rm", "-f", container)
        docker_engine.run("network", "rm", network)


def _wait_serving(engine: DockerEngine, container: str, api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)

    def check() -> Outcome:
        if engine.ok("inspect", "--format", "{{.State.Running}}", container) != "true":
            logs = engine.run("logs", "--tail", "30", container)
            return failed(f"the API server container exited: {logs.stdout}{logs.stderr}")
        try:
            core.read_namespace("default")
        except Exception as exc:  # connection refused while starting, 404 before bootstrap
            return pending(f"{type(exc).__name__}: {str(exc)[:200]}")
        return met("namespace default served")

    expect(Expectation("the API server in the container serves the default namespace", check), timeout=120)


def _namespace(api: client.ApiClient) -> str:
    name = f"chaos-{uuid.uuid4().hex[:6]}"
    client.CoreV1Api(api).create_namespace({"metadata": {"name": name}})
    return name


def test_kind_network_endpoint_is_the_gateway(
    docker_engine: DockerEngine, container_apiserver: ContainerAPIServer
) -> None:
    endpoint = webhook_endpoint(container_apiserver.network)
    gateway = network_gateway(container_apiserver.network)
    assert endpoint.host == endpoint.bind == gateway
    assert gateway != "127.0.0.1"


def test_api_server_in_a_container_calls_the_webhook_on_the_gateway(
    container_apiserver: ContainerAPIServer, tmp_path: Path
) -> None:
    api = container_apiserver.api
    namespace = _namespace(api)
    endpoint = webhook_endpoint(container_apiserver.network)
    webhook = MutatingWebhook(
        api,
        name=f"chaos-{namespace}",
        namespace=namespace,
        mutate=inject,
        state_dir=tmp_path,
        endpoint=endpoint,
    )
    # start() returns only once a dry-run probe through this API server came back mutated.
    with webhook:
        assert urlsplit(webhook.url).hostname == endpoint.host
        port = urlsplit(webhook.url).port
        assert port is not None
        # Served on the gateway only: loopback on the same port is not listening.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        created = client.CoreV1Api(api).create_namespaced_config_map(
            namespace, {"metadata": {"name": "app-config"}, "data": {"setting": "from-git"}}
        )
        assert created.data == {"setting": "from-git", "injected": INJECTED}
        writes = [c for c in webhook.calls if c.name == "app-config" and not c.dry_run]
        assert [(c.operation, c.patched) for c in writes] == [("CREATE", True)]


def test_loopback_endpoint_is_not_reachable_from_a_container(
    container_apiserver: ContainerAPIServer, tmp_path: Path
) -> None:
    """Why kind needs the gateway: inside the container 127.0.0.1 is the container itself."""
    api = container_apiserver.api
    namespace = _namespace(api)
    webhook = MutatingWebhook(
        api,
        name=f"chaos-{namespace}",
        namespace=namespace,
        mutate=inject,
        state_dir=tmp_path,
        endpoint=LOOPBACK,
        timeouts=Timeouts(apply=10),
    )
    with pytest.raises(WebhookError, match="did not become live") as err:
        webhook.start()
    assert "connection refused" in str(err.value)
    # start() cleaned up after itself: the configuration is gone and writes pass unmutated.
    created = client.CoreV1Api(api).create_namespaced_config_map(
        namespace, {"metadata": {"name": "after"}, "data": {"setting": "plain"}}
    )
    assert created.data == {"setting": "plain"}
