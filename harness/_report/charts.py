"""The measured series of a ledger, as small SVG line charts drawn next to what the claims state.

Three series are in the ledger's evidence (written by the suites):

- C5 ``attempt_gaps_s``: seconds between consecutive attempts of one failing sync, against the
  backoff Argo CD documents for ``syncPolicy.retry`` (the test's own ``retry_policy`` when it set
  one, else the defaults). The defaults and the formula come from Argo CD's
  ``pkg/apis/application/v1alpha1/types.go`` (``RetryStrategy.NextRetryAt``: wait
  ``duration * factor ** retryCount``, capped at ``maxDuration``, counted from the end of the last
  attempt) and ``common/common.go`` (``DefaultSyncRetryDuration`` 5 s, ``DefaultSyncRetryFactor`` 2,
  ``DefaultSyncRetryMaxDuration`` 3 min), the same values the user guide's ``retry`` example shows.
- C9 ``gaps_between_heals_s``: seconds between consecutive self-heal syncs, against the claimed 5 s.
- C11 ``loop_window``: the self-heal syncs of the webhook/self-heal loop over the observed window.

The charts are computed here as plain numbers (pixel positions, tick labels); the page template only
places them, so the SVG needs no script and no network.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_BACKOFF",
    "Backoff",
    "Chart",
    "Point",
    "Series",
    "SvgChart",
    "Tick",
    "chart_rows",
    "charts_for",
    "layout",
    "nice_ticks",
    "number_label",
    "parse_duration",
]

#: The claim C9 makes about the gap between self-heal syncs, in seconds.
CLAIMED_SELF_HEAL_GAP = 5.0


@dataclass(frozen=True)
class Backoff:
    """A ``syncPolicy.retry.backoff``: seconds, factor, cap in seconds (0: no cap)."""

    duration: float
    factor: float
    max_duration: float

    def wait(self, retry: int) -> float:
        """Seconds Argo CD waits before retry number ``retry`` (0 for the first retry)."""
        seconds = self.duration * self.factor**retry
        return min(seconds, self.max_duration) if self.max_duration > 0 else seconds

    def describe(self) -> str:
        cap = f", max {_seconds_text(self.max_duration)}" if self.max_duration > 0 else ""
        return f"{_seconds_text(self.duration)}, factor {self.factor:g}{cap}"


#: Argo CD's default retry backoff (common/common.go): 5 s, factor 2, at most 3 min.
DEFAULT_BACKOFF = Backoff(duration=5.0, factor=2.0, max_duration=180.0)

_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a backoff duration as Argo CD reads it: a bare number is seconds, else a Go duration.

    Raises ValueError for anything else (the page then says the stated backoff could not be read).
    """
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return float(value)
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"not a duration: {text!r} (expected e.g. '5s', '2m', '1m30s' or seconds)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _seconds_text(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


# --------------------------------------------------------------------------------------------------
# Series taken from the ledger


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class Series:
    """A line of points; its kind says where the numbers come from.

    ``measured``: what the controller did; ``reference``: what a claim or doc states; ``setting``: what
    the controller's own settings give.
    """

    name: str
    kind: Literal["measured", "reference", "setting"]
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Chart:
    """One chart: ``test`` is the node id of the test whose evidence it draws."""

    claim_id: str
    title: str
    test: str
    x_label: str
    y_label: str
    series: tuple[Series, ...]
    note: str
    #: Fixed x range (e.g. the length of an observation window); None: fit the points.
    x_range: tuple[float, float] | None = None


def _numbers(value: Any) -> list[float] | None:
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


def _backoff_of(policy: Any) -> tuple[Backoff | None, str]:
    """The backoff a test's ``retry_policy`` evidence states; defaults where it states none."""
    if not isinstance(policy, Mapping):
        return DEFAULT_BACKOFF, "Argo CD's default backoff"
    backoff = policy.get("backoff")
    if not isinstance(backoff, Mapping):
        return DEFAULT_BACKOFF, "Argo CD's default backoff (the policy sets none)"
    try:
        duration = (
            parse_duration(str(backoff["duration"])) if "duration" in backoff else DEFAULT_BACKOFF.duration
        )
        factor = float(backoff.get("factor", DEFAULT_BACKOFF.factor))
        cap = (
            parse_duration(str(backoff["maxDuration"]))
            if "maxDuration" in backoff
            else DEFAULT_BACKOFF.max_duration
        )
    except (TypeError, ValueError):
        return None, f"the test's backoff {backoff!r} could not be read"
    return Backoff(duration, factor, cap), "the backoff the test's retry policy states"


def _retry_charts(test: str, facts: Mapping[str, Any]) -> list[Chart]:
    measured = _numbers(facts.get("attempt_gaps_s"))
    if measured is None:
        return []
    backoff, source = _backoff_of(facts.get("retry_policy"))
    series = [Series("measured gap", "measured", tuple(Point(i + 1, g) for i, g in enumerate(measured)))]
    if backoff is not None:
        series.append(
            Series(
                f"backoff ({backoff.describe()})",
                "reference",
                tuple(Point(i + 1, backoff.wait(i)) for i in range(len(measured))),
            )
        )
    return [
        Chart(
            claim_id="C5",
            title="Retry gaps against the stated backoff",
            test=test,
            x_label="retry",
            y_label="seconds",
            series=tuple(series),
            note=(
                f"Reference: {source}. A measured gap runs from one attempt's start to the next one's, "
                "so it also holds the failed attempt's own run; Argo CD counts the backoff from the end "
                "of the previous attempt."
            ),
        )
    ]


def _self_heal_charts(test: str, facts: Mapping[str, Any]) -> list[Chart]:
    measured = _numbers(facts.get("gaps_between_heals_s"))
    if measured is None:
        return []
    points = tuple(Point(i + 1, g) for i, g in enumerate(measured))
    claimed = tuple(Point(i + 1, CLAIMED_SELF_HEAL_GAP) for i in range(len(measured)))
    series = [Series("measured gap", "measured", points), Series("claimed: 5 s", "reference", claimed)]
    note = "Each drift was made as soon as the previous heal had finished: the fastest a loop can go."
    backoff = _self_heal_backoff(facts.get("controller_self_heal_flags"))
    if backoff is not None:
        series.append(
            Series(
                f"controller's backoff ({backoff.describe()})",
                "setting",
                tuple(Point(i + 1, backoff.wait(i)) for i in range(len(measured))),
            )
        )
        note += " The controller's backoff is the one its binary's flag defaults give."
    return [
        Chart(
            claim_id="C9",
            title="Self-heal gaps against the claimed 5 s",
            test=test,
            x_label="gap between heal n and heal n+1",
            y_label="seconds",
            series=tuple(series),
            note=note,
        )
    ]


def _self_heal_backoff(flags: Any) -> Backoff | None:
    """The self-heal backoff of the controller's ``--self-heal-backoff-*`` flags, as C9 records them."""
    if not isinstance(flags, Mapping):
        return None
    try:
        return Backoff(
            duration=float(flags["self-heal-backoff-timeout-seconds"]),
            factor=float(flags["self-heal-backoff-factor"]),
            max_duration=float(flags.get("self-heal-backoff-cap-seconds", 0)),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _drift_loop_charts(test: str, facts: Mapping[str, Any]) -> list[Chart]:
    window = facts.get("loop_window")
    if not isinstance(window, Mapping):
        return []
    gaps = _numbers(window.get("gaps_s")) or []
    syncs = window.get("self_heal_operations")
    seconds = window.get("seconds")
    if not isinstance(syncs, int) or isinstance(syncs, bool) or syncs < 1:
        return []
    times = [0.0]
    for gap in gaps:
        times.append(times[-1] + gap)
    points = tuple(Point(t, i + 1) for i, t in enumerate(times))
    hooks = window.get("hook_runs")
    writes = window.get("webhook_writes")
    extent = float(seconds) if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None
    return [
        Chart(
            claim_id="C11",
            title="Drift-loop cycles over the window",
            test=test,
            x_label="seconds since the window's first self-heal sync",
            y_label="self-heal syncs",
            series=(Series("self-heal syncs", "measured", points),),
            note=(
                f"{syncs} self-heal syncs, {hooks} hook runs and {writes} webhook writes in a "
                f"{seconds} s window."
            ),
            x_range=(0.0, max(extent, times[-1])) if extent else None,
        )
    ]


_EXTRACTORS = {"C5": _retry_charts, "C9": _self_heal_charts, "C11": _drift_loop_charts}


def charts_for(entry: Mapping[str, Any]) -> list[Chart]:
    """The charts one ledger entry's evidence supports, one per test that measured a series."""
    extract = _EXTRACTORS.get(str(entry.get("id")))
    evidence = entry.get("evidence")
    if extract is None or not isinstance(evidence, Mapping):
        return []
    charts: list[Chart] = []
    for test, facts in evidence.items():
        if isinstance(facts, Mapping):
            charts += extract(str(test), facts)
    # The longest series first: it says the most (C5's run on the defaults before its one-retry cases).
    return sorted(charts, key=lambda c: -len(c.series[0].points))


# --------------------------------------------------------------------------------------------------
# Layout: pixel positions for the template

WIDTH, HEIGHT = 336, 210
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 12, 42


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True)
class SvgPoint:
    cx: float
    cy: float
    x: float
    y: float


@dataclass(frozen=True)
class SvgSeries:
    name: str
    kind: str
    path: str
    points: tuple[SvgPoint, ...]


@dataclass(frozen=True)
class SvgChart:
    """A chart laid out in a ``WIDTH`` × ``HEIGHT`` SVG box; ``chart`` is what it draws."""

    chart: Chart
    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    series: tuple[SvgSeries, ...]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``low`` to ``high``, ascending.

    Steps are 1, 2, 2.5 or 5 times a power of ten; the first tick is at or below ``low``, the last at
    or above ``high``. A range of no width becomes ``low`` to ``low + 1``.
    """
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def number_label(value: float) -> str:
    """A tick or table number as people write it: 5, 2.5, 0.25 (no trailing zeros)."""
    return f"{value:g}"


def layout(chart: Chart) -> SvgChart:
    """Place a chart's axes, ticks and points; the y axis always starts at 0 (gaps are durations)."""
    xs = [p.x for s in chart.series for p in s.points]
    ys = [p.y for s in chart.series for p in s.points]
    x_low, x_high = chart.x_range if chart.x_range else (min(xs, default=0.0), max(xs, default=1.0))
    if chart.x_range is None and all(float(x).is_integer() for x in xs):
        x_ticks = [float(v) for v in range(int(x_low), int(x_high) + 1)] or [0.0, 1.0]
    else:
        x_ticks = nice_ticks(x_low, x_high)
    y_ticks = nice_ticks(0.0, max(ys, default=1.0) or 1.0)
    left, top, right, bottom = _LEFT, _TOP, WIDTH - _RIGHT, HEIGHT - _BOTTOM
    x0, x1 = x_ticks[0], x_ticks[-1]
    y1 = y_ticks[-1]
    pad = 12.0 if chart.x_range is None else 0.0  # keep end points off the axes

    def sx(x: float) -> float:
        if x1 == x0:  # a single x value: in the middle
            return round((left + right) / 2, 1)
        return round(left + pad + (x - x0) / (x1 - x0) * (right - left - 2 * pad), 1)

    def sy(y: float) -> float:
        return round(bottom - y / y1 * (bottom - top), 1)

    series = tuple(
        SvgSeries(
            name=s.name,
            kind=s.kind,
            path=" ".join(f"{'M' if i == 0 else 'L'}{sx(p.x)},{sy(p.y)}" for i, p in enumerate(s.points)),
            points=tuple(SvgPoint(sx(p.x), sy(p.y), p.x, p.y) for p in s.points),
        )
        for s in chart.series
    )
    return SvgChart(
        chart=chart,
        width=WIDTH,
        height=HEIGHT,
        plot=(left, top, right, bottom),
        x_ticks=tuple(Tick(sx(v), number_label(v)) for v in x_ticks),
        y_ticks=tuple(Tick(sy(v), number_label(v)) for v in y_ticks),
        series=series,
    )


def chart_rows(chart: Chart) -> Sequence[tuple[str, list[str]]]:
    """The chart's numbers as a table (x, then one column per series), for readers and screen readers."""
    xs = sorted({p.x for s in chart.series for p in s.points})
    rows: list[tuple[str, list[str]]] = []
    for x in xs:
        cells = []
        for s in chart.series:
            ys = [p.y for p in s.points if p.x == x]
            cells.append(number_label(ys[0]) if ys else "")
        rows.append((number_label(x), cells))
    return rows
