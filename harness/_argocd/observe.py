"""Typed snapshots of what a test asserts on, read from the Application and the cluster.

Tests compare plain dataclasses instead of digging through nested dicts, and the same snapshots
are what the ledger records as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiClient


@dataclass(frozen=True)
class ResourceResult:
    """One entry of `operationState.syncResult.resources[]` (argo-cd `ResourceResult`).

    `group` is "" for core kinds; `images` are the container images the controller read from the
    object's pod template, as it recorded them.
    """

    kind: str
    name: str
    namespace: str
    status: str
    message: str
    hook_type: str
    hook_phase: str
    sync_phase: str
    group: str = ""
    version: str = ""
    images: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> ResourceResult:
        return cls(
            r.get("kind", ""),
            r.get("name", ""),
            r.get("namespace", ""),
            r.get("status", ""),
            r.get("message", ""),
            r.get("hookType", ""),
            r.get("hookPhase", ""),
            r.get("syncPhase", ""),
            group=r.get("group", "") or "",
            version=r.get("version", "") or "",
            images=tuple(r.get("images") or ()),
        )


#: Operation phases after which the controller does no more work on the operation.
DONE_PHASES = ("Succeeded", "Failed", "Error")
#: `operation.info` entry carrying the harness's request id (see `harness._argocd.driver`).
REQUEST_INFO = "argocd-chaos-request"


@dataclass(frozen=True)
class OperationState:
    """`status.operationState` of an Application.

    `started_at` has one-second resolution, so it does not tell two operations apart: `request_id`
    (the id the harness put into the `info` of a sync it requested; "" for automated operations)
    and `seq` (the operation's ordinal in the app's life as the harness watched it, 1 for the first;
    0 when it was read without that watch) do.
    """

    phase: str
    message: str
    retry_count: int
    started_at: str
    finished_at: str
    revision: str
    resources: tuple[ResourceResult, ...] = field(default_factory=tuple)
    request_id: str = ""
    initiated_by: str = ""
    automated: bool = False
    seq: int = 0

    @classmethod
    def from_app(cls, app: dict[str, Any]) -> OperationState | None:
        op = (app.get("status") or {}).get("operationState")
        if not op:
            return None
        result = op.get("syncResult") or {}
        requested = op.get("operation") or {}
        by = requested.get("initiatedBy") or {}
        return cls(
            phase=op.get("phase", ""),
            message=op.get("message", ""),
            retry_count=int(op.get("retryCount", 0)),
            started_at=op.get("startedAt", ""),
            finished_at=op.get("finishedAt", "") or "",
            revision=result.get("revision", ""),
            resources=tuple(ResourceResult.from_dict(r) for r in result.get("resources") or []),
            request_id=request_id_of(requested),
            initiated_by=by.get("username", "") or "",
            automated=bool(by.get("automated")),
        )

    @property
    def done(self) -> bool:
        return self.phase in DONE_PHASES

    def hooks(self, hook_type: str | None = None) -> list[ResourceResult]:
        return [r for r in self.resources if r.hook_type and (hook_type is None or r.hook_type == hook_type)]

    def excerpt(self) -> str:
        rows = "; ".join(
            f"{r.kind}/{r.name} {r.hook_type or 'resource'} {r.hook_phase or r.status}"
            for r in self.resources
        )
        return f"phase={self.phase} message={self.message!r} retries={self.retry_count} resources=[{rows}]"


def request_id_of(operation: dict[str, Any] | None) -> str:
    """The harness's request id in an `.operation` (or `operationState.operation`); "" if none."""
    for item in (operation or {}).get("info") or []:
        if isinstance(item, dict) and item.get("name") == REQUEST_INFO:
            return str(item.get("value", ""))
    return ""


#: `status.resourceHealthSource` when the controller keeps per-resource health out of
#: `status.resources[]` (Argo CD v3's default, `controller.resource.health.persist: "false"`).
HEALTH_IN_TREE = "appTree"


@dataclass(frozen=True)
class AppResource:
    """One entry of `status.resources[]`: what the controller compares, with its sync status.

    `health` is "" when the controller did not store it there (see `AppStatus.resource_health_stored`).
    """

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    status: str
    health: str = ""
    health_message: str = ""
    hook: bool = False
    requires_pruning: bool = False

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> AppResource:
        health = r.get("health") or {}
        return cls(
            group=r.get("group", "") or "",
            version=r.get("version", "") or "",
            kind=r.get("kind", ""),
            namespace=r.get("namespace", "") or "",
            name=r.get("name", ""),
            status=r.get("status", "") or "",
            health=health.get("status", "") or "",
            health_message=health.get("message", "") or "",
            hook=bool(r.get("hook")),
            requires_pruning=bool(r.get("requiresPruning")),
        )


@dataclass(frozen=True)
class AppStatus:
    """What the Application's status says now.

    `resources` is `status.resources[]`. `resource_health_stored` is False when the controller keeps
    per-resource health in its resource tree instead (`status.resourceHealthSource: appTree`, the
    v3 default): then every `AppResource.health` is "" because the controller did not write it, not
    because the resource has no health. `deleting` says the Application has a deletionTimestamp;
    `finalizers` are its own.
    """

    sync: str
    health: str
    revision: str
    operation: OperationState | None
    history: tuple[dict[str, Any], ...]
    conditions: tuple[dict[str, Any], ...]
    operation_requested: bool
    resources: tuple[AppResource, ...] = ()
    resource_health_stored: bool = True
    finalizers: tuple[str, ...] = ()
    deleting: bool = False

    @classmethod
    def from_app(cls, app: dict[str, Any]) -> AppStatus:
        st = app.get("status") or {}
        meta = app.get("metadata") or {}
        return cls(
            sync=(st.get("sync") or {}).get("status", ""),
            health=(st.get("health") or {}).get("status", ""),
            revision=(st.get("sync") or {}).get("revision", ""),
            operation=OperationState.from_app(app),
            history=tuple(st.get("history") or []),
            conditions=tuple(st.get("conditions") or []),
            operation_requested=bool(app.get("operation")),
            resources=tuple(AppResource.from_dict(r) for r in st.get("resources") or []),
            resource_health_stored=st.get("resourceHealthSource") != HEALTH_IN_TREE,
            finalizers=tuple(meta.get("finalizers") or ()),
            deleting=bool(meta.get("deletionTimestamp")),
        )

    def resource(self, kind: str, name: str) -> AppResource | None:
        return next((r for r in self.resources if r.kind == kind and r.name == name), None)

    def condition(self, type_: str) -> str | None:
        """The message of the condition of that type (e.g. "DeletionError"), None when absent."""
        return next((str(c.get("message", "")) for c in self.conditions if c.get("type") == type_), None)

    def excerpt(self) -> str:
        op = self.operation.excerpt() if self.operation else "no operationState"
        return f"sync={self.sync} health={self.health} operation: {op}"


#: Annotation every non-hook fixture object carries: the fixture revision its content comes from.
REVISION_ANNOTATION = "argocd-chaos.io/fixture-revision"


#: kubectl's client-side-apply record: the applied manifest, a Secret's values included.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
#: Annotation that makes an object a hook, and its value (the hook types).
HOOK_ANNOTATION = "argocd.argoproj.io/hook"


@dataclass(frozen=True)
class LiveObject:
    """One object as the cluster has it now.

    `revision` is the fixture revision it was committed at (hooks have none); `status` summarises a
    Job (its final condition, or its pod counts); `phase` is a Namespace's or a Pod's
    `status.phase`; `data` is a ConfigMap's data. A Secret's values are never read into it: `keys`
    lists the keys of a ConfigMap's or a Secret's data. `owners` are "Kind/name" of the owner
    references; `hook` the value of the `argocd.argoproj.io/hook` annotation ("" when none).
    """

    kind: str
    name: str
    uid: str
    created: str
    revision: str
    deleting: bool = False
    status: str = ""
    api_version: str = ""
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    phase: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    keys: tuple[str, ...] = ()

    @property
    def hook(self) -> str:
        return self.annotations.get(HOOK_ANNOTATION, "")

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any]) -> LiveObject:
        """From an object as the API serves it (JSON field names)."""
        meta = obj.get("metadata") or {}
        kind = str(obj.get("kind", ""))
        ann = dict(meta.get("annotations") or {})
        status = obj.get("status") or {}
        data: dict[str, str] = {}
        keys: tuple[str, ...] = ()
        if kind == "ConfigMap":
            data = dict(obj.get("data") or {})
            keys = tuple(sorted([*data, *(obj.get("binaryData") or {})]))
        elif kind == "Secret":
            # Names of keys only: a value must never reach a report. A client-side apply (Argo CD's
            # default) copies the whole manifest, values included, into this annotation.
            keys = tuple(sorted([*(obj.get("data") or {}), *(obj.get("stringData") or {})]))
            ann.pop(LAST_APPLIED, None)
        return cls(
            kind=kind,
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            created=_timestamp(meta.get("creationTimestamp")),
            revision=ann.get(REVISION_ANNOTATION, ""),
            deleting=bool(meta.get("deletionTimestamp")),
            status=_job_status(status) if kind == "Job" else "",
            api_version=str(obj.get("apiVersion", "")),
            namespace=str(meta.get("namespace", "") or ""),
            labels=dict(meta.get("labels") or {}),
            annotations=ann,
            finalizers=tuple(meta.get("finalizers") or ()),
            owners=tuple(f"{o.get('kind')}/{o.get('name')}" for o in meta.get("ownerReferences") or []),
            phase=str(status.get("phase", "") or "") if kind in ("Namespace", "Pod") else "",
            data=data,
            keys=keys,
        )

    @classmethod
    def from_k8s(cls, kind: str, obj: Any) -> LiveObject:
        """From a typed object of the kubernetes client."""
        body = _SERIALIZER.sanitize_for_serialization(obj)
        body.setdefault("kind", kind)
        body["kind"] = kind
        return cls.from_dict(body)


_SERIALIZER = ApiClient()


def _timestamp(value: Any) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        # The API's RFC 3339 "Z" form, written as the typed client's isoformat() would.
        return value.replace("Z", "+00:00")
    return str(value)


def _job_status(st: Mapping[str, Any]) -> str:
    if not st:
        return ""
    conds = {c.get("type") for c in st.get("conditions") or [] if c.get("status") == "True"}
    # The Job controller sets SuccessCriteriaMet/FailureTarget first and Complete/Failed once the
    # pods are gone; report the final word when there is one.
    for kind in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"):
        if kind in conds:
            return kind
    return (
        f"active={st.get('active') or 0} succeeded={st.get('succeeded') or 0} failed={st.get('failed') or 0}"
    )


@dataclass(frozen=True)
class LiveState:
    """What the destination namespace holds, by kind and name."""

    objects: tuple[LiveObject, ...]

    def get(self, kind: str, name: str) -> LiveObject | None:
        return next((o for o in self.objects if o.kind == kind and o.name == name), None)

    def revisions(self, kind: str | None = None) -> dict[str, str]:
        """`kind/name -> fixture revision` of every live object (hooks have none)."""
        return {f"{o.kind}/{o.name}": o.revision for o in self.objects if kind is None or o.kind == kind}

    def named(self, kind: str, prefix: str = "") -> list[LiveObject]:
        return [o for o in self.objects if o.kind == kind and o.name.startswith(prefix)]

    def of_kind(self, kind: str) -> list[LiveObject]:
        return [o for o in self.objects if o.kind == kind]

    def hooks(self, hook_type: str | None = None) -> list[LiveObject]:
        """Objects carrying the hook annotation (optionally of one hook type, e.g. "PostDelete")."""
        return [
            o
            for o in self.objects
            if o.hook and (hook_type is None or hook_type in [t.strip() for t in o.hook.split(",")])
        ]
