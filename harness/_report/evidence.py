"""Read what a test needs as evidence: live objects, events and component log lines.

Kept apart from the scenario so diagnostics can use the same readers after a failure, before
cleanup removes the objects they describe.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubernetes import client

from harness._argocd.observe import LiveObject, LiveState
from harness._redact import redact_text

_MAX_LOG_LINES = 400


def live_state(api: client.ApiClient, namespace: str) -> LiveState:
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    objs: list[LiveObject] = []
    listing: tuple[tuple[str, list[Any]], ...] = (
        ("ConfigMap", core.list_namespaced_config_map(namespace).items),
        ("Secret", core.list_namespaced_secret(namespace).items),
        ("Service", core.list_namespaced_service(namespace).items),
        ("Deployment", apps.list_namespaced_deployment(namespace).items),
        ("Job", batch.list_namespaced_job(namespace).items),
        ("Pod", core.list_namespaced_pod(namespace).items),
    )
    for kind, items in listing:
        for it in items:
            if kind == "ConfigMap" and it.metadata.name == "kube-root-ca.crt":
                continue  # created by the controller manager in every namespace
            objs.append(LiveObject.from_k8s(kind, it))
    return LiveState(tuple(sorted(objs, key=lambda o: (o.kind, o.name))))


def events(api: client.ApiClient, namespace: str, *, involving: str | None = None) -> list[str]:
    """Events as one readable line each, oldest first; optionally only about one object name."""
    items = client.CoreV1Api(api).list_namespaced_event(namespace).items
    rows: list[tuple[str, str]] = []
    for e in items:
        obj = e.involved_object
        if involving and obj.name != involving:
            continue
        when = e.last_timestamp or e.event_time or e.first_timestamp or e.metadata.creation_timestamp
        stamp = when.isoformat() if when else ""
        line = f"{stamp} {e.type} {obj.kind}/{obj.name} {e.reason}: {e.message}"
        rows.append((stamp, redact_text(line)))
    return [r for _, r in sorted(rows)]


def log_lines(path: Path, *, needles: Iterable[str], since_offset: int = 0) -> list[str]:
    """Lines of a component log written after `since_offset` that mention any needle."""
    wanted = [n for n in needles if n]
    try:
        with open(path, "rb") as f:
            f.seek(since_offset)
            data = f.read()
    except OSError:
        return []
    out = [line for line in data.decode(errors="replace").splitlines() if any(n in line for n in wanted)]
    # Component logs quote requests and errors verbatim; these lines go into reports.
    return [redact_text(line) for line in out[-_MAX_LOG_LINES:]]


def log_offset(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def truncate(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"


def hook_objects(api: client.ApiClient, namespace: str) -> list[dict[str, Any]]:
    """Jobs and their pods with the fields that say how each hook run ended (no container logs exist)."""
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    out: list[dict[str, Any]] = []
    jobs: list[Any] = batch.list_namespaced_job(namespace).items
    pods: list[Any] = core.list_namespaced_pod(namespace).items
    for job in jobs:
        out.append(
            {
                "kind": "Job",
                "name": job.metadata.name,
                "uid": job.metadata.uid,
                "annotations": job.metadata.annotations or {},
                "status": api.sanitize_for_serialization(job.status),
            }
        )
    for pod in pods:
        terms = [
            {
                "container": cs.name,
                "exitCode": cs.state.terminated.exit_code,
                "reason": cs.state.terminated.reason,
            }
            for cs in (pod.status.container_statuses or [])
            if cs.state and cs.state.terminated
        ]
        out.append({"kind": "Pod", "name": pod.metadata.name, "phase": pod.status.phase, "terminated": terms})
    return out
