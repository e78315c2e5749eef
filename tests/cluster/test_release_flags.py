"""Flags the embedded cluster passes only to the Argo CD releases that have them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness._cluster.embedded.cluster import _if_supported
from harness._errors import ClusterSetupError


def _binary(tmp_path: Path, help_text: str, rc: int = 0) -> Path:
    """A stand-in for argocd-repo-server that prints `help_text` for --help (subprocess boundary)."""
    b = tmp_path / "argocd-repo-server"
    b.write_text(f"#!/bin/sh\ncat <<'EOF'\n{help_text}\nEOF\nexit {rc}\n")
    b.chmod(0o755)
    return b


V36_HELP = """Flags:
      --client-ca-path string   Path to a client CA (default "/app/config/reposerver/tls/ca.crt")
      --disable-tls             Disable TLS on the gRPC endpoint"""
V214_HELP = """Flags:
      --disable-tls             Disable TLS on the gRPC endpoint
      --logformat string        Set the logging format"""


def test_a_flag_the_release_has_is_passed(tmp_path: Path) -> None:
    assert _if_supported(_binary(tmp_path, V36_HELP), "--client-ca-path=") == ["--client-ca-path="]


def test_a_flag_the_release_lacks_is_left_out(tmp_path: Path) -> None:
    assert _if_supported(_binary(tmp_path, V214_HELP), "--client-ca-path=") == []
    # a longer flag that merely starts with the name does not count
    assert _if_supported(_binary(tmp_path, "      --client-ca-path-extra string"), "--client-ca-path=") == []


def test_a_binary_whose_help_fails_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterSetupError, match="argocd-repo-server --help` failed"):
        _if_supported(_binary(tmp_path, "boom", rc=3), "--client-ca-path=")
