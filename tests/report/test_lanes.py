"""Replayed incidents as lane charts: finding the reports, reading them, and where things are drawn.

The fixture report in data/replay/ is a real one, trimmed: `argocd-chaos reproduce` of
examples/reproduce/presync-migration-retry with `--fail db-migrate=3` on the embedded cluster with
Argo CD v3.6.1 (one automated operation, Failed after 2 retries; three db-migrate Job runs), with
`application`, `sources`, `rewrites`, `steps`, `events` and `final_objects` cut from report.json and
the rewrites and events from report.md.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness._report.lanes import (
    WIDTH,
    HookRun,
    Operation,
    Replay,
    Retry,
    lane_chart,
    lane_rows,
    load_replays,
    replay_reports,
)

DATA = Path(__file__).parent / "data" / "replay"


def _fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "report.json").read_text())
    return data


def _write(folder: Path, data: Any, *, md: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(data if isinstance(data, str) else json.dumps(data))
    if md:
        (folder / "report.md").write_text("# report\n")
    return folder


def _op(seq: int, t: float, ended_t: float | None, phase: str = "Succeeded", **kw: Any) -> Operation:
    return Operation(
        seq=seq,
        t=t,
        ended_t=ended_t,
        phase=phase,
        automated=kw.get("automated", False),
        retry_count=kw.get("retry_count", 0),
        message=kw.get("message", ""),
    )


def _replay(
    operations: tuple[Operation, ...] = (),
    hooks: tuple[HookRun, ...] = (),
    retries: tuple[Retry, ...] = (),
    stopped_t: float | None = 20.0,
) -> Replay:
    return Replay(
        name="shop",
        kind="reproduce",
        path="reproduce/shop/report.json",
        operations=operations,
        hook_runs=hooks,
        retries=retries,
        stopped_t=stopped_t,
    )


# --------------------------------------------------------------------------------------------------
# Finding and reading the reports


def test_the_real_report_is_read_as_written(tmp_path: Path) -> None:
    data = _fixture()
    _write(tmp_path / "reproduce" / "shop", data)

    (replay,) = load_replays(tmp_path)

    assert replay.problem == ""
    assert (replay.name, replay.kind, replay.path) == ("shop", "reproduce", "reproduce/shop/report.json")
    assert replay.report_md == "reproduce/shop/report.md"
    assert (replay.release, replay.held, replay.seconds) == (
        data["argocd_version"],
        data["held"],
        data["seconds"],
    )
    assert replay.expectations == len(data["expectations"])
    timeline = data["timeline"]
    assert [(o.seq, o.t, o.ended_t, o.phase, o.automated, o.retry_count) for o in replay.operations] == [
        (o["seq"], o["t"], o["ended_t"], o["phase"], o["automated"], o["retry_count"])
        for o in timeline["operations"]
    ]
    assert [(h.t, h.name) for h in replay.hook_runs] == [(h["t"], h["name"]) for h in timeline["hook_runs"]]
    assert [(r.t, r.retry_count) for r in replay.retries] == [
        (r["t"], r["retry_count"]) for r in timeline["retry_marks"]
    ]
    assert replay.stopped_t == timeline["stopped_t"]
    assert replay.group == "argocd-chaos reproduce"


def test_reports_are_found_in_their_three_places_in_page_order(tmp_path: Path) -> None:
    data = _fixture()
    _write(tmp_path, data, md=False)
    _write(tmp_path / "reproduce" / "web", data)
    _write(tmp_path / "reproduce" / "api", data)
    for release in ("v3.10.0", "v2.14.21", "v3.6.1"):
        _write(tmp_path / "incidents" / release / "27507-hook-deleted", data)
    _write(tmp_path / "incidents" / "v3.6.1" / "11872-orphan", data)
    # Not replays: the catalogue's summary, a report folder one level too deep.
    (tmp_path / "incidents" / "v3.6.1" / "summary.json").write_text("{}")
    _write(tmp_path / "reproduce" / "web" / "deeper", data)

    found = [(p.relative_to(tmp_path).as_posix(), kind) for p, kind in replay_reports(tmp_path)]
    replays = load_replays(tmp_path)

    assert found == [
        ("report.json", "reproduce"),
        ("reproduce/api/report.json", "reproduce"),
        ("reproduce/web/report.json", "reproduce"),
        # By release as numbers (v3.6 before v3.10), then by incident.
        ("incidents/v2.14.21/27507-hook-deleted/report.json", "incident"),
        ("incidents/v3.6.1/11872-orphan/report.json", "incident"),
        ("incidents/v3.6.1/27507-hook-deleted/report.json", "incident"),
        ("incidents/v3.10.0/27507-hook-deleted/report.json", "incident"),
    ]
    assert [r.path for r in replays] == [path for path, _ in found]
    assert replays[0].name == tmp_path.name  # written straight into the folder: named after it
    assert replays[0].report_md == ""  # no report.md beside it: nothing to link
    assert replays[-1].group == "Known hook bugs (argocd-chaos incidents) on v3.10.0"
    assert all(r.problem == "" for r in replays)


def test_no_replays(tmp_path: Path) -> None:
    assert load_replays(tmp_path) == []
    assert load_replays(tmp_path / "missing") == []


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"held": true,', "cannot be read: Expecting"),
        ("[]", "is not a replay report: expected a JSON object"),
        ('{"held": true}', "has no timeline object"),
        (
            '{"held": true, "timeline": {"operations": {}}}',
            "field `timeline.operations`: Input should be a valid list (got an object {})",
        ),
        (
            '{"held": true, "timeline": {"operations": [{"t": "soon"}]}}',
            'field `timeline.operations[0].t`: Input should be a valid number (got a string "soon")',
        ),
        (
            '{"held": true, "timeline": {"operations": [{"t": 1, "retry_count": true}]}}',
            "field `timeline.operations[0].retry_count`: Input should be a valid integer "
            "(got a boolean true)",
        ),
        (
            '{"held": true, "timeline": {"hook_runs": [{"t": 1, "name": 7}]}}',
            "field `timeline.hook_runs[0].name`: Input should be a valid string (got a number 7)",
        ),
        (
            '{"held": "yes", "timeline": {}}',
            'field `held`: Input should be a valid boolean (got a string "yes")',
        ),
        ('{"timeline": {}}', "field `held`: Field required"),
        (
            '{"held": true, "seconds": "long", "timeline": {}}',
            'field `seconds`: Input should be a valid number (got a string "long")',
        ),
    ],
)
def test_a_broken_report_is_kept_with_its_problem(tmp_path: Path, content: str, problem: str) -> None:
    _write(tmp_path / "incidents" / "v3.6.1" / "27507-x", content)
    _write(tmp_path / "reproduce" / "shop", _fixture())

    broken, good = sorted(load_replays(tmp_path), key=lambda r: r.kind)

    assert broken.path == "incidents/v3.6.1/27507-x/report.json"
    assert problem in broken.problem
    assert (broken.operations, broken.hook_runs, broken.retries) == ((), (), ())
    assert broken.report_md == "incidents/v3.6.1/27507-x/report.md"  # still linked: it may say more
    assert good.problem == ""


def test_an_unreadable_report_is_kept_with_its_problem(tmp_path: Path) -> None:
    (tmp_path / "reproduce" / "shop" / "report.json").mkdir(parents=True)  # a folder where a file belongs

    (replay,) = load_replays(tmp_path)

    assert replay.problem.startswith("cannot be read: [Errno 21] Is a directory")


def test_a_report_from_before_ended_t_seq_and_stopped_t(tmp_path: Path) -> None:
    """Reports written before these were kept: operations numbered in order, not seen ended."""
    timeline = {
        "operations": [{"t": 0.5, "phase": "Failed"}, {"t": 9.0, "phase": "Succeeded"}],
        "hook_runs": [{"t": 12.0, "name": "migrate"}],
    }
    _write(tmp_path / "reproduce" / "old", {"held": False, "timeline": timeline})

    (replay,) = load_replays(tmp_path)
    chart = lane_chart(replay)

    assert [(o.seq, o.ended_t) for o in replay.operations] == [(1, None), (2, None)]
    assert replay.stopped_t is None
    assert replay.release == "unknown"
    assert [(b.end_t, b.ended) for b in chart.bars] == [(9.0, False), (12.0, False)]
    assert chart.end_t == 12.0


# --------------------------------------------------------------------------------------------------
# Layout


def _x(chart: Any, t: float) -> float:
    left, _, right, _ = chart.plot
    last = float(chart.x_ticks[-1].label)
    return left + t / last * (right - left)


def test_operations_are_bars_from_first_seen_to_seen_ended() -> None:
    replay = _replay(
        (
            _op(1, 2.0, 6.0, "Failed", automated=True, retry_count=2),
            _op(2, 8.0, None, "Running"),
            _op(3, 12.0, 12.0, "Succeeded"),
            _op(4, 18.5, None, "Terminating"),
        )
    )

    chart = lane_chart(replay)
    one, two, three, four = chart.bars

    assert [t.label for t in chart.x_ticks] == ["0", "5", "10", "15", "20"]
    assert chart.plot[2] == WIDTH - 18
    assert one.x == pytest.approx(_x(chart, 2.0), abs=0.1)
    assert one.width == pytest.approx(_x(chart, 6.0) - _x(chart, 2.0), abs=0.2)
    assert (one.end_t, one.ended, one.tone) == (6.0, True, "failed")
    # Never seen ended: drawn to the next operation's start, the last one to the end of observation.
    assert (two.end_t, two.ended, two.tone) == (12.0, False, "running")
    assert (four.end_t, four.ended, four.tone) == (20.0, False, "other")
    # Seen ended at the sample it was first seen in: still a bar one can see.
    assert (three.end_t, three.width, three.tone) == (12.0, 3.0, "succeeded")
    assert [b.label for b in chart.bars] == ["#1 Failed, 2 retries", "#2 Running", "", "#4"]
    assert one.auto_path.startswith(f"M{one.x},{one.y} ")
    assert two.auto_path == ""
    assert "seen at 2 s, ended by 6 s" in one.title
    assert "(automated)" in one.title
    assert "not seen ended (drawn to 12 s)" in two.title
    # The bars stay inside the operations lane.
    lane = chart.lanes[0]
    assert lane.key == "operations"
    assert all(lane.top < b.y and b.y + b.height < lane.bottom for b in chart.bars)


@pytest.mark.parametrize(
    ("phase", "tone"),
    [
        ("Succeeded", "succeeded"),
        ("Failed", "failed"),
        ("Error", "failed"),
        ("Running", "running"),
        ("", "other"),
    ],
)
def test_bars_are_coloured_by_phase(phase: str, tone: str) -> None:
    (bar,) = lane_chart(_replay((_op(1, 1.0, 4.0, phase),))).bars
    assert bar.tone == tone


def test_hook_runs_and_retries_are_marks_with_their_labels() -> None:
    replay = _replay(
        hooks=(
            HookRun(1.0, "db-migrate"),
            HookRun(1.2, "db-seed"),
            HookRun(1.4, "db-third"),
            HookRun(10.0, "db-migrate"),
            HookRun(19.9, "smoke-test"),
        ),
        retries=(Retry(5.0, 1), Retry(9.5, 2)),
    )

    chart = lane_chart(replay)
    hooks_lane, retries_lane = chart.lanes[1], chart.lanes[2]

    assert [(m.t, m.value) for m in chart.hooks] == [(h.t, h.name) for h in replay.hook_runs]
    assert [m.x for m in chart.hooks] == pytest.approx([_x(chart, h.t) for h in replay.hook_runs], abs=0.1)
    assert all(hooks_lane.top < m.y1 < m.y2 < hooks_lane.bottom for m in chart.hooks)
    # Labels that would overlap take the second row; a third at the same place is left to its tooltip.
    rows = [(m.label, m.show_label, m.label_y - hooks_lane.top) for m in chart.hooks]
    assert rows[:4] == [
        ("db-migrate", True, 14),
        ("db-seed", True, 27),
        ("db-third", False, 14),
        ("db-migrate", True, 14),
    ]
    # Near the right edge a label ends at its mark instead of running off the chart.
    last = chart.hooks[-1]
    assert (last.anchor, last.label_x) == ("end", pytest.approx(last.x - 3))
    assert chart.hooks[0].anchor == "start"
    assert chart.hooks[0].label_x == pytest.approx(chart.hooks[0].x + 3)
    assert [(m.t, m.label, m.value, m.show_label) for m in chart.retries] == [
        (5.0, "retry 1", "1", True),
        (9.5, "retry 2", "2", True),
    ]
    assert all(retries_lane.top < m.y1 < m.y2 < retries_lane.bottom for m in chart.retries)
    assert chart.height == retries_lane.bottom + 40


def test_the_axis_ends_at_the_last_thing_seen() -> None:
    assert [t.label for t in lane_chart(_replay(stopped_t=21.6)).x_ticks] == [
        "0",
        "5",
        "10",
        "15",
        "20",
        "25",
    ]
    late_hook = _replay(hooks=(HookRun(44.0, "h"),), stopped_t=30.0)
    assert [t.label for t in lane_chart(late_hook).x_ticks] == ["0", "10", "20", "30", "40", "50"]
    empty = lane_chart(_replay(stopped_t=None))
    assert (empty.end_t, empty.bars, empty.hooks, empty.retries) == (0.0, (), (), ())
    assert empty.x_ticks[0].label == "0"
    assert empty.x_ticks[-1].label == "1"
    # The first tick is on the plot's left edge, the last on its right edge.
    left, _, right, _ = empty.plot
    assert (empty.x_ticks[0].pos, empty.x_ticks[-1].pos) == (left, right)


def test_the_numbers_table_is_in_time_order() -> None:
    replay = _replay(
        (_op(1, 0.5, 17.8, "Failed", automated=True, retry_count=2, message="retried 2 times"),),
        hooks=(HookRun(0.6, "db-migrate"), HookRun(4.9, "db-migrate")),
        retries=(Retry(4.7, 1),),
    )

    assert lane_rows(replay) == [
        ("operation", "0.5", "17.8", "#1 Failed (automated), 2 retries: retried 2 times"),
        ("hook run", "0.6", "", "db-migrate"),
        ("retry", "4.7", "", "retry count 1"),
        ("hook run", "4.9", "", "db-migrate"),
    ]
    assert lane_rows(_replay((_op(1, 1.0, None, "Running"),)))[0][2] == "not seen ended"


def test_the_real_replay_lays_out_inside_its_box(tmp_path: Path) -> None:
    shutil.copy(DATA / "report.json", tmp_path)
    (replay,) = load_replays(tmp_path)

    chart = lane_chart(replay)

    left, top, right, bottom = chart.plot
    assert len(chart.bars) == len(replay.operations) >= 1
    assert len(chart.hooks) == len(replay.hook_runs) >= 1
    assert len(chart.retries) == len(replay.retries) >= 1
    for bar in chart.bars:
        assert left <= bar.x
        assert bar.x + bar.width <= right + 0.1
    for mark in (*chart.hooks, *chart.retries):
        assert left <= mark.x <= right
    assert chart.x_ticks[-1].pos == right
    assert float(chart.x_ticks[-1].label) >= chart.end_t
    assert chart.height <= 220
    assert chart.width == WIDTH
    assert top < bottom
