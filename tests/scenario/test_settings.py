"""Per-test argocd-cm changes (`harness._scenario.settings`): what is refused before any API call,
and the log proof the wait looks for, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from harness._errors import ConfigError
from harness._scenario.settings import INVALIDATED, ArgoCDSettings, _log_line_after
from harness._wait import Timeouts


def settings(log: Path | None, restart: bool = False) -> ArgoCDSettings:
    # No request is made in these tests: every case is refused before the first API call.
    return ArgoCDSettings(
        client.ApiClient(),
        controller_log=log,
        timeouts=Timeouts(),
        restart_controller=(lambda: None) if restart else None,
    )


def test_a_key_read_only_at_start_needs_a_restart(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\['timeout.reconciliation'\].*restart_controller=True"):
        settings(tmp_path / "log").set({"timeout.reconciliation": "10s"})


def test_a_restart_needs_the_embedded_cluster(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="embedded"):
        settings(tmp_path / "log").set({"timeout.reconciliation": "10s"}, restart_controller=True)


def test_a_live_key_needs_the_controller_log_to_be_confirmed() -> None:
    with pytest.raises(ConfigError, match="controller's log"):
        settings(None).set({"resource.customizations.health.batch_Job": "hs = {}"})


@pytest.mark.parametrize("entries", [{}, {"k": 1}])
def test_bad_entries_are_refused_with_the_value(tmp_path: Path, entries: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="argocd-cm entries"):
        settings(tmp_path / "log").set(entries)  # type: ignore[arg-type]


def test_restore_without_a_change_does_nothing(tmp_path: Path) -> None:
    settings(tmp_path / "log").restore()


def test_the_proof_is_a_log_line_written_after_the_change(tmp_path: Path) -> None:
    log = tmp_path / "controller.log"
    log.write_text(f'level=info msg="{INVALIDATED}"\n')  # an earlier change: must not count
    offset = log.stat().st_size
    expectation = _log_line_after(log, offset, INVALIDATED)
    assert expectation().is_pending
    with log.open("a") as f:
        f.write('level=info msg="invalidating live state cache"\n')
        f.write(f'level=info msg="{INVALIDATED}"\n')
    assert expectation().is_met
