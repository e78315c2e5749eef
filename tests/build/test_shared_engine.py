"""One Docker engine for the processes of a run: started once, stopped by the last user, never someone else's.

A stand-in `docker` answers `docker info` while a stand-in `dockerd` (a real process) runs; the
record and its lock are the real ones, in a temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from testkit.shared_engine import shared_engine

from harness._build.images import engine
from harness._cluster.lease import alive
from harness._wait import Expectation, Outcome, expect

DOCKER = """#!/bin/sh
# `docker info` answers while the stand-in dockerd runs.
if ! [ -f "{up}" ] || ! kill -0 "$(cat "{up}")" 2>/dev/null; then
  echo 'Cannot connect to the Docker daemon' >&2; exit 1
fi
echo "27.5.1 runc"
"""
DOCKERD = """#!/bin/sh
echo $$ > "{up}"
trap 'rm -f "{up}"; exit 0' TERM
while :; do sleep 1; done
"""


@pytest.fixture
def stand_ins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """docker and dockerd on PATH; returns the file the running stand-in dockerd writes its pid to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    up = tmp_path / "dockerd.pid"
    for name, text in (("docker", DOCKER), ("dockerd", DOCKERD)):
        (bin_dir / name).write_text(text.format(up=up))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "lacks_sys_resource", lambda status=None: False)
    return up


def _record(state: Path) -> dict[str, object]:
    return json.loads((state / "engine.json").read_text())


def test_started_once_and_stopped_by_the_last_user(tmp_path: Path, stand_ins: Path) -> None:
    state = tmp_path / "state"
    said: list[str] = []
    with shared_engine(state, tmp_path / "dockerd.log", said.append) as first:
        assert first.started
        assert first.version == "27.5.1"
        pid = int(stand_ins.read_text())
        assert _record(state) == {"dockerd_pid": pid, "users": [os.getpid()]}
        with shared_engine(state, tmp_path / "other.log", said.append) as second:  # a second user
            assert second.started
            assert _record(state)["users"] == [os.getpid(), os.getpid()]
        assert alive(pid), "stopped although a user was left"
    assert not alive(pid)
    assert not (state / "engine.json").exists()
    assert len([s for s in said if s.startswith("docker: starting")]) == 1


def test_a_user_that_is_gone_does_not_keep_the_engine(tmp_path: Path, stand_ins: Path) -> None:
    state = tmp_path / "state"
    other = subprocess.Popen(["sleep", "300"])
    try:
        with shared_engine(state, tmp_path / "dockerd.log", print):
            pid = int(stand_ins.read_text())
            data = _record(state)
            (state / "engine.json").write_text(json.dumps({**data, "users": [other.pid, *data["users"]]}))
        assert alive(pid), "stopped while another user still runs"
        assert _record(state)["users"] == [other.pid]
        other.kill()  # the other user dies without leaving (SIGKILL)
        other.wait()
        with shared_engine(state, tmp_path / "dockerd.log", print) as again:
            assert again.started  # the same dockerd, taken over
            assert int(stand_ins.read_text()) == pid
        assert not alive(pid)
        assert not (state / "engine.json").exists()
    finally:
        other.kill()
        other.wait()


def test_an_engine_that_was_running_already_is_used_and_left_alone(tmp_path: Path, stand_ins: Path) -> None:
    theirs = subprocess.Popen(["dockerd"], start_new_session=True)
    try:
        answers = Expectation("their dockerd answers", lambda: Outcome.simple(stand_ins.exists(), "not yet"))
        expect(answers, timeout=10)
        state = tmp_path / "state"
        with shared_engine(state, tmp_path / "dockerd.log", print) as found:
            assert not found.started
            assert _record(state) == {"dockerd_pid": None, "users": [os.getpid()]}
        assert theirs.poll() is None
        assert not (state / "engine.json").exists()
    finally:
        theirs.terminate()
        theirs.wait()
