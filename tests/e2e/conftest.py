"""Shared set-up of the end-to-end tests."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from filelock import FileLock, Timeout

from harness._cluster import lease as leases
from harness._paths import state_root

#: Cluster names the e2e tests make up for clusters of their own (a prefix and six hex digits).
_OWN_NAMES = re.compile(r"(sig|twice|upup|teardown|restarted|xdist|settings)-[0-9a-f]{6}")


@pytest.fixture(scope="session", autouse=True)
def _forget_lock_files_of_made_up_names() -> Iterator[None]:
    """The name locks of clusters the tests made up, once those clusters are gone.

    Lock files of the names people use stay (they are empty, and removing a lock file someone may
    be waiting on would break the lock); a made-up name is never used again.
    """
    yield
    for path in leases.leases_dir().glob("*.lock"):
        name = path.name.split(".", 1)[0]
        if not _OWN_NAMES.fullmatch(name) or leases.read(name) is not None or (state_root() / name).exists():
            continue
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)  # held: a test of another worker still uses the name
        except Timeout:
            continue
        try:
            path.unlink(missing_ok=True)
        finally:
            lock.release()


#: How long a test waits for the tests booting clusters of their own before it (each takes ~10-25 s).
OWN_CLUSTER_WAIT = 900.0


@pytest.fixture
def one_own_cluster_at_a_time() -> Iterator[None]:
    """Tests that boot clusters of their own run one at a time, whichever worker runs them, so that no
    two boots compete for the CPU with each other (a file lock beside the cluster leases)."""
    leases.leases_dir().mkdir(parents=True, exist_ok=True)
    lock = FileLock(leases.leases_dir() / "own-clusters.lock")
    try:
        lock.acquire(timeout=OWN_CLUSTER_WAIT)
    except Timeout:
        raise TimeoutError(
            f"another test booting a cluster of its own held {lock.lock_file} for more than "
            f"{OWN_CLUSTER_WAIT:.0f}s; is a test of another run stuck?"
        ) from None
    try:
        yield
    finally:
        lock.release()
