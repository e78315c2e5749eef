"""C11: a mutating webhook that fights self-heal makes a loop; does ignoreDifferences end it?"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness import (
    AppUnderTest,
    Expectation,
    FixtureApp,
    MutatingWebhook,
    Outcome,
    WebhookEndpoint,
    expect,
    expect_consistently,
)
from harness._report.claims_plugin import ClaimContext
from harness._scenario.timeline import Timeline, gaps
from suites.conftest import nothing_new_happens, settled_status

#: The fixed window over which the loop is counted: the sleep in the test is the scenario.
LOOP_WINDOW = 60.0
QUIET_WINDOW = 30.0
INJECTED = "injected-by-webhook"
IGNORE_SETTING = [{"kind": "ConfigMap", "name": "app-config", "jsonPointers": ["/data/setting"]}]


def _inject_setting(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """Every write of app-config (and of the webhook's own probe) gets `setting` rewritten."""
    name = obj.get("metadata", {}).get("name", "")
    if name == "kube-root-ca.crt":
        return []
    if "data" not in obj or obj["data"] is None:
        return [{"op": "add", "path": "/data", "value": {"setting": INJECTED}}]
    return [{"op": "add", "path": "/data/setting", "value": INJECTED}]


@pytest.mark.claim("C11")
@pytest.mark.parametrize(
    "respect_ignore_differences", [False, True], ids=["plain", "RespectIgnoreDifferences"]
)
def test_webhook_drift_loop_and_ignore_differences(
    app_under_test: AppUnderTest,
    claim: ClaimContext,
    tmp_path: Path,
    respect_ignore_differences: bool,
    webhook_endpoint: WebhookEndpoint,
) -> None:
    app = app_under_test
    app.ensure_namespace()
    app.commit_revision(1, FixtureApp.load("selfheal"))
    webhook = MutatingWebhook(
        app.api,
        name=f"chaos-{app.test_id}",
        namespace=app.namespace,
        mutate=_inject_setting,
        state_dir=tmp_path,
        endpoint=webhook_endpoint,
    )
    with webhook, Timeline(app.api, app.name, app.namespace) as timeline:
        app.create(automated=True, self_heal=True)
        first = app.wait_operation("Succeeded", after="")
        loop_start = time.time()
        time.sleep(LOOP_WINDOW)  # the window is the scenario: count what the loop does in it
        loop_ops = timeline.operations(since=loop_start)
        loop_runs = timeline.job_runs(since=loop_start)
        writes = [c for c in webhook.calls if c.name == "app-config" and not c.dry_run and c.at >= loop_start]

        options = ["RespectIgnoreDifferences=true"] if respect_ignore_differences else []
        app.argocd.patch(
            app.name, {"spec": {"ignoreDifferences": IGNORE_SETTING, "syncPolicy": {"syncOptions": options}}}
        )
        app.argocd.refresh(app.name)
        expect(_synced(app), timeout=app.timeouts.assert_)
        # A heal the controller started on a comparison from before the patch still belongs to the
        # loop (seen on v2.12.6, whose fixed 5 s self-heal timeout keeps one due at almost any
        # moment): the quiet window starts once a refresh asked for after the patch is done and no
        # operation is requested or running.
        settled_status(app)
        expect(_no_operation_pending(app), timeout=app.timeouts.assert_)
        quiet_start = time.time()
        expect_consistently(nothing_new_happens(app, timeline), for_=QUIET_WINDOW, every=2.0)
        quiet_ops = timeline.operations(since=quiet_start)
    live = app.core.read_namespaced_config_map("app-config", app.namespace)

    claim.evidence(
        "loop_window",
        {
            "seconds": LOOP_WINDOW,
            "self_heal_operations": len(loop_ops),
            "hook_runs": len(loop_runs),
            "webhook_writes": len(writes),
            "gaps_s": gaps([o.first_seen for o in loop_ops]),
        },
    )
    claim.evidence("first_sync_hooks", first.hooks())
    claim.evidence("live_setting_after", (live.data or {}).get("setting"))
    claim.evidence("timeline", timeline.summary())
    assert claim.check(
        "the webhook and self-heal make a loop of syncs", claimed=True, observed=len(loop_ops) >= 2
    )
    assert (
        claim.check(
            "the hooks fire on every cycle", claimed=True, observed=len(loop_runs) >= len(loop_ops) > 0
        )
        is False
    )
    variant = "with" if respect_ignore_differences else "without"
    assert claim.check(
        f"ignoreDifferences on the field ends the loop ({variant} RespectIgnoreDifferences)",
        claimed=0,
        observed=len(quiet_ops),
    )
    assert loop_runs == []
    assert (live.data or {}).get("setting") == INJECTED


def _synced(app: AppUnderTest) -> Expectation:
    def check() -> Outcome:
        st = app.status()
        return Outcome.simple(st.sync == "Synced", st.excerpt())

    return Expectation(f"{app.name} is Synced once the field is ignored", check)


def _no_operation_pending(app: AppUnderTest) -> Expectation:
    def check() -> Outcome:
        st = app.status()
        phase = st.operation.phase if st.operation else "-"
        return Outcome.simple(
            phase != "Running" and not st.operation_requested,
            f"operation phase {phase}, requested={st.operation_requested}",
        )

    return Expectation(f"{app.name} has no operation requested or running", check)
