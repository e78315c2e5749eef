"""The reaper: a small watchdog that tears a session's cluster down when the session is gone.

A process cannot clean up after its own SIGKILL, and a closed terminal may take the test process
down before its finalizers run. So, like testcontainers' Ryuk, each session that boots a cluster
first starts this watchdog: a separate process in its own session (a terminal hang-up or Ctrl-C
never reaches it) that waits on a pidfd of the session's owner (the pytest process, or the
pytest-xdist controller). When the owner ends, the reaper reads the cluster's lease and tears down
what the session owned (the provider's `reap`), removes the session's temporary directories and
the lease, and exits.

The owner talks to it with two signals: SIGUSR1 "release now" (the normal end of a session that
does not keep its cluster: the owner waits for the reaper to finish, so the clean-up is done when
pytest returns) and SIGTERM "stand down" (the cluster is kept: exit without touching it).

Run as ``python -m harness._cluster.reaper NAME``; the state root comes from the environment.
"""

from __future__ import annotations

import atexit
import os
import select
import shutil
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, cast

from harness._cluster import lease as leases
from harness._cluster.registry import provider_for
from harness._config import HarnessConfig
from harness._errors import HarnessError
from harness._wait import Expectation, ExpectationTimeout, Outcome, expect

#: How long the owner waits for a "release now" to finish; an embedded cluster goes down in ~2 s.
RELEASE_TIMEOUT = 120.0


class _StandDown(Exception):
    pass


class _ReapNow(Exception):
    pass


#: A bound no test session reaches: the reaper waits for its owner however long the owner runs.
_OWNER_LIFETIME = 30 * 24 * 3600.0
#: How long starting a reaper may take (a Python start-up that imports the harness).
START_TIMEOUT = 60.0


def start(name: str) -> int:
    """Start the reaper of cluster `name` (its lease must exist); returns its pid once it watches.

    Returns only after the reaper said it is ready (its signal handlers are in place and it watches
    the owner), so a "release now" can never reach it before it knows what to do with it.
    """
    p = subprocess.Popen(
        [sys.executable, "-m", "harness._cluster.reaper", name],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    _started.append(p)
    assert p.stdout is not None
    with p.stdout:
        ready, _, _ = select.select([p.stdout], [], [], START_TIMEOUT)
        line = p.stdout.readline() if ready else b""
    if line.strip() != b"ready":
        p.kill()
        p.wait()
        raise HarnessError(
            f"the reaper of cluster {name!r} did not start within {START_TIMEOUT:.0f}s "
            f"(exit code {p.returncode}); run `{sys.executable} -m harness._cluster.reaper {name}` to see why"
        )
    return p.pid


#: Popen handles of reapers this process started, so they are reaped when they exit (no zombies).
_started: list[subprocess.Popen[bytes]] = []


@atexit.register
def _reapers_outlive_us() -> None:
    """A reaper still running when this process exits is doing its job: tell Popen not to warn."""
    for p in _started:
        if p.poll() is None:
            p.returncode = 0


def release(reaper_pid: int, *, keep: bool, timeout: float = RELEASE_TIMEOUT) -> bool:
    """Tell the reaper to tear down now (or stand down when `keep`); True once it has exited."""
    if not leases.alive(reaper_pid):
        return True
    try:
        os.kill(reaper_pid, signal.SIGTERM if keep else signal.SIGUSR1)
    except ProcessLookupError:
        return True

    def exited() -> Outcome:
        for p in _started:
            if p.pid == reaper_pid:
                p.poll()  # collect our own child, or it stays a zombie that still looks alive
        gone = not leases.alive(reaper_pid)
        return Outcome.simple(gone, "exited" if gone else f"reaper pid {reaper_pid} still running")

    try:
        expect(
            Expectation(f"the reaper of pid {reaper_pid} exited", exited), timeout=timeout, max_interval=0.1
        )
    except ExpectationTimeout:
        return False
    return True


def reap(name: str) -> None:
    """Tear down what the lease of `name` says its session owned; remove temp dirs and the lease."""
    info = leases.read(name)
    if info is None:
        return
    try:
        if info.owned:
            cfg = config_from_lease(name, info.config)
            provider_for(cfg).reap(cfg)
    finally:
        for d in info.temp_dirs:
            shutil.rmtree(d, ignore_errors=True)
        leases.remove(name)


def lease_config(cfg: HarnessConfig) -> dict[str, Any]:
    """The part of the run's config the reaper needs to find what the provider made."""
    return {
        "provider": cfg.provider,
        "context": cfg.context,
        "run_id": cfg.run_id,
        "kind_path": str(cfg.kind_path) if cfg.kind_path else None,
    }


def config_from_lease(name: str, data: dict[str, Any]) -> HarnessConfig:
    kind_path = data.get("kind_path")
    return HarnessConfig(
        provider=cast(Any, data.get("provider", "embedded")),
        cluster_name=name,
        context=data.get("context"),
        run_id=str(data.get("run_id") or ""),
        kind_path=Path(kind_path) if kind_path else None,
    )


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if signum == signal.SIGTERM:
        raise _StandDown
    raise _ReapNow


def _wait_for_owner(owner_pid: int) -> None:
    try:
        fd = os.pidfd_open(owner_pid)
    except ProcessLookupError:
        return
    except OSError:  # no pidfd (old kernel): poll the pid instead, for as long as the owner lives
        owner_gone = Expectation(
            f"owner pid {owner_pid} ended", lambda: Outcome.simple(not leases.alive(owner_pid), "running")
        )
        expect(owner_gone, timeout=_OWNER_LIFETIME)
        return
    try:
        while True:
            ready, _, _ = select.select([fd], [], [])
            if ready:
                return
    finally:
        os.close(fd)


def main(argv: list[str]) -> int:
    name = argv[1]
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGUSR1, _on_signal)
    info = leases.read(name)
    # Tell the starter we watch; then stdout goes nowhere (the starter closed its end).
    print("ready", flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    if info is None:
        return 0
    try:
        try:
            _wait_for_owner(info.owner_pid)
        except _ReapNow:
            pass
        # Once reaping has begun it runs to the end: a late "stand down" must not leave half a cluster.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        reap(name)
    except _StandDown:
        return 0
    except Exception:  # noqa: BLE001 - leave a trace where a person will look
        log = leases.leases_dir() / f"{name}.reaper-error.log"
        log.write_text(traceback.format_exc())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
