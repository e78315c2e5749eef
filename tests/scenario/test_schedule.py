"""The order tests start in (longest first, a quick one behind, exclusive last) and the figures at the end."""

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


ORDER_TESTS = """
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

def test_mid(chaos_cluster):
    pass
"""

DURATIONS = {
    "test_order.py::test_short": 5.0,
    "test_order.py::test_long": 300.0,
    "test_order.py::test_mid": 50.0,
    "test_order.py::test_restart": 400.0,
    "test_order.py::test_unit": 0.01,
}


def _items(pytester: pytest.Pytester) -> list[pytest.Item]:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def chaos_cluster():
            return None
        """
    )
    pytester.makepyfile(test_order=ORDER_TESTS)
    items, _ = pytester.inline_genitems("-p", "no:pytest-kind")
    return items


def test_never_timed_first_then_longest_first_exclusive_last(pytester: pytest.Pytester) -> None:
    names = [i.name for i in schedule.order(_items(pytester), DURATIONS)]
    assert names == ["test_new", "test_long", "test_mid", "test_short", "test_unit", "test_restart"]


def test_each_of_the_first_tests_of_the_workers_has_a_quick_one_behind_it(pytester: pytest.Pytester) -> None:
    names = [i.name for i in schedule.order(_items(pytester), DURATIONS, workers=2)]
    # Worker k starts with tests 2k and 2k+1: the quickest timed tests go second.
    assert names == ["test_new", "test_unit", "test_long", "test_short", "test_mid", "test_restart"]


def test_workers_come_from_pytest_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    assert schedule.workers_from_env() == 1
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    assert schedule.workers_from_env() == 4
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "x")
    assert schedule.workers_from_env() == 1


XDIST_TESTS = """
import os
from pathlib import Path

def _ran(name):
    with open(Path(os.environ["RAN"]), "a") as f:
        f.write(f"{os.environ['PYTEST_XDIST_WORKER']} {name}\\n")

def test_a():
    _ran("a")

def test_b():
    _ran("b")

def test_long():
    _ran("long")

def test_mid():
    _ran("mid")

def test_quick1():
    _ran("quick1")

def test_quick2():
    _ran("quick2")
"""


def test_under_pytest_xdist_a_quick_test_is_queued_behind_the_longest(
    pytester: pytest.Pytester, chaos_dirs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make chaos` and `make test` rely on: with `--dist load --maxschedchunk 1` the worker that
    runs the longest test holds the quickest one next, not the second longest."""
    schedule.save(
        {
            "test_x.py::test_long": 300.0,
            "test_x.py::test_mid": 100.0,
            "test_x.py::test_a": 20.0,
            "test_x.py::test_b": 10.0,
            "test_x.py::test_quick1": 0.01,
            "test_x.py::test_quick2": 0.02,
        }
    )
    pytester.makepyfile(test_x=XDIST_TESTS)
    ran = pytester.path / "ran.txt"
    monkeypatch.setenv("RAN", str(ran))
    result = pytester.runpytest_subprocess(
        "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-n", "2", "--dist", "load", "--maxschedchunk", "1",
        "--reports-dir", str(pytester.path / "reports"),
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    per_worker: dict[str, list[str]] = {}
    for line in ran.read_text().splitlines():
        worker, name = line.split()
        per_worker.setdefault(worker, []).append(name)
    sequences = sorted(per_worker.values())
    assert [seq[:2] for seq in sequences] == [["long", "quick1"], ["mid", "quick2"]]


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


def test_figures_say_how_long_the_cluster_took_to_be_ready() -> None:
    figures = [schedule.ScenarioFigure("suites/a.py::t", 10.0, 9.0)]
    lines = schedule.format_figures(figures, run_seconds=80.0, boot_seconds=68.24)
    assert lines[-1] == "cluster ready in 68.2s (part of the run wall time)"
    assert not any("ready" in line for line in schedule.format_figures(figures, run_seconds=80.0))
