"""Pytest glue for the claims ledger, the claims page and the report environment.

Tests never type a verdict: they record what the claim says next to what they observed, and the
ledger derives the verdict when the session ends. When the run writes Allure results, every claim
test also carries its claim there (see :mod:`harness._report.allure_claims`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import allure_commons
import pytest

from harness._build.versions import version_tuple
from harness._errors import ConfigError
from harness._redact import redact_text
from harness._report import allure_claims
from harness._report.ledger import ClaimRecorder, Ledger

ledger_key = pytest.StashKey[Ledger]()
environment_key = pytest.StashKey[dict[str, str]]()


@dataclass
class AllureClaims:
    """What the Allure side of a run needs: the results directory, the page link, the message plugin."""

    alluredir: Path
    link: str
    messages: allure_claims.VerdictMessages


allure_key = pytest.StashKey[AllureClaims]()


@dataclass
class ClaimContext:
    """The claim a test checks, bound to that test, so the test names neither again."""

    claim_id: str
    nodeid: str
    recorder: ClaimRecorder

    def check(self, statement: str, *, claimed: object, observed: object, race: str = "") -> bool:
        """Record a check; `race` names the upstream issue of a controller race that decides it."""
        agrees = self.recorder.check(
            self.claim_id, statement, claimed=claimed, observed=observed, test=self.nodeid, race=race
        )
        allure_claims.step_for_check(statement, claimed=claimed, observed=observed, agrees=agrees)
        return agrees

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


def start_allure(config: pytest.Config, reports_dir: Path) -> None:
    """When the run writes Allure results, get ready to put claims into them."""
    alluredir = config.getoption("allure_report_dir", None)
    if not alluredir:
        return
    messages = allure_claims.VerdictMessages()
    allure_commons.plugin_manager.register(messages)
    config.add_cleanup(lambda: allure_commons.plugin_manager.unregister(messages))
    path = Path(alluredir)
    config.stash[allure_key] = AllureClaims(path, allure_claims.page_link(reports_dir, path), messages)


def report_to_allure(item: pytest.Item, report: pytest.TestReport) -> None:
    """Label a claim test when its setup ends; attach its checks and evidence when its teardown ends."""
    ids = claim_ids(item)
    state = item.config.stash.get(allure_key, None)
    if not ids or state is None:
        return
    if report.when == "setup":
        allure_claims.label_test(item, ids, state.link)
    elif report.when == "teardown":
        ledger = item.config.stash[ledger_key]
        outcome = ledger.tests_for(ids[0]).get(item.nodeid, "unknown")
        message = allure_claims.report_test(item, ids, ledger, outcome)
        if message:
            state.messages.expect(allure_claims.title_for(item, ids), message)


def finish_allure(config: pytest.Config, ledger_md: Path | None, page: Path | None) -> None:
    """At the end of the run: the categories file, and the ledger and page attached to the run."""
    state = config.stash.get(allure_key, None)
    if state is None:
        return
    allure_claims.write_categories(state.alluredir)
    if ledger_md is not None:
        allure_claims.attach_run(ledger_md, page)


def write_environment(alluredir: Path, env: dict[str, str]) -> None:
    alluredir.mkdir(parents=True, exist_ok=True)
    # Controller flags and argocd-cm values land here: a credential among them must not.
    lines = [redact_text(f"{k}={v}".replace("\n", " ")) for k, v in sorted(env.items())]
    (alluredir / "environment.properties").write_text("\n".join(lines) + "\n")
