"""Claims in the Allure report, through allure-pytest's own API.

Every claim test carries its claim: labels (epic: the claims group, feature: the claim's id and
title, story: the scenario, plus a ``claim`` label), a title that starts with the claim id, the
claim's text as description, and a link to the claim's section of ``claims.html``. Each check is a
step that reads "claimed X, observed Y, agrees/disagrees"; every test gets its checks as a table and
its evidence as JSON, pass or fail; the run gets the ledger and the page as global attachments.

A test of a disproved claim passes (it asserts what the controller really did), so Allure would file
it under "passed" and nothing more. :class:`VerdictMessages` gives such a test a status message
("Claim C9 disproved: ...") when allure-commons reports its result, and ``categories.json`` (the
Allure results-directory file for custom categories) turns that message into a "Claim disproved"
category on the overview, beside the product defects. A failed test keeps its failure message.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import allure
import allure_commons
import pytest
from allure_commons.model2 import StatusDetails

from harness._redact import redact_text
from harness._report.claim_texts import claim_text
from harness._report.ledger import CLAIMS, Check, Ledger, derive_verdict, to_json

__all__ = [
    "ALLURE3_CONFIG",
    "CATEGORIES",
    "CLAIM_LABEL",
    "VERDICT_LABEL",
    "VerdictMessages",
    "attach_run",
    "label_test",
    "page_link",
    "report_test",
    "step_for_check",
    "title_for",
    "write_categories",
]

CLAIM_LABEL = "claim"
#: This test's own verdict on its claim (from its checks alone); the claim's verdict is in the ledger.
VERDICT_LABEL = "claim verdict"
_EPIC_PREFIX = "Claims: "
_MAX_VALUE = 160

#: Custom categories, matched on the message VerdictMessages sets; a full-string match in Allure 2,
#: a search in Allure 3, so each pattern is written to work as both.
CATEGORIES: list[dict[str, Any]] = [
    {
        "name": "Claim disproved",
        "description": "The test passed: it asserts what the controller did, and none of its checks "
        "agreed with the claim.",
        "matchedStatuses": ["passed"],
        "messageRegex": r"Claim \S+ disproved: .*",
    },
    {
        "name": "Claim partly held",
        "description": "The test passed; some of its checks agreed with the claim and some did not.",
        "matchedStatuses": ["passed"],
        "messageRegex": r"Claim \S+ partly held.*",
    },
]


def _short(value: object) -> str:
    """One line of at most _MAX_VALUE characters, credentials redacted (a step title is a report too)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = redact_text(" ".join(text.split()))
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def page_link(reports_dir: Path, alluredir: Path) -> str:
    """Where ``claims.html`` is, relative to the HTML report made from ``alluredir``.

    ``make chaos`` generates the report into ``allure-report`` beside the results directory, so the
    link is relative to that folder; it keeps working when the reports directory is moved whole.
    """
    page = reports_dir.absolute() / "claims.html"
    return Path(os.path.relpath(page, alluredir.absolute().parent / "allure-report")).as_posix()


def _scenario(item: pytest.Item) -> str:
    name = getattr(item, "originalname", None) or item.name
    return name.removeprefix("test_").replace("_", " ")


def title_for(item: pytest.Item, claim_ids: Sequence[str]) -> str:
    """The test's title in the report: its claim ids, its scenario in words, its parameters."""
    callspec = getattr(item, "callspec", None)
    suffix = f" [{callspec.id}]" if callspec is not None else ""
    return f"{' + '.join(claim_ids)}: {_scenario(item)}{suffix}"


def label_test(item: pytest.Item, claim_ids: Sequence[str], link: str | None) -> None:
    """Labels, title, description and link of a claim test; call while the test runs (any phase)."""
    allure.dynamic.title(title_for(item, claim_ids))
    allure.dynamic.story(_scenario(item))
    statements = []
    for cid in claim_ids:
        title = CLAIMS.get(cid, cid)
        text = claim_text(cid, title)
        allure.dynamic.epic(_EPIC_PREFIX + text.section)
        allure.dynamic.feature(f"{cid}: {title}")
        allure.dynamic.label(CLAIM_LABEL, cid)
        statements.append(f"**{cid} {text.name}.** {text.statement}")
        if link:
            allure.dynamic.link(f"{link}#{cid}", name=f"{cid}: the claim, its verdict and evidence")
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    if doc:
        statements.append(" ".join(doc.split()))
    allure.dynamic.description("\n\n".join(statements))


def step_for_check(statement: str, *, claimed: object, observed: object, agrees: bool) -> None:
    """One step per check, its title saying it all; the step passes either way (a check is no assert)."""
    word = "agrees" if agrees else "disagrees"
    # As the ledger holds them (to_json redacts), so the step never shows more than claims.json does.
    shown = f"claimed {_short(to_json(claimed))}, observed {_short(to_json(observed))}"
    title = f"{word}: {redact_text(statement)}: {shown}"
    with allure.step(title):
        pass


def _checks_table(checks: Iterable[Check]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["check", "claimed", "observed", "agrees"])
    for c in checks:
        writer.writerow([c.statement, _short(c.claimed), _short(c.observed), "yes" if c.agrees else "no"])
    return out.getvalue()


def _message(claim_id: str, verdict: str, checks: Sequence[Check]) -> str | None:
    against = [c for c in checks if not c.agrees]
    if verdict not in ("disproved", "partial") or not against:
        return None
    first = against[0]
    more = f" (and {len(against) - 1} more)" if len(against) > 1 else ""
    head = "disproved"
    if verdict == "partial":
        head = f"partly held, {len(against)} of {len(checks)} checks disagree"
    return (
        f"Claim {claim_id} {head}: {first.statement}: claimed {_short(first.claimed)}, "
        f"observed {_short(first.observed)}{more}"
    )


def report_test(item: pytest.Item, claim_ids: Sequence[str], ledger: Ledger, outcome: str) -> str | None:
    """Attach the test's checks and evidence and label its own verdict; return its category message.

    Call at the end of the test (its teardown report), when every check and fact is recorded.
    """
    messages = []
    for cid in claim_ids:
        checks = [c for c in ledger.recorder.checks(cid) if c.test == item.nodeid]
        evidence = ledger.recorder.evidence_for(cid).get(item.nodeid, {})
        verdict = derive_verdict(checks, {item.nodeid: outcome})
        allure.dynamic.label(VERDICT_LABEL, f"{cid} {verdict}")
        allure.attach(
            json.dumps(evidence, indent=2, ensure_ascii=False, sort_keys=True),
            name=f"{cid} evidence",
            attachment_type=allure.attachment_type.JSON,
        )
        if checks:
            allure.attach(
                _checks_table(checks),
                name=f"{cid} checks: claimed against observed",
                attachment_type=allure.attachment_type.CSV,
            )
        message = _message(cid, verdict, checks)
        if message:
            messages.append(message)
    return " | ".join(messages) or None


#: The Allure 3 report configuration ``make chaos`` generates with (``allure generate -c``): Allure 3's
#: default report takes its categories from its configuration rather than from ``categories.json``
#: (which Allure 2 reads), and groups its tree by epic, feature and story like Allure 2's Behaviors.
ALLURE3_CONFIG: dict[str, Any] = {
    "name": "Argo CD sync-hook claims",
    "categories": {"rules": CATEGORIES},
    "plugins": {"awesome": {"options": {"groupBy": ["epic", "feature", "story"]}}},
}


def write_categories(alluredir: Path) -> tuple[Path, Path]:
    """Write ``categories.json`` and ``allurerc.json`` into the Allure results directory.

    Returns both paths. Allure readers skip files they do not know, so the configuration may live
    beside the results it is meant for.
    """
    alluredir.mkdir(parents=True, exist_ok=True)
    categories = alluredir / "categories.json"
    categories.write_text(json.dumps(CATEGORIES, indent=2) + "\n", encoding="utf-8")
    config = alluredir / "allurerc.json"
    config.write_text(json.dumps(ALLURE3_CONFIG, indent=2) + "\n", encoding="utf-8")
    return categories, config


def attach_run(ledger_md: Path, page: Path | None) -> None:
    """Attach the run's ledger (and the claims page) to the whole run, not to one test."""
    allure.global_attach.file(
        str(ledger_md), name="claims ledger (claims.md)", attachment_type="text/markdown", extension="md"
    )
    if page is not None:
        allure.global_attach.file(
            str(page), name="claims page (claims.html)", attachment_type=allure.attachment_type.HTML
        )


class VerdictMessages:
    """An allure-commons plugin: give a passed claim test the message its category matches on.

    ``report_test`` hands the message over for the test that is ending; ``report_result`` (called as
    allure-commons writes that test's result) puts it into the result's status details unless the
    test already has some (a failure's own message wins).
    """

    def __init__(self) -> None:
        self._pending: dict[str, str] = {}

    def expect(self, test_name: str, message: str) -> None:
        self._pending[test_name] = message

    @allure_commons.hookimpl(tryfirst=True)
    def report_result(self, result: Any) -> None:
        message = self._pending.pop(getattr(result, "name", ""), None)
        if message and result.status == "passed" and result.statusDetails is None:
            result.statusDetails = StatusDetails(message=message)
