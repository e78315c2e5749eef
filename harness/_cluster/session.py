"""One cluster per test session, shared by every process of the session and reaped if it dies.

`acquire` is called by whichever process of the session first needs the cluster (the pytest
process, or a pytest-xdist worker). Under the cluster name's lock it either attaches to what this
session already has (another worker booted it), or starts the reaper and brings the cluster up
through the provider. `release` is called once by the session's owner at its end. The rules:

- a cluster of another session that is still running is reused only once it has finished booting
  (never half-booted), and stays that session's: it removes the cluster when it ends;
- a lease whose owner is gone (a session killed with SIGKILL before its reaper finished) is reaped
  first, so nothing of a dead session is reused or kept by accident;
- a setup error is recorded in the lease: the process that hit it reports it, the session's other
  processes refer to it (`SetupFailedElsewhere`) instead of repeating it.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness._cluster import lease as leases
from harness._cluster import reaper
from harness._cluster.provider import ClusterHandle, Provider, say
from harness._cluster.registry import provider_for
from harness._config import HarnessConfig
from harness._errors import ConfigError, HarnessError
from harness._wait import Expectation, ExpectationTimeout, Outcome, expect

#: How long a second process waits for the name while another boots it (a warm boot takes ~15 s;
#: a cold build happens before the lock is taken).
LOCK_TIMEOUT = 300.0


class SetupFailedElsewhere(HarnessError):
    """Another process of this session failed to set the cluster up and reported why."""


@dataclass(frozen=True)
class SessionIdentity:
    """Who the session is: its run id (labels, leases) and the process whose end ends it."""

    run_id: str
    owner_pid: int


@dataclass
class Acquired:
    handle: ClusterHandle
    #: The provider object when this process acquired the cluster itself; None when it attached.
    provider: Provider | None


def acquire(cfg: HarnessConfig, session: SessionIdentity, *, shared: bool) -> Acquired:
    """The session's cluster: attach to it, or boot it (with a reaper) if this session has none yet.

    `shared` (pytest-xdist) stores the handle in the lease for the other workers. Raises
    ConfigError when another live session holds the name, SetupFailedElsewhere when another
    process of this session already failed to boot it, and whatever the provider raises.
    """
    name = cfg.cluster_name

    def same_session_booting(current: leases.LeaseInfo | None) -> bool:
        # Another worker of this session builds and boots the cluster: that may take a cold build.
        return current is not None and current.run_id == session.run_id and current.state == "booting"

    with leases.name_lock(name, timeout=LOCK_TIMEOUT, what="booted", patient_with=same_session_booting):
        info = leases.read(name)
        if info is not None and info.run_id == session.run_id:
            if info.state == "failed":
                raise SetupFailedElsewhere(f"cluster setup failed (reported once, above): {info.error}")
            if info.state == "ready" and info.handle:
                return Acquired(ClusterHandle.from_json(info.handle), None)
            if info.state == "ready":
                raise ConfigError(
                    f"a {info.provider} cluster cannot be shared between processes of one session yet; "
                    "run the suites serially in one process"
                )
            # The process of this session that was booting it died: clean up what it left.
            reaper.release(info.reaper_pid, keep=True)
            reaper.reap(name)
        elif info is not None and leases.alive(info.owner_pid):
            if info.state == "ready" and info.handle:
                # Booted (never half-booted: booting holds this lock) by another live session: reused
                # as any running cluster is, and left to that session, which removes it when it ends.
                say(
                    f"argocd-chaos: reusing running embedded cluster {name!r} of another test session "
                    f"(pytest pid {info.owner_pid}); that session removes it when it ends"
                )
                handle = ClusterHandle.from_json({**info.handle, "owned": False})
                return Acquired(handle, None)
            raise ConfigError(
                f"cluster {name!r} is in use by another test session (pid {info.owner_pid}, run "
                f"{info.run_id}, {info.state}{': ' + info.error if info.error else ''}); wait for it to "
                "end, or pick another --cluster-name"
            )
        elif info is not None:
            _finish_dead_session(name, info)
        provider = provider_for(cfg)
        lease = leases.LeaseInfo(
            run_id=session.run_id,
            owner_pid=session.owner_pid,
            provider=cfg.provider,
            config=reaper.lease_config(cfg),
            # A cluster that already runs is reused, not owned: the reaper must never take it down.
            owned=not provider.running(cfg),
        )
        leases.write(name, lease)
        lease.reaper_pid = reaper.start(name)
        leases.write(name, lease)
        try:
            handle = provider.acquire(cfg)
        except HarnessError as exc:
            lease.state, lease.error = "failed", str(exc)
            leases.write(name, lease)
            raise
        lease.owned, lease.state = handle.owned, "ready"
        if shared or handle.repos is None:
            # Other processes of the session (workers, a pytest run inside this one) attach with it.
            lease.handle = handle.to_json()
        leases.write(name, lease)
        return Acquired(handle, provider)


def add_temp_dir(name: str, session: SessionIdentity, path: Path) -> None:
    """Have the reaper remove `path` too if the session dies before removing it itself."""
    with leases.name_lock(name, timeout=LOCK_TIMEOUT):
        info = leases.read(name)
        if info is not None and info.run_id == session.run_id:
            info.temp_dirs.append(str(path))
            leases.write(name, info)


def release(cfg: HarnessConfig, session: SessionIdentity, acquired: Acquired | None, *, keep: bool) -> None:
    """End the session's hold on its cluster: tear it down unless kept; remove lease and temp dirs.

    Called once per session by its owner. With the provider object at hand (a serial run) the
    provider releases as it always did; otherwise (the pytest-xdist controller) the reaper does.
    """
    name = cfg.cluster_name
    with leases.name_lock(name, timeout=LOCK_TIMEOUT, what="released"):
        info = leases.read(name)
        if info is None or info.run_id != session.run_id:
            return
        try:
            if acquired is not None and acquired.provider is not None:
                acquired.provider.release(acquired.handle, keep=keep)
                reaper.release(info.reaper_pid, keep=True)
            elif keep or not info.owned or info.state != "ready":
                if info.owned and info.state == "ready":
                    handle = ClusterHandle.from_json(info.handle)
                    say(
                        f"argocd-chaos: keeping cluster {name!r}; export KUBECONFIG={handle.kubeconfig}; "
                        f"stop it with `argocd-chaos cluster down --name {name}`"
                    )
                reaper.release(info.reaper_pid, keep=True)
            else:
                if not reaper.release(info.reaper_pid, keep=False):
                    raise HarnessError(
                        f"the reaper of cluster {name!r} (pid {info.reaper_pid}) did not finish within "
                        f"{reaper.RELEASE_TIMEOUT:.0f}s; run `argocd-chaos cluster down --name {name}`"
                    )
        finally:
            current = leases.read(name)
            if current is not None and current.run_id == session.run_id:
                for d in current.temp_dirs:
                    shutil.rmtree(d, ignore_errors=True)
                leases.remove(name)


def _finish_dead_session(name: str, info: leases.LeaseInfo) -> None:
    """A lease whose owner is gone: let its reaper finish, or reap in its place."""
    # The dead session's reaper may be tearing its cluster down right now: let it finish.
    reaper_done = Expectation(
        f"the reaper of a dead session (pid {info.reaper_pid}) finished",
        lambda: Outcome.simple(not leases.alive(info.reaper_pid), "still running"),
    )
    with contextlib.suppress(ExpectationTimeout):
        expect(reaper_done, timeout=reaper.RELEASE_TIMEOUT)
    if leases.read(name) is not None:
        say(f"argocd-chaos: cleaning up cluster {name!r} left by a session that ended without it")
        reaper.reap(name)
