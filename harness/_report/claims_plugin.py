"""Pytest glue for the claims ledger and the report environment.

Tests never type a verdict: they record what the claim says next to what they observed, and the
ledger derives the verdict when the session ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from harness._build.versions import version_tuple
from harness._errors import ConfigError
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

    def requires_release(self, statement: str, *, running: str, since: str, feature: str) -> bool:
        """Whether the running release has `feature` (added in `since`).

        If not, the check is recorded as not applicable with that reason, and the test must not
        make it. `running` is the release under test as the cluster reports it (`chaos_cluster.versions`),
        never a constant, so one suite serves every release.
        """
        if release_at_least(running, since):
            return True
        reason = f"{feature} exists from Argo CD {since}; this run is on {running}"
        self.recorder.not_applicable(self.claim_id, statement, reason=reason, test=self.nodeid)
        return False


def release_at_least(running: str, since: str) -> bool:
    """Whether `running` (a release, or a source build named `v3.4.7-<commit>`) is `since` or later.

    Only major.minor.patch count. Raises ConfigError for a name that is not a release.
    """
    try:
        have = version_tuple("-".join(running.split("-")[:1]))[:3]
    except ConfigError:
        raise ConfigError(f"cannot tell which release {running!r} is; expected a name like v3.6.1") from None
    return have >= version_tuple(since)[:3]


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
    lines = [f"{k}={v}".replace("\n", " ") for k, v in sorted(env.items())]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
