"""One Docker engine for every process of a test run that needs one, stopped by the last of them.

pytest-xdist runs the Docker tests on whichever workers are free, so no single worker's session
can own the engine: the one that started it may finish while another still runs containers. A small
record beside the cluster state (`engine.json` under a file lock) says which processes use the
engine and which dockerd was started for them:

- the first user finds the running engine and uses it as it is (never stopping it), or starts
  dockerd in a process group of its own (`harness._build.images.engine.start_dockerd`);
- every user adds its pid on entry and removes it on leaving, together with the pids of users
  that are gone (a worker killed with SIGKILL); the last one out stops the dockerd started here;
- a record whose users are all gone (every one of them killed) is taken over by the next user,
  whose run then stops that dockerd at its end, so a killed run leaves nothing for good.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock

from harness._build.images import engine as _engine
from harness._cluster.lease import alive
from harness._wait import Expectation, ExpectationTimeout, Outcome, expect

#: How long a process waits for another that is starting the engine (dockerd answers within 60 s).
LOCK_TIMEOUT = 300.0
#: dockerd stops its containers on SIGTERM; after this many seconds its process group is killed.
STOP_TIMEOUT = 60.0

#: dockerd processes this process started: polled when stopped (no zombie) and at exit.
_children: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _engines_outlive_us() -> None:
    """A dockerd still running when its starter exits belongs to the other users: no Popen warning."""
    for p in _children.values():
        if p.poll() is None:
            p.returncode = 0


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def stop_pid(pid: int) -> None:
    """SIGTERM to a dockerd started here (by any process), SIGKILL of its group if it is not gone in time."""
    if not alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def gone() -> Outcome:
        child = _children.get(pid)
        if child is not None:
            child.poll()  # our own child would stay a zombie, which `alive` already counts as gone
        return Outcome.simple(not alive(pid), f"dockerd pid {pid} still running")

    try:
        expect(Expectation(f"dockerd (pid {pid}) stopped after SIGTERM", gone), timeout=STOP_TIMEOUT)
    except ExpectationTimeout:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()


@contextmanager
def shared_engine(state_dir: Path, log_path: Path, say: Callable[[str], None]) -> Iterator[_engine.Engine]:
    """The machine's Docker engine for the block, shared with every other process that uses it here.

    `state_dir` holds the record and its lock (the same directory for every process that shares);
    `log_path` is dockerd's log if this process starts it. Raises ConfigError when no engine answers
    and none can be started (no docker client, no dockerd, not root).
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    record = state_dir / "engine.json"
    lock = FileLock(state_dir / "engine.lock", timeout=LOCK_TIMEOUT)
    me = os.getpid()
    with lock:
        data = _read(record)
        users = [u for u in data.get("users", []) if alive(u)]
        started = data.get("dockerd_pid")
        if started is not None and not alive(started):
            started = None
        docker = _engine.docker_client()
        found, why = _engine.running_engine(docker)
        if found is not None:
            engine = _engine.Engine(found.docker, found.version, found.default_runtime, started is not None)
        else:
            if started is not None:
                stop_pid(started)  # started here but no longer answering: replace it
            proc, engine = _engine.start_dockerd(docker, log_path, say, why)
            _children[proc.pid] = proc
            started = proc.pid
        _write(record, {"dockerd_pid": started, "users": [*users, me]})
    try:
        yield engine
    finally:
        with lock:
            data = _read(record)
            users = list(data.get("users", []))
            if me in users:
                users.remove(me)
            users = [u for u in users if alive(u)]
            if users:
                _write(record, {**data, "users": users})
            else:
                if data.get("dockerd_pid") is not None:
                    stop_pid(int(data["dockerd_pid"]))
                record.unlink(missing_ok=True)
