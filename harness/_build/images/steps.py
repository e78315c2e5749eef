"""Running the slow steps of the image build: progress lines, a heartbeat, and cached entries.

Every piece that takes minutes (a Go build, a Debian root file system) is one cache entry under
`cache_root()`, built in `.staging/<entry>/` under the entry's lock and renamed into place when
complete (`harness._build.cache`), so two processes never build it twice and an interrupted build
never leaves an entry that looks finished.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness._build import cache
from harness._errors import BuildError
from harness._paths import cache_root

Say = Callable[[str], None]
#: Lines of a failed command's output quoted in the BuildError.
ERROR_LINES = 30
HEARTBEAT_SECONDS = 30.0


def fmt(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


def run(
    argv: Sequence[str],
    what: str,
    say: Say,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    input: bytes | None = None,
    quiet: bool = False,
) -> str:
    """Run one command to completion; its stdout. Progress lines unless `quiet`, a heartbeat every 30 s.

    Raises BuildError with the command, its exit status and the last lines of its output.
    """
    started = time.monotonic()
    if not quiet:
        say(f"images: {what} ...")
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            say(f"images: still on {what}: {fmt(time.monotonic() - started)}")

    t = threading.Thread(target=heartbeat, daemon=True)
    t.start()
    try:
        p = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env) if env is not None else None,
            input=input,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise BuildError(f"{what}: cannot run `{argv[0]}`: {exc}") from None
    finally:
        done.set()
        t.join()
    if p.returncode != 0:
        text = (p.stderr or b"").decode(errors="replace").strip() or (p.stdout or b"").decode(
            errors="replace"
        )
        tail = "\n".join(text.strip().splitlines()[-ERROR_LINES:])
        raise BuildError(
            f"{what} failed: `{' '.join(argv)}` exited {p.returncode}; last lines of its output:\n{tail}"
        )
    if not quiet:
        say(f"images: {what} done in {fmt(time.monotonic() - started)}")
    return (p.stdout or b"").decode(errors="replace")


def cached_entry(
    name: str, complete: Callable[[Path], bool], build: Callable[[Path], None], say: Say
) -> Path:
    """The cache entry `name`, built by `build(staging)` unless `complete(entry)` already holds.

    `build` fills the staging folder (which has empty `bin/` and `manifests/`); the entry is checked
    with `complete` before it is moved into place, so a build that forgot a file fails here.
    """
    root = cache_root() / name
    if complete(root):
        say(f"images: cached {name}")
        return root
    with cache.entry_lock(name, say) as waited:
        if complete(root):
            say(f"images: {'reusing the entry another process just built' if waited else 'cached'}: {name}")
            return root
        staging = cache.fresh_staging(name)
        started = time.monotonic()
        build(staging)
        if not complete(staging):
            raise BuildError(f"the build of {name} finished without all its files (in {staging})")
        cache.install_entry(staging, root)
        say(f"images: built {name} in {fmt(time.monotonic() - started)}")
        return root


def executables(root: Path, names: Sequence[str]) -> bool:
    return all(os.access(root / "bin" / n, os.X_OK) for n in names)
