"""Start, probe, stop and kill the local processes of an embedded cluster.

Processes are started in their own session so that a cluster brought up by the CLI outlives the
CLI, and so that one signal to the process group also reaches any children. Each process is
recorded with its start time: a later `cluster down` from another process only signals a pid whose
start time still matches, never a recycled pid that now belongs to someone else.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness._errors import ClusterSetupError, HarnessError
from harness._wait import Expectation, ExpectationTimeout, Outcome, TerminalStateError, expect

#: A readiness probe returns (ready, what it saw). It must not raise for "not yet".
Probe = Callable[[], tuple[bool, str]]

#: Every child this process started. Components outlive the object that started them (a cluster
#: attached by name, a CLI call), so the Popen handles are held here: dropping one while its
#: process runs would make Python warn, and `terminate` reaps them by pid later.
_children: list[subprocess.Popen[bytes]] = []


@atexit.register
def _leave_running_children() -> None:
    """Components left running on purpose (a cluster kept up) are not a leak: say so to Popen.

    Without this, Python warns at exit about every child that still runs; those are exactly the
    processes of a cluster started by `cluster up` or kept by `--keep-cluster`.
    """
    for child in _children:
        if child.poll() is None:
            child.returncode = 0


@dataclass
class ProcessRecord:
    """What is needed to find a component's process again, from any later process."""

    name: str
    pid: int
    start_ticks: int
    argv: list[str]
    log: str
    env: dict[str, str] = field(default_factory=dict)

    def alive(self) -> bool:
        return _start_ticks(self.pid) == self.start_ticks and not _is_zombie(self.pid)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces; fields after it are fixed.
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else -1


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def tail(path: Path, lines: int = 25) -> str:
    try:
        data = path.read_bytes()[-20000:]
    except OSError:
        return "(no log file)"
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def start(
    name: str,
    argv: Sequence[str],
    *,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start one component with its own log file; fail at once if the binary cannot be executed."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ClusterSetupError(name, f"cannot start {argv[0]}: {exc}") from exc
    _children.append(proc)
    record = ProcessRecord(name, proc.pid, _start_ticks(proc.pid), list(argv), str(log_path), dict(env or {}))
    return proc, record


def wait_ready(
    record: ProcessRecord,
    probe: Probe,
    *,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    cancel: threading.Event | None = None,
) -> float:
    """Wait until the probe says ready; return the seconds waited.

    A dead process, a timeout or a set `cancel` event (another step of the boot failed) raises
    ClusterSetupError naming the component and quoting its log tail. Probes run every 50 ms at first,
    backing off to every 250 ms.
    """
    t0 = time.monotonic()

    def check() -> Outcome:
        if cancel is not None and cancel.is_set():
            return Outcome.failed("stopped waiting: another step of the boot failed")
        if proc is not None and proc.poll() is not None:
            return Outcome.failed(f"exited with code {proc.returncode} before it was ready")
        if proc is None and not record.alive():
            return Outcome.failed("process is gone before it was ready")
        ok, seen = probe()
        return Outcome.simple(ok, seen)

    try:
        expect(Expectation(f"{record.name} is ready", check), timeout=timeout, max_interval=0.25)
    except TerminalStateError as exc:
        raise ClusterSetupError(record.name, exc.last_observed, tail(Path(record.log))) from None
    except ExpectationTimeout as exc:
        raise ClusterSetupError(
            record.name,
            f"not ready after {_secs(timeout)} (last probe: {exc.last_observed})",
            tail(Path(record.log)),
        ) from None
    return time.monotonic() - t0


def _secs(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds:g}s"


def terminate(record: ProcessRecord, *, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal the component's process group and wait; SIGKILL whatever ignores the grace period."""
    if not record.alive():
        _reap(record.pid)
        return
    _signal_group(record.pid, sig)
    # A paused component (SIGSTOP) would hold SIGTERM until resumed: let it act on it now.
    _signal_group(record.pid, signal.SIGCONT)
    if grace > 0 and _gone_within(record, grace):
        return
    _signal_group(record.pid, signal.SIGKILL)
    _gone_within(record, 5.0)
    _reap(record.pid)


def _gone_within(record: ProcessRecord, seconds: float) -> bool:
    def check() -> Outcome:
        _reap(record.pid)
        return Outcome.simple(not record.alive(), f"pid {record.pid} alive={record.alive()}")

    try:
        expect(
            Expectation(f"{record.name} (pid {record.pid}) has exited", check),
            timeout=seconds,
            max_interval=0.05,
        )
    except ExpectationTimeout:
        return False
    return True


class ComponentNotRunning(HarnessError):
    """A chaos action needs a running component, and it is not running."""


def pause(record: ProcessRecord) -> None:
    """Freeze the component's process group (SIGSTOP): it runs no code until `resume`.

    Sockets stay open and the kernel keeps accepting connections on them, so to its peers the
    component looks slow, not gone. Raises ComponentNotRunning when the process is not running.
    """
    if not record.alive():
        raise ComponentNotRunning(f"{record.name} (pid {record.pid}) is not running; it cannot be paused")
    _signal_group(record.pid, signal.SIGSTOP)


def resume(record: ProcessRecord) -> None:
    """Let a paused component's process group run again (SIGCONT); a no-op for a running one."""
    if record.alive():
        _signal_group(record.pid, signal.SIGCONT)


def stopped(record: ProcessRecord) -> bool:
    """True while the process is stopped by a signal (state `T` in /proc/<pid>/stat)."""
    fields = _stat_fields(record.pid)
    return fields is not None and bool(fields) and fields[0] == "T"


def kill(record: ProcessRecord) -> None:
    """`kill -9` the component, as a crash would, and make sure it is gone."""
    terminate(record, grace=0.0, sig=signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        # Not a group leader (a process found by its log file rather than started here): itself only.
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
    except PermissionError:
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    for child in [c for c in _children if c.pid == pid]:
        if child.poll() is not None:
            _children.remove(child)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def save_records(path: Path, records: Mapping[str, ProcessRecord], extra: Mapping[str, object]) -> None:
    data = {"components": {k: asdict(r) for k, r in records.items()}, **extra}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def load_records(path: Path) -> tuple[dict[str, ProcessRecord], dict[str, object]]:
    data = json.loads(path.read_text())
    comps = {k: ProcessRecord(**v) for k, v in data.pop("components", {}).items()}
    return comps, data


def writing_into(directory: Path) -> list[ProcessRecord]:
    """Live processes of this user whose stdout or stderr is a file under `directory`.

    Every component's output goes to `<state dir>/logs/<name>.log`, so this finds a cluster's
    processes even when its state file is lost, truncated or from an older version: `cluster down`
    must be able to clean up what it finds, not only what a readable file lists. Processes of other
    users are not visible here (their /proc fd links cannot be read), which is also what may be
    signalled.
    """
    root = directory.resolve()
    found: list[ProcessRecord] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        for fd in ("1", "2"):
            try:
                target = Path(os.readlink(entry / "fd" / fd))
            except OSError:
                continue
            if target.is_relative_to(root):
                pid = int(entry.name)
                ticks = _start_ticks(pid)
                if ticks >= 0 and not _is_zombie(pid):
                    name = target.stem if target.suffix == ".log" else f"pid {pid}"
                    found.append(ProcessRecord(name, pid, ticks, [], str(target)))
                break
    return found
