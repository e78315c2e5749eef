"""The measured series of a ledger as charts: what is drawn, against what, and where."""

from __future__ import annotations

from typing import Any

import pytest

from harness._report.charts import (
    DEFAULT_BACKOFF,
    Backoff,
    Chart,
    Point,
    Series,
    chart_rows,
    charts_for,
    layout,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5", 5.0), ("5s", 5.0), ("2m", 120.0), ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5s", 1.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "five seconds", "5 s", "-5s", "5s junk"])
def test_parse_duration_rejects_what_argo_cd_would(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_default_backoff_is_argo_cds() -> None:
    # common/common.go: 5 s, factor 2, at most 3 min; NextRetryAt waits duration * factor ** retry.
    assert [DEFAULT_BACKOFF.wait(i) for i in range(7)] == [5, 10, 20, 40, 80, 160, 180]
    assert DEFAULT_BACKOFF.describe() == "5 s, factor 2, max 3 min"
    assert Backoff(2, 3, 0).wait(5) == 486  # no cap


def _entry(claim_id: str, evidence: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"id": claim_id, "evidence": evidence}


def test_retry_gaps_against_the_default_backoff() -> None:
    gaps = [13.1, 24.2, 44.0, 84.3, 164.2]
    (chart,) = charts_for(_entry("C5", {"t::default": {"attempts": 6, "attempt_gaps_s": gaps}}))

    measured, stated = chart.series
    assert (measured.kind, [p.y for p in measured.points]) == ("measured", gaps)
    assert (stated.kind, [p.y for p in stated.points]) == ("reference", [5, 10, 20, 40, 80])
    assert [p.x for p in measured.points] == [1, 2, 3, 4, 5]
    assert stated.name == "backoff (5 s, factor 2, max 3 min)"
    assert "Argo CD's default backoff" in chart.note
    assert chart.test == "t::default"


def test_the_longest_series_comes_first() -> None:
    evidence = {
        "t::transient": {"attempt_gaps_s": [13.8]},
        "t::default": {"attempt_gaps_s": [13.8, 24.1, 43.8]},
    }
    assert [c.test for c in charts_for(_entry("C5", evidence))] == ["t::default", "t::transient"]


def test_retry_gaps_against_the_tests_own_policy() -> None:
    policy = {"limit": 2, "backoff": {"duration": "2s", "factor": 2, "maxDuration": "1m"}}
    (chart,) = charts_for(
        _entry("C5", {"t::explicit": {"retry_policy": policy, "attempt_gaps_s": [5.2, 8.9]}})
    )

    assert [p.y for p in chart.series[1].points] == [2, 4]
    assert chart.series[1].name == "backoff (2 s, factor 2, max 1 min)"
    assert "retry policy states" in chart.note


def test_an_unreadable_policy_draws_only_what_was_measured() -> None:
    policy = {"backoff": {"duration": "soon"}}
    (chart,) = charts_for(_entry("C5", {"t": {"retry_policy": policy, "attempt_gaps_s": [1.0]}}))

    assert [s.kind for s in chart.series] == ["measured"]
    assert "could not be read" in chart.note


def test_self_heal_gaps_against_the_controllers_own_backoff() -> None:
    flags = {
        "self-heal-backoff-cap-seconds": "300",
        "self-heal-backoff-factor": "3",
        "self-heal-backoff-timeout-seconds": "2",
    }
    facts = {"gaps_between_heals_s": [1.5, 5.95, 18.01], "controller_self_heal_flags": flags}
    (chart,) = charts_for(_entry("C9", {"t": facts}))

    measured, claimed, setting = chart.series
    assert (setting.kind, [p.y for p in setting.points]) == ("setting", [2, 6, 18])
    assert setting.name == "controller's backoff (2 s, factor 3, max 5 min)"
    assert "flag defaults" in chart.note
    # Flags that cannot be read draw no line of their own.
    facts["controller_self_heal_flags"] = {"self-heal-backoff-factor": "three"}
    assert [s.kind for s in charts_for(_entry("C9", {"t": facts}))[0].series] == ["measured", "reference"]


def test_self_heal_gaps_against_the_claimed_five_seconds() -> None:
    (chart,) = charts_for(_entry("C9", {"t": {"gaps_between_heals_s": [2.1, 6.2, 18.3], "timeline": {}}}))

    assert [p.y for p in chart.series[0].points] == [2.1, 6.2, 18.3]
    assert [p.y for p in chart.series[1].points] == [5.0, 5.0, 5.0]


def test_drift_loop_cycles_over_the_window() -> None:
    window = {
        "seconds": 60.0,
        "self_heal_operations": 3,
        "hook_runs": 0,
        "webhook_writes": 5,
        "gaps_s": [6.1, 18.2],
    }
    (chart,) = charts_for(_entry("C11", {"t[plain]": {"loop_window": window}}))

    assert [(p.x, p.y) for p in chart.series[0].points] == [(0.0, 1), (6.1, 2), (pytest.approx(24.3), 3)]
    assert chart.x_range == (0.0, 60.0)
    assert chart.note == "3 self-heal syncs, 0 hook runs and 5 webhook writes in a 60.0 s window."


@pytest.mark.parametrize(
    "entry",
    [
        _entry("C1", {"t": {"attempt_gaps_s": [1.0]}}),  # no chart for this claim
        _entry("C5", {"t": {"attempt_gaps_s": []}}),
        _entry("C5", {"t": {"attempt_gaps_s": ["13 s"]}}),
        _entry("C5", {"t": {"attempt_gaps_s": [True, False]}}),
        _entry("C9", {"t": "not a mapping"}),
        _entry("C11", {"t": {"loop_window": {"self_heal_operations": 0}}}),
        {"id": "C9", "evidence": None},
        {"evidence": {}},
    ],
)
def test_no_chart_without_a_measured_series(entry: dict[str, Any]) -> None:
    assert charts_for(entry) == []


def test_layout_keeps_points_inside_the_plot_and_starts_at_zero() -> None:
    chart = Chart(
        claim_id="C9",
        title="t",
        test="t",
        x_label="x",
        y_label="y",
        series=(
            Series("measured", "measured", (Point(1, 2.1), Point(2, 6.2), Point(3, 18.3))),
            Series("claimed", "reference", (Point(1, 5), Point(2, 5), Point(3, 5))),
        ),
        note="",
    )
    svg = layout(chart)
    left, top, right, bottom = svg.plot

    assert [t.label for t in svg.x_ticks] == ["1", "2", "3"]
    assert svg.y_ticks[0].label == "0"
    assert float(svg.y_ticks[-1].label) >= 18.3
    for s in svg.series:
        for p in s.points:
            assert left <= p.cx <= right
            assert top <= p.cy <= bottom
    measured = svg.series[0].points
    assert measured[0].cy > measured[1].cy > measured[2].cy  # larger values are higher up
    assert svg.series[1].path.startswith("M")
    assert svg.series[1].path.count("L") == 2
    assert chart_rows(chart) == [("1", ["2.1", "5"]), ("2", ["6.2", "5"]), ("3", ["18.3", "5"])]
