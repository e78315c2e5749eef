"""Replayed incidents as lane charts: what a replay's controller did, drawn on one time axis.

A reports directory (the claims page's) holds replays in three places:

- ``report.json``: one replay written straight there (``argocd-chaos reproduce --reports DIR``);
- ``reproduce/<app>/report.json``: ``argocd-chaos reproduce`` by default;
- ``incidents/<release>/<incident>/report.json``: ``argocd-chaos incidents`` (the catalogue).

Each report's ``timeline`` (``Timeline.summary()`` of ``harness/_scenario/timeline.py``: every ``t`` in
seconds since the timeline started) becomes three lanes over one x axis: the operations as bars from
when each was first seen to when it was first seen ended, coloured by phase; each hook Job run as a
mark labelled with the hook's name; each retry as a mark labelled with its retry count. As in
``charts.py``, every position is computed here as plain numbers; the page template only places them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NotRequired

import pydantic
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12

from harness._report.charts import Tick, nice_ticks, number_label
from harness._report.ledger import json_type

__all__ = [
    "HookRun",
    "LaneChart",
    "Operation",
    "Replay",
    "Retry",
    "lane_chart",
    "lane_rows",
    "load_replays",
    "replay_reports",
]

Kind = Literal["reproduce", "incident"]


@dataclass(frozen=True)
class Operation:
    """One sync operation; ``t`` and ``ended_t`` in seconds since the timeline started."""

    seq: int
    t: float
    #: When it was first seen ended (Succeeded, Failed, Error); None: never, while observed.
    ended_t: float | None
    phase: str
    automated: bool
    retry_count: int
    message: str


@dataclass(frozen=True)
class HookRun:
    """A hook Job came into existence ``t`` seconds after the timeline started."""

    t: float
    name: str


@dataclass(frozen=True)
class Retry:
    """The operation's retry count became ``retry_count`` at ``t`` seconds."""

    t: float
    retry_count: int


@dataclass(frozen=True)
class Replay:
    """One replay's report, or why it cannot be drawn (``problem`` not empty, the rest left empty).

    Paths are relative to the reports directory, with forward slashes, so the page can link them.
    """

    name: str
    kind: Kind
    path: str
    #: ``report.md`` beside the report ("" when there is none).
    report_md: str = ""
    release: str = ""
    held: bool = False
    expectations: int = 0
    #: The whole replay's duration in seconds (cluster work included), None when not recorded.
    seconds: float | None = None
    operations: tuple[Operation, ...] = ()
    hook_runs: tuple[HookRun, ...] = ()
    retries: tuple[Retry, ...] = ()
    #: When the timeline took its last sample (seconds); None in reports written before it was kept.
    stopped_t: float | None = None
    problem: str = ""

    @property
    def group(self) -> str:
        """The heading a replay is shown under: by command, and the catalogue by release."""
        if self.kind == "incident":
            return f"Known hook bugs (argocd-chaos incidents) on {self.path.split('/')[1]}"
        return "argocd-chaos reproduce"


def _release_key(text: str) -> tuple[tuple[int, ...], str]:
    # v2.14.21 before v3.6.1 (not by text, where "v3.10" would come before "v3.6").
    return tuple(int(n) for n in re.findall(r"\d+", text)[:3]), text


def replay_reports(reports_dir: Path) -> list[tuple[Path, Kind]]:
    """Every replay ``report.json`` under ``reports_dir`` with its kind, in page order.

    Order: one written straight into the directory, then ``reproduce/`` by app, then the catalogue
    by release (oldest first) and incident.
    """
    found: list[tuple[Path, Kind]] = []
    if (reports_dir / "report.json").is_file():
        found.append((reports_dir / "report.json", "reproduce"))
    found += [(p, "reproduce") for p in sorted(reports_dir.glob("reproduce/*/report.json"))]
    incidents = sorted(
        reports_dir.glob("incidents/*/*/report.json"),
        key=lambda p: (_release_key(p.parent.parent.name), p.parent.name),
    )
    found += [(p, "incident") for p in incidents]
    return found


def load_replays(reports_dir: Path) -> list[Replay]:
    """The replays under ``reports_dir`` (see ``replay_reports``); [] when there are none.

    A report that cannot be read or is not in the shape ``harness/_reproduce/report.py`` documents is
    kept as a Replay whose ``problem`` says which file and what is wrong; nothing here raises for it.
    """
    replays = []
    for path, kind in replay_reports(reports_dir):
        folder = path.parent
        rel = path.relative_to(reports_dir).as_posix()
        name = reports_dir.resolve().name if folder == reports_dir else folder.name
        md = folder / "report.md"
        base = Replay(
            name=name,
            kind=kind,
            path=rel,
            report_md=md.relative_to(reports_dir).as_posix() if md.is_file() else "",
        )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            replays.append(_broken(base, f"cannot be read: {exc}"))
            continue
        try:
            replays.append(_parse(base, data))
        except pydantic.ValidationError as exc:
            replays.append(_broken(base, _shape_problem(data, exc)))
    return replays


class _OperationShape(TypedDict):
    # Reports written before `seq` was kept number operations in the order listed.
    seq: NotRequired[int | None]
    t: float
    ended_t: NotRequired[float | None]
    phase: NotRequired[str | None]
    automated: NotRequired[bool | None]
    retry_count: NotRequired[int | None]
    message: NotRequired[str | None]


class _HookRunShape(TypedDict):
    t: float
    name: NotRequired[str | None]


class _RetryShape(TypedDict):
    t: float
    retry_count: NotRequired[int | None]


class _TimelineShape(TypedDict):
    operations: NotRequired[list[_OperationShape]]
    hook_runs: NotRequired[list[_HookRunShape]]
    retry_marks: NotRequired[list[_RetryShape]]
    stopped_t: NotRequired[float | None]


class _ReportShape(TypedDict):
    """What a replay chart reads of ``report.json`` (harness/_reproduce/report.py writes the whole)."""

    timeline: _TimelineShape
    held: bool
    argocd_version: NotRequired[str | None]
    seconds: NotRequired[float | None]
    expectations: NotRequired[list[Any]]


# Strict: a count given as true or "2" is as wrong as a missing one; the report is an input (another
# run's artifact), so a wrong shape is one problem naming the field, shown on the page, not a traceback.
_REPORT_SHAPE = pydantic.TypeAdapter(_ReportShape)


def _broken(base: Replay, reason: str) -> Replay:
    return Replay(base.name, base.kind, base.path, report_md=base.report_md, problem=reason)


def _shape_problem(data: object, exc: pydantic.ValidationError) -> str:
    """The first problem, as ``field `timeline.operations[0].t`: Input should be ... (got ...)``."""
    if not isinstance(data, dict):
        return f"is not a replay report: expected a JSON object, got {json_type(data)}"
    error = exc.errors()[0]
    loc = list(error["loc"])
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if error["type"] == "missing" and field == "timeline":
        return "has no timeline object (is it a report.json of `argocd-chaos reproduce`?)"
    value = error.get("input")
    got = f" (got {json_type(value)} {json.dumps(value)[:60]})" if error["type"] != "missing" else ""
    return f"field `{field}`: {error['msg']}{got}"


def _parse(base: Replay, data: Any) -> Replay:
    """The replay of a report's data; raises pydantic.ValidationError for a wrong shape."""
    report = _REPORT_SHAPE.validate_python(data, strict=True)
    timeline = report["timeline"]
    operations = [
        Operation(
            seq=op.get("seq") or i + 1,
            t=float(op["t"]),
            ended_t=_seconds_or_none(op.get("ended_t")),
            phase=op.get("phase") or "",
            automated=bool(op.get("automated")),
            retry_count=op.get("retry_count") or 0,
            message=op.get("message") or "",
        )
        for i, op in enumerate(timeline.get("operations", []))
    ]
    hooks = [HookRun(float(h["t"]), h.get("name") or "?") for h in timeline.get("hook_runs", [])]
    retries = [Retry(float(r["t"]), r.get("retry_count") or 0) for r in timeline.get("retry_marks", [])]
    return Replay(
        name=base.name,
        kind=base.kind,
        path=base.path,
        report_md=base.report_md,
        release=report.get("argocd_version") or "unknown",
        held=report["held"],
        expectations=len(report.get("expectations", [])),
        seconds=_seconds_or_none(report.get("seconds")),
        operations=tuple(sorted(operations, key=lambda o: o.t)),
        hook_runs=tuple(sorted(hooks, key=lambda h: h.t)),
        retries=tuple(sorted(retries, key=lambda r: r.t)),
        stopped_t=_seconds_or_none(timeline.get("stopped_t")),
    )


def _seconds_or_none(value: float | None) -> float | None:
    return None if value is None else float(value)


# --------------------------------------------------------------------------------------------------
# Layout: pixel positions for the template

#: The chart's box in pixels; the page scales it down to narrower windows (viewBox).
WIDTH = 1040
_LEFT, _RIGHT, _TOP, _AXIS = 104, 18, 6, 40
#: Each lane's height: operations hold one row of bars, the mark lanes two rows of labels over marks.
_LANE_HEIGHTS = {"operations": 44, "hooks": 58, "retries": 58}
_LANE_TITLES = {"operations": "operations", "hooks": "hook runs", "retries": "retries"}
#: Average advance of the 11 px labels, a little generous, to decide what fits without a browser.
_CHAR_PX = 6.4
_MIN_BAR_PX = 3.0


@dataclass(frozen=True)
class Lane:
    key: str
    title: str
    top: float
    bottom: float


@dataclass(frozen=True)
class Bar:
    """An operation drawn from ``op.t`` to ``end_t`` seconds (``ended``: to when it was seen ended)."""

    op: Operation
    end_t: float
    ended: bool
    #: "succeeded", "failed" (Failed or Error), "running", or "other" (Terminating, no phase yet).
    tone: str
    x: float
    y: float
    width: float
    height: float
    #: The text drawn in the bar: the long form when it fits, else the number alone, else "".
    label: str
    #: Everything about it, for the tooltip and the table.
    title: str
    #: A small flag at the bar's start when the controller started the operation itself; "" if not.
    auto_path: str


@dataclass(frozen=True)
class Mark:
    """A moment on a mark lane: a tick at ``x`` and its label on one of two rows, when it fits."""

    t: float
    x: float
    y1: float
    y2: float
    label: str
    label_x: float
    label_y: float
    anchor: Literal["start", "end"]
    show_label: bool
    title: str
    #: The hook's name (hook lane) or the retry count (retry lane), for data attributes.
    value: str


@dataclass(frozen=True)
class LaneChart:
    """A replay laid out in a ``width`` × ``height`` SVG box; ``end_t`` is the axis's last second."""

    width: int
    height: int
    plot: tuple[float, float, float, float]  # left, top, right, bottom
    lanes: tuple[Lane, ...]
    x_ticks: tuple[Tick, ...]
    bars: tuple[Bar, ...]
    hooks: tuple[Mark, ...]
    retries: tuple[Mark, ...]
    end_t: float


def _tone(phase: str) -> str:
    if phase == "Succeeded":
        return "succeeded"
    if phase in ("Failed", "Error"):
        return "failed"
    if phase == "Running":
        return "running"
    return "other"


def _retries_text(count: int) -> str:
    return f"{count} retr{'y' if count == 1 else 'ies'}"


def _seconds(value: float) -> str:
    return f"{number_label(round(value, 2))} s"


def lane_chart(replay: Replay) -> LaneChart:
    """Lay a replay's timeline out on three lanes over one axis of seconds since the timeline start.

    The axis runs from 0 to the last thing seen: the last sample (``stopped_t``) or, in older reports,
    the latest event. An operation never seen ended runs to the next operation's start or to that end.
    """
    ops = replay.operations
    times = [o.t for o in ops] + [o.ended_t for o in ops if o.ended_t is not None]
    times += [h.t for h in replay.hook_runs] + [r.t for r in replay.retries]
    end = max([*times, replay.stopped_t or 0.0, 0.0])
    ticks = nice_ticks(0.0, end)
    left, right = float(_LEFT), float(WIDTH - _RIGHT)
    x0, x1 = ticks[0], ticks[-1]

    def sx(t: float) -> float:
        return round(left + (t - x0) / (x1 - x0) * (right - left), 1)

    lanes, top = [], float(_TOP)
    for key, height in _LANE_HEIGHTS.items():
        lanes.append(Lane(key, _LANE_TITLES[key], top, top + height))
        top += height
    by_key = {lane.key: lane for lane in lanes}
    bars = _bars(ops, end, by_key["operations"], sx)
    hooks = _marks(
        [(h.t, h.name, h.name, f"{h.name}: Job created by {_seconds(h.t)}") for h in replay.hook_runs],
        by_key["hooks"],
        sx,
        right,
    )
    retries = _marks(
        [(r.t, f"retry {r.retry_count}", str(r.retry_count), f"at {_seconds(r.t)}") for r in replay.retries],
        by_key["retries"],
        sx,
        right,
    )
    return LaneChart(
        width=WIDTH,
        height=int(top + _AXIS),
        plot=(left, float(_TOP), right, top),
        lanes=tuple(lanes),
        x_ticks=tuple(Tick(sx(v), number_label(v)) for v in ticks),
        bars=bars,
        hooks=hooks,
        retries=retries,
        end_t=end,
    )


def _bars(ops: Sequence[Operation], end: float, lane: Lane, sx: Callable[[float], float]) -> tuple[Bar, ...]:
    bars = []
    y, height = lane.top + 8, lane.bottom - lane.top - 16
    for i, op in enumerate(ops):
        if op.ended_t is not None:
            stop, ended = max(op.ended_t, op.t), True
        else:
            # Superseded by the next operation, or still going when observation stopped.
            stop, ended = (ops[i + 1].t if i + 1 < len(ops) else end), False
        x = sx(op.t)
        width = max(round(sx(stop) - x, 1), _MIN_BAR_PX)
        phase = op.phase or "no phase yet"
        long = f"#{op.seq} {phase}" + (f", {_retries_text(op.retry_count)}" if op.retry_count else "")
        label = next((text for text in (long, f"#{op.seq}") if len(text) * _CHAR_PX + 10 <= width), "")
        who = "automated" if op.automated else "requested"
        until = f"ended by {_seconds(stop)}" if ended else f"not seen ended (drawn to {_seconds(stop)})"
        title = (
            f"#{op.seq} {phase} ({who}), {_retries_text(op.retry_count)}; seen at {_seconds(op.t)}, {until}"
        )
        if op.message:
            title += f": {op.message}"
        auto = f"M{x},{y} h9 l-9,9 z" if op.automated else ""
        bars.append(Bar(op, stop, ended, _tone(op.phase), x, y, width, height, label, title, auto))
    return tuple(bars)


def _marks(
    items: Sequence[tuple[float, str, str, str]], lane: Lane, sx: Callable[[float], float], right: float
) -> tuple[Mark, ...]:
    """Marks at their times; each label takes the first of two rows where it overlaps no other."""
    rows_end = [float("-inf"), float("-inf")]
    marks = []
    for t, label, value, title in items:
        x = sx(t)
        width = len(label) * _CHAR_PX
        # A label starts at its mark, or ends there when it would run past the plot's right edge.
        anchor: Literal["start", "end"] = "start" if x + 3 + width <= right else "end"
        span = (x + 3, x + 3 + width) if anchor == "start" else (x - 3 - width, x - 3)
        row = next((r for r in (0, 1) if span[0] >= rows_end[r] + 6), None)
        if row is not None:
            rows_end[row] = span[1]
        label_y = lane.top + 14 + 13 * (row or 0)
        marks.append(
            Mark(
                t=t,
                x=x,
                y1=lane.top + 32,
                y2=lane.bottom - 6,
                label=label,
                label_x=span[0] if anchor == "start" else span[1],
                label_y=label_y,
                anchor=anchor,
                show_label=row is not None,
                title=title,
                value=value,
            )
        )
    return tuple(marks)


def lane_rows(replay: Replay) -> list[tuple[str, str, str, str]]:
    """The chart's numbers as a table in time order: (lane, from s, to s or "", what)."""
    rows: list[tuple[float, int, tuple[str, str, str, str]]] = []
    for op in replay.operations:
        who = "automated" if op.automated else "requested"
        what = f"#{op.seq} {op.phase or 'no phase yet'} ({who}), {_retries_text(op.retry_count)}"
        if op.message:
            what += f": {op.message}"
        until = number_label(op.ended_t) if op.ended_t is not None else "not seen ended"
        rows.append((op.t, 0, ("operation", number_label(op.t), until, what)))
    rows += [(h.t, 1, ("hook run", number_label(h.t), "", h.name)) for h in replay.hook_runs]
    rows += [
        (r.t, 2, ("retry", number_label(r.t), "", f"retry count {r.retry_count}")) for r in replay.retries
    ]
    return [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]
