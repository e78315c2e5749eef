"""Readiness probes of embedded components: each answers (ready, what it saw) and never raises."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from harness._cluster.embedded.process import Probe


def http_ok(url: str, *, expect: str | None = None, ssl_context: ssl.SSLContext | None = None) -> Probe:
    def probe() -> tuple[bool, str]:
        try:
            with urllib.request.urlopen(url, timeout=2, context=ssl_context) as resp:  # noqa: S310 - loopback
                body = resp.read(2000).decode(errors="replace")
                ok = resp.status == 200 and (expect is None or expect in body)
                return ok, f"HTTP {resp.status}: {body.strip()[:200]}"
        except urllib.error.HTTPError as exc:
            return False, f"HTTP {exc.code}: {exc.read(300).decode(errors='replace').strip()}"
        except (OSError, ValueError) as exc:
            return False, f"{type(exc).__name__}: {exc}"

    return probe


def client_tls(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def insecure_tls() -> ssl.SSLContext:
    """For self-signed health endpoints of the controller manager and scheduler, on loopback only."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def redis_ping(port: int) -> Probe:
    def probe() -> tuple[bool, str]:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"PING\r\n")
                data = s.recv(64).decode(errors="replace").strip()
                return data == "+PONG", data
        except OSError as exc:
            return False, f"{type(exc).__name__}: {exc}"

    return probe
