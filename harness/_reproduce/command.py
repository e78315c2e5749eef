"""`argocd-chaos reproduce` and `argocd-chaos incidents`: inputs first, then one cluster, then reports.

The cluster comes through the same session and lease machinery the pytest plugin uses
(`harness._cluster.session`): a running cluster of that name (a test session's, say) is reused and
left to its owner; otherwise one is booted for this command and removed when it ends, by a reaper
if the command is killed.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness._cluster import session as _session
from harness._cluster.access import cluster_access
from harness._cluster.provider import ClusterHandle
from harness._cluster.registry import check_inputs
from harness._config import HarnessConfig, Keep, Provider, check_writable_dir, timeouts_from_env
from harness._reproduce import report
from harness._reproduce.prepare import Prepared, prepare
from harness._reproduce.run import ReplayResult, replay
from harness._wait import Timeouts

DEFAULT_CLUSTER_NAME = "argocd-chaos-reproduce"


@dataclass(frozen=True)
class ClusterOptions:
    provider: Provider = "embedded"
    argocd_version: str | None = None
    cluster_name: str = DEFAULT_CLUSTER_NAME
    keep_cluster: Keep = "never"
    context: str | None = None


def default_reports(app_name: str) -> Path:
    """`reports/reproduce/<app>/`, the name made safe for a folder."""
    return Path("reports") / "reproduce" / re.sub(r"[^A-Za-z0-9._-]", "_", app_name)


def page_root(out: Path) -> Path:
    """The reports root whose claims page shows a replay written into ``out``.

    ``<root>/reproduce/<app>`` (the default layout) belongs to ``<root>``, where a suite run's page
    is; any other folder given with ``--reports`` gets a page of its own.
    """
    return out.parent.parent if out.parent.name == "reproduce" else out


def reproduce(
    *,
    app: Path,
    manifests: Path,
    steps: Path | None,
    fail: list[str],
    hang: list[str],
    duration: list[str],
    reports: Path | None,
    cluster: ClusterOptions,
    say: Callable[[str], None],
) -> tuple[ReplayResult, Path, Path]:
    """Check every input, replay on the cluster, write the reports; returns the result and their paths.

    Raises ConfigError (exit 2) for bad input, before any cluster is touched unless the API server
    itself rejects a manifest; then everything created is removed and nothing is written.
    """
    prepared = prepare(app, manifests, steps_path=steps, fail=fail, hang=hang, duration=duration)
    out = reports or default_reports(prepared.application.manifest_name)
    check_writable_dir(out, "--reports")
    timeouts = timeouts_from_env()
    cfg = _config(cluster, out)
    with session_cluster(cfg, say) as (handle, run_id):
        result = run_one(handle, prepared, timeouts=timeouts, run_id=run_id, say=say)
    json_path, md_path = report.write(result, out)
    return result, json_path, md_path


def _config(cluster: ClusterOptions, reports: Path) -> HarnessConfig:
    cfg = HarnessConfig(
        provider=cluster.provider,
        argocd_version=cluster.argocd_version,
        keep_cluster=cluster.keep_cluster,
        cluster_name=cluster.cluster_name,
        reports_dir=reports,
        context=cluster.context,
        timeouts=timeouts_from_env(),
        run_id=uuid.uuid4().hex[:6],
    )
    check_inputs(cfg)
    return cfg


@contextmanager
def session_cluster(cfg: HarnessConfig, say: Callable[[str], None]) -> Iterator[tuple[ClusterHandle, str]]:
    """The cluster for this command, held shared as a test scenario holds it; released at the end."""
    session = _session.SessionIdentity(cfg.run_id, os.getpid())
    acquired = _session.acquire(cfg, session, shared=False)
    handle = acquired.handle
    say(
        f"argocd-chaos: {handle.provider} cluster {handle.name!r}, "
        f"Argo CD {handle.versions.get('argocd', '?')}"
    )
    try:
        # Attached to another live session's cluster (acquired.provider is None), this command may
        # have been started by one of that session's tests, which holds the cluster shared and
        # waits for it: queueing behind a waiting writer there would deadlock.
        with cluster_access(handle.name, exclusive=False, behind_writers=acquired.provider is not None):
            yield handle, cfg.run_id
    finally:
        _session.release(cfg, session, acquired, keep=cfg.keep_cluster == "always")


def run_one(
    handle: ClusterHandle, prepared: Prepared, *, timeouts: Timeouts, run_id: str, say: Callable[[str], None]
) -> ReplayResult:
    say(f"argocd-chaos: replaying {prepared.application.manifest_name} as {prepared.name}")
    return replay(handle, prepared, timeouts=timeouts, run_id=run_id, say=say)
