"""`argocd-chaos reproduce` from files only, on the session's cluster, as a user would run it.

Each input in examples/reproduce/ is written as a user has it: the Application as
`kubectl get application -o yaml` prints it (status, managedFields, uid and all) and a folder of
manifests. The command runs in its own process and reuses the session's running cluster, as it
reuses any running cluster of the name it is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.driver import ArgoCD
from harness._cluster.provider import ClusterHandle

pytestmark = pytest.mark.cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "reproduce"
CLI = str(Path(sys.executable).parent / "argocd-chaos")


def _reproduce(
    cluster: ClusterHandle, reports: Path, example: str, *flags: str
) -> subprocess.CompletedProcess[str]:
    d = EXAMPLES / example
    steps = ["--steps", str(d / "steps.yaml")] if (d / "steps.yaml").exists() else []
    cmd = [
        CLI,
        "reproduce",
        "--app",
        str(d / "application.yaml"),
        "--manifests",
        str(d / "manifests"),
        *steps,
    ]
    cmd += ["--cluster", cluster.provider, "--cluster-name", cluster.name, "--reports", str(reports), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)


def _report(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((reports / "report.json").read_text())
    return data


def _nothing_left(cluster: ClusterHandle, name: str) -> None:
    """The replay's Application is gone and its namespace is gone or going."""
    api = cluster.api_client()
    try:
        assert ArgoCD(api).get_or_none(name) is None
        try:
            ns = client.CoreV1Api(api).read_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return
        assert ns.metadata.deletion_timestamp is not None, f"namespace {name} is left behind"
    finally:
        api.close()


def test_automated_sync_with_retry_and_a_failing_presync_migration(
    chaos_cluster: ClusterHandle, tmp_path: Path
) -> None:
    out = tmp_path / "presync"
    done = _reproduce(chaos_cluster, out, "presync-migration-retry", "--fail", "db-migrate=3")
    assert done.returncode == 0, done.stderr
    report = _report(out)
    assert report["argocd_version"] == chaos_cluster.versions["argocd"]
    assert report["incident"] == "shop"
    ops = report["operations"]
    assert ops, "no operation was recorded"
    last = ops[-1]
    assert last["phase"] == "Failed"
    assert last["automated"] is True
    assert last["retry_count"] >= 2
    hooks = [(r["name"], r["hook_type"], r["hook_phase"]) for r in last["resources"] if r["hook_type"]]
    assert ("db-migrate", "PreSync", "Failed") in hooks
    assert all(e["held"] for e in report["expectations"])
    assert report["final"]["operation_phase"] == "Failed"
    # What shapes the behaviour is kept; only what must change is rewritten, and listed.
    policy = report["application"]["spec"]["syncPolicy"]
    assert policy["retry"] == {"limit": 2, "backoff": {"duration": "2s", "factor": 2, "maxDuration": "10s"}}
    assert policy["automated"] == {"prune": True}
    where = [r["where"] for r in report["rewrites"]]
    assert "spec.source.repoURL" in where
    assert "manifests: Secret/db-credentials" in where
    written = "".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())
    assert "s3cr3t-pa55" not in written
    assert (out / "report.md").is_file()
    assert list((out / "allure-results").glob("*-result.json"))
    assert (out / "diagnostics" / "application.yaml").is_file()
    # The folder's claims page draws the replay: one bar per operation the timeline saw.
    assert f"claims page written to {out / 'claims.html'}" in done.stderr
    page = (out / "claims.html").read_text()
    assert page.count('data-lane="operations"') == len(report["timeline"]["operations"]) >= 1
    assert page.count('data-lane="hooks"') == len(report["timeline"]["hook_runs"]) >= 3
    _nothing_left(chaos_cluster, report["application"]["metadata"]["name"])


def test_an_expectation_that_does_not_hold_exits_1(chaos_cluster: ClusterHandle, tmp_path: Path) -> None:
    """Without --fail the migration succeeds, so the incident's expectations do not hold."""
    out = tmp_path / "presync-ok"
    done = _reproduce(chaos_cluster, out, "presync-migration-retry")
    assert done.returncode == 1, done.stderr
    report = _report(out)
    assert report["operations"][-1]["phase"] == "Succeeded"
    unmet = [e["expectation"] for e in report["expectations"] if not e["held"]]
    assert "the latest operation's phase is Failed" in unmet
    assert "expectation not held" in done.stderr


def test_self_heal_and_a_failing_postsync_smoke_test(chaos_cluster: ClusterHandle, tmp_path: Path) -> None:
    out = tmp_path / "selfheal"
    done = _reproduce(chaos_cluster, out, "selfheal-postsync-smoke", "--fail", "smoke-test")
    report = _report(out)
    assert done.returncode == 0, [e for e in report["expectations"] if not e["held"]]
    first = report["operations"][0]
    assert first["phase"] == "Failed"
    assert first["automated"] is True
    hooks = [
        (r["name"].startswith("smoke-test-"), r["hook_type"], r["hook_phase"]) for r in first["resources"]
    ]
    assert (True, "PostSync", "Failed") in hooks
    drift = next(s for s in report["steps"] if s["description"].startswith("drift"))
    assert drift["status"] == "done"
    assert report["application"]["spec"]["ignoreDifferences"][0]["jsonPointers"] == ["/spec/replicas"]
    assert "spec.destination.name" in [r["where"] for r in report["rewrites"]]


def test_deletion_hanging_on_a_postdelete_hook(chaos_cluster: ClusterHandle, tmp_path: Path) -> None:
    out = tmp_path / "postdelete"
    done = _reproduce(chaos_cluster, out, "postdelete-hang", "--hang", "deregister-reports")
    assert done.returncode == 0, done.stderr
    report = _report(out)
    assert report["operations"][0]["phase"] == "Succeeded"
    (deletion,) = report["deletions"]
    assert deletion["gone"] is False
    assert "post-delete-finalizer" in deletion["blocked_by"]
    assert report["final"]["application"] == "deleting"
    # The replay removes what it created, the held Application included.
    _nothing_left(chaos_cluster, report["application"]["metadata"]["name"])


def test_manifests_the_api_server_rejects(chaos_cluster: ClusterHandle, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "bad.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: many\n"
    )
    out = tmp_path / "out"
    cmd = [
        CLI,
        "reproduce",
        "--app",
        str(EXAMPLES / "postdelete-hang" / "application.yaml"),
        "--manifests",
        str(manifests),
        "--cluster",
        chaos_cluster.provider,
        "--cluster-name",
        chaos_cluster.name,
        "--reports",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1
    assert "the API server rejects the manifests: Deployment/web:" in errors[0]
    assert not out.exists()
