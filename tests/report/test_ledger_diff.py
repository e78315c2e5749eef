"""Comparing two claims ledgers, built through the real Ledger as the plugin writes them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness._cli import main
from harness._report.ledger import Ledger
from harness._report.ledger_diff import diff_ledgers, format_ledger_diff

T5 = "suites/test_c5.py::test_retry"
T9 = "suites/test_c9.py::test_gaps"


def ledger(
    version: str, *, retries_again: bool, gaps: list[float], extra_check: bool = False
) -> list[dict[str, Any]]:
    led = Ledger()
    rec = led.recorder
    rec.check("C5", "the operation ends Failed", claimed="Failed", observed="Failed", test=T5)
    rec.check("C5", "a later reconcile retries", claimed=True, observed=retries_again, test=T5)
    rec.check("C9", "heals are 5 s apart", claimed=True, observed=False, test=T9)
    if extra_check:
        rec.check("C9", "heals stop after the cap", claimed=True, observed=True, test=T9)
    rec.evidence("C9", "heal_gaps_s", gaps, test=T9)
    rec.evidence("C9", "controller_wait_seconds", 12.5, test=T9)
    rec.evidence("C9", "healed", True, test=T9)  # a bool is not a figure
    rec.evidence("C9", "timeline", {"operation_gaps_s": [1.0]}, test=T9)  # too long to show
    rec.evidence("C9", "loop", {"gaps_s": gaps, "label": "x"}, test=T9)
    for nodeid, claim in ((T5, "C5"), (T9, "C9")):
        led.record_test(claim, nodeid, "passed")
    return led.entries(version)


def test_same_behaviour_with_other_timings_is_no_change() -> None:
    diff = diff_ledgers(
        ledger("v3.6.0", retries_again=False, gaps=[2.1, 6.0]),
        ledger("v3.6.1", retries_again=False, gaps=[2.1, 6.0]),
    )
    assert not diff.changed
    assert diff.checks == []
    assert ("C5", "partial", "partial") in diff.verdicts
    assert [(c, p, b, a) for c, _, p, b, a in diff.figures] == [
        ("C9", "heal_gaps_s", [2.1, 6.0], [2.1, 6.0]),
        ("C9", "controller_wait_seconds", 12.5, 12.5),
        ("C9", "loop.gaps_s", [2.1, 6.0], [2.1, 6.0]),
    ]


def test_figures_that_differ_are_shown_but_not_a_change() -> None:
    diff = diff_ledgers(
        ledger("v3.6.0", retries_again=False, gaps=[2.1, 6.0]),
        ledger("v3.6.1", retries_again=False, gaps=[2.3, 6.1]),
    )
    assert not diff.changed
    text = format_ledger_diff(diff, "old", "new")
    assert "- C9 test_gaps heal_gaps_s: [2.1, 6.0] -> [2.3, 6.1]" in text
    assert text.endswith("No behaviour change.\n")


def test_a_flipped_check_changes_the_verdict_and_is_listed() -> None:
    diff = diff_ledgers(
        ledger("v3.6.0", retries_again=False, gaps=[2.0]),
        ledger("v3.6.1", retries_again=True, gaps=[2.0]),
    )
    assert diff.changed
    assert ("C5", "partial", "held") in diff.verdicts
    (change,) = diff.checks
    assert (change.claim, change.test, change.statement) == ("C5", T5, "a later reconcile retries")
    text = format_ledger_diff(diff, "reports-v3.6.0", "reports")
    assert text.startswith("Before: Argo CD v3.6.0 (reports-v3.6.0)\nAfter:  Argo CD v3.6.1 (reports)\n")
    assert re.search(r"^C5 +partial +held +<- changed$", text, re.MULTILINE)
    assert re.search(r"^C9 +disproved +disproved$", text, re.MULTILINE)
    assert "- C5 test_retry: a later reconcile retries" in text
    assert "    before: observed false (disagrees with claimed true)" in text
    assert "    after:  observed true (agrees with claimed true)" in text
    assert text.endswith("Behaviour changed.\n")


def test_a_check_recorded_in_one_run_only_is_a_change() -> None:
    diff = diff_ledgers(
        ledger("v3.6.0", retries_again=False, gaps=[2.0]),
        ledger("v3.6.1", retries_again=False, gaps=[2.0], extra_check=True),
    )
    assert diff.changed
    (change,) = diff.checks
    assert change.before is None
    assert change.after is not None
    assert "    before: not recorded" in format_ledger_diff(diff, "a", "b")


def test_a_claim_missing_from_one_ledger_is_absent() -> None:
    old = ledger("v3.6.0", retries_again=False, gaps=[2.0])
    new = [e for e in ledger("v3.6.1", retries_again=False, gaps=[2.0]) if e["id"] != "C11"]
    diff = diff_ledgers(old, new)
    assert ("C11", "not-run", "absent") in diff.verdicts
    assert diff.changed


# -- the command ------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, entries: list[dict[str, Any]]) -> Path:
    led_dir = tmp_path / name
    led_dir.mkdir()

    (led_dir / "claims.json").write_text(json.dumps(entries))
    return led_dir


@pytest.mark.parametrize(
    ("retries_again", "fail_on_change", "code"), [(False, True, 0), (True, False, 0), (True, True, 1)]
)
def test_claims_compare_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], retries_again: bool, fail_on_change: bool, code: int
) -> None:
    old = _write(tmp_path, "old", ledger("v3.6.0", retries_again=False, gaps=[2.0]))
    new = _write(tmp_path, "new", ledger("v3.6.1", retries_again=retries_again, gaps=[2.0]))
    argv = ["claims", "--reports", str(new), "--compare", str(old)]
    assert main([*argv, "--fail-on-change"] if fail_on_change else argv) == code
    out = capsys.readouterr().out
    assert out.startswith(f"Before: Argo CD v3.6.0 ({old})\n")
    assert ("Behaviour changed." in out) is retries_again


def test_fail_on_change_without_compare_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _write(tmp_path, "new", ledger("v3.6.1", retries_again=False, gaps=[2.0]))
    assert main(["claims", "--reports", str(new), "--fail-on-change"]) == 2
    assert "--fail-on-change needs --compare OLD_REPORTS" in capsys.readouterr().err


def test_compare_with_a_missing_ledger_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = _write(tmp_path, "new", ledger("v3.6.1", retries_again=False, gaps=[2.0]))
    assert main(["claims", "--reports", str(new), "--compare", str(tmp_path / "nope")]) != 0
    assert f"no claims ledger at {tmp_path / 'nope'}" in capsys.readouterr().err


# -- a gate with nothing to compare, and ledgers of the wrong shape (issue 10) -----------------------


def _not_run(version: str) -> list[dict[str, Any]]:
    return Ledger().entries(version)  # every claim present, none ran


def _only(claim: str, version: str) -> list[dict[str, Any]]:
    led = Ledger()
    led.recorder.check(claim, "s", claimed=1, observed=1, test=f"suites/t.py::test_{claim}")
    led.record_test(claim, f"suites/t.py::test_{claim}", "passed")
    return led.entries(version)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (_not_run("v3.6.0"), _not_run("v3.6.1")),  # both ledgers list every claim, all not-run
        ([], []),  # two empty ledgers
    ],
    ids=["all-not-run", "empty"],
)
def test_fail_on_change_fails_when_there_was_nothing_to_compare(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
) -> None:
    old, new = _write(tmp_path, "old", before), _write(tmp_path, "new", after)
    argv = ["claims", "--reports", str(new), "--compare", str(old)]
    assert not diff_ledgers(before, after).changed  # nothing differs, because nothing ran

    assert main([*argv, "--fail-on-change"]) == 1

    captured = capsys.readouterr()
    assert captured.out.endswith("Nothing to compare: no claim ran in both runs.\n")
    assert captured.err == (
        f"argocd-chaos: error: --fail-on-change: nothing to compare, no claim ran in both {old} and {new}; "
        "a gate cannot pass without evidence: run the suites on both releases\n"
    )
    # Without the gate it is a report, not an error.
    assert main(argv) == 0


def test_claims_that_ran_on_one_side_only_are_a_change_not_nothing() -> None:
    diff = diff_ledgers(_only("C1", "v3.6.0"), _only("C2", "v3.6.1"))
    assert diff.compared == []
    assert diff.changed
    assert format_ledger_diff(diff, "old", "new").endswith("Behaviour changed.\n")


def test_a_gate_over_one_common_claim_passes() -> None:
    diff = diff_ledgers(_only("C1", "v3.6.0"), _only("C1", "v3.6.1"))
    assert diff.compared == ["C1"]
    assert not diff.changed


@pytest.mark.parametrize("side", ["old", "new"])
@pytest.mark.parametrize("checks", ["abc", 5])
def test_compare_with_a_ledger_of_the_wrong_shape_is_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], side: str, checks: object
) -> None:
    good = ledger("v3.6.1", retries_again=False, gaps=[2.0])
    bad = [{**good[0], "checks": checks}, *good[1:]]
    old = _write(tmp_path, "old", bad if side == "old" else good)
    new = _write(tmp_path, "new", bad if side == "new" else good)

    code = main(["claims", "--reports", str(new), "--compare", str(old), "--fail-on-change"])

    assert code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    broken = (old if side == "old" else new) / "claims.json"
    assert captured.err.startswith(
        f"argocd-chaos: error: {broken} is not a claims ledger: claim C1 (entry 1): field `checks`: "
    )
    assert captured.err.count("\n") == 1


def test_claims_compare_also_names_known_bugs_that_appear_and_gates_on_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = _write(tmp_path, "old", ledger("v3.6.0", retries_again=False, gaps=[2.0]))
    new = _write(tmp_path, "new", ledger("v3.6.1", retries_again=False, gaps=[2.0]))
    for reports, release, verdict in ((old, "v3.6.0", "not reproduced"), (new, "v3.6.1", "reproduced")):
        folder = reports / "incidents" / release
        folder.mkdir(parents=True)
        row = {"id": "9830-x", "upstream": 9830, "title": "hook-only commit", "verdict": verdict}
        (folder / "summary.json").write_text(json.dumps({"release": release, "incidents": [row]}))
    argv = ["claims", "--reports", str(new), "--compare", str(old)]

    assert main(argv) == 0
    assert (
        "#9830 hook-only commit: not reproduced on v3.6.0 → reproduced on v3.6.1" in capsys.readouterr().out
    )
    assert main([*argv, "--fail-on-change"]) == 1  # a known bug that comes back fails the upgrade gate


RACE = "argoproj/argo-cd#29100"
T12 = "suites/test_c12.py::test_blocked"


def raced_ledger(version: str, *, blocked: bool, also_retries: bool = False) -> list[dict[str, Any]]:
    """C12 with one check a known race decides, and C5 whose check flips only when asked."""
    led = Ledger()
    rec = led.recorder
    rec.check("C12", "the deletion is blocked", claimed=True, observed=blocked, test=T12, race=RACE)
    rec.check("C12", "the hook is left", claimed=True, observed=True, test=T12)
    rec.check("C5", "a later reconcile retries", claimed=True, observed=also_retries, test=T5)
    for nodeid, claim in ((T12, "C12"), (T5, "C5")):
        led.record_test(claim, nodeid, "passed")
    return led.entries(version)


def test_a_raced_check_that_differs_is_shown_apart_and_not_a_change() -> None:
    diff = diff_ledgers(raced_ledger("v3.6.1", blocked=True), raced_ledger("v3.6.1", blocked=False))
    assert diff.checks == []
    (raced,) = diff.raced
    assert (raced.claim, raced.statement, raced.race) == ("C12", "the deletion is blocked", RACE)
    assert ("C12", "held", "partial") in diff.verdicts
    assert not diff.verdict_changed("C12")
    assert not diff.changed
    text = format_ledger_diff(diff, "serial", "parallel")
    assert re.search(r"^C12 +held +partial +<- differs \(raced checks only\)$", text, re.MULTILINE)
    assert "- C12 test_blocked: the deletion is blocked [argoproj/argo-cd#29100]" in text
    assert "Every check not decided by a known race observed the same in both runs." in text
    assert text.endswith("No behaviour change.\n")


def test_a_raced_check_does_not_hide_a_real_change_beside_it() -> None:
    diff = diff_ledgers(
        raced_ledger("v3.6.0", blocked=True), raced_ledger("v3.6.1", blocked=False, also_retries=True)
    )
    assert [c.statement for c in diff.checks] == ["a later reconcile retries"]
    assert [c.statement for c in diff.raced] == ["the deletion is blocked"]
    assert diff.changed
    assert format_ledger_diff(diff, "a", "b").endswith("Behaviour changed.\n")


def test_the_race_is_kept_through_a_worker_export_and_in_the_ledger_file() -> None:
    worker = Ledger()
    worker.recorder.check("C12", "the deletion is blocked", claimed=True, observed=False, test=T12, race=RACE)
    worker.recorder.check("C12", "the hook is left", claimed=True, observed=True, test=T12)
    led = Ledger()
    led.recorder.merge(worker.recorder.export())
    led.record_test("C12", T12, "passed")
    (entry,) = [e for e in led.entries("v3.6.1") if e["id"] == "C12"]
    races = {c["statement"]: c.get("race") for c in entry["checks"]}
    assert races == {"the deletion is blocked": RACE, "the hook is left": None}


def test_a_raced_check_that_becomes_applicable_is_a_change() -> None:
    old = Ledger()
    old.recorder.not_applicable(
        "C12", "the deletion is blocked", reason="PreDelete exists from v3.3.0", test=T12
    )
    old.record_test("C12", T12, "passed")
    new = Ledger()
    new.recorder.check("C12", "the deletion is blocked", claimed=True, observed=False, test=T12, race=RACE)
    new.record_test("C12", T12, "passed")
    diff = diff_ledgers(old.entries("v3.2.11"), new.entries("v3.4.7"))
    assert [c.statement for c in diff.checks] == ["the deletion is blocked"]
    assert diff.raced == []
    assert diff.verdict_changed("C12")
    assert diff.changed
