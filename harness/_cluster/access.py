"""Shared and exclusive use of a cluster by the tests of a session running side by side.

Scenarios are isolated by their own app, namespace, repo and labels, so they share a cluster; a
test that changes what every scenario depends on (restarts a component, changes argocd-cm or the
controller's flags) must run alone. Each test holds the cluster's reader-writer lock (fasteners'
inter-process lock) for its whole duration: shared for scenarios, exclusive for tests marked
`exclusive`. A turnstile (a filelock taken by a waiting writer) stops new readers from slipping in
while a writer waits, so an exclusive test waits only for the scenarios already running.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import fasteners
from filelock import FileLock

from harness._cluster.lease import leases_dir


@contextmanager
def cluster_access(name: str, *, exclusive: bool, behind_writers: bool = True) -> Iterator[None]:
    """Hold cluster `name` shared (a scenario) or exclusively (a test that changes it for all).

    `behind_writers=False` (shared only) joins the readers even while a writer waits: for a process
    that a reader of the cluster started and waits for (`argocd-chaos reproduce` run by a test),
    where queueing behind that writer would deadlock with its own parent.
    """
    leases_dir().mkdir(parents=True, exist_ok=True)
    rw = fasteners.InterProcessReaderWriterLock(str(leases_dir() / f"{name}.access.lock"))
    turnstile = FileLock(leases_dir() / f"{name}.turnstile.lock")
    if exclusive:
        with turnstile:
            rw.acquire_write_lock()
        try:
            yield
        finally:
            rw.release_write_lock()
    else:
        if behind_writers:
            with turnstile:
                pass  # wait behind any writer that is queued, then join the readers
        rw.acquire_read_lock()
        try:
            yield
        finally:
            rw.release_read_lock()
