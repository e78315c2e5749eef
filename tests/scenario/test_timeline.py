"""The scenario timeline (`harness._scenario.timeline`) and the controller's flag defaults, offline.

The timeline reads the Application and the namespace's Jobs through two API objects; both are
replaced on the instance by fakes that hand out one scripted answer per sample. The clock of the
module is a fake too, so recorded times and `since=` filters are exact.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.controller_flags import flag_defaults
from harness._scenario import timeline as _timeline
from harness._scenario.timeline import JobRun, RetryMark, Timeline, gaps, spacing
from harness._wait import Expectation, Outcome, expect

API = cast(client.ApiClient, object())
T0 = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now


class FakeArgoCD:
    """Answers `get_or_none` with the current Application dict (or None, or raises it)."""

    def __init__(self) -> None:
        self.app: dict[str, Any] | None = None
        self.error: Exception | None = None
        self.lock = threading.Lock()

    def get_or_none(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            if self.error is not None:
                raise self.error
            return self.app


class FakeBatch:
    def __init__(self) -> None:
        self.jobs: list[client.V1Job] = []
        self.error: Exception | None = None
        self.namespaces: list[str] = []
        self.lock = threading.Lock()

    def list_namespaced_job(self, namespace: str) -> client.V1JobList:
        with self.lock:
            self.namespaces.append(namespace)
            if self.error is not None:
                raise self.error
            return client.V1JobList(items=list(self.jobs))


def job(name: str, uid: str, created: dt.datetime | None = None) -> client.V1Job:
    return client.V1Job(metadata=client.V1ObjectMeta(name=name, uid=uid, creation_timestamp=created))


def application(
    started_at: str | None,
    *,
    phase: str = "Running",
    retry_count: int | None = None,
    message: str = "",
    automated: bool | None = None,
    finished_at: str | None = None,
    resources: list[dict[str, Any]] | None = None,
    self_heal_attempts: int | None = None,
) -> dict[str, Any]:
    """An Application as the controller leaves it while (or after) running one operation."""
    initiated: dict[str, Any] = {"username": "admin"}
    if automated is not None:
        initiated["automated"] = automated
    sync: dict[str, Any] = {"revision": "abc123"}
    if self_heal_attempts is not None:
        sync["autoHealAttemptsCount"] = self_heal_attempts
    op: dict[str, Any] = {
        "operation": {"sync": sync, "initiatedBy": initiated},
        "phase": phase,
        "message": message,
    }
    if started_at is not None:
        op["startedAt"] = started_at
    if retry_count is not None:
        op["retryCount"] = retry_count
    if finished_at is not None:
        op["finishedAt"] = finished_at
    if resources is not None:
        op["syncResult"] = {"revision": "abc123", "resources": resources}
    return {"metadata": {"name": "chaos-ab12cd"}, "status": {"operationState": op}}


PRESYNC_FAILED = {
    "kind": "Job",
    "name": "pre-migrate",
    "hookType": "PreSync",
    "hookPhase": "Failed",
    "status": "Synced",
}
CONFIG_MAP = {"kind": "ConfigMap", "name": "app-config", "status": "Synced"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(_timeline, "time", SimpleNamespace(time=c.time))
    return c


class Rig:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.timeline = Timeline(API, "chaos-ab12cd", "chaos-ab12cd-ns")
        self.argocd = FakeArgoCD()
        self.batch = FakeBatch()
        self.timeline.argocd = self.argocd  # type: ignore[assignment]
        self.timeline.batch = self.batch  # type: ignore[assignment]

    def sample_at(self, seconds: float, app: dict[str, Any] | None = None) -> None:
        """Take one sample `seconds` after the timeline began, seeing `app`."""
        self.clock.now = T0 + seconds
        if app is not None:
            self.argocd.app = app
        self.timeline._sample()


@pytest.fixture
def rig(clock: Clock) -> Rig:
    return Rig(clock)


# --------------------------------------------------------------------------------------------------
# Operations and retries


def test_no_application_and_no_jobs_records_nothing(rig: Rig) -> None:
    rig.sample_at(0.2)

    assert rig.timeline.operations() == []
    assert rig.timeline.job_runs() == []
    assert rig.timeline.retries() == []
    assert rig.timeline.errors == []
    assert rig.batch.namespaces == ["chaos-ab12cd-ns"]


def test_an_operation_state_without_started_at_is_not_an_operation(rig: Rig) -> None:
    rig.sample_at(0.2, {"metadata": {}, "status": {}})
    rig.sample_at(0.4, application(None))

    assert rig.timeline.operations() == []


def test_each_new_started_at_is_one_operation_first_seen_when_sampled(rig: Rig) -> None:
    rig.sample_at(1.0, application("2025-11-26T07:40:03Z"))
    rig.sample_at(1.2, application("2025-11-26T07:40:03Z"))
    rig.sample_at(4.5, application("2025-11-26T07:40:07Z"))

    ops = rig.timeline.operations()
    assert [(o.started_at, o.first_seen) for o in ops] == [
        ("2025-11-26T07:40:03Z", T0 + 1.0),
        ("2025-11-26T07:40:07Z", T0 + 4.5),
    ]
    assert [o.started_at for o in rig.timeline.operations(since=T0 + 2)] == ["2025-11-26T07:40:07Z"]


def test_operation_follows_the_latest_state_and_notes_when_it_ended(rig: Rig) -> None:
    started = "2025-11-26T07:40:03Z"
    rig.sample_at(1.0, application(started, message="waiting for completion of hook batch/Job/pre-migrate"))
    rig.sample_at(
        2.0,
        application(
            started,
            phase="Failed",
            message="one or more synchronization tasks completed unsuccessfully",
            finished_at="2025-11-26T07:40:12Z",
            resources=[PRESYNC_FAILED, CONFIG_MAP],
        ),
    )
    rig.sample_at(3.0, application(started, phase="Failed", finished_at="2025-11-26T07:40:12Z"))

    [op] = rig.timeline.operations()
    assert op.phase == "Failed"
    assert op.finished_at == "2025-11-26T07:40:12Z"
    assert op.ended_seen == T0 + 2.0  # the first sample that saw it ended, not a later one
    assert op.first_seen == T0 + 1.0


def test_operation_carries_the_self_heal_attempt_count_the_controller_wrote(rig: Rig) -> None:
    rig.sample_at(1.0, application("2025-11-26T07:40:03Z", automated=True))
    rig.sample_at(2.0, application("2025-11-26T07:40:05Z", automated=True, self_heal_attempts=3))

    assert [o.self_heal_attempts for o in rig.timeline.operations()] == [0, 3]


def test_hooks_are_the_sync_result_resources_with_a_hook_type(rig: Rig) -> None:
    rig.sample_at(
        1.0,
        application(
            "2025-11-26T07:40:03Z",
            phase="Failed",
            resources=[PRESYNC_FAILED, CONFIG_MAP, {"name": "post", "hookType": "PostSync"}],
        ),
    )

    [op] = rig.timeline.operations()
    assert op.hooks == [("pre-migrate", "PreSync", "Failed"), ("post", "PostSync", "")]
    assert op.revision == "abc123"


@pytest.mark.parametrize(
    ("automated", "expected"), [(True, True), (False, False), (None, False)], ids=["auto", "false", "manual"]
)
def test_automated_comes_from_initiated_by(rig: Rig, automated: bool | None, expected: bool) -> None:
    rig.sample_at(1.0, application("2025-11-26T07:40:03Z", automated=automated))

    [op] = rig.timeline.operations()
    assert op.automated is expected


def test_automated_is_fixed_when_the_operation_is_first_seen(rig: Rig) -> None:
    rig.sample_at(1.0, application("2025-11-26T07:40:03Z", automated=True))
    app = application("2025-11-26T07:40:03Z")
    del app["status"]["operationState"]["operation"]
    rig.sample_at(2.0, app)

    [op] = rig.timeline.operations()
    assert op.automated is True


def test_each_change_of_retry_count_is_a_retry_mark(rig: Rig) -> None:
    started = "2025-11-26T07:40:03Z"
    rig.sample_at(1.0, application(started))  # no retryCount yet: 0
    rig.sample_at(2.0, application(started, retry_count=1, message="retrying attempt #1"))
    rig.sample_at(3.0, application(started, retry_count=1, message="retrying attempt #1"))
    rig.sample_at(7.0, application(started, retry_count=3, message="retrying attempt #3"))

    assert rig.timeline.retries() == [
        RetryMark(T0 + 2.0, 1, "retrying attempt #1"),
        RetryMark(T0 + 7.0, 3, "retrying attempt #3"),
    ]
    [op] = rig.timeline.operations()
    assert op.retry_count == 3
    assert op.message == "retrying attempt #3"


def test_retry_count_is_tracked_per_operation(rig: Rig) -> None:
    rig.sample_at(1.0, application("2025-11-26T07:40:03Z", retry_count=0))
    rig.sample_at(2.0, application("2025-11-26T07:40:03Z", retry_count=2, message="attempt 2"))
    # A new operation starts over at 0: that is not a retry.
    rig.sample_at(3.0, application("2025-11-26T07:41:00Z", retry_count=0))

    assert rig.timeline.retries() == [RetryMark(T0 + 2.0, 2, "attempt 2")]
    assert [o.retry_count for o in rig.timeline.operations()] == [2, 0]


# --------------------------------------------------------------------------------------------------
# Jobs


def test_each_job_uid_is_one_run_seen_once(rig: Rig) -> None:
    created = dt.datetime(2025, 11, 26, 7, 40, 5, tzinfo=dt.UTC)
    rig.batch.jobs = [job("pre-migrate", "uid-1", created)]
    rig.sample_at(1.0)
    rig.sample_at(2.0)
    # Argo CD deleted and recreated the hook: same name, new uid.
    rig.batch.jobs = [job("pre-migrate", "uid-2"), job("post-check", "uid-3")]
    rig.sample_at(5.0)
    rig.sample_at(6.0)

    assert rig.timeline.job_runs() == [
        JobRun("pre-migrate", "uid-1", T0 + 1.0, "2025-11-26T07:40:05+00:00"),
        JobRun("pre-migrate", "uid-2", T0 + 5.0, ""),
        JobRun("post-check", "uid-3", T0 + 5.0, ""),
    ]
    assert [j.uid for j in rig.timeline.job_runs(name="pre-migrate")] == ["uid-1", "uid-2"]
    assert [j.uid for j in rig.timeline.job_runs(since=T0 + 5.0)] == ["uid-2", "uid-3"]
    assert [j.uid for j in rig.timeline.job_runs(name="pre-migrate", since=T0 + 3)] == ["uid-2"]
    assert rig.timeline.job_runs(name="absent") == []


# --------------------------------------------------------------------------------------------------
# API errors


def test_api_errors_are_counted_and_the_sample_is_skipped(rig: Rig) -> None:
    rig.argocd.app = application("2025-11-26T07:40:03Z")
    rig.batch.jobs = [job("pre-migrate", "uid-1")]
    rig.argocd.error = ApiException(status=503, reason="Service Unavailable")
    rig.sample_at(1.0)
    rig.argocd.error = None
    rig.batch.error = ConnectionResetError("connection reset by peer")
    rig.sample_at(2.0)

    assert len(rig.timeline.errors) == 2
    assert "ApiException" in rig.timeline.errors[0]
    assert "Service Unavailable" in rig.timeline.errors[0]
    assert rig.timeline.errors[0].startswith(f"{T0 + 1.0:.1f}: ")
    assert "ConnectionResetError: connection reset by peer" in rig.timeline.errors[1]
    assert rig.timeline.operations() == []
    assert rig.timeline.job_runs() == []

    rig.batch.error = None
    rig.sample_at(3.0)

    assert [o.first_seen for o in rig.timeline.operations()] == [T0 + 3.0]
    assert [j.first_seen for j in rig.timeline.job_runs()] == [T0 + 3.0]
    assert rig.timeline.summary()["sample_errors"] == 2


# --------------------------------------------------------------------------------------------------
# gaps and summary


@pytest.mark.parametrize(
    ("times", "expected"),
    [([], []), ([5.0], []), ([1.0, 3.5, 4.25], [2.5, 0.75]), ([0.0, 1.004, 2.0], [1.0, 1.0])],
)
def test_gaps_are_differences_of_neighbours_rounded(times: list[float], expected: list[float]) -> None:
    assert gaps(times) == expected


def test_summary_is_relative_to_the_start_of_the_timeline(rig: Rig) -> None:
    assert rig.timeline.t0 == T0
    rig.batch.jobs = [job("pre-migrate", "uid-1")]
    rig.sample_at(0.5, application("2025-11-26T07:40:03Z", resources=[PRESYNC_FAILED]))
    rig.sample_at(1.5, application("2025-11-26T07:40:03Z", retry_count=1, message="retry 1"))
    rig.batch.jobs = [job("pre-migrate", "uid-2")]
    rig.sample_at(
        4.25,
        application("2025-11-26T07:40:09Z", phase="Succeeded", automated=True, message="successfully synced"),
    )
    rig.argocd.error = ApiException(status=500, reason="boom")
    rig.sample_at(5.0)

    summary = rig.timeline.summary()

    assert set(summary) == {
        "operations",
        "operation_gaps_s",
        "hook_runs",
        "retry_marks",
        "sample_errors",
        "stopped_t",
    }
    assert summary["operations"] == [
        {
            "t": 0.5,
            "ended_t": None,
            "seq": 1,
            "phase": "Running",
            "automated": False,
            "retry_count": 1,
            "message": "retry 1",
            "hooks": [],
        },
        {
            "t": 4.25,
            "ended_t": 4.25,
            "seq": 2,
            "phase": "Succeeded",
            "automated": True,
            "retry_count": 0,
            "message": "successfully synced",
            "hooks": [],
        },
    ]
    assert summary["operation_gaps_s"] == [3.75]
    assert summary["hook_runs"] == [
        {"t": 0.5, "name": "pre-migrate", "uid": "uid-1"},
        {"t": 4.25, "name": "pre-migrate", "uid": "uid-2"},
    ]
    assert summary["retry_marks"] == [{"t": 1.5, "retry_count": 1}]
    assert summary["sample_errors"] == 1
    # The failed sample at 5.0 was still a sample: what was observed ends there.
    assert summary["stopped_t"] == 5.0


# --------------------------------------------------------------------------------------------------
# The sampling thread (real clock, tiny interval)


def test_context_manager_samples_in_the_background_until_stopped() -> None:
    tl = Timeline(API, "chaos-ab12cd", "chaos-ab12cd-ns", interval=0.01)
    argocd, batch = FakeArgoCD(), FakeBatch()
    tl.argocd = argocd  # type: ignore[assignment]
    tl.batch = batch  # type: ignore[assignment]

    with tl:
        assert tl._thread is not None
        assert tl._thread.is_alive()
        with batch.lock:
            batch.jobs = [job("pre-migrate", "uid-1")]
        with argocd.lock:
            argocd.app = application("2025-11-26T07:40:03Z")

        def seen() -> Outcome:
            runs, ops = tl.job_runs(), tl.operations()
            return Outcome.simple(len(runs) == 1 and len(ops) == 1, f"{len(runs)} job runs, {len(ops)} ops")

        expect(Expectation("the sampler saw the job and the operation", seen), timeout=5)

    assert not tl._thread.is_alive()
    # The first sample in start(), at least one in the background, the last one in stop().
    assert len(batch.namespaces) >= 3
    assert tl.errors == []


# --------------------------------------------------------------------------------------------------
# flag_defaults

# Lines as cobra prints them for argocd-application-controller v3.6 (`--help`), trimmed, with the
# cases that matter: a default after other parentheses, quoted and list defaults, a bool with
# `(default true)`, flags without a default (typed, bool, and one that only says "by default").
CONTROLLER_HELP = """\
Run ArgoCD Application Controller

Usage:
  argocd-application-controller [flags]

Flags:
      --app-hard-resync int                     Time period in seconds for application hard resync.
      --app-resync int                          Time period in seconds for application resync. (default 120)
      --dynamic-cluster-distribution-enabled    Enables dynamic cluster distribution.
      --enable-k8s-event none                   Enable events. (e.g --enable-k8s-event=none) (default [all])
  -h, --help                                    help for argocd-application-controller
      --metrics-cache-expiration duration       Metrics cache expiration (disabled  by default. e.g. 24h0m0s)
      --otlp-insecure                           OpenTelemetry collector insecure mode (default true)
      --redis-compress string                   Compression. (possible values: gzip, none) (default "gzip")
      --self-heal-backoff-factor int            Factor of exponential timeout between self heals (default 3)
      --self-heal-backoff-timeout-seconds int   Initial timeout of backoff between self heals (default 2)
      --self-heal-timeout-seconds int           Specifies timeout between application self heal attempts
      --sync-timeout int                        Sync timeout. 0 means no timeout (default 0)
      --wq-backoff-factor float                 Workqueue Backoff Factor, default is 1.5 (default 1.5)
"""


@pytest.fixture
def controller_bin(tmp_path: Path) -> Path:
    """A stand-in controller that prints cobra help for `--help` and fails for anything else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "argocd-application-controller"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" != "--help" ] || [ "$#" -ne 1 ]; then echo "unexpected args: $*" >&2; exit 2; fi\n'
        "cat <<'EOF'\n" + CONTROLLER_HELP + "EOF\n"
    )
    script.chmod(0o755)
    return bin_dir


def test_flag_defaults_are_exactly_the_flags_with_a_default(controller_bin: Path) -> None:
    assert flag_defaults(controller_bin) == {
        "app-resync": "120",
        "enable-k8s-event": "[all]",
        "otlp-insecure": "true",
        "redis-compress": "gzip",
        "self-heal-backoff-factor": "3",
        "self-heal-backoff-timeout-seconds": "2",
        "sync-timeout": "0",
        "wq-backoff-factor": "1.5",
    }


def test_flag_defaults_honour_the_prefix(controller_bin: Path) -> None:
    assert flag_defaults(controller_bin, prefix="self-heal-") == {
        "self-heal-backoff-factor": "3",
        "self-heal-backoff-timeout-seconds": "2",
    }
    assert flag_defaults(controller_bin, prefix="no-such-") == {}


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([5.0, 5.0, 5.0], "constant, about 5 s"),
        ([4.2, 5.9, 5.0], "constant, about 5 s"),
        ([1.68, 6.04, 17.88], "growing with each one"),  # v3.6.0's self-heal backoff
        ([2.07, 6.07, 18.02], "growing with each one"),
        ([1.0, 6.0, 18.0], "growing with each one"),
        ([6.0, 2.0, 18.0], "irregular"),
        ([12.0], "irregular"),
        ([], "no gaps measured"),
    ],
)
def test_spacing_names_the_shape_not_the_numbers(intervals: list[float], expected: str) -> None:
    assert spacing(intervals, nominal=5.0) == expected
