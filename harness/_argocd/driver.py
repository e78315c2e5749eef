"""Drive Argo CD Applications through the Kubernetes API only, as argocd-server would.

No argocd-server runs in the embedded cluster, so a sync, a termination and a delete are done the
way the API server does them: by writing `.operation`, the operation phase or the finalizers onto
the Application. The controller does not read sync options or retry from the spec for a requested
operation, so they are copied into it here, as argocd-server does.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.observe import REQUEST_INFO
from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._errors import ConfigError, HarnessError

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
    #: Render manifests of subfolders too (`source.directory.recurse`; off in Argo CD by default).
    recurse: bool = False

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
            "source": {
                "repoURL": self.repo_url,
                "path": self.path,
                "targetRevision": self.revision,
                **({"directory": {"recurse": True}} if self.recurse else {}),
            },
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


# REQUEST_INFO names the `operation.info` entry that carries the id of a sync the harness requested.
# The controller copies the whole `.operation` into `status.operationState.operation`
# (`NewOperationState` in argo-cd `controller/sync.go`), so the id identifies the operation for its
# whole life, unlike `startedAt`, which has one-second resolution.
#: `argocd app delete --cascade --propagation-policy ...` maps to these finalizers; `orphan` removes
#: them all (argo-cd `server/application/application.go`, `Delete` and `getPropagationPolicyFinalizer`).
CASCADE_FINALIZERS = {
    "foreground": "resources-finalizer.argocd.argoproj.io/foreground",
    "background": "resources-finalizer.argocd.argoproj.io/background",
}
PROPAGATION_FINALIZERS = frozenset({RESOURCES_FINALIZER, *CASCADE_FINALIZERS.values()})
Cascade = Literal["foreground", "background", "orphan"]


def cascade_finalizers(finalizers: Sequence[str], cascade: Cascade, *, deleting: bool = False) -> list[str]:
    """The Application's finalizers after argocd-server's handling of a delete with `cascade`.

    `foreground`/`background` add that policy's finalizer unless present (or the app is already
    being deleted: Kubernetes refuses new finalizers then); `orphan` removes every
    propagation-policy finalizer and keeps the rest.
    """
    if cascade == "orphan":
        return [f for f in finalizers if f not in PROPAGATION_FINALIZERS]
    if cascade not in CASCADE_FINALIZERS:
        raise ConfigError(f"cascade must be 'foreground', 'background' or 'orphan', got {cascade!r}")
    fin = CASCADE_FINALIZERS[cascade]
    return list(finalizers) if fin in finalizers or deleting else [*finalizers, fin]


class OperationInProgress(HarnessError):
    """A sync was requested while another operation runs (argocd-server refuses it the same way)."""


@dataclass(frozen=True)
class SyncRetry:
    """A sync's retry strategy (`argocd app sync --retry-limit ... --retry-backoff-*`).

    `duration` and `max_duration` are Go durations ("5s", "3m"); `refresh` retries with the latest
    revision instead of the one first requested. Shape: `Operation.retry` in argo-cd
    `pkg/apis/application/v1alpha1/types.go` (`RetryStrategy`, `Backoff`).
    """

    limit: int
    duration: str = "5s"
    factor: int = 2
    max_duration: str = "3m"
    refresh: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < -1:
            raise ConfigError(f"retry limit must be an integer >= -1 (-1: unlimited), got {self.limit!r}")
        if isinstance(self.factor, bool) or not isinstance(self.factor, int) or self.factor < 1:
            raise ConfigError(f"retry backoff factor must be an integer >= 1, got {self.factor!r}")
        for label, value in (("duration", self.duration), ("max_duration", self.max_duration)):
            if not isinstance(value, str) or not _GO_DURATION.fullmatch(value):
                raise ConfigError(f"retry {label} must be a Go duration such as '5s' or '3m', got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "backoff": {"duration": self.duration, "factor": self.factor, "maxDuration": self.max_duration},
            **({"refresh": True} if self.refresh else {}),
        }


_GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+")
_SYNC_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9]*=[^=\s]+")


def parse_resource(spec: str) -> dict[str, str]:
    """`GROUP:KIND:NAME` or `GROUP:KIND:NAMESPACE/NAME` (the CLI's `--resource`), group empty for core."""
    parts = spec.split(":")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise ConfigError(
            f"resource {spec!r} is not GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME "
            "(core kinds have an empty group, e.g. ':ConfigMap:app-config', 'apps:Deployment:web')"
        )
    group, kind, name = parts
    ns = ""
    if "/" in name:
        ns, name = name.split("/", 1)
    if not name:
        raise ConfigError(f"resource {spec!r} has no name")
    out = {"group": group, "kind": kind, "name": name}
    if ns:
        out["namespace"] = ns
    return out


def validate_sync_options(options: Sequence[str]) -> list[str]:
    if isinstance(options, str):
        raise ConfigError(f"sync_options must be a list such as ['Replace=true'], got the string {options!r}")
    bad = [o for o in options if not isinstance(o, str) or not _SYNC_OPTION.fullmatch(o)]
    if bad:
        raise ConfigError(f"sync options must look like 'Name=value' (e.g. 'Replace=true'); got {bad!r}")
    return list(options)


def sync_operation(
    app: dict[str, Any],
    *,
    request_id: str,
    revision: str | None = None,
    prune: bool = False,
    force: bool = False,
    dry_run: bool = False,
    resources: Sequence[str] = (),
    sync_options: Sequence[str] | None = None,
    retry: SyncRetry | None = None,
    initiated_by: str = "argocd-chaos",
) -> dict[str, Any]:
    """The `.operation` argocd-server writes for a sync request (`Sync` in argo-cd `server/application`).

    As there: sync options and retry come from the spec's `syncPolicy` unless the request gives its
    own; prune, force and dry-run are off unless asked. The hook strategy is used (the CLI's default),
    with `force` set on it as `argocd app sync --force` does. `request_id` goes into `info`.
    """
    spec = app.get("spec", {})
    policy = spec.get("syncPolicy") or {}
    source = spec.get("source") or {}
    options = validate_sync_options(sync_options) if sync_options is not None else policy.get("syncOptions")
    sync: dict[str, Any] = {
        "revision": revision or source.get("targetRevision", "HEAD"),
        "prune": bool(prune),
        "syncStrategy": {"hook": {"force": True} if force else {}},
    }
    if dry_run:
        sync["dryRun"] = True
    if resources:
        sync["resources"] = [parse_resource(r) for r in resources]
    if options:
        sync["syncOptions"] = list(options)
    op: dict[str, Any] = {
        "initiatedBy": {"username": initiated_by},
        "info": [{"name": REQUEST_INFO, "value": request_id}],
        "sync": sync,
    }
    if retry is not None:
        op["retry"] = retry.to_dict()
    elif policy.get("retry"):
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

    def sync(self, name: str, **request: Any) -> str:
        """Request a sync as argocd-server does and return its request id.

        Like argocd-server (`SetAppOperation` in argo-cd `util/argo/argo.go`) this writes `.operation`
        and clears the previous `status.operationState` in one update, guarded by the
        resourceVersion read, and refuses while another operation is still running. `request`:
        the keyword arguments of :func:`sync_operation` except `request_id`.
        """
        request_id = uuid.uuid4().hex
        for _ in range(10):
            app = self.get(name)
            if app.get("operation"):
                raise OperationInProgress(
                    f"application {name} already has an operation in progress: {app['operation']}; wait for "
                    "it to end or terminate it first"
                )
            op = sync_operation(app, request_id=request_id, **request)
            body = {
                "metadata": {"resourceVersion": app["metadata"]["resourceVersion"]},
                "operation": op,
                "status": {"operationState": None},
            }
            try:
                self.patch(name, body)
                return request_id
            except ApiException as exc:
                # The controller writes the status all the time: read again and retry, as
                # SetAppOperation does on a conflict.
                if exc.status != 409:
                    raise
        raise HarnessError(f"unable to request a sync of {name}: too many update conflicts")

    def terminate(self, name: str) -> None:
        """End the running operation as `argocd app terminate-op` does: phase Terminating.

        argo-cd `server/application/application.go` `TerminateOperation`; retried on conflicts.
        Raises `HarnessError` when no operation is in progress.
        """
        for _ in range(10):
            app = self.get(name)
            state = (app.get("status") or {}).get("operationState")
            if not app.get("operation") or not state:
                raise HarnessError(f"unable to terminate: application {name} has no operation in progress")
            body = {
                "metadata": {"resourceVersion": app["metadata"]["resourceVersion"]},
                "status": {"operationState": {"phase": "Terminating"}},
            }
            try:
                self.patch(name, body)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
        raise HarnessError(f"unable to terminate the operation of {name}: too many update conflicts")

    def refresh(self, name: str, *, hard: bool = False) -> None:
        mode = "hard" if hard else "normal"
        self.patch(name, {"metadata": {"annotations": {"argocd.argoproj.io/refresh": mode}}})

    def set_automated(
        self, name: str, *, enabled: bool, self_heal: bool = False, prune: bool = False
    ) -> None:
        auto = {"prune": prune, "selfHeal": self_heal} if enabled else None
        self.patch(name, {"spec": {"syncPolicy": {"automated": auto}}})

    def delete(self, name: str, cascade: Cascade | None = None) -> None:
        """Delete the Application; with `cascade`, first set the finalizers argocd-server would.

        `None` deletes it with whatever finalizers it has (the harness's cleanup). `foreground` and
        `background` add the propagation-policy finalizer; `orphan` removes every propagation-policy
        finalizer and keeps the others (pre/post-delete hook finalizers), so the app's resources stay.
        argo-cd `server/application/application.go` (`Delete`). A missing app is not an error.
        """
        if cascade is not None:
            if cascade not in ("foreground", "background", "orphan"):
                raise ConfigError(f"cascade must be 'foreground', 'background' or 'orphan', got {cascade!r}")
            app = self.get_or_none(name)
            if app is None:
                return
            meta = app["metadata"]
            finalizers = list(meta.get("finalizers") or [])
            wanted = cascade_finalizers(finalizers, cascade, deleting=bool(meta.get("deletionTimestamp")))
            if wanted != finalizers:
                # Without a resourceVersion, as argocd-server patches them: the controller writes the
                # status all the time, and the finalizers were computed from what was just read.
                self.patch(name, {"metadata": {"finalizers": wanted}})
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
