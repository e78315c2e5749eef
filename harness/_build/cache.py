"""The build cache's safety: one lock per entry, and entries that appear only when complete.

Every entry (a release build, a source build, a shared control plane) is built under
`.staging/<entry>/` while its lock in `.locks/<entry>.lock` is held, and renamed into place in one
step at the end. A second process asking for the same entry waits on the lock and then finds the
finished entry; an interrupted build leaves only a staging folder, which the next build removes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from harness._paths import cache_root

Printer = Callable[[str], None]


@contextmanager
def entry_lock(name: str, say: Printer) -> Iterator[bool]:
    """Hold the lock of one cache entry; yields whether another holder had to be waited for."""
    locks = cache_root() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(locks / f"{name}.lock"))
    waited = False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"build: another build of {name} is running; waiting for it to finish ({lock.lock_file})")
        lock.acquire()
        waited = True
    try:
        yield waited
    finally:
        lock.release()


def install_entry(staging: Path, final: Path) -> None:
    """Move a finished entry into place in one rename; a leftover incomplete entry is removed first."""
    if final.exists():
        aside = staging.with_name(f"{staging.name}.old-{os.getpid()}")
        os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
    os.rename(staging, final)


def link_binary(src: Path, dst: Path) -> None:
    """Hard-link a shared binary into an entry (a copy across filesystems)."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def fresh_staging(name: str) -> Path:
    staging = cache_root() / ".staging" / name
    if staging.exists():
        shutil.rmtree(staging)  # an interrupted build's leftovers: never resumed half-way
    (staging / "bin").mkdir(parents=True)
    (staging / "manifests").mkdir()
    return staging
