"""How a container on a Docker network reaches this machine: the webhook endpoint for kind.

kind's API server runs inside a node container on the Docker network ``kind``, so the loopback
address the embedded cluster's webhook uses would be the container's own. On a Linux engine, this
machine owns the network's gateway address (it is the bridge's address), so a server bound there is
reachable from every container on the network and from nowhere beyond this machine: the narrowest
address that works, as loopback is for the embedded cluster.

Docker Desktop runs the engine in a VM, where the gateway is the VM's, not this machine's; there the
documented way back to the host is the name ``host.docker.internal``, which Docker Desktop routes to
the host's loopback. That path is written from Docker's documentation and not run here (no Docker
Desktop on a Linux machine); the Linux gateway path is checked for real by
``tests/docker/test_webhook_from_container.py``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
from typing import Any, Final

from harness._cluster.endpoint import WebhookEndpoint
from harness._errors import ClusterSetupError

#: kind's own knob for the network its nodes join; the default network is named "kind".
KIND_NETWORK_ENV: Final = "KIND_EXPERIMENTAL_DOCKER_NETWORK"
KIND_NETWORK: Final = "kind"
DOCKER_DESKTOP_HOST: Final = "host.docker.internal"
_TIMEOUT: Final = 60.0


def kind_network() -> str:
    return os.environ.get(KIND_NETWORK_ENV) or KIND_NETWORK


def _docker(argv: list[str], what: str, docker: str | None) -> str:
    exe = docker or shutil.which("docker") or "docker"
    full = [exe, *argv]
    try:
        p = subprocess.run(full, capture_output=True, text=True, check=False, timeout=_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClusterSetupError("docker", f"`{' '.join(full)}` ({what}) failed: {exc}") from None
    if p.returncode != 0:
        raise ClusterSetupError(
            "docker", f"`{' '.join(full)}` ({what}) failed (exit {p.returncode}): {p.stderr.strip()[-1000:]}"
        )
    return p.stdout.strip()


def network_gateway(network: str, docker: str | None = None) -> str:
    """The IPv4 gateway of a Docker network: this machine's address as the network's containers see it.

    Engines that leave ``Gateway`` empty in the IPAM config still give the bridge the subnet's first
    host address, so that is the answer then.
    """
    out = _docker(
        ["network", "inspect", network, "--format", "{{json .IPAM.Config}}"],
        f"gateway of Docker network {network!r}",
        docker,
    )
    try:
        configs: Any = json.loads(out or "null") or []
    except ValueError:
        raise ClusterSetupError(
            "docker", f"cannot read the IPAM config of Docker network {network!r}: {out[:200]!r}"
        ) from None
    for cfg in configs if isinstance(configs, list) else []:
        if not isinstance(cfg, dict):
            continue
        gateway, subnet = cfg.get("Gateway") or "", cfg.get("Subnet") or ""
        try:
            if gateway and ipaddress.ip_address(gateway).version == 4:
                return gateway
            if not gateway and subnet and ipaddress.ip_network(subnet, strict=False).version == 4:
                return str(next(ipaddress.ip_network(subnet, strict=False).hosts()))
        except ValueError:
            continue
    raise ClusterSetupError(
        "docker",
        f"Docker network {network!r} has no IPv4 gateway (IPAM config {out[:200]!r}); the webhook of C11 "
        "needs one to be reachable from the cluster's API server",
    )


def is_docker_desktop(docker: str | None = None) -> bool:
    return (
        "docker desktop"
        in _docker(["info", "--format", "{{.OperatingSystem}}"], "engine's operating system", docker).lower()
    )


def webhook_endpoint(network: str, docker: str | None = None) -> WebhookEndpoint:
    """Where a webhook served by this process is reachable from containers on ``network``."""
    if is_docker_desktop(docker):
        return WebhookEndpoint(host=DOCKER_DESKTOP_HOST, bind="127.0.0.1")
    gateway = network_gateway(network, docker)
    return WebhookEndpoint(host=gateway, bind=gateway)
