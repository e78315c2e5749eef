"""Free loopback ports, chosen at start so that clusters can run side by side."""

from __future__ import annotations

import socket

from harness._errors import ConfigError


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """Distinct ports; the sockets stay bound until all are chosen so none is handed out twice."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def require_free(port: int, what: str) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{what} port {port} is out of range 1-65535")
    if port_in_use(port):
        raise ConfigError(
            f"{what} port {port} on 127.0.0.1 is already in use; choose another port or omit the option "
            "to let the harness pick a free one."
        )
