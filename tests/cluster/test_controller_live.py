"""The controller's flags as its workload sets them (kind, existing): arguments, variables, ConfigMaps.

The workload is a plain dict (as read from the API server and serialised); the ConfigMap reader is the
only boundary, answered from a dict. One test reads the release's own install.yaml from the Go module
cache, when it is there, to check that its wiring of the reconciliation timeouts is what is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness._cluster import argocd_install as install
from harness._cluster.controller_live import controller_flag_values
from harness._cluster.embedded.kwok_stages import StageConfigError

INSTALL_YAML = Path.home() / "go/pkg/mod/github.com/argoproj/argo-cd/v3@v3.6.1/manifests/install.yaml"
RESYNC = ("app-resync", "app-resync-jitter")


def workload(args: list[str] | None = None, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container = {
        "name": install.CONTROLLER,
        "args": ["/usr/local/bin/argocd-application-controller", *(args or [])],
    }
    container["env"] = env or []
    return {"kind": "StatefulSet", "spec": {"template": {"spec": {"containers": [container]}}}}


def reader(data: Mapping[str, Mapping[str, str]]) -> Any:
    return lambda name: data.get(name)


def test_nothing_set_leaves_the_binary_default_to_the_caller() -> None:
    assert controller_flag_values(workload(), RESYNC, reader({})) == {}


def test_an_argument_wins_over_the_variable() -> None:
    w = workload(
        ["--app-resync=30", "--app-resync-jitter", "5"],
        [{"name": "ARGOCD_RECONCILIATION_TIMEOUT", "value": "300s"}],
    )
    assert controller_flag_values(w, RESYNC, reader({})) == {"app-resync": "30", "app-resync-jitter": "5"}


def test_a_duration_variable_becomes_the_flag_s_seconds() -> None:
    w = workload(env=[{"name": "ARGOCD_RECONCILIATION_TIMEOUT", "value": "3m"}])
    assert controller_flag_values(w, RESYNC, reader({})) == {"app-resync": "180"}


def test_a_configmap_key_is_read_and_a_missing_one_is_left_out() -> None:
    w = workload(
        env=[
            {
                "name": "ARGOCD_RECONCILIATION_TIMEOUT",
                "valueFrom": {"configMapKeyRef": {"name": "argocd-cm", "key": "timeout.reconciliation"}},
            },
            {
                "name": "ARGOCD_RECONCILIATION_JITTER",
                "valueFrom": {
                    "configMapKeyRef": {"name": "argocd-cm", "key": "timeout.reconciliation.jitter"}
                },
            },
        ]
    )
    assert controller_flag_values(w, RESYNC, reader({"argocd-cm": {"timeout.reconciliation": "10s"}})) == {
        "app-resync": "10"
    }
    assert controller_flag_values(w, RESYNC, reader({})) == {}  # the ConfigMap itself is missing


def test_a_duration_go_cannot_parse_is_an_error() -> None:
    w = workload(env=[{"name": "ARGOCD_RECONCILIATION_TIMEOUT", "value": "3 min"}])
    with pytest.raises(StageConfigError, match="not a Go duration"):
        controller_flag_values(w, RESYNC, reader({}))


@pytest.mark.skipif(not INSTALL_YAML.is_file(), reason="Argo CD v3.6.1 is not in the Go module cache")
def test_the_release_wires_the_resync_flags_to_argocd_cm() -> None:
    (controller,) = [
        d
        for d in install.load_documents(INSTALL_YAML)
        if d.get("kind") == "StatefulSet" and d["metadata"]["name"] == install.CONTROLLER
    ]
    cms = {"argocd-cm": {"timeout.reconciliation": "90s", "timeout.reconciliation.jitter": "15s"}}
    assert controller_flag_values(controller, RESYNC, reader(cms)) == {
        "app-resync": "90",
        "app-resync-jitter": "15",
    }
    assert controller_flag_values(controller, RESYNC, reader({})) == {}
