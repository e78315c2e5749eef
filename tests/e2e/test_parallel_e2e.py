"""Scenarios side by side (pytest-xdist): one cluster for all workers, one ledger, nothing left after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from harness._cluster import lease as leases
from harness._paths import state_root

# These tests boot clusters of their own: one at a time (whichever worker runs them), so that no
# two boots compete for the CPU.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("one_own_cluster_at_a_time")]

INNER = textwrap.dedent(
    """
    import json, os
    from pathlib import Path
    import pytest

    @pytest.mark.claim("C1")
    @pytest.mark.parametrize("n", [1, 2, 3])
    def test_scenario(n, chaos_cluster, claim, worker_id):
        claim.check(f"scenario {n} ran", claimed=True, observed=True)
        out = Path(os.environ["SEEN"]) / f"{n}.json"
        out.write_text(json.dumps({"kubeconfig": str(chaos_cluster.kubeconfig), "worker": worker_id}))
    """
)


def test_workers_share_one_cluster_and_write_one_ledger(tmp_path: Path) -> None:
    name = f"xdist-{uuid.uuid4().hex[:6]}"
    (tmp_path / "test_inner.py").write_text(INNER)
    seen = tmp_path / "seen"
    seen.mkdir()
    reports = tmp_path / "reports"
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-q",
            "-n", "2", "--dist", "load", "--maxschedchunk", "1",
            "--cluster-name", name, "--reports-dir", str(reports),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "SEEN": str(seen)},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    runs = [json.loads(p.read_text()) for p in sorted(seen.glob("*.json"))]
    assert len(runs) == 3
    assert len({r["kubeconfig"] for r in runs}) == 1  # one cluster for every worker
    assert result.stdout.count(f"embedded cluster {name!r} is up") <= 1
    ledger = {e["id"]: e for e in json.loads((reports / "claims.json").read_text())}
    assert ledger["C1"]["verdict"] == "held"
    assert len(ledger["C1"]["checks"]) == 3  # every worker's checks in the one ledger
    assert not (state_root() / name).exists()  # released by the session's end
    assert leases.read(name) is None
