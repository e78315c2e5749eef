from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from harness._cluster.embedded.ports import free_port, free_ports, port_in_use, require_free
from harness._errors import ConfigError


@pytest.fixture
def listening() -> Iterator[int]:
    """A port with a socket listening on it for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_free_ports_are_distinct_and_in_range() -> None:
    ports = free_ports(9)
    assert len(ports) == 9
    assert len(set(ports)) == 9
    assert all(1024 <= p <= 65535 for p in ports)


def test_free_ports_of_none() -> None:
    assert free_ports(0) == []


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))


def test_port_in_use(listening: int) -> None:
    assert port_in_use(listening)


def test_require_free_names_the_busy_port(listening: int) -> None:
    with pytest.raises(ConfigError) as err:
        require_free(listening, "kube-apiserver")
    msg = str(err.value)
    assert msg.startswith(f"kube-apiserver port {listening} on 127.0.0.1 is already in use")
    assert "omit the option" in msg


def test_require_free_accepts_a_free_port() -> None:
    require_free(free_port(), "kube-apiserver")


@pytest.mark.parametrize("port", [0, -1, 65536, 100000])
def test_require_free_rejects_out_of_range(port: int) -> None:
    with pytest.raises(ConfigError, match=f"kube-apiserver port {port} is out of range 1-65535"):
        require_free(port, "kube-apiserver")
