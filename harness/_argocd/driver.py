"""Drive Argo CD Applications through the Kubernetes API only, as argocd-server would.

No argocd-server runs in the embedded cluster, so a sync is requested the way the API server
requests it: by writing `.operation` onto the Application. The controller does not read sync
options or retry from the spec for such an operation, so they are copied into it here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.seed import ARGOCD_NAMESPACE

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
LABEL_RUN = "argocd-chaos.io/run-id"
LABEL_TEST = "argocd-chaos.io/test-id"


@dataclass
class AppSpec:
    """The parts of an Application a chaos test varies; `to_manifest` fills in the rest."""

    name: str
    repo_url: str
    dest_namespace: str
    path: str = "."
    revision: str = "HEAD"
    project: str = "default"
    labels: dict[str, str] = field(default_factory=dict)
    automated: bool = False
    self_heal: bool = False
    prune: bool = False
    sync_options: list[str] = field(default_factory=list)
    retry: dict[str, Any] | None = None
    ignore_differences: list[dict[str, Any]] = field(default_factory=list)
    cascade_delete: bool = True

    def to_manifest(self) -> dict[str, Any]:
        policy: dict[str, Any] = {}
        if self.automated:
            policy["automated"] = {"prune": self.prune, "selfHeal": self.self_heal}
        if self.sync_options:
            policy["syncOptions"] = list(self.sync_options)
        if self.retry is not None:
            policy["retry"] = copy.deepcopy(self.retry)
        spec: dict[str, Any] = {
            "project": self.project,
            "source": {"repoURL": self.repo_url, "path": self.path, "targetRevision": self.revision},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": self.dest_namespace},
        }
        if policy:
            spec["syncPolicy"] = policy
        if self.ignore_differences:
            spec["ignoreDifferences"] = copy.deepcopy(self.ignore_differences)
        meta: dict[str, Any] = {"name": self.name, "namespace": ARGOCD_NAMESPACE, "labels": dict(self.labels)}
        if self.cascade_delete:
            meta["finalizers"] = [RESOURCES_FINALIZER]
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Application", "metadata": meta, "spec": spec}


def sync_operation(
    app: dict[str, Any],
    *,
    revision: str | None = None,
    prune: bool | None = None,
    initiated_by: str = "argocd-chaos",
) -> dict[str, Any]:
    """The `.operation` argocd-server would write for a manual sync with the hook strategy."""
    spec = app.get("spec", {})
    policy = spec.get("syncPolicy") or {}
    source = spec.get("source") or {}
    sync: dict[str, Any] = {
        "revision": revision or source.get("targetRevision", "HEAD"),
        "prune": bool(prune if prune is not None else (policy.get("automated") or {}).get("prune", False)),
        "syncStrategy": {"hook": {}},
    }
    if policy.get("syncOptions"):
        sync["syncOptions"] = list(policy["syncOptions"])
    op: dict[str, Any] = {"initiatedBy": {"username": initiated_by}, "sync": sync}
    if policy.get("retry"):
        op["retry"] = copy.deepcopy(policy["retry"])
    return op


class ArgoCD:
    """Application CRUD and sync on one cluster, in the `argocd` namespace."""

    def __init__(self, api: client.ApiClient, namespace: str = ARGOCD_NAMESPACE) -> None:
        self.api = api
        self.co = client.CustomObjectsApi(api)
        self.namespace = namespace

    def create(self, spec: AppSpec) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.co.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, spec.to_manifest()
            ),
        )

    def get(self, name: str) -> dict[str, Any]:
        return cast(
            dict[str, Any], self.co.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name)
        )

    def get_or_none(self, name: str) -> dict[str, Any] | None:
        try:
            return self.get(name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return cast(
            dict[str, Any],
            self.co.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, name, body),
        )

    def sync(self, name: str, *, revision: str | None = None, prune: bool | None = None) -> dict[str, Any]:
        """Request a sync; refuses while another operation is still running, as argocd-server does."""
        app = self.get(name)
        if app.get("operation"):
            raise RuntimeError(f"application {name} already has an operation in progress: {app['operation']}")
        op = sync_operation(app, revision=revision, prune=prune)
        return self.patch(name, {"operation": op})

    def refresh(self, name: str, *, hard: bool = False) -> None:
        mode = "hard" if hard else "normal"
        self.patch(name, {"metadata": {"annotations": {"argocd.argoproj.io/refresh": mode}}})

    def set_automated(
        self, name: str, *, enabled: bool, self_heal: bool = False, prune: bool = False
    ) -> None:
        auto = {"prune": prune, "selfHeal": self_heal} if enabled else None
        self.patch(name, {"spec": {"syncPolicy": {"automated": auto}}})

    def delete(self, name: str) -> None:
        try:
            self.co.delete_namespaced_custom_object(
                GROUP, VERSION, self.namespace, PLURAL, name, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def list(self, label_selector: str = "") -> list[dict[str, Any]]:
        res = self.co.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, label_selector=label_selector
        )
        return [dict(i) for i in cast(dict[str, Any], res).get("items", [])]
