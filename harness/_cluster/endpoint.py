"""Where a webhook served by the test process is reached from a cluster's API server.

Each provider chooses one (`ClusterHandle.webhook_endpoint`): loopback for the embedded cluster, the
Docker network's gateway for kind; the chaos room's `MutatingWebhook` serves on it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509

from harness._errors import ConfigError

#: The path the webhook serves admission reviews on.
PATH = "/mutate"
_HOSTNAME = re.compile(r"(?i)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where the webhook listens and the address the cluster's API server dials to reach it.

    ``host`` goes into ``clientConfig.url`` and the serving certificate's SAN (an IP address or a DNS
    name); ``bind`` is the local address the server listens on. They differ only where the API server
    reaches this host through a name that resolves elsewhere (Docker Desktop's
    ``host.docker.internal``). ``bind`` is never the wildcard address: the webhook is served on one
    interface, the one the API server comes in on.
    """

    host: str
    bind: str

    def __post_init__(self) -> None:
        if not self.host or not _HOSTNAME.fullmatch(self.host) and not _is_ip(self.host):
            raise ConfigError(
                f"webhook host {self.host!r} is neither an IP address nor a DNS name; "
                "give the address the cluster's API server reaches this machine on"
            )
        if not _is_ip(self.bind) or ipaddress.ip_address(self.bind).is_unspecified:
            raise ConfigError(
                f"webhook bind address {self.bind!r} must be one IP address of this machine "
                "(not a name, not 0.0.0.0 or ::)"
            )

    @property
    def san(self) -> x509.GeneralName:
        """What the serving certificate must name for the API server to accept it at ``host``."""
        if _is_ip(self.host):
            return x509.IPAddress(ipaddress.ip_address(self.host))
        return x509.DNSName(self.host)

    def url(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{port}{PATH}"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


#: The embedded cluster's API server is a process on this host: loopback only.
LOOPBACK = WebhookEndpoint(host="127.0.0.1", bind="127.0.0.1")
