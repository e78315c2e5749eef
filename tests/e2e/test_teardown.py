"""Teardown leaves nothing behind: no process, no listening port, no state directory.

Each test here boots its own embedded cluster next to the session's, because what is checked is
the end of a cluster's life.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from harness._build.binaries import find_build
from harness._cluster import lease as leases
from harness._cluster.embedded.cluster import EmbeddedCluster, EmbeddedOptions
from harness._cluster.embedded.ports import port_in_use
from harness._cluster.embedded.process import ProcessRecord, load_records
from harness._paths import state_root
from harness._wait import Expectation, Outcome, expect

# These tests boot clusters of their own: one at a time (whichever worker runs them), so that no
# two boots compete for the CPU.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("one_own_cluster_at_a_time")]


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
    import json
    import os
    import time
    from pathlib import Path

    def test_hold_the_cluster(chaos_cluster, repo_root, run_id):
        Path(os.environ["MARKER"]).write_text(json.dumps({"repos": str(repo_root), "run_id": run_id}))
        # The delay is the scenario: the test is still running when the signal arrives.
        while True:
            time.sleep(0.2)
    """
)

#: What "nothing left" allows after the signal: the reaper and the teardown take about two seconds.
NOTHING_LEFT_WITHIN = 10.0


def _inner_pytest(tmp_path: Path, name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    marker = tmp_path / "marker"
    inner = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-q",
            "--cluster-name", name, *args, str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "MARKER": str(marker)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # As in a terminal: a run started in the background by a non-interactive shell (a CI runner)
        # inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt.
        preexec_fn=_interruptible,
    )  # fmt: skip
    return inner, marker


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(
    "sig",
    [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
    ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"],
)
def test_signal_to_running_pytest_leaves_nothing_of_the_session(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C, SIGTERM, a closed terminal (SIGHUP) and kill -9: within 10 s nothing of the session is left.

    No process, no listening port, no state dir, no temporary repos, no lease. After SIGKILL the
    pytest process cannot clean up; its reaper does.
    """
    name = f"sig-{uuid.uuid4().hex[:6]}"
    inner, marker = _inner_pytest(tmp_path, name)
    try:
        expect(
            Expectation("the inner pytest holds a running cluster", lambda: _inner_state(inner, marker)),
            timeout=120,
        )
        state_dir = state_root() / name
        records, ports = _snapshot(state_dir)
        assert all(r.alive() for r in records)
        held = json.loads(marker.read_text())
        repos = Path(held["repos"])
        assert repos.is_dir()
        info = leases.read(name)
        assert info is not None
        assert leases.alive(info.reaper_pid)

        inner.send_signal(sig)
        inner.communicate(timeout=60)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.communicate()  # also closes the pipe

    assert inner.returncode != 0
    expect(
        Expectation(
            "nothing of the session left",
            lambda: _left_over(state_dir, records, ports, repos, name, info.reaper_pid),
        ),
        timeout=NOTHING_LEFT_WITHIN,
    )
    _assert_nothing_left(state_dir, records, ports)


def _left_over(
    state_dir: Path, records: list[ProcessRecord], ports: list[int], repos: Path, name: str, reaper_pid: int
) -> Outcome:
    left = [f"process {r.name}" for r in records if r.alive()]
    left += [f"port {p}" for p in ports if port_in_use(p)]
    left += [str(p) for p in (state_dir, repos, leases.lease_path(name)) if p.exists()]
    left += [f"reaper pid {reaper_pid}"] if leases.alive(reaper_pid) else []
    return Outcome.simple(not left, f"left: {left}" if left else "nothing left")


SECOND_SESSION = textwrap.dedent(
    """
    def test_use_the_cluster(chaos_cluster):
        assert chaos_cluster.owned is False
    """
)


def test_a_second_session_with_the_same_cluster_name_reuses_it_and_leaves_it_alone(tmp_path: Path) -> None:
    """Two sessions, one name: the second reuses the booted cluster and neither stops nor keeps it."""
    name = f"twice-{uuid.uuid4().hex[:6]}"
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    first, marker = _inner_pytest(first_dir, name)
    try:
        expect(
            Expectation("the first session holds its cluster", lambda: _inner_state(first, marker)),
            timeout=120,
        )
        records, ports = _snapshot(state_root() / name)
        (second_dir / "test_second.py").write_text(SECOND_SESSION)
        second = subprocess.run(
            [
                sys.executable, "-m", "pytest", "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-q", "-s",
                "--cluster-name", name, str(second_dir / "test_second.py"),
            ],
            cwd=second_dir, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        text = second.stdout + second.stderr
        assert second.returncode == 0, text
        assert text.count("reusing running embedded cluster") == 1, text
        assert all(r.alive() for r in records)  # the first session's cluster is untouched
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    _assert_nothing_left(state_root() / name, records, ports)  # the owner removed it at its end


TOGETHER_SESSION = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from kubernetes import client

    def test_hold_the_cluster_until_both_have_it(chaos_cluster):
        here = Path(os.environ["TOGETHER_DIR"])
        assert client.CoreV1Api(chaos_cluster.api_client()).list_namespace().items
        # Written once this session has used the cluster; the owner ends (and removes the cluster)
        # only after the other session's mark is there too.
        (here / f"{os.getpid()}.{'owned' if chaos_cluster.owned else 'reused'}").write_text("")
        deadline = time.monotonic() + 180
        while len(list(here.glob("*.owned")) + list(here.glob("*.reused"))) < 2:
            assert time.monotonic() < deadline, "the other session never got the cluster"
            time.sleep(0.2)
    """
)


def test_two_sessions_of_one_name_started_together_boot_it_once(tmp_path: Path) -> None:
    """Two pytest sessions, one cluster name, started at the same moment: one boots, the other waits
    for the boot to finish (never a half-booted cluster), reuses it, and leaves it to its owner."""
    name = f"together-{uuid.uuid4().hex[:6]}"
    (tmp_path / "test_together.py").write_text(TOGETHER_SESSION)
    sessions = [
        subprocess.Popen(
            [
                sys.executable, "-m", "pytest", "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-q", "-s",
                "--cluster-name", name, str(tmp_path / "test_together.py"),
            ],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, "TOGETHER_DIR": str(tmp_path)},
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in sessions]
    finally:
        for p in sessions:
            if p.poll() is None:
                p.kill()
                p.communicate()
    results = [(p.returncode, out) for p, out in zip(sessions, outputs, strict=True)]
    assert [code for code, _ in results] == [0, 0], "\n\n".join(out[-3000:] for _, out in results)
    assert sorted(f.suffix for f in tmp_path.glob("*.owned")) + sorted(
        f.suffix for f in tmp_path.glob("*.reused")
    ) == [".owned", ".reused"]
    assert sum(out.count("reusing running embedded cluster") for _, out in results) == 1, results
    assert not any("Traceback" in out or "404" in out for _, out in results), results
    assert not (state_root() / name).exists()  # the owner removed it at its end
    assert not leases.lease_path(name).exists()


def test_two_cluster_up_of_one_name_at_once_boot_it_once(tmp_path: Path) -> None:
    """`argocd-chaos cluster up --name X` twice at once: one boots, the other waits and says it runs."""
    name = f"upup-{uuid.uuid4().hex[:6]}"
    cli = str(Path(sys.executable).parent / "argocd-chaos")
    ups = [
        subprocess.Popen(
            [cli, "cluster", "up", "--name", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
        for _ in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0].decode(errors="replace") for p in ups]
        results = [(p.returncode, out) for p, out in zip(ups, outputs, strict=True)]
        codes = sorted(code for code, _ in results)
        assert codes[0] == 0, results
        assert codes[1] != 0, results
        refused = next(text for code, text in results if code != 0)
        assert "is already running" in refused
        assert "Traceback" not in refused
        cluster = EmbeddedCluster.attach(name)
        assert cluster is not None
        assert all(cluster.running().values())
    finally:
        for p in ups:
            if p.poll() is None:
                p.kill()
                p.communicate()
        subprocess.run([cli, "cluster", "down", "--name", name], check=False, capture_output=True)
    assert not (state_root() / name).exists()


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
