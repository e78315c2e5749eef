"""Teardown leaves nothing behind: no process, no listening port, no state directory.

Each test here boots its own embedded cluster next to the session's, because what is checked is
the end of a cluster's life.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from harness._build.binaries import find_build
from harness._cluster.embedded.cluster import EmbeddedCluster, EmbeddedOptions
from harness._cluster.embedded.ports import port_in_use
from harness._cluster.embedded.process import ProcessRecord, load_records
from harness._paths import state_root
from harness._wait import Expectation, Outcome, expect

pytestmark = pytest.mark.cluster


def _snapshot(state_dir: Path) -> tuple[list[ProcessRecord], list[int]]:
    records, extra = load_records(state_dir / "cluster.json")
    ports = [int(p) for p in dict(extra["ports"]).values()]  # type: ignore[call-overload]
    return list(records.values()), ports


def _assert_nothing_left(state_dir: Path, records: list[ProcessRecord], ports: list[int]) -> None:
    alive = [r.name for r in records if r.alive()]
    assert alive == [], f"processes still running: {alive}"
    busy = [p for p in ports if port_in_use(p)]
    assert busy == [], f"ports still bound: {busy}"
    assert not state_dir.exists()


def test_cluster_down_stops_everything_and_removes_state() -> None:
    build = find_build()
    assert build is not None, "the e2e tests run after `argocd-chaos build`"
    name = f"teardown-{uuid.uuid4().hex[:6]}"
    cluster = EmbeddedCluster(name, build).up(EmbeddedOptions(name=name))
    records, ports = _snapshot(cluster.state_dir)
    assert len(records) == 8
    assert all(r.alive() for r in records)

    cluster.down()

    _assert_nothing_left(cluster.state_dir, records, ports)


INNER_TEST = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    def test_hold_the_cluster(chaos_cluster):
        Path(os.environ["MARKER"]).write_text(str(chaos_cluster.kubeconfig))
        # The delay is the scenario: the test is still running when the signal arrives.
        while True:
            time.sleep(0.2)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_to_running_pytest_tears_the_cluster_down(tmp_path: Path, sig: signal.Signals) -> None:
    name = f"sig-{uuid.uuid4().hex[:6]}"
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    marker = tmp_path / "marker"
    env = {**os.environ, "MARKER": str(marker)}
    inner = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:pytest-kind",
            "-p",
            "no:cacheprovider",
            "-q",
            "--cluster-name",
            name,
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        expect(
            Expectation("the inner pytest holds a running cluster", lambda: _inner_state(inner, marker)),
            timeout=120,
        )
        state_dir = state_root() / name
        records, ports = _snapshot(state_dir)
        assert all(r.alive() for r in records)

        inner.send_signal(sig)
        out, _ = inner.communicate(timeout=60)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()

    assert inner.returncode != 0, out.decode(errors="replace")
    _assert_nothing_left(state_dir, records, ports)


def _inner_state(inner: subprocess.Popen[bytes], marker: Path) -> Outcome:
    if inner.poll() is not None:
        out = inner.stdout.read().decode(errors="replace") if inner.stdout else ""
        return Outcome.failed(f"inner pytest exited with {inner.returncode}: {out[-2000:]}")
    return Outcome.simple(marker.exists(), "marker written" if marker.exists() else "waiting for the marker")


def test_down_stops_components_restarted_through_another_handle() -> None:
    """A chaos test restarts a component via `attach`; the owner's `down` must still stop it."""
    build = find_build()
    assert build is not None, "the e2e tests run after `argocd-chaos build`"
    name = f"restarted-{uuid.uuid4().hex[:6]}"
    owner = EmbeddedCluster(name, build).up(EmbeddedOptions(name=name))
    other = EmbeddedCluster.attach(name)
    assert other is not None
    other.restart("argocd-repo-server")
    other.restart("kube-apiserver")
    records, ports = _snapshot(owner.state_dir)  # includes the restarted pids
    assert records != list(owner.records.values())

    owner.down()

    _assert_nothing_left(owner.state_dir, records, ports)
