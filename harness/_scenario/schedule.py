"""The order scenarios start in, and the figures that show how well a run used its time.

A run of scenarios side by side is as short as its longest scenario only if that one starts first:
tests are ordered by how long they took last time (kept in the user cache, so it survives clones
on the same machine), tests never timed before first (they might be long), tests that need the
cluster alone (`exclusive`) last (so they wait only for the scenarios still running at the end),
and tests that need no cluster after those (they are quick and fill the gaps).
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


def order(items: Sequence[pytest.Item], durations: Mapping[str, float]) -> list[pytest.Item]:
    """Cluster tests first, longest (or never timed) first, exclusive ones last; then the others.

    Stable: tests with equal keys keep their collection order, so every pytest-xdist worker (which
    collects on its own and must agree with the others) computes the same order.
    """

    def key(item: pytest.Item) -> tuple[int, int, float]:
        needs_cluster = "chaos_cluster" in getattr(item, "fixturenames", ())
        exclusive = item.get_closest_marker("exclusive") is not None
        group = 0 if needs_cluster and not exclusive else 1 if needs_cluster else 2
        known = item.nodeid in durations
        return (group, 1 if known else 0, -durations.get(item.nodeid, 0.0))

    return sorted(items, key=key)


@dataclass(frozen=True)
class ScenarioFigure:
    """How one scenario spent its time: wall seconds, seconds waiting on the controller, their ratio."""

    test: str
    wall_seconds: float
    controller_wait_seconds: float

    @property
    def waiting_share(self) -> float:
        return self.controller_wait_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0


def format_figures(figures: Sequence[ScenarioFigure], run_seconds: float) -> list[str]:
    """Lines for the end of a run: each scenario, then the run's wall time next to its longest one."""
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
    return lines
