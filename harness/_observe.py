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
