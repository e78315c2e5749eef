"""The Docker engine for the local images: capability detection, dockerd's command line, the runc wrapper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness._build.images import engine
from harness._errors import ConfigError

#: /proc/self/status of the VM this project runs on: CAP_SYS_RESOURCE (bit 24) missing.
STATUS_WITHOUT = "Name:\tpython\nCapPrm:\t000001fffeffffff\nCapBnd:\t000001fffeffffff\n"
STATUS_WITH = "Name:\tpython\nCapBnd:\t000001ffffffffff\n"


def test_bounding_set_is_read_from_proc_status() -> None:
    assert engine.bounding_capabilities(STATUS_WITH) == 0x1FFFFFFFFFF
    assert engine.lacks_sys_resource(STATUS_WITHOUT) is True
    assert engine.lacks_sys_resource(STATUS_WITH) is False
    with pytest.raises(ConfigError, match="no CapBnd"):
        engine.bounding_capabilities("Name:\tx\n")


def test_dockerd_gets_the_wrapper_only_when_needed() -> None:
    assert engine.dockerd_argv("/usr/sbin/dockerd", wrapper=False) == ["/usr/sbin/dockerd"]
    assert engine.dockerd_argv("/usr/sbin/dockerd", wrapper=True) == [
        "/usr/sbin/dockerd",
        f"--add-runtime=nosysres={engine.RUNC_WRAPPER}",
        "--default-runtime=nosysres",
    ]
    assert os.access(engine.RUNC_WRAPPER, os.X_OK)


def test_running_engine_without_wrapper_is_refused_where_needed() -> None:
    e = engine.Engine("docker", "20.10.24", "runc", started=False)
    engine.check_runtime(e, needs_wrapper=False)
    with pytest.raises(ConfigError, match="restart it as `dockerd --add-runtime=nosysres="):
        engine.check_runtime(e, needs_wrapper=True)
    engine.check_runtime(engine.Engine("docker", "20.10.24", "nosysres", False), needs_wrapper=True)


class FakeDockerd:
    """`docker info` fails until dockerd was started; dockerd is a real sleeping process."""

    def __init__(self, tmp_path: Path) -> None:
        self.started: list[list[str]] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if self.proc is None:
            return subprocess.CompletedProcess(argv, 1, "", "Cannot connect to the Docker daemon")
        return subprocess.CompletedProcess(argv, 0, "20.10.24 nosysres\n", "")


def test_engine_is_started_with_the_wrapper_and_stopped_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "dockerd"):
        (bin_dir / tool).write_text("#!/bin/sh\nexec sleep 300\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(engine, "lacks_sys_resource", lambda status=None: True)
    fake = FakeDockerd(tmp_path)
    real_popen = subprocess.Popen

    def popen(argv: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        fake.started.append(list(argv))
        fake.proc = real_popen(["sleep", "300"], **kw)
        return fake.proc

    monkeypatch.setattr(engine.subprocess, "run", fake.run)
    monkeypatch.setattr(engine.subprocess, "Popen", popen)
    said: list[str] = []
    with engine.started_engine(tmp_path / "dockerd.log", said.append) as e:
        assert e == engine.Engine(str(bin_dir / "docker"), "20.10.24", "nosysres", started=True)
        assert fake.proc is not None
        assert fake.proc.poll() is None
    assert fake.started == [engine.dockerd_argv(str(bin_dir / "dockerd"), wrapper=True)]
    assert fake.proc.poll() is not None  # stopped on leaving the block
    assert said
    assert said[0].startswith("docker: starting")


def test_no_engine_and_not_root_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2; exit 1\n")
    (bin_dir / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(ConfigError, match="no Docker engine answers and none can be started"):
        with engine.started_engine(tmp_path / "log", print):
            pass


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq not installed (the wrapper's JSON editor)")
def test_wrapper_drops_cap_sys_resource_and_execs_runc(tmp_path: Path) -> None:
    """The real wrapper script, with a stand-in runc that records its arguments."""
    runc = tmp_path / "runc"
    runc.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n')
    runc.chmod(0o755)
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_NET_ADMIN"]
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    config = {
        "ociVersion": "1.0.2",
        "process": {
            "args": ["sh"],
            "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
        },
    }
    (bundle / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "RUNC_NOSYSRES_RUNC": str(runc)}
    argv = [
        str(engine.RUNC_WRAPPER),
        "--root",
        "/run/x",
        "create",
        "--bundle",
        str(bundle),
        "--pid-file",
        "p",
        "c1",
    ]
    subprocess.run(argv, env=env, check=True)
    got = json.loads((bundle / "config.json").read_text())
    assert got["process"]["capabilities"] == {
        k: ["CAP_CHOWN", "CAP_NET_ADMIN"] for k in ("bounding", "effective", "permitted")
    }
    assert got["process"]["args"] == ["sh"]
    assert (tmp_path / "args").read_text().split() == argv[1:]

    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["ls"], "capabilities": {"bounding": caps}}))
    subprocess.run([str(engine.RUNC_WRAPPER), "exec", "--process", str(process), "c1"], env=env, check=True)
    assert json.loads(process.read_text())["capabilities"] == {"bounding": ["CAP_CHOWN", "CAP_NET_ADMIN"]}
    # other commands pass through untouched
    subprocess.run([str(engine.RUNC_WRAPPER), "delete", "c1"], env=env, check=True)
    assert (tmp_path / "args").read_text().split() == ["delete", "c1"]
