"""The claims side of the plugin: the `claim` marker and fixture, the ledger and the reports it writes.

Exercised through inner pytest runs (pytester) that never touch a cluster.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness import __version__
from harness._cli import main
from harness._report.ledger import CLAIMS

pytest_plugins = ["pytester"]

# The inner runs have no pyproject of ours, so they do what our addopts do.
BASE_ARGS = ("-p", "no:pytest-kind", "-p", "no:cacheprovider")

CLAIM_TESTS = """
import pytest


@pytest.mark.claim("C1")
def test_c1(claim):
    assert claim.check("the operation ends Failed", claimed="Failed", observed="Failed")
    assert not claim.check("no hook runs again", claimed=0, observed=2)
    claim.evidence("phase", "Failed")


@pytest.mark.claim("C2")
@pytest.mark.skip(reason="needs a second revision")
def test_c2_skipped_by_marker(claim):
    raise AssertionError("never runs")


@pytest.mark.claim("C3")
def test_c3_skipped_after_a_check(claim):
    claim.check("recorded before the skip", claimed=1, observed=1)
    pytest.skip("the cluster cannot show this")


def test_plain():
    assert 1 + 1 == 2
"""


@dataclass(frozen=True)
class Outputs:
    reports: Path
    junit: Path
    allure: Path

    def ledger(self) -> dict[str, dict[str, Any]]:
        entries = json.loads((self.reports / "claims.json").read_text())
        return {e["id"]: e for e in entries}


@pytest.fixture(autouse=True)
def _no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ARGOCD_CHAOS_CLUSTER", "ARGOCD_CHAOS_ARGOCD_VERSION"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def outputs(pytester: pytest.Pytester) -> Outputs:
    base = pytester.path / "out"
    return Outputs(reports=base / "reports", junit=base / "junit.xml", allure=base / "allure")


def run(pytester: pytest.Pytester, out: Outputs, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        *BASE_ARGS,
        "--reports-dir",
        str(out.reports),
        "--junitxml",
        str(out.junit),
        "--alluredir",
        str(out.allure),
        *args,
    )


@pytest.fixture
def claim_run(pytester: pytest.Pytester, outputs: Outputs) -> pytest.RunResult:
    pytester.makepyfile(test_claims=CLAIM_TESTS)
    result = run(pytester, outputs)
    result.assert_outcomes(passed=2, skipped=2)
    return result


def test_ledger_json(claim_run: pytest.RunResult, outputs: Outputs) -> None:
    claim_run.stdout.fnmatch_lines([f"argocd-chaos: claims ledger written to {outputs.reports}/claims.json*"])
    ledger = outputs.ledger()

    c1 = ledger["C1"]
    assert c1["verdict"] == "partial"
    assert c1["title"] == CLAIMS["C1"]
    assert c1["argocd_version"] == "unknown"  # no cluster, so no Argo CD version
    assert c1["tests"] == [{"nodeid": "test_claims.py::test_c1", "outcome": "passed"}]
    assert [(c["statement"], c["claimed"], c["observed"], c["agrees"]) for c in c1["checks"]] == [
        ("the operation ends Failed", "Failed", "Failed", True),
        ("no hook runs again", 0, 2, False),
    ]
    assert {c["test"] for c in c1["checks"]} == {"test_claims.py::test_c1"}
    assert c1["evidence"] == {"test_claims.py::test_c1": {"phase": "Failed"}}

    c2 = ledger["C2"]
    assert c2["verdict"] == "not-run"
    assert c2["tests"] == [{"nodeid": "test_claims.py::test_c2_skipped_by_marker", "outcome": "skipped"}]
    assert c2["checks"] == []

    # A check recorded before a skip does not make the claim run.
    c3 = ledger["C3"]
    assert c3["verdict"] == "not-run"
    assert c3["tests"] == [{"nodeid": "test_claims.py::test_c3_skipped_after_a_check", "outcome": "skipped"}]
    assert [c["agrees"] for c in c3["checks"]] == [True]

    assert list(ledger) == list(CLAIMS)
    for n in range(4, 12):
        entry = ledger[f"C{n}"]
        assert (entry["verdict"], entry["tests"], entry["checks"], entry["evidence"]) == (
            "not-run",
            [],
            [],
            {},
        )


def test_ledger_markdown(claim_run: pytest.RunResult, outputs: Outputs) -> None:
    md = (outputs.reports / "claims.md").read_text()
    lines = md.splitlines()

    assert lines[0] == "# Claims ledger"
    assert f"held 0, partial 1, disproved 0, not-run {len(CLAIMS) - 1}" in lines
    assert f"| C1: {CLAIMS['C1']} | partial | unknown | 1/2 checks agree, 1 test |" in lines
    assert f"| C2: {CLAIMS['C2']} | not-run | unknown | 0/0 checks agree, 1 test |" in lines
    assert f"| C11: {CLAIMS['C11']} | not-run | unknown | 0/0 checks agree, 0 tests |" in lines
    assert "- `test_claims.py::test_c1`: passed" in lines
    assert any(line.startswith("- ✘ no hook runs again: claimed `0`, observed `2`") for line in lines)


def test_junit_xml(claim_run: pytest.RunResult, outputs: Outputs) -> None:
    root = ET.parse(outputs.junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None

    cases = suite.findall("testcase")
    assert sorted(c.get("name", "") for c in cases) == [
        "test_c1",
        "test_c2_skipped_by_marker",
        "test_c3_skipped_after_a_check",
        "test_plain",
    ]
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "4",
        "0",
        "0",
        "2",
    )
    skipped = sorted(c.get("name", "") for c in cases if c.find("skipped") is not None)
    assert skipped == ["test_c2_skipped_by_marker", "test_c3_skipped_after_a_check"]


def test_allure_results(claim_run: pytest.RunResult, outputs: Outputs) -> None:
    results = [json.loads(p.read_text()) for p in sorted(outputs.allure.glob("*-result.json"))]

    # Claim tests are titled by their claim (see test_allure_claims.py); other tests keep their names.
    assert sorted((r["name"], r["status"]) for r in results) == [
        ("C1: c1", "passed"),
        ("C2: c2 skipped by marker", "skipped"),
        ("C3: c3 skipped after a check", "skipped"),
        ("test_plain", "passed"),
    ]
    env = (outputs.allure / "environment.properties").read_text().splitlines()
    assert f"harness={__version__}" in env
    assert "provider=embedded" in env
    assert all(re.fullmatch(r"[\w.]+=.*", line) for line in env), env


def test_failing_claim_test_keeps_its_checks(pytester: pytest.Pytester, outputs: Outputs) -> None:
    pytester.makepyfile(
        test_failing="""
        import pytest


        @pytest.mark.claim("C4")
        def test_c4(claim):
            claim.check("SyncFail hook runs", claimed=True, observed=True)
            claim.evidence("hook_phase", "Succeeded")
            raise RuntimeError("the cluster went away")
        """
    )
    result = run(pytester, outputs)

    result.assert_outcomes(failed=1)
    c4 = outputs.ledger()["C4"]
    assert c4["tests"] == [{"nodeid": "test_failing.py::test_c4", "outcome": "failed"}]
    assert [(c["statement"], c["agrees"]) for c in c4["checks"]] == [("SyncFail hook runs", True)]
    assert c4["evidence"] == {"test_failing.py::test_c4": {"hook_phase": "Succeeded"}}
    # The verdict comes from the checks, not from the unrelated failure.
    assert c4["verdict"] == "held"
    root = ET.parse(outputs.junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("1", "1")


def test_claim_fixture_without_a_marker_is_an_error(pytester: pytest.Pytester, outputs: Outputs) -> None:
    pytester.makepyfile(
        test_unmarked="""
        def test_forgot_the_marker(claim):
            claim.check("anything", claimed=1, observed=1)
        """
    )
    result = run(pytester, outputs)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_forgot_the_marker*",
            "*test_unmarked.py::test_forgot_the_marker: the `claim` fixture needs exactly one claim marker*",
        ]
    )


def test_claim_fixture_with_two_markers_is_an_error(pytester: pytest.Pytester, outputs: Outputs) -> None:
    pytester.makepyfile(
        test_two="""
        import pytest


        @pytest.mark.claim("C1")
        @pytest.mark.claim("C2")
        def test_two_claims(claim):
            pass
        """
    )
    result = run(pytester, outputs)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the `claim` fixture needs exactly one claim marker*"])
    # Nothing was observed, so the previous ledger (here: none) is left as it was.
    result.stdout.fnmatch_lines(["argocd-chaos: no claim test ran; the ledger in * is left as it was"])
    assert not (outputs.reports / "claims.json").exists()


def test_cli_prints_the_ledger_of_a_run(
    claim_run: pytest.RunResult, outputs: Outputs, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()

    assert main(["claims", "--reports", str(outputs.reports)]) == 0

    out = capsys.readouterr().out.rstrip("\n").splitlines()
    assert re.fullmatch(r"Claim +Verdict +Argo CD +Checks +Title", out[0])
    assert re.fullmatch(r"-+ +-+ +-+ +-+ +-+", out[1])
    rows = {line.split()[0]: line for line in out[2:] if line.startswith("C")}
    assert list(rows) == list(CLAIMS)
    assert re.fullmatch(
        rf"C1 +partial +unknown +1/2 checks agree, 1 test +{re.escape(CLAIMS['C1'])}", rows["C1"]
    )
    assert re.fullmatch(
        rf"C3 +not-run +unknown +1/1 checks agree, 1 test +{re.escape(CLAIMS['C3'])}", rows["C3"]
    )
    assert out[-1] == f"held 0, partial 1, disproved 0, not-run {len(CLAIMS) - 1}"
