"""The Docker engine the local images are built in and kind runs on: found, or started for a while.

Debian's `docker.io` is what this project's test targets use. A running engine is used as it is;
otherwise, as root with `dockerd` installed, one is started in the background for the duration of a
`with started_engine(...)` block and stopped after it (SIGTERM, then SIGKILL of its process group).

One quirk of some VMs is detected rather than assumed: a kernel whose capability bounding set lacks
CAP_SYS_RESOURCE (bit 24 of `CapBnd` in /proc/self/status). Docker hands a `--privileged` container
every capability the kernel knows, so there runc fails with "unable to apply caps" and no kind node
can start (moby issue #42906). The engine started here then gets `files/runc-nosysres` as its
default runtime, which drops that one capability from what runc is asked to grant; a running
engine without it is refused with the command line that fixes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from harness._errors import ConfigError
from harness._wait import Expectation, Outcome, expect

CAP_SYS_RESOURCE: Final = 24
RUNC_WRAPPER: Final = Path(__file__).resolve().parent / "files" / "runc-nosysres"
#: The name the wrapper is registered under in dockerd (`--add-runtime NAME=PATH`).
WRAPPER_RUNTIME: Final = "nosysres"
ENGINE_TIMEOUT: Final = 60.0

Say = Callable[[str], None]


@dataclass(frozen=True)
class Engine:
    """A Docker engine that answers: the client to drive it, its version, and whether it was started here."""

    docker: str
    version: str
    default_runtime: str
    started: bool


def bounding_capabilities(status: str | None = None) -> int:
    """The capability bounding set of this process, from the `CapBnd:` line of /proc/self/status."""
    text = status if status is not None else Path("/proc/self/status").read_text()
    for line in text.splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise ConfigError("no CapBnd line in /proc/self/status: is this Linux?")


def lacks_sys_resource(status: str | None = None) -> bool:
    """Whether the kernel withholds CAP_SYS_RESOURCE, so privileged containers need the runc wrapper."""
    return not bounding_capabilities(status) >> CAP_SYS_RESOURCE & 1


def dockerd_argv(dockerd: str, *, wrapper: bool) -> list[str]:
    """The dockerd command line: the runc wrapper as default runtime when the kernel needs it."""
    if not wrapper:
        return [dockerd]
    return [
        dockerd,
        f"--add-runtime={WRAPPER_RUNTIME}={RUNC_WRAPPER}",
        f"--default-runtime={WRAPPER_RUNTIME}",
    ]


def _info(docker: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}} {{.DefaultRuntime}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=ENGINE_TIMEOUT,
    )


def _engine(docker: str, info: str, started: bool) -> Engine:
    version, _, runtime = info.strip().partition(" ")
    return Engine(docker, version, runtime.strip(), started)


def check_runtime(engine: Engine, *, needs_wrapper: bool) -> None:
    """Refuse an engine whose privileged containers cannot start on this kernel."""
    if needs_wrapper and engine.default_runtime != WRAPPER_RUNTIME:
        argv = " ".join(dockerd_argv("dockerd", wrapper=True))
        raise ConfigError(
            f"this kernel withholds CAP_SYS_RESOURCE, so the running Docker engine (default runtime "
            f"{engine.default_runtime!r}) cannot start the privileged containers kind uses. Stop it and "
            f"let the harness start one, or restart it as `{argv}`."
        )


@contextmanager
def started_engine(
    log_path: Path, say: Say, *, privileged: bool = True, docker: str | None = None
) -> Iterator[Engine]:
    """A Docker engine for the block: the running one, else dockerd started here and stopped after.

    `privileged`: the caller starts privileged containers (kind does), so a running engine without
    the runc wrapper is refused on a kernel that needs it. Raises ConfigError when no engine answers
    and none can be started (no docker client, no dockerd, not root) or the started one dies.
    """
    exe = docker_client(docker)
    engine, why = running_engine(exe)
    if engine is not None:
        if privileged:
            check_runtime(engine, needs_wrapper=lacks_sys_resource())
        yield engine
        return
    proc, engine = start_dockerd(exe, log_path, say, why)
    try:
        yield engine
    finally:
        stop(proc)


def docker_client(docker: str | None = None) -> str:
    """The docker command: `docker` if given, else the one on PATH; ConfigError when there is none."""
    exe = docker or shutil.which("docker")
    if exe is None:
        raise ConfigError("no docker command: install Debian's docker.io (`apt-get install docker.io`)")
    return exe


def running_engine(docker: str) -> tuple[Engine | None, str]:
    """The engine that answers `docker info` (started=False), or None and why it does not answer."""
    p = _info(docker)
    if p.returncode == 0:
        return _engine(docker, p.stdout, started=False), ""
    return None, p.stderr.strip()[-300:]


def start_dockerd(
    docker: str, log_path: Path, say: Say, why: str = ""
) -> tuple[subprocess.Popen[bytes], Engine]:
    """Start dockerd in a process group of its own and wait until it answers `docker info`.

    The caller stops it (`stop`, or `stop_pid` from another process). `why`: why no engine answered
    before, for the error. Raises ConfigError when dockerd cannot be started here (not installed,
    not root) or dies before it answers; it is stopped again when it does not answer in time.
    """
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        raise ConfigError(
            "no Docker engine answers and none can be started here (that needs root and dockerd from "
            f"Debian's docker.io): {why}"
        )
    argv = dockerd_argv(dockerd, wrapper=lacks_sys_resource())
    log_path.parent.mkdir(parents=True, exist_ok=True)
    say(f"docker: starting `{' '.join(argv)}` (log {log_path})")
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )

    def answers() -> Outcome:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            return Outcome.failed(f"dockerd exited with {proc.returncode}: {tail}")
        p = _info(docker)
        return Outcome.met(p.stdout) if p.returncode == 0 else Outcome.pending(p.stderr.strip()[-200:])

    try:
        outcome = expect(
            Expectation("the Docker engine started here answers `docker info`", answers),
            timeout=ENGINE_TIMEOUT,
        )
    except BaseException:
        stop(proc)
        raise
    return proc, _engine(docker, outcome.message, started=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to dockerd (it stops its containers and containerd), SIGKILL of the group after 60 s."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
