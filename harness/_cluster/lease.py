"""Who holds a named cluster: the lock around booting it and the lease a test session writes.

A pytest session (and, with pytest-xdist, every worker of it) shares one cluster per name. The lease
file says which session booted or attached it, whether it is still booting, and, when booting failed,
the one error to report; its lock serialises every decision about the name between processes, so two
sessions started together never boot the same cluster twice or reuse a half-booted one.

Files live in ``<state root>/.leases/`` (``NAME.json`` and ``NAME.lock``), next to the clusters'
own state directories. The lock is filelock's (an OS file lock: released when the holder dies).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout

from harness._errors import ConfigError
from harness._paths import state_root

LeaseState = Literal["booting", "ready", "failed"]


@dataclass
class LeaseInfo:
    """One session's hold on a cluster name (JSON in the lease file)."""

    run_id: str
    #: The process whose end ends the session: the pytest process, or pytest-xdist's controller.
    owner_pid: int
    provider: str
    state: LeaseState = "booting"
    #: The reaper that tears the cluster down if the owner dies without doing so (0: none).
    reaper_pid: int = 0
    #: Whether this session booted the cluster (it then also tears it down); False when it reused one.
    owned: bool = True
    #: The handle the workers attach with (`ClusterHandle.to_json`), once ready.
    handle: dict[str, Any] = field(default_factory=dict)
    #: The setup error, reported once by the process that hit it; the others only refer to it.
    error: str = ""
    #: Temporary directories of the session the reaper removes with the cluster.
    temp_dirs: list[str] = field(default_factory=list)
    #: The cluster's settings, so the reaper can rebuild the provider's config.
    config: dict[str, Any] = field(default_factory=dict)


def leases_dir() -> Path:
    return state_root() / ".leases"


def lease_path(name: str) -> Path:
    return leases_dir() / f"{name}.json"


@contextmanager
def name_lock(
    name: str,
    *,
    timeout: float,
    what: str = "booted or released",
    patient_with: Callable[[LeaseInfo | None], bool] = lambda _info: False,
    purpose: str = "session",
) -> Iterator[None]:
    """Hold the cluster name's lock.

    Waits up to `timeout` seconds, and beyond it for as long as `patient_with(current lease)` says
    (a worker of the same session waiting while another worker builds and boots the cluster).
    `purpose` picks one of the name's locks: "session" (the lease) or "boot" (`EmbeddedCluster.up`).
    Raises ConfigError naming the holder when the wait runs out.
    """
    leases_dir().mkdir(parents=True, exist_ok=True)
    lock = FileLock(leases_dir() / f"{name}.{purpose}.lock")
    deadline = time.monotonic() + timeout
    while True:
        try:
            lock.acquire(timeout=1)
            break
        except Timeout:
            if time.monotonic() < deadline or patient_with(read(name)):
                continue
            holder = read(name)
            who = f" (pytest pid {holder.owner_pid}, run {holder.run_id})" if holder else ""
            raise ConfigError(
                f"cluster {name!r} is being {what} by another process{who} for more than {timeout:.0f}s; "
                "wait for it, or pick another --cluster-name"
            ) from None
    try:
        yield
    finally:
        lock.release()


def read(name: str) -> LeaseInfo | None:
    """The lease of `name`, or None when there is none or it cannot be read (a torn write, an old format)."""
    try:
        raw = json.loads(lease_path(name).read_text())
        return LeaseInfo(**raw)
    except (OSError, ValueError, TypeError):
        return None


def write(name: str, info: LeaseInfo) -> None:
    """Replace the lease atomically (readers never see half a file)."""
    path = lease_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def remove(name: str) -> None:
    lease_path(name).unlink(missing_ok=True)


def alive(pid: int) -> bool:
    """Whether a process with that pid exists (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")
