"""Claims in the Allure results: read back from the files allure-pytest writes for an inner run.

The results are what Allure's report is made from, so they are checked as Allure will read them:
labels, title, description, link, steps, attachments, status message, categories and the run's
global attachments.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness._report.allure_claims import CATEGORIES, page_link
from harness._report.claim_texts import CLAIM_TEXTS
from harness._report.ledger import CLAIMS

pytest_plugins = ["pytester"]

BASE_ARGS = ("-p", "no:pytest-kind", "-p", "no:cacheprovider")

TESTS = """
import pytest


@pytest.mark.claim("C1")
def test_presync_failure(claim):
    assert claim.check("the operation ends Failed", claimed="Failed", observed="Failed")
    assert not claim.check("no hook runs again", claimed=0, observed=2)
    claim.evidence("operation", {"phase": "Failed"})


@pytest.mark.claim("C9")
@pytest.mark.parametrize("drifts", [4])
def test_gaps_between_heals(claim, drifts):
    \"\"\"Drift right after each heal.\"\"\"
    assert not claim.check("5 s apart", claimed="constant, about 5 s", observed="growing with each one")
    claim.evidence("gaps_between_heals_s", [2.1, 6.2, 18.3])


@pytest.mark.claim("C8")
def test_all_agree(claim):
    assert claim.check("nothing to see", claimed=1, observed=1)


@pytest.mark.claim("C2")
def test_breaks_after_a_disagreeing_check(claim):
    claim.check("half applied", claimed=True, observed=False)
    raise AssertionError("the cluster went away")


@pytest.mark.claim("C99")
def test_a_claim_added_later(claim):
    claim.check("new", claimed=1, observed=2)


@pytest.mark.claim("C10")
def test_a_credential_in_what_was_observed(claim):
    url = "postgres://app:s3cretpw@db/app"
    claim.check(f"the controller reports {url}", claimed="nothing", observed={"error": f"dial {url}"})
    claim.evidence("log", "GET /api Authorization: Bearer abc.def.s3cretpw")


def test_plain():
    pass
"""


@dataclass(frozen=True)
class Results:
    dir: Path
    reports: Path

    def tests(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in self.dir.glob("*-result.json"):
            result = json.loads(path.read_text())
            out[result["fullName"].split("#")[-1]] = result
        return out

    def attachment(self, result: dict[str, Any], name: str) -> str:
        (source,) = [a["source"] for a in result.get("attachments", []) if a["name"] == name]
        return (self.dir / source).read_text()


def labels(result: dict[str, Any], name: str) -> list[str]:
    return [label["value"] for label in result["labels"] if label["name"] == name]


@pytest.fixture
def results(pytester: pytest.Pytester) -> Results:
    pytester.makepyfile(test_claims=TESTS)
    out = Results(pytester.path / "out" / "allure-results", pytester.path / "out" / "reports")
    run = pytester.runpytest(*BASE_ARGS, "--reports-dir", str(out.reports), "--alluredir", str(out.dir))
    run.assert_outcomes(passed=6, failed=1)
    return out


def test_every_claim_test_carries_its_claim(results: Results) -> None:
    tests = results.tests()
    c1, c9 = tests["test_presync_failure"], tests["test_gaps_between_heals"]

    assert labels(c1, "epic") == ["Claims: Phase failures"]
    assert labels(c1, "feature") == [f"C1: {CLAIMS['C1']}"]
    assert labels(c1, "story") == ["presync failure"]
    assert labels(c1, "claim") == ["C1"]
    assert c1["name"] == "C1: presync failure"
    assert CLAIM_TEXTS["C1"].statement in c1["description"]
    assert c1["links"] == [
        {
            "type": "link",
            "url": "../reports/claims.html#C1",
            "name": "C1: the claim, its verdict and evidence",
        }
    ]

    assert labels(c9, "epic") == ["Claims: Self-heal"]
    assert c9["name"] == "C9: gaps between heals [4]"
    assert "Drift right after each heal." in c9["description"]
    # A claim that is in no list yet is still labelled, with its id.
    c12 = tests["test_a_claim_added_later"]
    assert (labels(c12, "epic"), labels(c12, "feature")) == (["Claims: Other claims"], ["C99: C99"])
    assert "claim" not in {label["name"] for label in tests["test_plain"]["labels"]}
    assert tests["test_plain"]["name"] == "test_plain"


def test_each_check_is_a_step(results: Results) -> None:
    c1 = results.tests()["test_presync_failure"]

    assert [(s["name"], s["status"]) for s in c1["steps"]] == [
        ("agrees: the operation ends Failed: claimed Failed, observed Failed", "passed"),
        ("disagrees: no hook runs again: claimed 0, observed 2", "passed"),
    ]


def test_no_result_file_carries_a_credential(results: Results) -> None:
    """Steps, attachments and status messages redact credentials inside values, as the ledger does."""
    step = results.tests()["test_a_credential_in_what_was_observed"]["steps"][0]["name"]
    assert "postgres://app:***@db/app" in step
    leaked = [p.name for p in results.dir.iterdir() if "s3cretpw" in p.read_text(errors="replace")]
    assert leaked == []


def test_evidence_and_checks_are_attached_to_every_claim_test(results: Results) -> None:
    tests = results.tests()

    for name in (
        "test_presync_failure",
        "test_gaps_between_heals",
        "test_all_agree",
        "test_a_claim_added_later",
    ):
        names = [a["name"] for a in tests[name].get("attachments", [])]
        assert any(n.endswith(" evidence") for n in names), (name, names)
    c1 = tests["test_presync_failure"]
    assert json.loads(results.attachment(c1, "C1 evidence")) == {"operation": {"phase": "Failed"}}
    table = list(csv.reader(io.StringIO(results.attachment(c1, "C1 checks: claimed against observed"))))
    assert table == [
        ["check", "claimed", "observed", "agrees"],
        ["the operation ends Failed", "Failed", "Failed", "yes"],
        ["no hook runs again", "0", "2", "no"],
    ]
    assert json.loads(results.attachment(tests["test_all_agree"], "C8 evidence")) == {}
    # The failed test gets its attachments too: it is the one people open first.
    assert "C2 evidence" in [a["name"] for a in tests["test_breaks_after_a_disagreeing_check"]["attachments"]]


def test_a_disproving_test_says_so_and_a_failure_keeps_its_message(results: Results) -> None:
    tests = results.tests()

    c9 = tests["test_gaps_between_heals"]
    assert c9["status"] == "passed"
    assert c9["statusDetails"]["message"] == (
        "Claim C9 disproved: 5 s apart: claimed constant, about 5 s, observed growing with each one"
    )
    assert labels(c9, "claim verdict") == ["C9 disproved"]
    c1 = tests["test_presync_failure"]
    assert c1["statusDetails"]["message"].startswith(
        "Claim C1 partly held, 1 of 2 checks disagree: no hook runs"
    )
    assert "statusDetails" not in tests["test_all_agree"]
    assert labels(tests["test_all_agree"], "claim verdict") == ["C8 held"]
    broken = tests["test_breaks_after_a_disagreeing_check"]
    assert broken["status"] == "failed"
    assert broken["statusDetails"]["message"].startswith("AssertionError: the cluster went away")


def test_categories_turn_those_messages_into_verdicts(results: Results) -> None:
    categories = json.loads((results.dir / "categories.json").read_text())
    config = json.loads((results.dir / "allurerc.json").read_text())

    assert categories == CATEGORIES
    assert config["categories"]["rules"] == CATEGORIES
    assert config["plugins"]["awesome"]["options"]["groupBy"] == ["epic", "feature", "story"]
    tests = results.tests()
    by_name = {c["name"]: c for c in categories}
    disproved = re.compile(by_name["Claim disproved"]["messageRegex"])
    partly = re.compile(by_name["Claim partly held"]["messageRegex"])
    # Allure 2 matches the whole message, Allure 3 searches it: both must see the same.
    assert disproved.fullmatch(tests["test_gaps_between_heals"]["statusDetails"]["message"])
    assert partly.fullmatch(tests["test_presync_failure"]["statusDetails"]["message"])
    assert not disproved.search(tests["test_presync_failure"]["statusDetails"]["message"])
    assert not partly.search(tests["test_breaks_after_a_disagreeing_check"]["statusDetails"]["message"])


def test_the_ledger_and_the_page_are_attached_to_the_run(results: Results) -> None:
    globals_ = [json.loads(p.read_text()) for p in results.dir.glob("*-globals.json")]
    attachments = {a["name"]: a for g in globals_ for a in g.get("attachments", [])}

    ledger = attachments["claims ledger (claims.md)"]
    assert ledger["type"] == "text/markdown"
    assert (results.dir / ledger["source"]).read_text() == (results.reports / "claims.md").read_text()
    page = attachments["claims page (claims.html)"]
    assert page["type"] == "text/html"
    assert (results.dir / page["source"]).read_text() == (results.reports / "claims.html").read_text()


def test_without_allure_nothing_of_it_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_claims=TESTS)
    run = pytester.runpytest(*BASE_ARGS, "--reports-dir", "reports")

    run.assert_outcomes(passed=6, failed=1)
    assert sorted(p.name for p in (pytester.path / "reports").iterdir()) == [
        "claims.html",
        "claims.json",
        "claims.md",
    ]


@pytest.mark.parametrize(
    ("reports", "alluredir", "link"),
    [
        ("reports", "reports/allure-results", "../claims.html"),
        ("out", "elsewhere/results", "../../out/claims.html"),
    ],
)
def test_the_link_is_relative_to_the_html_report(
    tmp_path: Path, reports: str, alluredir: str, link: str
) -> None:
    assert page_link(tmp_path / reports, tmp_path / alluredir) == link
