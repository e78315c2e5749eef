"""Pytest glue for the claims ledger and the report environment.

Tests never type a verdict: they record what the claim says next to what they observed, and the
ledger derives the verdict when the session ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness._redact import redact_text
from harness._report.ledger import ClaimRecorder, Ledger

ledger_key = pytest.StashKey[Ledger]()
environment_key = pytest.StashKey[dict[str, str]]()


@dataclass
class ClaimContext:
    """The claim a test checks, bound to that test, so the test names neither again."""

    claim_id: str
    nodeid: str
    recorder: ClaimRecorder

    def check(self, statement: str, *, claimed: object, observed: object) -> bool:
        return self.recorder.check(
            self.claim_id, statement, claimed=claimed, observed=observed, test=self.nodeid
        )

    def evidence(self, key: str, value: object) -> None:
        self.recorder.evidence(self.claim_id, key, value, test=self.nodeid)


def claim_ids(item: pytest.Item) -> list[str]:
    return [str(m.args[0]) for m in item.iter_markers("claim") if m.args]


def record_outcome(item: pytest.Item, report: pytest.TestReport) -> None:
    ids = claim_ids(item)
    if not ids:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "error" if report.when == "setup" and report.failed else report.outcome
        for cid in ids:
            item.config.stash[ledger_key].record_test(cid, item.nodeid, outcome)


def write_environment(alluredir: Path, env: dict[str, str]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    # Controller flags and argocd-cm values land here: a credential among them must not.
    lines = [redact_text(f"{k}={v}".replace("\n", " ")) for k, v in sorted(env.items())]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
