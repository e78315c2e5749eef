"""Finding where kind's API server reaches this machine, at the docker CLI boundary (faked subprocess)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from harness._chaos.webhook import WebhookEndpoint
from harness._cluster.kind import docker_network as net
from harness._errors import ClusterSetupError

DOCKER = "/usr/bin/docker"


class FakeDocker:
    def __init__(self, answers: dict[str, tuple[int, str, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        code, out, err = self.answers[" ".join(argv[1:3])]
        return subprocess.CompletedProcess(argv, code, out, err)


@pytest.fixture
def docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker({"info --format": (0, "Ubuntu 24.04 LTS\n", "")})
    monkeypatch.setattr(subprocess, "run", fake)
    return fake


def _network(fake: FakeDocker, config: str, code: int = 0, err: str = "") -> None:
    fake.answers["network inspect"] = (code, config + "\n", err)


def test_gateway_of_the_network_exact_invocation(docker: FakeDocker) -> None:
    _network(docker, '[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]')
    assert net.network_gateway("kind", DOCKER) == "172.18.0.1"
    assert docker.calls == [[DOCKER, "network", "inspect", "kind", "--format", "{{json .IPAM.Config}}"]]


def test_ipv4_gateway_is_chosen_on_a_dual_stack_network(docker: FakeDocker) -> None:
    _network(
        docker,
        '[{"Subnet":"fc00:f853:ccd:e793::/64","Gateway":"fc00:f853:ccd:e793::1"},'
        '{"Subnet":"172.19.0.0/16","Gateway":"172.19.0.1"}]',
    )
    assert net.network_gateway("kind", DOCKER) == "172.19.0.1"


def test_missing_gateway_is_the_subnets_first_address(docker: FakeDocker) -> None:
    _network(docker, '[{"Subnet":"172.20.0.0/16"}]')
    assert net.network_gateway("kind", DOCKER) == "172.20.0.1"


@pytest.mark.parametrize("config", ["null", "[]", '[{"Subnet":"fc00::/64","Gateway":"fc00::1"}]'])
def test_no_ipv4_gateway_is_a_clear_error(docker: FakeDocker, config: str) -> None:
    _network(docker, config)
    with pytest.raises(ClusterSetupError, match="Docker network 'kind' has no IPv4 gateway"):
        net.network_gateway("kind", DOCKER)


def test_unreadable_config_is_a_clear_error(docker: FakeDocker) -> None:
    _network(docker, "not json")
    with pytest.raises(ClusterSetupError, match="cannot read the IPAM config of Docker network 'kind'"):
        net.network_gateway("kind", DOCKER)


def test_missing_network_names_the_command(docker: FakeDocker) -> None:
    _network(docker, "", code=1, err="Error: No such network: kind")
    with pytest.raises(ClusterSetupError, match=r"docker network inspect kind .* No such network: kind"):
        net.network_gateway("kind", DOCKER)


def test_linux_engine_endpoint_is_the_gateway_on_both_sides(docker: FakeDocker) -> None:
    _network(docker, '[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]')
    assert net.webhook_endpoint("kind", DOCKER) == WebhookEndpoint(host="172.18.0.1", bind="172.18.0.1")
    assert docker.calls[0] == [DOCKER, "info", "--format", "{{.OperatingSystem}}"]


def test_docker_desktop_endpoint_is_its_host_name_on_loopback(docker: FakeDocker) -> None:
    docker.answers["info --format"] = (0, "Docker Desktop\n", "")
    assert net.webhook_endpoint("kind", DOCKER) == WebhookEndpoint(
        host="host.docker.internal", bind="127.0.0.1"
    )
    assert len(docker.calls) == 1  # the gateway is the VM's there; not asked


def test_kind_network_follows_kinds_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(net.KIND_NETWORK_ENV, raising=False)
    assert net.kind_network() == "kind"
    monkeypatch.setenv(net.KIND_NETWORK_ENV, "ci-net")
    assert net.kind_network() == "ci-net"
