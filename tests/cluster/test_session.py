"""The session's hold on its cluster: the lease, the name lock, and the reaper of a dead session.

A fake provider stands in at the provider boundary (the session code only calls acquire, release,
running and reap); the reaper runs for real, as the separate process it is, against real
processes standing in for a killed pytest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import harness._cluster.session
from harness._cluster import lease as leases
from harness._cluster import reaper
from harness._cluster import session as sess
from harness._cluster.embedded import process as proc
from harness._cluster.provider import ClusterHandle, Provider
from harness._config import HarnessConfig
from harness._errors import ConfigError, HarnessError
from harness._paths import state_root
from harness._wait import Expectation, Outcome, expect

NAME = "lease-test"


class FakeProvider(Provider):
    def __init__(self, log: list[str], *, fail: str = "", running: bool = False) -> None:
        self.log, self.fail, self.is_running = log, fail, running

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        self.log.append("acquire")
        if self.fail:
            raise HarnessError(self.fail)
        return ClusterHandle(
            "embedded", cfg.cluster_name, Path("/k/kubeconfig"), {"argocd": "v3.6.1"}, owned=True
        )

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        self.log.append(f"release keep={keep}")

    def running(self, cfg: HarnessConfig) -> bool:
        return self.is_running


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch, chaos_dirs: object) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(harness._cluster.session, "provider_for", lambda cfg: FakeProvider(calls))
    return calls


def _sleeper() -> subprocess.Popen[bytes]:
    """A process standing in for a pytest session (the lease's owner)."""
    return subprocess.Popen(["sleep", "300"])


def _gone(path: Path) -> Expectation:
    return Expectation(
        f"{path} removed", lambda: Outcome.simple(not path.exists(), f"exists={path.exists()}")
    )


def test_the_first_process_boots_and_the_others_attach(log: list[str]) -> None:
    me = sess.SessionIdentity("run001", os.getpid())
    cfg = HarnessConfig(cluster_name=NAME, run_id="run001")
    first = sess.acquire(cfg, me, shared=True)
    second = sess.acquire(cfg, me, shared=True)
    try:
        assert log == ["acquire"]
        assert first.provider is not None
        assert second.provider is None
        assert second.handle.kubeconfig == first.handle.kubeconfig
        info = leases.read(NAME)
        assert info is not None
        assert info.state == "ready"
        assert info.owned
        assert leases.alive(info.reaper_pid)
    finally:
        sess.release(cfg, me, first, keep=False)
    assert log == ["acquire", "release keep=False"]
    assert leases.read(NAME) is None
    expect(
        Expectation("the reaper stood down", lambda: Outcome.simple(not leases.alive(info.reaper_pid), "")),
        timeout=10,
    )


def test_another_live_sessions_booted_cluster_is_reused_and_left_to_it(log: list[str]) -> None:
    owner = _sleeper()
    handle = ClusterHandle("embedded", NAME, Path("/k/kubeconfig"), {"argocd": "v3.6.1"}, owned=True)
    try:
        leases.write(
            NAME,
            leases.LeaseInfo(
                run_id="other1",
                owner_pid=owner.pid,
                provider="embedded",
                state="ready",
                handle=handle.to_json(),
            ),
        )
        me = sess.SessionIdentity("run002", os.getpid())
        cfg = HarnessConfig(cluster_name=NAME)
        got = sess.acquire(cfg, me, shared=False)
        assert got.provider is None
        assert got.handle.kubeconfig == handle.kubeconfig
        assert got.handle.owned is False
        sess.release(cfg, me, got, keep=False)
        info = leases.read(NAME)
        assert info is not None
        assert info.run_id == "other1"  # still the other session's
        assert log == []
    finally:
        owner.kill()
        owner.wait()


def test_another_live_session_still_booting_or_failed_is_one_clear_error(log: list[str]) -> None:
    owner = _sleeper()
    try:
        for state in ("booting", "failed"):
            leases.write(
                NAME, leases.LeaseInfo(run_id="other1", owner_pid=owner.pid, provider="embedded", state=state)
            )
            with pytest.raises(
                ConfigError, match=rf"in use by another test session \(pid \d+, run other1, {state}"
            ):
                sess.acquire(
                    HarnessConfig(cluster_name=NAME),
                    sess.SessionIdentity("run002", os.getpid()),
                    shared=False,
                )
        assert log == []
    finally:
        owner.kill()
        owner.wait()


def test_a_setup_error_is_recorded_once_and_the_other_workers_refer_to_it(
    monkeypatch: pytest.MonkeyPatch, chaos_dirs: object
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        harness._cluster.session, "provider_for", lambda cfg: FakeProvider(calls, fail="no Docker engine")
    )
    me = sess.SessionIdentity("run003", os.getpid())
    cfg = HarnessConfig(cluster_name=NAME)
    with pytest.raises(HarnessError, match="no Docker engine"):
        sess.acquire(cfg, me, shared=True)
    with pytest.raises(sess.SetupFailedElsewhere, match="reported once.*no Docker engine"):
        sess.acquire(cfg, me, shared=True)
    assert calls == ["acquire"]
    sess.release(cfg, me, None, keep=False)
    assert leases.read(NAME) is None


def test_a_cluster_that_already_runs_is_reused_not_owned(
    monkeypatch: pytest.MonkeyPatch, chaos_dirs: object
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        harness._cluster.session, "provider_for", lambda cfg: FakeProvider(calls, running=True)
    )
    me = sess.SessionIdentity("run004", os.getpid())
    cfg = HarnessConfig(cluster_name=NAME)
    got = sess.acquire(cfg, me, shared=False)
    info = leases.read(NAME)
    assert info is not None
    assert info.owned is True
    sess.release(cfg, me, got, keep=False)


class LockHolder:
    """Another process holding the cluster name's lock until told to let go."""

    SCRIPT = (
        "import sys\n"
        "from harness._cluster import lease\n"
        "with lease.name_lock(sys.argv[1], timeout=1):\n"
        "    print('held', flush=True)\n"
        "    sys.stdin.readline()\n"
    )

    def __init__(self) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, NAME], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.p.stdout is not None
        assert self.p.stdout.readline() == b"held\n"

    def let_go(self) -> None:
        self.p.communicate(b"\n", timeout=10)


def test_the_lock_waits_for_a_booting_worker_of_the_same_session_beyond_its_timeout(
    chaos_dirs: object,
) -> None:
    leases.write(NAME, leases.LeaseInfo(run_id="run005", owner_pid=os.getpid(), provider="embedded"))
    holder = LockHolder()
    letting_go = threading.Event()

    def let_go() -> None:
        letting_go.set()
        holder.let_go()

    timer = threading.Timer(2.5, let_go)  # the delay is the scenario: a boot longer than the timeout
    timer.start()
    try:
        with leases.name_lock(NAME, timeout=0.5, patient_with=lambda info: info is not None):
            assert letting_go.is_set()  # got it only once the holder let go, long after the timeout
    finally:
        timer.join()


def test_the_lock_gives_one_clear_error_when_another_session_holds_it_too_long(chaos_dirs: object) -> None:
    holder = LockHolder()
    try:
        with pytest.raises(
            ConfigError, match="for more than 0s; wait for it, or pick another --cluster-name"
        ):
            with leases.name_lock(NAME, timeout=0.2):
                pass
    finally:
        holder.let_go()


def test_an_unreadable_lease_counts_as_none(chaos_dirs: object) -> None:
    leases.lease_path(NAME).parent.mkdir(parents=True)
    for text in ("", "{not json", '{"run_id": "x"}', "[]"):
        leases.lease_path(NAME).write_text(text)
        assert leases.read(NAME) is None


def test_the_reaper_tears_down_what_a_killed_session_owned(chaos_dirs: object) -> None:
    """kill -9 of the owner: the reaper stops the cluster's processes and removes state, temp dirs, lease."""
    state = state_root() / NAME
    state.mkdir(parents=True)
    component, record = proc.start("etcd", ["sleep", "300"], log_dir=state / "logs")
    proc.save_records(
        state / "cluster.json",
        {"etcd": record},
        {
            "name": NAME,
            "build_root": str(state),
            "versions": _versions(),
            "ports": {},
            "options": {"name": NAME},
        },
    )
    temp = Path(tempfile.mkdtemp(prefix="argocd-chaos-reaper-test-"))
    owner = _sleeper()
    leases.write(
        NAME,
        leases.LeaseInfo(
            run_id="run006", owner_pid=owner.pid, provider="embedded", state="ready", temp_dirs=[str(temp)]
        ),
    )
    reaper_pid = reaper.start(NAME)
    assert leases.alive(reaper_pid)

    owner.send_signal(signal.SIGKILL)
    owner.wait()

    for path in (state, temp, leases.lease_path(NAME)):
        expect(_gone(path), timeout=10)
    expect(
        Expectation("the component was stopped", lambda: Outcome.simple(not record.alive(), "")), timeout=10
    )
    component.wait(timeout=5)
    expect(
        Expectation("the reaper exited", lambda: Outcome.simple(not leases.alive(reaper_pid), "")), timeout=10
    )


def test_the_reaper_leaves_a_reused_cluster_alone(chaos_dirs: object) -> None:
    state = state_root() / NAME
    state.mkdir(parents=True)
    owner = _sleeper()
    leases.write(
        NAME, leases.LeaseInfo(run_id="run007", owner_pid=owner.pid, provider="embedded", owned=False)
    )
    reaper_pid = reaper.start(NAME)
    owner.kill()
    owner.wait()
    expect(_gone(leases.lease_path(NAME)), timeout=10)
    assert state.is_dir()
    expect(
        Expectation("the reaper exited", lambda: Outcome.simple(not leases.alive(reaper_pid), "")), timeout=10
    )


def test_a_kept_cluster_makes_the_reaper_stand_down(chaos_dirs: object) -> None:
    state = state_root() / NAME
    state.mkdir(parents=True)
    leases.write(NAME, leases.LeaseInfo(run_id="run008", owner_pid=os.getpid(), provider="embedded"))
    reaper_pid = reaper.start(NAME)
    time.sleep(0.5)  # the delay is the scenario: the reaper is waiting on its owner when told to stand down
    assert reaper.release(reaper_pid, keep=True, timeout=10)
    assert state.is_dir()
    assert leases.read(NAME) is not None


def test_release_now_has_the_reaper_tear_down_and_waits_for_it(chaos_dirs: object) -> None:
    state = state_root() / NAME
    state.mkdir(parents=True)
    leases.write(NAME, leases.LeaseInfo(run_id="run009", owner_pid=os.getpid(), provider="embedded"))
    reaper_pid = reaper.start(NAME)
    time.sleep(0.5)  # the delay is the scenario: the reaper is waiting on its owner when asked to release
    assert reaper.release(reaper_pid, keep=False, timeout=30)
    assert not state.exists()
    assert leases.read(NAME) is None


def test_a_dead_sessions_leftovers_are_cleaned_before_a_new_boot(log: list[str]) -> None:
    state = state_root() / NAME
    state.mkdir(parents=True)
    dead = _sleeper()
    dead.kill()
    dead.wait()
    leases.write(
        NAME, leases.LeaseInfo(run_id="dead01", owner_pid=dead.pid, provider="embedded", reaper_pid=0)
    )
    me = sess.SessionIdentity("run010", os.getpid())
    cfg = HarnessConfig(cluster_name=NAME)
    got = sess.acquire(cfg, me, shared=False)
    try:
        assert not state.exists()  # reaped before this session booted its own
        assert log == ["acquire"]
    finally:
        sess.release(cfg, me, got, keep=False)


def test_the_handle_crosses_processes_as_json() -> None:
    handle = ClusterHandle(
        "embedded",
        "x",
        Path("/s/kubeconfig"),
        {"argocd": "v3.6.1"},
        owned=True,
        log_files={"etcd": Path("/s/logs/etcd.log")},
        settings={"a": "b"},
        boot_seconds=12.5,
        bin_dir=Path("/b"),
    )
    again = ClusterHandle.from_json(json.loads(json.dumps(handle.to_json())))
    assert again == handle


def _versions() -> dict[str, str]:
    return {"argocd": "v3.6.1", "kubernetes": "v1.37.0", "kwok": "v0.8.0", "toolchain": "go1.27.3"}
