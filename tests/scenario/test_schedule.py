"""The order scenarios start in (longest first, exclusive last) and the figures printed at the end."""

from __future__ import annotations

import pytest

from harness._scenario import schedule

pytest_plugins = ["pytester"]


def test_durations_survive_a_round_trip_and_a_bad_file_counts_as_none(chaos_dirs: object) -> None:
    assert schedule.load() == {}
    schedule.save({"a::t": 1.23456, "b::t": 2.0})
    schedule.save({"b::t": 3.0})
    assert schedule.load() == {"a::t": 1.235, "b::t": 3.0}
    schedule.durations_file().write_text("{not json")
    assert schedule.load() == {}


def test_longest_first_never_timed_before_them_exclusive_last_then_tests_without_a_cluster(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def chaos_cluster():
            return None
        """
    )
    pytester.makepyfile(
        test_order="""
        import pytest

        def test_unit():
            pass

        def test_short(chaos_cluster):
            pass

        @pytest.mark.exclusive("restarts")
        def test_restart(chaos_cluster):
            pass

        def test_long(chaos_cluster):
            pass

        def test_new(chaos_cluster):
            pass
        """
    )
    items, _ = pytester.inline_genitems("-p", "no:pytest-kind")
    durations = {
        "test_order.py::test_short": 5.0,
        "test_order.py::test_long": 300.0,
        "test_order.py::test_restart": 400.0,
        "test_order.py::test_unit": 0.01,
    }
    names = [i.name for i in schedule.order(items, durations)]
    assert names == ["test_new", "test_long", "test_short", "test_restart", "test_unit"]


def test_figures_name_each_scenario_and_compare_the_run_with_its_longest() -> None:
    lines = schedule.format_figures(
        [
            schedule.ScenarioFigure("suites/a.py::t", 100.0, 90.0),
            schedule.ScenarioFigure("suites/b.py::t", 368.0, 360.0),
        ],
        run_seconds=400.0,
    )
    assert lines[1].startswith("suites/b.py::t")
    assert "98%" in lines[1]
    assert lines[-1] == "run wall time 400.0s; longest scenario 368.0s (suites/b.py::t); ratio 1.09"
    assert schedule.format_figures([], run_seconds=1.0) == []
