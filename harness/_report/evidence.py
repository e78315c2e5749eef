"""Read what a test needs as evidence: live objects, events and component log lines.

Kept apart from the scenario so diagnostics can use the same readers after a failure, before
cleanup removes the objects they describe.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import _kube
from harness._argocd.observe import LiveObject, LiveState
from harness._redact import redact_text

_MAX_LOG_LINES = 400


#: Kinds every live() lists in the app's namespace, whether or not the manifests name them: what
#: hooks and their controllers create (Pods of Jobs) and what hook manifests commonly hold.
DEFAULT_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "Pod"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
)


class Discovery:
    """`(apiVersion, kind) -> ApiResource`, asked of the API server once per group version."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self._groups: dict[str, dict[str, _kube.ApiResource]] = {}

    def get(self, api_version: str, kind: str) -> _kube.ApiResource | None:
        if api_version not in self._groups:
            try:
                self._groups[api_version] = _kube.discover(self.api, api_version)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                self._groups[api_version] = {}  # a group the cluster does not serve (yet)
        return self._groups[api_version].get(kind)


def live_state(
    api: client.ApiClient,
    namespace: str,
    *,
    kinds: Iterable[tuple[str, str]] = DEFAULT_KINDS,
    named: Iterable[tuple[str, str, str, str]] = (),
    discovery: Discovery | None = None,
) -> LiveState:
    """Objects of every `(apiVersion, kind)` in `namespace`, plus each `(apiVersion, kind, namespace, name)`.

    Namespaced kinds are listed in `namespace`; cluster-scoped kinds in `kinds` and every entry of
    `named` (e.g. the app's own Namespace, a ClusterRole) are read by name, since listing them would
    show other tests' objects. A kind the cluster does not serve is left out.
    """
    disc = discovery or Discovery(api)
    seen: dict[tuple[str, str, str], LiveObject] = {}

    def add(obj: dict[str, Any]) -> None:
        if obj.get("kind") == "ConfigMap" and (obj.get("metadata") or {}).get("name") == "kube-root-ca.crt":
            return  # created by the controller manager in every namespace
        o = LiveObject.from_dict(obj)
        seen[(o.kind, o.namespace, o.name)] = o

    for api_version, kind in dict.fromkeys(kinds):
        res = disc.get(api_version, kind)
        if res is not None and res.namespaced:
            for obj in _kube.list_objects(api, res, namespace):
                add(obj)
    for api_version, kind, ns, name in dict.fromkeys(named):
        res = disc.get(api_version, kind)
        if res is None:
            continue
        found = _kube.get_object(api, res, name, (ns or namespace) if res.namespaced else None)
        if found is not None:
            add(found)
    return LiveState(tuple(sorted(seen.values(), key=lambda o: (o.kind, o.namespace, o.name))))


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
