"""The claims matrix over several releases, and checks a release cannot have."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._cli import main
from harness._errors import ConfigError
from harness._report.claims_plugin import ClaimContext, release_at_least
from harness._report.ledger import ClaimRecorder, Ledger, derive_verdict, load_ledger
from harness._report.matrix import assemble_matrix, format_matrix_markdown, load_runs, write_matrix

T4 = "suites/test_c4_syncfail.py::test_syncfail_failure"
T9 = "suites/test_c9_selfheal_rate.py::test_gaps"
T5 = "suites/test_c5_after_failure.py::test_retry_refresh"


def run(reports: Path, release: str, *, gaps: str, message: str, refresh: bool) -> None:
    """Write one release's ledger as a suite run would."""
    ledger = Ledger()
    r = ledger.recorder
    r.check("C4", "SyncFail's failure is reported", claimed="x", observed=message, test=T4)
    r.check("C9", "the gaps are constant near 5 s", claimed="constant", observed=gaps, test=T9)
    r.evidence("C9", "selfheal_gap_seconds", [5.0, 5.1] if gaps == "constant" else [5.0, 10.0], test=T9)
    ctx = ClaimContext("C5", T5, r)
    if ctx.requires_release(
        "a retry refreshes first", running=release, since="v3.2.0", feature="retry.refresh"
    ):
        r.check("C5", "a retry refreshes first", claimed=True, observed=refresh, test=T5)
    for cid, test in (("C4", T4), ("C9", T9), ("C5", T5)):
        ledger.record_test(cid, test, "passed")
    ledger.write(reports / release, release)


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    run(tmp_path, "v3.6.1", gaps="growing", message="x", refresh=True)
    run(tmp_path, "v2.14.21", gaps="constant", message="x", refresh=False)
    run(tmp_path, "v3.2.11", gaps="constant", message="y", refresh=True)
    return tmp_path


def test_matrix_orders_releases_and_lists_verdicts(reports: Path) -> None:
    m = assemble_matrix(load_runs(reports))

    assert m["releases"] == ["v2.14.21", "v3.2.11", "v3.6.1"]
    assert m["claims"]["C9"] == {"v2.14.21": "held", "v3.2.11": "held", "v3.6.1": "disproved"}
    assert m["claims"]["C5"] == {"v2.14.21": "not-applicable", "v3.2.11": "held", "v3.6.1": "held"}
    assert m["claims"]["C1"] == {"v2.14.21": "not-run", "v3.2.11": "not-run", "v3.6.1": "not-run"}


def test_matrix_changes_are_the_adjacent_ledger_diffs(reports: Path) -> None:
    changes = assemble_matrix(load_runs(reports))["changes"]

    assert {
        "from": "v2.14.21",
        "to": "v3.2.11",
        "claim": "C4",
        "check": "test_syncfail_failure: SyncFail's failure is reported",
        "before": "x",
        "after": "y",
    } in changes
    assert {
        "from": "v3.2.11",
        "to": "v3.6.1",
        "claim": "C9",
        "check": "test_gaps: the gaps are constant near 5 s",
        "before": "constant",
        "after": "growing",
    } in changes
    refresh = [c for c in changes if c["claim"] == "C5" and c["check"] != "verdict"]
    assert refresh == [
        {
            "from": "v2.14.21",
            "to": "v3.2.11",
            "claim": "C5",
            "check": "test_retry_refresh: a retry refreshes first",
            "before": {"not applicable": "retry.refresh exists from Argo CD v3.2.0; this run is on v2.14.21"},
            "after": True,
        }
    ]
    assert {
        "from": "v2.14.21",
        "to": "v3.2.11",
        "claim": "C5",
        "check": "verdict",
        "before": "not-applicable",
        "after": "held",
    } in changes


def test_matrix_keeps_not_applicable_reasons_and_figures(reports: Path) -> None:
    m = assemble_matrix(load_runs(reports))

    assert m["not_applicable"] == {
        "v2.14.21": [
            {
                "claim": "C5",
                "check": "test_retry_refresh: a retry refreshes first",
                "reason": "retry.refresh exists from Argo CD v3.2.0; this run is on v2.14.21",
            }
        ]
    }
    assert m["figures"]["v2.14.21"]["C9"] == {"test_gaps selfheal_gap_seconds": [5.0, 5.1]}
    assert m["figures"]["v3.6.1"]["C9"] == {"test_gaps selfheal_gap_seconds": [5.0, 10.0]}
    md = format_matrix_markdown(m)
    assert "| Claim | v2.14.21 | v3.2.11 | v3.6.1 |" in md
    assert "| C5 | not-applicable | held | held |" in md
    assert "### v3.2.11 → v3.6.1" in md
    assert "- v2.14.21 C5 test_retry_refresh: a retry refreshes first: retry.refresh exists from" in md
    assert "| C9 | test_gaps selfheal_gap_seconds | [5.0, 5.1] | [5.0, 5.1] | [5.0, 10.0] |" in md


def test_cli_claims_matrix_writes_and_prints(reports: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["claims", "--matrix", str(reports)]) == 0

    out = capsys.readouterr().out
    assert out.startswith("# Claims matrix\n")
    written = json.loads((reports / "matrix.json").read_text())
    assert written["releases"] == ["v2.14.21", "v3.2.11", "v3.6.1"]
    assert (reports / "matrix.md").read_text() == out


def test_matrix_of_an_empty_folder_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["claims", "--matrix", str(tmp_path)]) == 2
    assert "no per-release ledgers under" in capsys.readouterr().err
    assert not (tmp_path / "matrix.json").exists()


def test_write_matrix_with_one_release(tmp_path: Path) -> None:
    run(tmp_path, "v3.6.1", gaps="growing", message="x", refresh=True)
    _, md, m = write_matrix(tmp_path)
    assert m["changes"] == []
    assert "One release only: nothing to compare." in md.read_text()


def test_a_not_applicable_check_counts_toward_no_verdict() -> None:
    r = ClaimRecorder()
    r.not_applicable("C5", "a retry refreshes first", reason="needs v3.2", test="t")
    assert derive_verdict(r.checks("C5"), {"t": "passed"}) == "not-applicable"
    r.check("C5", "the operation ends Failed", claimed="Failed", observed="Failed", test="t")
    assert derive_verdict(r.checks("C5"), {"t": "passed"}) == "held"
    with pytest.raises(ValueError, match="needs the reason"):
        r.not_applicable("C5", "x", reason=" ", test="t")


def test_ledger_records_reason_and_markdown_shows_it(tmp_path: Path) -> None:
    ledger = Ledger()
    ledger.recorder.not_applicable("C5", "a retry refreshes first", reason="needs v3.2", test="t")
    ledger.record_test("C5", "t", "passed")
    _, md = ledger.write(tmp_path, "v2.14.21")
    c5 = next(e for e in load_ledger(tmp_path) if e["id"] == "C5")
    assert c5["checks"][0]["applicable"] is False
    assert c5["checks"][0]["reason"] == "needs v3.2"
    assert "- – a retry refreshes first: not applicable: needs v3.2" in md.read_text()


@pytest.mark.parametrize(
    ("running", "since", "expected"),
    [
        ("v3.2.0", "v3.2.0", True),
        ("v3.1.16", "v3.2.0", False),
        ("v3.4.7-7b6113c14c81", "v3.2.0", True),
        ("v3.6.0-rc2", "v3.6.0", True),
        ("v2.14.21", "v3.0.0", False),
    ],
)
def test_release_at_least(running: str, since: str, expected: bool) -> None:
    assert release_at_least(running, since) is expected


def test_release_at_least_rejects_a_name_that_is_no_release() -> None:
    with pytest.raises(ConfigError, match="cannot tell which release 'main'"):
        release_at_least("main", "v3.2.0")


def test_the_claims_page_reads_the_matrix_make_matrix_writes(reports: Path) -> None:
    from harness._report.html import load_matrix, write_claims_page

    write_matrix(reports)
    m = load_matrix(reports)
    assert m.releases == ("v2.14.21", "v3.2.11", "v3.6.1")
    page = write_claims_page(reports).read_text()
    assert "v2.14.21" in page
    assert "not-applicable" in page


def test_a_raced_check_is_listed_apart_from_the_changes(tmp_path: Path) -> None:
    t12 = "suites/test_c12_predelete.py::test_blocked"
    for release, blocked in (("v3.5.1", True), ("v3.6.1", False)):
        ledger = Ledger()
        ledger.recorder.check(
            "C12", "the deletion is blocked", claimed=True, observed=blocked, test=t12, race="argo-cd#29100"
        )
        ledger.record_test("C12", t12, "passed")
        ledger.write(tmp_path / release, release)
    m = assemble_matrix(load_runs(tmp_path))

    assert m["changes"] == []
    assert [(c["claim"], c["check"], c["before"], c["after"], c.get("race")) for c in m["raced"]] == [
        ("C12", "verdict", "held", "disproved", None),
        ("C12", "test_blocked: the deletion is blocked", True, False, "argo-cd#29100"),
    ]
    text = format_matrix_markdown(m)
    assert "Observed differently where a known controller race decides (not counted as a change):" in text
    assert "- C12 test_blocked: the deletion is blocked [argo-cd#29100]: `true` → `false`" in text
