"""Per-test argocd-cm changes (`harness._scenario.settings`): what is refused before any API call."""

from __future__ import annotations

import pytest
from kubernetes import client

from harness._errors import ConfigError
from harness._scenario.settings import ArgoCDSettings


def settings(restart: bool = True) -> ArgoCDSettings:
    # No request is made in these tests: every case is refused before the first API call.
    return ArgoCDSettings(client.ApiClient(), restart_controller=(lambda: None) if restart else None)


def test_without_a_controller_restart_a_change_is_refused() -> None:
    with pytest.raises(ConfigError, match="embedded cluster.*--argocd-cm"):
        settings(restart=False).set({"timeout.reconciliation": "10s"})


@pytest.mark.parametrize("entries", [{}, {"k": 1}])
def test_bad_entries_are_refused_with_the_value(entries: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="argocd-cm entries"):
        settings().set(entries)  # type: ignore[arg-type]


def test_restore_without_a_change_does_nothing() -> None:
    settings().restore()
