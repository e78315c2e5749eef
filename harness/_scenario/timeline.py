"""Record what the controller does over time: operations, retry attempts, hook runs.

Timing claims (retry gaps, self-heal gaps) are measured, not assumed: a background thread samples
the Application and the hook Jobs of the test namespace while the scenario runs, and the numbers
go into the ledger evidence and the report.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from kubernetes import client

from harness._argocd.driver import ArgoCD
from harness._argocd.operations import OperationLog


@dataclass
class OperationRun:
    """One operation, first seen at `first_seen` (epoch seconds, our clock)."""

    started_at: str
    first_seen: float
    automated: bool
    phase: str = ""
    message: str = ""
    retry_count: int = 0
    finished_at: str = ""
    revision: str = ""
    hooks: list[tuple[str, str, str]] = field(default_factory=list)
    ended_seen: float | None = None
    seq: int = 0
    #: `operation.sync.autoHealAttemptsCount`: heals in a row, this one included (0: not a heal).
    self_heal_attempts: int = 0


@dataclass(frozen=True)
class JobRun:
    """A hook Job object came into existence: one run of that hook."""

    name: str
    uid: str
    first_seen: float
    created: str


@dataclass(frozen=True)
class RetryMark:
    at: float
    retry_count: int
    message: str


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 2) for a, b in zip(times, times[1:], strict=False)]


#: A gap this much larger than the one before counts as growth, not jitter.
_GROWTH = 1.5


def spacing(intervals: list[float], *, nominal: float) -> str:
    """The shape of a series of gaps, in words, for a claim about how far apart events are.

    A check that compares the gaps themselves would differ on every run (a heal lands 1.7 s or 2.1 s
    after the last one), so comparing two ledgers would report a change where the controller behaved
    the same. The shape (constant near the claimed spacing, growing, or neither) is what the claim is
    about and is stable; the numbers go into the evidence.
    """
    if not intervals:
        return "no gaps measured"
    tolerance = max(1.0, 0.25 * nominal)
    if all(abs(g - nominal) <= tolerance for g in intervals):
        return f"constant, about {nominal:g} s"
    if len(intervals) > 1 and all(b > a * _GROWTH for a, b in zip(intervals, intervals[1:], strict=False)):
        return "growing with each one"
    return "irregular"


class Timeline:
    """Samples every `interval` seconds until stopped; use as a context manager."""

    def __init__(self, api: client.ApiClient, app_name: str, namespace: str, interval: float = 0.2) -> None:
        self.argocd = ArgoCD(api)
        self.batch = client.BatchV1Api(api)
        self.app_name = app_name
        self.namespace = namespace
        self.interval = interval
        self._ops: dict[int, OperationRun] = {}
        self._log = OperationLog()
        self._jobs: dict[str, JobRun] = {}
        self._retries: list[RetryMark] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self.t0 = time.time()
        #: When the latest sample was taken (epoch seconds): where a chart of the timeline ends.
        self.last_sample = self.t0

    def __enter__(self) -> Timeline:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._sample()
        self._thread = threading.Thread(target=self._run, name=f"timeline-{self.app_name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sample()

    def _run(self) -> None:
        # The wait between samples is the sampling period, not a wait for a condition.
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        now = time.time()
        self.last_sample = now
        try:
            app = self.argocd.get_or_none(self.app_name)
            jobs: list[Any] = self.batch.list_namespaced_job(self.namespace).items
        except Exception as exc:  # noqa: BLE001 - a missed sample is recorded, not fatal
            self.errors.append(f"{now:.1f}: {type(exc).__name__}: {exc}")
            return
        with self._lock:
            if app:
                self._record_op(app, now)
            for j in jobs:
                uid = j.metadata.uid
                if uid not in self._jobs:
                    created = j.metadata.creation_timestamp
                    self._jobs[uid] = JobRun(
                        j.metadata.name, uid, now, created.isoformat() if created else ""
                    )

    def _record_op(self, app: dict[str, Any], now: float) -> None:
        # The log tells operations apart by request id, startedAt and phase transitions; keying on
        # startedAt alone merged two operations started within one second.
        self._log.observe(app, now)
        rec = self._log.latest()
        op = (app.get("status") or {}).get("operationState")
        if rec is None or not op or not op.get("startedAt") or rec.app is not app:
            return
        run = self._ops.get(rec.seq)
        if run is None:
            automated = bool(((op.get("operation") or {}).get("initiatedBy") or {}).get("automated"))
            run = self._ops[rec.seq] = OperationRun(op["startedAt"], now, automated, seq=rec.seq)
        retry = int(op.get("retryCount", 0))
        if retry != run.retry_count:
            self._retries.append(RetryMark(now, retry, op.get("message", "")))
        run.phase = op.get("phase", "")
        run.message = op.get("message", "")
        run.retry_count = retry
        run.finished_at = op.get("finishedAt", "") or ""
        run.self_heal_attempts = int(
            ((op.get("operation") or {}).get("sync") or {}).get("autoHealAttemptsCount", 0)
        )
        result = op.get("syncResult") or {}
        run.revision = result.get("revision", "")
        run.hooks = [
            (r.get("name", ""), r.get("hookType", ""), r.get("hookPhase", ""))
            for r in result.get("resources") or []
            if r.get("hookType")
        ]
        if run.phase in ("Succeeded", "Failed", "Error") and run.ended_seen is None:
            run.ended_seen = now

    # -- readings ------------------------------------------------------------------------------------
    def operations(self, since: float = 0.0) -> list[OperationRun]:
        with self._lock:
            return sorted(
                (o for o in self._ops.values() if o.first_seen >= since), key=lambda o: o.first_seen
            )

    def job_runs(self, name: str | None = None, since: float = 0.0) -> list[JobRun]:
        with self._lock:
            runs = [
                j for j in self._jobs.values() if (name is None or j.name == name) and j.first_seen >= since
            ]
        return sorted(runs, key=lambda j: j.first_seen)

    def retries(self) -> list[RetryMark]:
        with self._lock:
            return list(self._retries)

    def summary(self) -> dict[str, Any]:
        """The measured numbers, relative to the timeline's start, for evidence and attachments.

        Every `t` is seconds since `t0` (our clock, 0.01 s). An operation's `ended_t` is when it was
        first seen ended (Succeeded, Failed or Error), or None when it never was in the window: the
        claims page draws an operation as a bar from `t` to `ended_t`. `seq` numbers the operations
        in the order the operation log told them apart (1, 2, ...). `stopped_t` is when the latest
        sample was taken (after `stop()`: the end of what was observed), where a bar of an operation
        never seen ended stops.
        """
        ops = self.operations()
        runs = self.job_runs()
        return {
            "operations": [
                {
                    "t": round(o.first_seen - self.t0, 2),
                    "ended_t": None if o.ended_seen is None else round(o.ended_seen - self.t0, 2),
                    "seq": o.seq,
                    "phase": o.phase,
                    "automated": o.automated,
                    "retry_count": o.retry_count,
                    "message": o.message,
                    "hooks": o.hooks,
                }
                for o in ops
            ],
            "operation_gaps_s": gaps([o.first_seen for o in ops]),
            "hook_runs": [
                {"t": round(j.first_seen - self.t0, 2), "name": j.name, "uid": j.uid} for j in runs
            ],
            "retry_marks": [
                {"t": round(r.at - self.t0, 2), "retry_count": r.retry_count} for r in self._retries
            ],
            "sample_errors": len(self.errors),
            "stopped_t": round(self.last_sample - self.t0, 2),
        }
