"""Typed snapshots of the Application and the live namespace (`harness._argocd.observe`), offline."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from kubernetes import client

from harness._argocd.observe import (
    REVISION_ANNOTATION,
    AppStatus,
    LiveObject,
    LiveState,
    OperationState,
    ResourceResult,
)

SHA_1 = "3f1c2a9e0b7d4c6e8a1f2b3c4d5e6f708192a3b4"
SHA_2 = "9a8b7c6d5e4f30211203f4e5d6c7b8a9f0e1d2c3"


def failed_presync_app() -> dict[str, Any]:
    """An Application as Argo CD v3 leaves it after a PreSync hook failed on revision 2."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "chaos-ab12cd", "namespace": "argocd"},
        "spec": {"destination": {"namespace": "chaos-ab12cd", "server": "https://kubernetes.default.svc"}},
        "status": {
            "sync": {"status": "OutOfSync", "revision": SHA_2},
            "health": {"status": "Healthy", "lastTransitionTime": "2025-11-26T07:40:01Z"},
            "history": [
                {
                    "id": 0,
                    "revision": SHA_1,
                    "deployedAt": "2025-11-26T07:39:58Z",
                    "deployStartedAt": "2025-11-26T07:39:55Z",
                    "initiatedBy": {"username": "admin"},
                }
            ],
            "conditions": [
                {
                    "type": "SyncError",
                    "message": "one or more synchronization tasks completed unsuccessfully",
                    "lastTransitionTime": "2025-11-26T07:40:12Z",
                }
            ],
            "operationState": {
                "operation": {
                    "sync": {"revision": SHA_2, "syncStrategy": {"hook": {}}},
                    "initiatedBy": {"username": "admin"},
                    "retry": {},
                },
                "phase": "Failed",
                "message": "one or more synchronization tasks completed unsuccessfully",
                "retryCount": 2,
                "startedAt": "2025-11-26T07:40:03Z",
                "finishedAt": "2025-11-26T07:40:12Z",
                "syncResult": {
                    "revision": SHA_2,
                    "source": {
                        "repoURL": "file:///tmp/repos/presync-hook",
                        "path": ".",
                        "targetRevision": "HEAD",
                    },
                    "resources": [
                        {
                            "group": "batch",
                            "version": "v1",
                            "kind": "Job",
                            "namespace": "chaos-ab12cd",
                            "name": "pre-migrate",
                            "status": "Synced",
                            "message": "Job has reached the specified backoff limit",
                            "hookType": "PreSync",
                            "hookPhase": "Failed",
                            "syncPhase": "PreSync",
                            "images": ["busybox:1.36"],
                        },
                        {
                            "group": "",
                            "version": "v1",
                            "kind": "ConfigMap",
                            "namespace": "chaos-ab12cd",
                            "name": "app-config",
                            "status": "Synced",
                            "message": "configmap/app-config unchanged",
                            "syncPhase": "Sync",
                        },
                        {
                            "group": "batch",
                            "version": "v1",
                            "kind": "Job",
                            "namespace": "chaos-ab12cd",
                            "name": "on-failure-cleanup",
                            "status": "Synced",
                            "message": "Reached expected number of succeeded pods",
                            "hookType": "SyncFail",
                            "hookPhase": "Succeeded",
                            "syncPhase": "SyncFail",
                        },
                    ],
                },
            },
        },
    }


# --------------------------------------------------------------------------------------------------
# OperationState


def test_operation_state_from_app_reads_every_field() -> None:
    op = OperationState.from_app(failed_presync_app())

    assert op is not None
    assert (op.phase, op.message, op.retry_count) == (
        "Failed",
        "one or more synchronization tasks completed unsuccessfully",
        2,
    )
    assert (op.started_at, op.finished_at, op.revision) == (
        "2025-11-26T07:40:03Z",
        "2025-11-26T07:40:12Z",
        SHA_2,
    )
    assert op.resources == (
        ResourceResult(
            kind="Job",
            name="pre-migrate",
            namespace="chaos-ab12cd",
            status="Synced",
            message="Job has reached the specified backoff limit",
            hook_type="PreSync",
            hook_phase="Failed",
            sync_phase="PreSync",
            group="batch",
            version="v1",
            images=("busybox:1.36",),
        ),
        ResourceResult(
            kind="ConfigMap",
            name="app-config",
            namespace="chaos-ab12cd",
            status="Synced",
            message="configmap/app-config unchanged",
            hook_type="",
            hook_phase="",
            sync_phase="Sync",
            group="",
            version="v1",
        ),
        ResourceResult(
            kind="Job",
            name="on-failure-cleanup",
            namespace="chaos-ab12cd",
            status="Synced",
            message="Reached expected number of succeeded pods",
            hook_type="SyncFail",
            hook_phase="Succeeded",
            sync_phase="SyncFail",
            group="batch",
            version="v1",
        ),
    )


def test_operation_state_of_a_running_operation_without_result() -> None:
    """Right after the sync starts: no finishedAt, no retryCount, no syncResult yet."""
    app = {
        "status": {
            "operationState": {
                "operation": {"sync": {"revision": SHA_2}},
                "phase": "Running",
                "message": "waiting for completion of hook batch/Job/pre-migrate",
                "startedAt": "2025-11-26T07:40:03Z",
            }
        }
    }
    op = OperationState.from_app(app)

    assert op is not None
    assert (op.phase, op.retry_count, op.finished_at, op.revision, op.resources) == ("Running", 0, "", "", ())
    assert op.done is False
    assert op.hooks() == []


@pytest.mark.parametrize("app", [{}, {"status": None}, {"status": {}}, {"status": {"operationState": None}}])
def test_operation_state_is_none_without_operation_state(app: dict[str, Any]) -> None:
    assert OperationState.from_app(app) is None


@pytest.mark.parametrize(
    ("phase", "done"),
    [
        ("Running", False),
        ("Terminating", False),
        ("", False),
        ("Succeeded", True),
        ("Failed", True),
        ("Error", True),
    ],
)
def test_done_only_for_final_phases(phase: str, done: bool) -> None:
    app = failed_presync_app()
    app["status"]["operationState"]["phase"] = phase
    op = OperationState.from_app(app)
    assert op is not None
    assert op.done is done


def test_hooks_filters_by_type_and_leaves_out_plain_resources() -> None:
    op = OperationState.from_app(failed_presync_app())
    assert op is not None

    assert [(h.name, h.hook_phase) for h in op.hooks()] == [
        ("pre-migrate", "Failed"),
        ("on-failure-cleanup", "Succeeded"),
    ]
    assert [h.name for h in op.hooks("PreSync")] == ["pre-migrate"]
    assert [h.name for h in op.hooks("SyncFail")] == ["on-failure-cleanup"]
    assert op.hooks("PostSync") == []


def test_excerpt_names_phase_message_retries_and_each_resource() -> None:
    op = OperationState.from_app(failed_presync_app())
    assert op is not None

    assert op.excerpt() == (
        "phase=Failed message='one or more synchronization tasks completed unsuccessfully' retries=2 "
        "resources=[Job/pre-migrate PreSync Failed; ConfigMap/app-config resource Synced; "
        "Job/on-failure-cleanup SyncFail Succeeded]"
    )


# --------------------------------------------------------------------------------------------------
# AppStatus


def test_app_status_from_app() -> None:
    app = failed_presync_app()
    st = AppStatus.from_app(app)

    assert (st.sync, st.health, st.revision) == ("OutOfSync", "Healthy", SHA_2)
    assert st.operation == OperationState.from_app(app)
    assert [h["revision"] for h in st.history] == [SHA_1]
    assert [c["type"] for c in st.conditions] == ["SyncError"]
    assert st.operation_requested is False
    assert st.operation is not None
    assert st.excerpt() == f"sync=OutOfSync health=Healthy operation: {st.operation.excerpt()}"


def test_app_status_sees_a_requested_operation() -> None:
    """`.operation` is set by whoever asks for a sync and cleared when the controller takes it."""
    app = failed_presync_app()
    app["operation"] = {
        "sync": {"revision": "HEAD", "syncStrategy": {"hook": {}}},
        "initiatedBy": {"username": "admin"},
    }
    assert AppStatus.from_app(app).operation_requested is True


def test_app_status_of_a_new_application() -> None:
    st = AppStatus.from_app({"metadata": {"name": "fresh"}})

    assert st == AppStatus(
        sync="",
        health="",
        revision="",
        operation=None,
        history=(),
        conditions=(),
        operation_requested=False,
    )
    assert st.excerpt() == "sync= health= operation: no operationState"


def test_app_status_is_a_snapshot_of_the_lists() -> None:
    app = failed_presync_app()
    st = AppStatus.from_app(app)
    before = copy.deepcopy(st.history)
    app["status"]["history"].append({"id": 1, "revision": SHA_2})
    assert st.history == before


# --------------------------------------------------------------------------------------------------
# LiveObject and LiveState

CREATED = dt.datetime(2025, 11, 26, 7, 40, 5, tzinfo=dt.UTC)


def meta(name: str, *, revision: str | None = None, deleting: bool = False) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(
        name=name,
        namespace="chaos-ab12cd",
        uid=f"uid-{name}",
        creation_timestamp=CREATED,
        annotations={REVISION_ANNOTATION: revision} if revision is not None else None,
        deletion_timestamp=CREATED if deleting else None,
    )


def job(name: str, *, conditions: Sequence[tuple[str, str]] = (), **counts: int) -> client.V1Job:
    return client.V1Job(
        metadata=meta(name),
        status=client.V1JobStatus(
            conditions=[
                client.V1JobCondition(type=t, status=s, reason="x", message="y") for t, s in conditions
            ]
            or None,
            **counts,
        ),
    )


def test_live_object_from_a_configmap() -> None:
    cm = client.V1ConfigMap(metadata=meta("app-config", revision="2"), data={"revision": "2"})

    assert LiveObject.from_k8s("ConfigMap", cm) == LiveObject(
        kind="ConfigMap",
        name="app-config",
        uid="uid-app-config",
        created="2025-11-26T07:40:05+00:00",
        revision="2",
        deleting=False,
        status="",
        namespace="chaos-ab12cd",
        annotations={REVISION_ANNOTATION: "2"},
        data={"revision": "2"},
        keys=("revision",),
    )


def test_live_object_without_annotations_or_timestamp() -> None:
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="bare", uid="u1"))
    obj = LiveObject.from_k8s("ConfigMap", cm)
    assert (obj.revision, obj.created, obj.deleting, obj.status) == ("", "", False, "")


def test_live_object_being_deleted() -> None:
    cm = client.V1ConfigMap(metadata=meta("app-config", revision="1", deleting=True))
    assert LiveObject.from_k8s("ConfigMap", cm).deleting is True


@pytest.mark.parametrize(
    ("conditions", "status"),
    [
        # A failed Job: the controller adds FailureTarget first, then Failed once its pods are gone.
        ([("FailureTarget", "True"), ("Failed", "True")], "Failed"),
        ([("Failed", "True"), ("FailureTarget", "True")], "Failed"),
        ([("FailureTarget", "True")], "FailureTarget"),
        # A succeeded Job: SuccessCriteriaMet first, then Complete.
        ([("SuccessCriteriaMet", "True"), ("Complete", "True")], "Complete"),
        ([("SuccessCriteriaMet", "True")], "SuccessCriteriaMet"),
        # Conditions that are not True do not count.
        ([("Failed", "False"), ("Complete", "True")], "Complete"),
    ],
)
def test_job_status_reports_the_final_condition(conditions: list[tuple[str, str]], status: str) -> None:
    obj = LiveObject.from_k8s("Job", job("pre-migrate", conditions=conditions, failed=1))
    assert obj.status == status


def test_running_job_reports_its_pod_counts() -> None:
    running = LiveObject.from_k8s("Job", job("pre-migrate", active=1))
    assert running.status == "active=1 succeeded=0 failed=0"
    suspended = LiveObject.from_k8s("Job", job("pre-migrate", conditions=[("Suspended", "True")]))
    assert suspended.status == "active=0 succeeded=0 failed=0"


def test_job_without_status() -> None:
    assert LiveObject.from_k8s("Job", client.V1Job(metadata=meta("new"))).status == ""


def test_only_jobs_get_a_status() -> None:
    pod = client.V1Pod(metadata=meta("pre-migrate-x7k2p"), status=client.V1PodStatus(phase="Failed"))
    assert LiveObject.from_k8s("Pod", pod).status == ""


@pytest.fixture
def live() -> LiveState:
    return LiveState(
        (
            LiveObject.from_k8s("ConfigMap", client.V1ConfigMap(metadata=meta("app-config", revision="1"))),
            LiveObject.from_k8s("ConfigMap", client.V1ConfigMap(metadata=meta("wave-0", revision="2"))),
            LiveObject.from_k8s("Job", job("pre-migrate", conditions=[("Failed", "True")], failed=1)),
            LiveObject.from_k8s("Job", job("pre-migrate-retry", active=1)),
            LiveObject.from_k8s("Pod", client.V1Pod(metadata=meta("pre-migrate-x7k2p"))),
        )
    )


def test_live_state_get(live: LiveState) -> None:
    got = live.get("Job", "pre-migrate")
    assert got is not None
    assert (got.uid, got.status) == ("uid-pre-migrate", "Failed")
    assert live.get("ConfigMap", "pre-migrate") is None
    assert live.get("Job", "missing") is None


def test_live_state_revisions(live: LiveState) -> None:
    assert live.revisions() == {
        "ConfigMap/app-config": "1",
        "ConfigMap/wave-0": "2",
        "Job/pre-migrate": "",
        "Job/pre-migrate-retry": "",
        "Pod/pre-migrate-x7k2p": "",
    }
    assert live.revisions("ConfigMap") == {"ConfigMap/app-config": "1", "ConfigMap/wave-0": "2"}
    assert live.revisions("Deployment") == {}


def test_live_state_named(live: LiveState) -> None:
    assert [o.name for o in live.named("Job")] == ["pre-migrate", "pre-migrate-retry"]
    assert [o.name for o in live.named("Job", "pre-migrate-")] == ["pre-migrate-retry"]
    assert [o.name for o in live.named("Pod", "pre-migrate")] == ["pre-migrate-x7k2p"]
    assert live.named("Job", "post-") == []
