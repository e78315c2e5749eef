"""Chaos controls a scenario uses while the app and its Git revision stay the same.

An outcome switch decides, at run time, how hook pods that carry its annotation end: on the
embedded cluster it is a KWOK Stage object the harness replaces through the API. A drift injector
changes a managed object the way a person with kubectl would, and remembers when.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import allure
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._cluster.embedded import kwok_stages as stages
from harness._cluster.kind.hook_commands import switch_configmap, switch_configmap_name
from harness._errors import HarnessError
from harness._kube import FIELD_MANAGER


class ChaosError(HarnessError):
    """A chaos control could not do what the scenario asked."""


class OutcomeSwitch:
    """`switch.set(exit_code=1)` now, `switch.set(exit_code=0)` later: same app, new outcome.

    Pods pick up the switch when they start running, so a flip affects the next hook run, never
    one already running. The kind provider implements the same switch with a ConfigMap the hook
    container reads at start.
    """

    def __init__(self, api: client.ApiClient, name: str, *, real_pods_namespace: str | None = None) -> None:
        """Set up a switch; `real_pods_namespace` is for clusters with real kubelets.

        There the switch is a ConfigMap in the hook pods' namespace, read by their command at start,
        instead of a KWOK Stage.
        """
        stages.hook_pod_annotations(outcome=None, switch=name)  # validates the name eagerly
        self.api = api
        self.name = name
        self.co = client.CustomObjectsApi(api)
        self.real_pods_namespace = real_pods_namespace
        self.history: list[tuple[float, int, str | None]] = []

    @property
    def pod_annotations(self) -> dict[str, str]:
        return stages.hook_pod_annotations(outcome=None, switch=self.name)

    def set(self, *, exit_code: int, duration: str | None = None) -> None:
        if self.real_pods_namespace is not None:
            self._set_configmap(exit_code, duration)
            return
        with allure.step(f"switch {self.name}: exit code {exit_code}, duration {duration or '0s'}"):
            for stage in stages.switch_stages(self.name, exit_code=exit_code, duration=duration):
                try:
                    self.co.patch_cluster_custom_object(
                        stages.STAGE_GROUP,
                        stages.STAGE_VERSION,
                        stages.STAGE_PLURAL,
                        stage["metadata"]["name"],
                        stage,
                        field_manager=FIELD_MANAGER,
                        force=True,
                        _content_type="application/apply-patch+yaml",
                    )
                except ApiException as exc:
                    if exc.status != 404:
                        raise
                    raise ChaosError(
                        f"outcome switch {self.name!r} could not be set (HTTP {exc.status}: {_reason(exc)}): "
                        f"the cluster has no Stage CRD ({stages.STAGE_PLURAL}.{stages.STAGE_GROUP}); "
                        "outcome switches are KWOK Stages and need the embedded cluster."
                    ) from None
            self.history.append((time.time(), exit_code, duration))

    def _set_configmap(self, exit_code: int, duration: str | None) -> None:
        assert self.real_pods_namespace is not None
        cm = switch_configmap(self.name, self.real_pods_namespace, exit_code=exit_code, duration=duration)
        with allure.step(
            f"switch {self.name} (ConfigMap): exit code {exit_code}, duration {duration or '0s'}"
        ):
            client.CoreV1Api(self.api).patch_namespaced_config_map(
                cm["metadata"]["name"],
                self.real_pods_namespace,
                cm,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type="application/apply-patch+yaml",
            )
            self.history.append((time.time(), exit_code, duration))

    def remove(self) -> None:
        if self.real_pods_namespace is not None:
            try:
                client.CoreV1Api(self.api).delete_namespaced_config_map(
                    switch_configmap_name(self.name), self.real_pods_namespace
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
            return
        try:
            self.co.delete_cluster_custom_object(
                stages.STAGE_GROUP,
                stages.STAGE_VERSION,
                stages.STAGE_PLURAL,
                stages.switch_stage_name(self.name),
            )
        except ApiException as exc:
            if exc.status != 404:
                raise


@dataclass
class DriftInjector:
    """Changes a field of a managed object through the API and records each change."""

    api: client.ApiClient
    namespace: str
    injections: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> float:
        """Merge-patch the live object, as `kubectl patch --type merge` would; returns when (epoch s)."""
        with allure.step(f"drift: patch {kind}/{name} {patch}"):
            at = time.time()
            try:
                _merge_patch(self.api, kind, self.namespace, name, patch)
            except ApiException as exc:
                raise ChaosError(
                    f"drift on {kind}/{name} in namespace {self.namespace!r} failed "
                    f"(HTTP {exc.status}: {_reason(exc)}); drift changes an object the app already deployed."
                ) from None
            self.injections.append((at, f"{kind}/{name}", patch))
            return at

    def set_data(self, configmap: str, **data: str) -> float:
        return self.patch("ConfigMap", configmap, {"data": data})


def _merge_patch(api: client.ApiClient, kind: str, namespace: str, name: str, body: dict[str, Any]) -> None:
    if kind == "ConfigMap":
        client.CoreV1Api(api).patch_namespaced_config_map(name, namespace, body, field_manager="kubectl-edit")
    elif kind == "Deployment":
        client.AppsV1Api(api).patch_namespaced_deployment(name, namespace, body, field_manager="kubectl-edit")
    else:
        raise ChaosError(f"drift on {kind} is not supported; supported kinds: ConfigMap, Deployment")


def _reason(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)
