from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness._cluster.embedded import process as _process
from harness._cluster.embedded.process import (
    ProcessRecord,
    kill,
    load_records,
    save_records,
    terminate,
    wait_ready,
)
from harness._errors import ClusterSetupError, HarnessError

PY = sys.executable
Spawn = Callable[..., tuple[subprocess.Popen[bytes], ProcessRecord]]


def pid_gone(pid: int) -> bool:
    """True when no process has that pid, or only a zombie that nobody has reaped yet."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return raw[raw.rindex(")") + 2 :].split()[0] in ("Z", "X")


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll a condition that another process makes true; False if it did not within the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)  # polling interval while waiting for another process
    return check()


def log_has(rec: ProcessRecord, text: str) -> _process.Probe:
    """A probe that is ready once the component's log contains `text`."""

    def probe() -> tuple[bool, str]:
        content = Path(rec.log).read_text() if Path(rec.log).exists() else ""
        return text in content, f"log has {len(content)} chars"

    return probe


def py(code: str) -> list[str]:
    return [PY, "-c", code]


SLEEPER = "import time; print('listening', flush=True); time.sleep(60)"


# -- start -------------------------------------------------------------------------------------------


def test_start_records_the_process_and_writes_its_own_log(spawn: Spawn, tmp_path: Path) -> None:
    p, rec = spawn("web", py(SLEEPER), env={"CHAOS_MARK": "x1"})

    assert rec.name == "web"
    assert rec.pid == p.pid
    assert rec.argv == py(SLEEPER)
    assert rec.env == {"CHAOS_MARK": "x1"}
    assert Path(rec.log) == tmp_path / "logs" / "web.log"
    assert rec.start_ticks > 0
    assert rec.alive()
    wait_ready(rec, log_has(rec, "listening"), timeout=10, proc=p)
    # The process leads its own session, so a signal to its group reaches only it and its children.
    assert os.getpgid(rec.pid) == rec.pid
    assert os.getsid(rec.pid) == rec.pid
    environ = Path(f"/proc/{rec.pid}/environ").read_bytes().split(b"\0")
    assert b"CHAOS_MARK=x1" in environ
    assert b"PATH=" + os.environ["PATH"].encode() in environ  # the rest of the environment is inherited


def test_start_appends_to_an_existing_log(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "once.log").write_text("previous run\n")
    p, rec = spawn("once", py("print('second run')"))
    p.wait(timeout=10)
    assert Path(rec.log).read_text() == "previous run\nsecond run\n"


def test_start_of_a_missing_binary_names_the_component(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-binary"
    with pytest.raises(ClusterSetupError) as err:
        _process.start("etcd", [str(missing), "--flag"], log_dir=tmp_path / "logs")
    assert err.value.component == "etcd"
    assert f"cannot start {missing}" in str(err.value)
    assert isinstance(err.value, HarnessError)


# -- wait_ready --------------------------------------------------------------------------------------


def test_wait_ready_returns_once_the_probe_turns_true(spawn: Spawn) -> None:
    p, rec = spawn("api", py(SLEEPER))
    calls: list[int] = []

    def probe() -> tuple[bool, str]:
        calls.append(1)
        return len(calls) >= 3, f"call {len(calls)}"

    took = wait_ready(rec, probe, timeout=10, proc=p)

    assert len(calls) == 3
    assert 0 <= took < 10


def test_wait_ready_treats_a_raising_probe_as_not_yet(spawn: Spawn) -> None:
    p, rec = spawn("api", py(SLEEPER))
    calls: list[int] = []

    def probe() -> tuple[bool, str]:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("connection refused")
        return True, "ok"

    wait_ready(rec, probe, timeout=10, proc=p)
    assert len(calls) == 3


def test_wait_ready_reports_an_early_exit_with_code_and_log_tail(spawn: Spawn) -> None:
    p, rec = spawn(
        "kube-apiserver",
        py("import sys; print('E0101 flag provided but not defined: -bogus', flush=True); sys.exit(3)"),
    )

    with pytest.raises(ClusterSetupError) as err:
        wait_ready(rec, lambda: (False, "connection refused"), timeout=30, proc=p)

    assert err.value.component == "kube-apiserver"
    assert "exited with code 3 before it was ready" in err.value.reason
    assert "flag provided but not defined: -bogus" in err.value.log_tail
    text = str(err.value)
    assert text.startswith("kube-apiserver: exited with code 3")
    assert "--- last lines of the kube-apiserver log ---" in text
    assert "flag provided but not defined: -bogus" in text


def test_wait_ready_without_popen_notices_the_process_is_gone(spawn: Spawn) -> None:
    p, rec = spawn("redis", py("print('fatal: cannot bind', flush=True)"))
    # Not reaped: the exited process stays a zombie, which must not count as alive.
    assert wait_until(lambda: not rec.alive())

    with pytest.raises(ClusterSetupError) as err:
        wait_ready(rec, lambda: (False, "no pong"), timeout=30)

    assert err.value.component == "redis"
    assert "process is gone before it was ready" in err.value.reason
    assert "fatal: cannot bind" in err.value.log_tail


def test_wait_ready_stops_when_the_boot_is_cancelled(spawn: Spawn) -> None:
    p, rec = spawn("kwok", py(SLEEPER))
    cancel = threading.Event()
    probes: list[int] = []

    def probe() -> tuple[bool, str]:
        probes.append(1)
        if len(probes) == 2:
            cancel.set()  # as another component's failed wait would
        return False, "node Ready: {}"

    t0 = time.monotonic()
    with pytest.raises(ClusterSetupError) as err:
        wait_ready(rec, probe, timeout=30, proc=p, cancel=cancel)

    assert time.monotonic() - t0 < 5
    assert len(probes) == 2
    assert err.value.component == "kwok"
    assert "another step of the boot failed" in err.value.reason
    assert rec.alive()  # stopping the wait leaves the process to whoever tears the boot down


def test_wait_ready_times_out_naming_the_component_and_last_probe(spawn: Spawn) -> None:
    p, rec = spawn("etcd", py(SLEEPER))
    wait_ready(rec, log_has(rec, "listening"), timeout=10, proc=p)

    t0 = time.monotonic()
    with pytest.raises(ClusterSetupError) as err:
        wait_ready(rec, lambda: (False, "HTTP 503 not ready"), timeout=0.3, proc=p)

    assert time.monotonic() - t0 >= 0.3
    assert err.value.component == "etcd"
    assert "not ready after" in err.value.reason
    assert "last probe: HTTP 503 not ready" in err.value.reason
    assert "listening" in err.value.log_tail
    assert p.poll() is None  # a timeout reports; it does not stop the process


def test_tail_quotes_the_last_lines_only(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert _process.tail(log, lines=3) == "line 97\nline 98\nline 99"
    assert _process.tail(tmp_path / "missing.log") == "(no log file)"


# -- terminate and kill ------------------------------------------------------------------------------


def test_terminate_stops_the_process_and_its_children(spawn: Spawn) -> None:
    parent_code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    p, rec = spawn("controller", py(parent_code))
    wait_ready(rec, log_has(rec, "child "), timeout=10, proc=p)
    child_pid = int(Path(rec.log).read_text().split()[1])
    assert not pid_gone(child_pid)
    assert os.getpgid(child_pid) == rec.pid

    terminate(rec, grace=5)

    assert pid_gone(rec.pid)
    assert not rec.alive()
    # The child got the same SIGTERM through the process group; it dies on its own schedule.
    assert wait_until(lambda: pid_gone(child_pid)), f"child {child_pid} survived terminate"


def test_terminate_escalates_to_sigkill_when_sigterm_is_ignored(spawn: Spawn) -> None:
    stubborn = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('got SIGTERM, ignoring', flush=True))\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        "    time.sleep(60)\n"
    )
    p, rec = spawn("stubborn", py(stubborn))
    wait_ready(rec, log_has(rec, "ready"), timeout=10, proc=p)

    t0 = time.monotonic()
    terminate(rec, grace=0.5)
    took = time.monotonic() - t0

    assert pid_gone(rec.pid)
    assert not rec.alive()
    assert took >= 0.5  # it waited out the grace period before SIGKILL
    assert took < 5
    assert wait_until(lambda: "got SIGTERM, ignoring" in Path(rec.log).read_text())


def test_kill_stops_at_once_without_sigterm(spawn: Spawn) -> None:
    catches_term = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: print('got SIGTERM', flush=True))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    p, rec = spawn("etcd", py(catches_term))
    wait_ready(rec, log_has(rec, "ready"), timeout=10, proc=p)

    t0 = time.monotonic()
    kill(rec)

    assert time.monotonic() - t0 < 2
    assert pid_gone(rec.pid)
    assert "got SIGTERM" not in Path(rec.log).read_text()


def test_terminate_of_an_exited_process_is_a_no_op(spawn: Spawn) -> None:
    p, rec = spawn("done", py("pass"))
    assert wait_until(lambda: not rec.alive())
    terminate(rec, grace=0.5)
    kill(rec)
    assert pid_gone(rec.pid)


# -- records -----------------------------------------------------------------------------------------


def _own_record(**changes: object) -> ProcessRecord:
    rec = ProcessRecord("self", os.getpid(), _process._start_ticks(os.getpid()), [PY], "/dev/null")
    for k, v in changes.items():
        setattr(rec, k, v)
    return rec


def test_alive_for_a_running_process_with_matching_start_time() -> None:
    assert _own_record().alive()


def test_alive_is_false_for_a_recycled_pid() -> None:
    rec = _own_record()
    # Same pid, other start time: the pid now belongs to another process, which must not be signalled.
    assert not _own_record(start_ticks=rec.start_ticks + 1).alive()
    assert not _own_record(start_ticks=rec.start_ticks - 1).alive()


def test_alive_is_false_for_a_pid_that_does_not_exist() -> None:
    max_pid = int(Path("/proc/sys/kernel/pid_max").read_text())
    pid = next(p for p in range(max_pid - 1, 1, -1) if not Path(f"/proc/{p}").exists())
    assert not _own_record(pid=pid, start_ticks=0).alive()
    assert not _own_record(pid=pid, start_ticks=-1).alive()


def test_terminate_does_not_signal_a_recycled_pid() -> None:
    stale = _own_record()
    stale.start_ticks += 1
    terminate(stale, grace=0.1)  # would SIGTERM this very test process if it trusted the pid
    kill(stale)
    assert _own_record().alive()


def test_save_and_load_records_round_trip(tmp_path: Path) -> None:
    records = {
        "etcd": ProcessRecord("etcd", 101, 5551, ["/bin/etcd", "--name=node0"], "/tmp/etcd.log"),
        "argocd-repo-server": ProcessRecord(
            "argocd-repo-server", 202, 6662, ["/bin/argocd-repo-server"], "/tmp/repo.log", {"HOME": "/h"}
        ),
    }
    extra = {"name": "c1", "ports": {"api": 6443}, "owner_pid": 42}
    path = tmp_path / "cluster.json"

    save_records(path, records, extra)
    loaded, loaded_extra = load_records(path)

    assert loaded == records
    assert loaded_extra == extra
    assert not path.with_suffix(".tmp").exists()


def test_save_records_replaces_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    save_records(path, {"a": ProcessRecord("a", 1, 1, ["a"], "a.log")}, {"v": 1})
    save_records(path, {}, {"v": 2})
    assert load_records(path) == ({}, {"v": 2})


# -- pause -------------------------------------------------------------------------------------------

TICKER = (
    "import time\n"
    "print('ready', flush=True)\n"
    "while True:\n"
    "    print('tick', time.monotonic(), flush=True)\n"
    "    time.sleep(0.05)\n"
)


def _ticks(rec: ProcessRecord) -> list[float]:
    return [
        float(line.split()[1]) for line in Path(rec.log).read_text().splitlines() if line.startswith("tick ")
    ]


def test_pause_freezes_the_process_until_resumed(spawn: Spawn) -> None:
    p, rec = spawn("argocd-application-controller", py(TICKER))
    wait_ready(rec, log_has(rec, "tick"), timeout=10, proc=p)

    _process.pause(rec)
    assert wait_until(lambda: _process.stopped(rec))
    frozen = len(_ticks(rec))
    time.sleep(0.5)  # the scenario: while frozen, it must not print a single tick
    assert len(_ticks(rec)) == frozen
    assert rec.alive()

    _process.resume(rec)
    assert not _process.stopped(rec)
    assert wait_until(lambda: len(_ticks(rec)) > frozen)
    gaps = [b - a for a, b in itertools.pairwise(_ticks(rec))]
    assert max(gaps) >= 0.5  # the pause shows as one long gap in its own clock


def test_a_timed_pause_resumes_by_itself(spawn: Spawn) -> None:
    from harness._cluster.embedded.cluster import PausedComponent

    p, rec = spawn("argocd-repo-server", py(TICKER))
    wait_ready(rec, log_has(rec, "tick"), timeout=10, proc=p)

    paused = PausedComponent(rec, 0.6)
    assert paused.paused
    assert wait_until(lambda: _process.stopped(rec))
    paused.wait(timeout=10)

    assert not paused.paused
    assert paused.resumed_at is not None
    assert paused.resumed_at - paused.paused_at >= 0.6
    assert wait_until(lambda: not _process.stopped(rec))
    paused.resume()  # idempotent


def test_leaving_a_pause_block_resumes_early(spawn: Spawn) -> None:
    from harness._cluster.embedded.cluster import PausedComponent

    p, rec = spawn("argocd-repo-server", py(TICKER))
    wait_ready(rec, log_has(rec, "tick"), timeout=10, proc=p)

    with PausedComponent(rec, 60) as paused:
        assert wait_until(lambda: _process.stopped(rec))
    assert not paused.paused
    assert paused.resumed_at is not None
    assert paused.resumed_at - paused.paused_at < 30
    assert wait_until(lambda: not _process.stopped(rec))


def test_terminate_of_a_paused_process_does_not_wait_for_sigkill(spawn: Spawn) -> None:
    catches_term = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: (print('got SIGTERM', flush=True), sys.exit(0)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    p, rec = spawn("kube-apiserver", py(catches_term))
    wait_ready(rec, log_has(rec, "ready"), timeout=10, proc=p)
    _process.pause(rec)
    assert wait_until(lambda: _process.stopped(rec))

    terminate(rec, grace=5)

    assert pid_gone(rec.pid)
    assert wait_until(lambda: "got SIGTERM" in Path(rec.log).read_text())  # it ran its handler


def test_pause_of_a_process_that_is_gone_says_so(spawn: Spawn) -> None:
    p, rec = spawn("done", py("pass"))
    assert wait_until(lambda: not rec.alive())
    with pytest.raises(_process.ComponentNotRunning, match=r"done \(pid \d+\) is not running"):
        _process.pause(rec)
    _process.resume(rec)  # a no-op, not an error
