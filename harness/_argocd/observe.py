"""Typed snapshots of what a test asserts on, read from the Application and the cluster.

Tests compare plain dataclasses instead of digging through nested dicts, and the same snapshots
are what the ledger records as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResourceResult:
    kind: str
    name: str
    namespace: str
    status: str
    message: str
    hook_type: str
    hook_phase: str
    sync_phase: str

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
        )


@dataclass(frozen=True)
class OperationState:
    phase: str
    message: str
    retry_count: int
    started_at: str
    finished_at: str
    revision: str
    resources: tuple[ResourceResult, ...] = field(default_factory=tuple)

    @classmethod
    def from_app(cls, app: dict[str, Any]) -> OperationState | None:
        op = (app.get("status") or {}).get("operationState")
        if not op:
            return None
        result = op.get("syncResult") or {}
        return cls(
            phase=op.get("phase", ""),
            message=op.get("message", ""),
            retry_count=int(op.get("retryCount", 0)),
            started_at=op.get("startedAt", ""),
            finished_at=op.get("finishedAt", ""),
            revision=result.get("revision", ""),
            resources=tuple(ResourceResult.from_dict(r) for r in result.get("resources") or []),
        )

    @property
    def done(self) -> bool:
        return self.phase in ("Succeeded", "Failed", "Error")

    def hooks(self, hook_type: str | None = None) -> list[ResourceResult]:
        return [r for r in self.resources if r.hook_type and (hook_type is None or r.hook_type == hook_type)]

    def excerpt(self) -> str:
        rows = "; ".join(
            f"{r.kind}/{r.name} {r.hook_type or 'resource'} {r.hook_phase or r.status}"
            for r in self.resources
        )
        return f"phase={self.phase} message={self.message!r} retries={self.retry_count} resources=[{rows}]"


@dataclass(frozen=True)
class AppStatus:
    sync: str
    health: str
    revision: str
    operation: OperationState | None
    history: tuple[dict[str, Any], ...]
    conditions: tuple[dict[str, Any], ...]
    operation_requested: bool

    @classmethod
    def from_app(cls, app: dict[str, Any]) -> AppStatus:
        st = app.get("status") or {}
        return cls(
            sync=(st.get("sync") or {}).get("status", ""),
            health=(st.get("health") or {}).get("status", ""),
            revision=(st.get("sync") or {}).get("revision", ""),
            operation=OperationState.from_app(app),
            history=tuple(st.get("history") or []),
            conditions=tuple(st.get("conditions") or []),
            operation_requested=bool(app.get("operation")),
        )

    def excerpt(self) -> str:
        op = self.operation.excerpt() if self.operation else "no operationState"
        return f"sync={self.sync} health={self.health} operation: {op}"


#: Annotation every non-hook fixture object carries: the fixture revision its content comes from.
REVISION_ANNOTATION = "argocd-chaos.io/fixture-revision"


@dataclass(frozen=True)
class LiveObject:
    """One object in the destination namespace, as the cluster has it now."""

    kind: str
    name: str
    uid: str
    created: str
    revision: str
    deleting: bool = False
    status: str = ""

    @classmethod
    def from_k8s(cls, kind: str, obj: Any) -> LiveObject:
        meta = obj.metadata
        ann = meta.annotations or {}
        return cls(
            kind=kind,
            name=meta.name,
            uid=meta.uid,
            created=meta.creation_timestamp.isoformat() if meta.creation_timestamp else "",
            revision=ann.get(REVISION_ANNOTATION, ""),
            deleting=meta.deletion_timestamp is not None,
            status=_job_status(obj) if kind == "Job" else "",
        )


def _job_status(job: Any) -> str:
    st = job.status
    if st is None:
        return ""
    conds = {c.type for c in st.conditions or [] if c.status == "True"}
    # The Job controller sets SuccessCriteriaMet/FailureTarget first and Complete/Failed once the
    # pods are gone; report the final word when there is one.
    for kind in ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget"):
        if kind in conds:
            return kind
    return f"active={st.active or 0} succeeded={st.succeeded or 0} failed={st.failed or 0}"


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
