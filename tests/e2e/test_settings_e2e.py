"""Controller settings from the run's options reach the embedded controller, and a reused cluster must match.

Boots its own embedded cluster next to the session's, because the settings are fixed at boot.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes import client

from harness._cluster.embedded.provider import EmbeddedProvider
from harness._config import HarnessConfig
from harness._errors import ConfigError

# These tests boot clusters of their own: one at a time (whichever worker runs them), so that no
# two boots compete for the CPU.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("one_own_cluster_at_a_time")]

FLAG = "--self-heal-timeout-seconds=7"
CM = {"timeout.reconciliation": "17s"}


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def test_settings_reach_the_controller_and_a_mismatching_reuse_is_refused() -> None:
    name = f"settings-{uuid.uuid4().hex[:6]}"
    cfg = HarnessConfig(cluster_name=name, controller_args=(FLAG,), argocd_cm=dict(CM))
    provider = EmbeddedProvider()
    handle = provider.acquire(cfg)
    assert provider.cluster is not None
    records = list(provider.cluster.records.values())
    try:
        controller = provider.cluster.records["argocd-application-controller"]
        assert controller.alive()
        assert FLAG in _cmdline(controller.pid)
        api = handle.api_client()
        try:
            data = client.CoreV1Api(api).read_namespaced_config_map("argocd-cm", "argocd").data or {}
        finally:
            api.close()
        assert data["timeout.reconciliation"] == "17s"
        assert handle.settings["controller_args"] == FLAG
        assert handle.settings["argocd-cm.timeout.reconciliation"] == "17s"

        # The same settings reuse the running cluster; other settings are refused, naming both.
        again = EmbeddedProvider()
        reused = again.acquire(cfg)
        assert reused.owned is False
        again.release(reused, keep=False)
        assert all(provider.cluster.running().values())
        with pytest.raises(
            ConfigError, match=r"controller flags \['--self-heal-timeout-seconds=7'\], not \[\]"
        ):
            EmbeddedProvider().acquire(HarnessConfig(cluster_name=name))
        with pytest.raises(ConfigError, match=r"Argo CD v3\.\d+\.\d+, not v2\.0\.0"):
            EmbeddedProvider().acquire(
                HarnessConfig(
                    cluster_name=name, argocd_version="2.0.0", controller_args=(FLAG,), argocd_cm=CM
                )
            )
    finally:
        provider.release(handle, keep=False)
    assert [r.name for r in records if r.alive()] == []
