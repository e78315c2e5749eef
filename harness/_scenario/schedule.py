"""The order scenarios start in, and the figures that show how well a run used its time.

A run of scenarios side by side is as short as its longest scenario only if that one starts first
and nothing long waits behind it. pytest-xdist, as `make chaos` and `make test` run it
(`--dist load --maxschedchunk 1`), hands the tests out in the order given here, one at a time,
first come first served: at the start each of the W workers gets two consecutive tests (worker k
the tests 2k and 2k+1), and after that a worker gets the next test whenever one of its own ends. A
worker always holds the test after the one it runs (pytest needs it as `nextitem`), so whatever is
queued behind the longest scenario waits for all of it.

So the order is: longest first, by the durations of earlier runs (kept in the user cache, so they
survive clones on the same machine), with tests never timed before them (they might be long);
the W quickest timed tests go right behind the W longest, so each of the first W is followed by a
quick one (nothing long waits behind C5); tests that need the cluster alone (`exclusive`) last: an
exclusive test waits for every running scenario and keeps new ones out, so it starts when nothing
else is left to hand out. Tests that need no cluster (unit tests) are the quickest and fill the
gaps at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness._paths import cache_root


def durations_file() -> Path:
    return cache_root() / "test-durations.json"


def load() -> dict[str, float]:
    """Seconds per test node id from earlier runs; empty when there were none (or the file is bad)."""
    try:
        raw = json.loads(durations_file().read_text())
        return {str(k): float(v) for k, v in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def save(new: Mapping[str, float]) -> None:
    """Merge this run's durations into the file (atomically: a concurrent reader sees old or new)."""
    if not new:
        return
    merged = {**load(), **{k: round(v, 3) for k, v in new.items()}}
    path = durations_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, indent=0, sort_keys=True))
    os.replace(tmp, path)


def workers_from_env() -> int:
    """How many pytest-xdist workers this run has; 1 without pytest-xdist.

    From `PYTEST_XDIST_WORKER_COUNT`, which pytest-xdist sets in each worker (where collection happens).
    """
    try:
        return max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    except ValueError:
        return 1


def order(
    items: Sequence[pytest.Item], durations: Mapping[str, float], workers: int = 1
) -> list[pytest.Item]:
    """Never-timed, then longest first, each of the first `workers` followed by a quick one; exclusive last.

    `durations`: seconds per node id from earlier runs; `workers`: pytest-xdist workers. Stable:
    tests with equal keys keep their collection order, so every pytest-xdist worker (which collects
    on its own and must agree with the others) computes the same order.
    """

    def exclusive(item: pytest.Item) -> bool:
        needs_cluster = "chaos_cluster" in getattr(item, "fixturenames", ())
        return needs_cluster and item.get_closest_marker("exclusive") is not None

    def key(item: pytest.Item) -> tuple[int, int, float]:
        known = item.nodeid in durations
        return (1 if exclusive(item) else 0, 1 if known else 0, -durations.get(item.nodeid, 0.0))

    ordered = sorted(items, key=key)
    if workers < 2:
        return ordered
    first, rest = ordered[:workers], ordered[workers:]
    timed = [i for i in rest if i.nodeid in durations and not exclusive(i)]
    quick = sorted(timed, key=lambda i: durations[i.nodeid])[:workers]
    taken = {id(i) for i in quick}
    head: list[pytest.Item] = []
    for n, item in enumerate(first):
        head.append(item)
        if n < len(quick):
            head.append(quick[n])
    return head + [i for i in rest if id(i) not in taken]


@dataclass(frozen=True)
class ScenarioFigure:
    """How one scenario spent its time: wall seconds, seconds waiting on the controller, their ratio."""

    test: str
    wall_seconds: float
    controller_wait_seconds: float

    @property
    def waiting_share(self) -> float:
        return self.controller_wait_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def format_figures(
    figures: Sequence[ScenarioFigure], run_seconds: float, boot_seconds: float | None = None
) -> list[str]:
    """Lines for the end of a run: each scenario, then the run's wall time next to its longest one.

    `boot_seconds`: how long this session took to have its cluster ready (boot or create, and for a
    real-kubelet cluster the images loaded and Argo CD rolled out); None when it used one already up.
    """
    if not figures:
        return []
    rows = sorted(figures, key=lambda f: -f.wall_seconds)
    width = max(len(f.test) for f in rows)
    lines = [f"{'scenario':<{width}}  {'wall s':>8}  {'controller wait s':>17}  {'waiting':>7}"]
    lines += [
        f"{f.test:<{width}}  {f.wall_seconds:8.1f}  {f.controller_wait_seconds:17.1f}  {f.waiting_share:7.0%}"
        for f in rows
    ]
    longest = rows[0]
    lines.append(
        f"run wall time {run_seconds:.1f}s; longest scenario {longest.wall_seconds:.1f}s ({longest.test}); "
        f"ratio {run_seconds / longest.wall_seconds:.2f}"
        if longest.wall_seconds > 0
        else f"run wall time {run_seconds:.1f}s"
    )
    if boot_seconds is not None:
        lines.append(f"cluster ready in {boot_seconds:.1f}s (part of the run wall time)")
    return lines
