"""The failure bundle: what a person needs to see why a scenario went wrong.

Collected in the test's teardown *before* cleanup deletes the app and its namespace, attached to
the Allure report and to the pytest report sections, and capped in size so a long controller log
cannot drown the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import allure
import yaml

from harness._redact import redact_text
from harness._report import evidence as _evidence

if TYPE_CHECKING:
    import pytest

    from harness._scenario.app import AppUnderTest

_LIMIT = 200_000


def collect(app: AppUnderTest) -> dict[str, str]:
    """Every piece is collected on its own, so one failing read does not lose the others."""
    bundle: dict[str, str] = {}

    def add(name: str, produce: object) -> None:
        bundle[name] = render(produce)

    add("application.yaml", lambda: app.api.sanitize_for_serialization(app.argocd.get_or_none(app.name)))
    add("operation-state", lambda: app.status().excerpt())
    add("live-objects", lambda: [o.__dict__ for o in app.live().objects])
    add("hook-objects", lambda: _evidence.hook_objects(app.api, app.namespace))
    add("events-test-namespace", lambda: "\n".join(_evidence.events(app.api, app.namespace)))
    add("events-application", lambda: "\n".join(_evidence.events(app.api, "argocd", involving=app.name)))
    for component, lines in app.log_excerpts().items():
        add(f"log-{component}", "\n".join(lines))
    add("git-log", lambda: "\n".join(app.repo.log()))
    return bundle


def render(produce: object) -> str:
    """One piece of the bundle as text: YAML for structures, credentials redacted, capped in size.

    `produce` is the value or a function returning it; a function that raises gives a line saying
    what could not be collected, because diagnostics must never mask the test's own failure.
    """
    try:
        value = produce() if callable(produce) else produce
        text = value if isinstance(value, str) else yaml.safe_dump(value, sort_keys=False, width=120)
    except Exception as exc:  # noqa: BLE001 - diagnostics must not mask the test failure
        text = f"(could not collect: {type(exc).__name__}: {exc})"
    # Redacted here, once, so the Allure attachment and the pytest report section agree.
    return _evidence.truncate(redact_text(text), _LIMIT)


def attach(item: pytest.Item, bundle: dict[str, str]) -> None:
    for name, text in bundle.items():
        kind = allure.attachment_type.YAML if name.endswith(".yaml") else allure.attachment_type.TEXT
        allure.attach(text, name=name, attachment_type=kind)
        item.add_report_section("teardown", f"diagnostics: {name}", _evidence.truncate(text, 20_000))
