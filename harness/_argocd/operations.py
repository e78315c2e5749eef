"""Tell an Application's operations apart, one from the next, for their whole life.

`status.operationState.startedAt` has one-second resolution: two operations started within one
second carry the same value, and a wait keyed on it cannot tell the second from the first. What does
tell them apart is the order of writes to the Application. Every new operation begins with a write
that sets `.operation` and clears `status.operationState` (argocd-server and the controller's automated
sync both go through `SetAppOperation`, argo-cd `util/argo/argo.go`); the controller then writes the
state (`NewOperationState`, `controller/sync.go`: phase Running, a copy of `.operation`, `startedAt`),
and in the write that ends it, clears `.operation` again (`setOperationState`,
`controller/appcontroller.go`).

:class:`OperationLog` is fed every version of the Application in order (from a watch,
:class:`OperationWatch`) and numbers the operations it sees: `seq` 1, 2, 3, ... A sampler that may miss
versions (the timeline) feeds it too; it then still splits operations on a changed request id or
`startedAt`, or on a Running state after an ended one, but may merge two operations it never saw
separately.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from harness._argocd.observe import DONE_PHASES, OperationState, request_id_of

GROUP, VERSION, PLURAL = "argoproj.io", "v1alpha1", "applications"


@dataclass
class OperationRecord:
    """One operation as the log saw it; `app` is the last Application version that belongs to it."""

    seq: int
    request_id: str
    first_seen: float
    started_at: str = ""
    phase: str = ""
    app: dict[str, Any] | None = None
    max_retry_count: int = 0
    #: resourceVersion of the first Application version that belongs to it.
    first_resource_version: str = ""

    @property
    def done(self) -> bool:
        return self.phase in DONE_PHASES

    def state(self) -> OperationState | None:
        """The operation state as last seen, numbered; None while it is requested but not started."""
        op = OperationState.from_app(self.app) if self.app is not None else None
        return dataclasses.replace(op, seq=self.seq) if op is not None else None


@dataclass
class OperationLog:
    """The operations of one Application, in the order they began."""

    records: list[OperationRecord] = field(default_factory=list)
    #: Versions fed so far; a test can wait until the log has seen the state it just read.
    versions_seen: int = 0
    last_resource_version: str = ""

    def observe(self, app: dict[str, Any], now: float | None = None) -> None:
        """Feed the next version of the Application (older versions must come first)."""
        now = time.time() if now is None else now
        self.versions_seen += 1
        self.last_resource_version = str((app.get("metadata") or {}).get("resourceVersion", ""))
        requested = app.get("operation")
        state = (app.get("status") or {}).get("operationState")
        cur = self.records[-1] if self.records else None
        req_id = request_id_of(requested) if requested else ""
        state_id = request_id_of(state.get("operation")) if state else ""
        started = str(state.get("startedAt", "")) if state else ""
        phase = str(state.get("phase", "")) if state else ""

        new = False
        if cur is None:
            new = bool(requested or state)
        elif requested and state is None and (cur.started_at or cur.done):
            new = True  # a request cleared the previous state: SetAppOperation
        elif requested and req_id != cur.request_id and (cur.done or cur.started_at):
            new = True  # a request with another id while the last one had started
        elif state is not None:
            if cur.started_at and started and started != cur.started_at:
                new = True
            elif state_id != cur.request_id and cur.started_at:
                new = True
            elif cur.done and phase not in DONE_PHASES:
                new = True  # the same second, but Running again after an ended operation
        if new:
            cur = OperationRecord(
                len(self.records) + 1,
                req_id or state_id,
                now,
                first_resource_version=self.last_resource_version,
            )
            self.records.append(cur)
        if cur is None:
            return
        if state is not None:
            cur.started_at = started or cur.started_at
            cur.phase = phase
            cur.request_id = cur.request_id or state_id
            cur.max_retry_count = max(cur.max_retry_count, int(state.get("retryCount", 0) or 0))
            cur.app = app

    def latest(self) -> OperationRecord | None:
        return self.records[-1] if self.records else None

    def at_version(self, resource_version: str) -> OperationRecord | None:
        """The operation current at that Application version (the last one begun by then)."""
        found = None
        for r in self.records:
            if r.first_resource_version and not _older_or_same(r.first_resource_version, resource_version):
                break
            found = r
        return found

    def by_request(self, request_id: str) -> OperationRecord | None:
        return next((r for r in self.records if r.request_id == request_id), None)

    def after(self, seq: int) -> OperationRecord | None:
        """The first operation that began after operation `seq`."""
        return next((r for r in self.records if r.seq > seq), None)


class OperationWatch:
    """Feeds an :class:`OperationLog` from a watch on one Application, in a daemon thread.

    The watch resumes from the last resourceVersion it saw when the server ends it; when that version
    is too old (HTTP 410), it reads the Application again and notes the gap in `gaps` (operations that
    began and ended inside the gap are then not numbered separately).
    """

    def __init__(self, api: client.ApiClient, namespace: str, name: str) -> None:
        self.co = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.name = name
        self.log = OperationLog()
        self.lock = threading.Lock()
        self.gaps: list[str] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._read()
        self._thread = threading.Thread(target=self._run, name=f"operations-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def sync_now(self) -> None:
        """Read the Application once and feed it, so the log is at least as new as this moment."""
        self._read()

    def _read(self) -> None:
        try:
            app = self.co.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, self.name)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        self._feed(cast(dict[str, Any], app))

    def _feed(self, app: dict[str, Any]) -> None:
        rv = str((app.get("metadata") or {}).get("resourceVersion", ""))
        with self.lock:
            # A version the log already has (the read at start, a resumed watch): skip it, so a
            # version is never fed twice. resourceVersions are opaque, but etcd's are integers.
            if rv and self.log.last_resource_version and _older_or_same(rv, self.log.last_resource_version):
                return
            self.log.observe(app)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._watch = watch.Watch()
            try:
                for event in self._watch.stream(
                    self.co.list_namespaced_custom_object,
                    GROUP,
                    VERSION,
                    self.namespace,
                    PLURAL,
                    field_selector=f"metadata.name={self.name}",
                    resource_version=self.log.last_resource_version or None,
                    timeout_seconds=10,  # bounds how long a stopped watch lingers
                ):
                    if self._stop.is_set():
                        return
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._feed(dict(event["object"]))
            except ApiException as exc:
                if exc.status == 410:
                    self.gaps.append(f"watch expired at resourceVersion {self.log.last_resource_version}")
                    self._safe_read()
                else:
                    self.errors.append(f"{type(exc).__name__}: {exc.status} {exc.reason}")
                    self._stop.wait(0.5)  # back off before watching again; not a wait for a condition
            except Exception as exc:  # noqa: BLE001 - the connection dropped; resume from the last version
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(0.5)

    def _safe_read(self) -> None:
        try:
            self._read()
        except Exception as exc:  # noqa: BLE001 - recorded; the watch loop retries
            self.errors.append(f"{type(exc).__name__}: {exc}")


def _older_or_same(rv: str, than: str) -> bool:
    try:
        return int(rv) <= int(than)
    except ValueError:
        return rv == than
