"""What the driver writes for a sync, a termination and a delete (`harness._argocd.driver`), offline."""

from __future__ import annotations

from typing import Any

import pytest

from harness._argocd.driver import (
    CASCADE_FINALIZERS,
    RESOURCES_FINALIZER,
    AppSpec,
    SyncRetry,
    cascade_finalizers,
    parse_resource,
    sync_operation,
)
from harness._argocd.observe import OperationState, request_id_of
from harness._errors import ConfigError

PRE_DELETE = "pre-delete-finalizer.argocd.argoproj.io"
POST_DELETE = "post-delete-finalizer.argocd.argoproj.io"


def app(**spec: Any) -> dict[str, Any]:
    return AppSpec(name="chaos-x", repo_url="file:///r", dest_namespace="chaos-x", **spec).to_manifest()


def test_a_plain_sync_is_what_argocd_app_sync_writes() -> None:
    op = sync_operation(app(), request_id="r1", revision="abc")
    assert op == {
        "initiatedBy": {"username": "argocd-chaos"},
        "info": [{"name": "argocd-chaos-request", "value": "r1"}],
        "sync": {"revision": "abc", "prune": False, "syncStrategy": {"hook": {}}},
    }
    assert request_id_of(op) == "r1"


def test_every_sync_option_lands_where_argocd_server_puts_it() -> None:
    op = sync_operation(
        app(),
        request_id="r2",
        prune=True,
        force=True,
        dry_run=True,
        resources=[":ConfigMap:app-config", "apps:Deployment:other-ns/web"],
        sync_options=["Replace=true", "ServerSideApply=true"],
        retry=SyncRetry(limit=2, duration="1s", factor=3, max_duration="10s", refresh=True),
    )
    sync = op["sync"]
    assert sync["prune"] is True
    assert sync["dryRun"] is True
    assert sync["syncStrategy"] == {"hook": {"force": True}}
    assert sync["resources"] == [
        {"group": "", "kind": "ConfigMap", "name": "app-config"},
        {"group": "apps", "kind": "Deployment", "name": "web", "namespace": "other-ns"},
    ]
    assert sync["syncOptions"] == ["Replace=true", "ServerSideApply=true"]
    assert op["retry"] == {
        "limit": 2,
        "backoff": {"duration": "1s", "factor": 3, "maxDuration": "10s"},
        "refresh": True,
    }


def test_sync_options_and_retry_default_to_the_spec_and_a_request_overrides_them() -> None:
    spec_app = app(sync_options=["CreateNamespace=true"], retry={"limit": 4})
    op = sync_operation(spec_app, request_id="r")
    assert (op["sync"]["syncOptions"], op["retry"]) == (["CreateNamespace=true"], {"limit": 4})
    op = sync_operation(spec_app, request_id="r", sync_options=["Replace=true"], retry=SyncRetry(limit=1))
    assert op["sync"]["syncOptions"] == ["Replace=true"]
    assert op["retry"]["limit"] == 1


def test_prune_is_off_unless_asked_as_with_the_cli_even_with_automated_prune() -> None:
    assert sync_operation(app(automated=True, prune=True), request_id="r")["sync"]["prune"] is False


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"sync_options": "Replace=true"}, "list"),
        ({"sync_options": ["Replace"]}, "'Replace'"),
        ({"resources": ["ConfigMap/app-config"]}, "GROUP:KIND:NAME"),
        ({"resources": [":ConfigMap:ns/"]}, "no name"),
    ],
)
def test_malformed_sync_arguments_are_one_clear_error(bad: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        sync_operation(app(), request_id="r", **bad)


@pytest.mark.parametrize(
    "kwargs",
    [{"limit": -2}, {"limit": True}, {"limit": 1, "factor": 0}, {"limit": 1, "duration": "5"}],
)
def test_a_bad_retry_is_rejected_with_the_value(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="retry"):
        SyncRetry(**kwargs)


def test_parse_resource_core_kind_without_namespace() -> None:
    assert parse_resource(":Namespace:chaos-x") == {"group": "", "kind": "Namespace", "name": "chaos-x"}


def test_the_request_id_comes_back_in_the_operation_state() -> None:
    op = sync_operation(app(), request_id="abc123")
    state = OperationState.from_app({"status": {"operationState": {"phase": "Running", "operation": op}}})
    assert state is not None
    assert (state.request_id, state.initiated_by, state.automated) == ("abc123", "argocd-chaos", False)


@pytest.mark.parametrize(
    ("before", "cascade", "after"),
    [
        ([RESOURCES_FINALIZER], "foreground", [RESOURCES_FINALIZER, CASCADE_FINALIZERS["foreground"]]),
        ([], "background", [CASCADE_FINALIZERS["background"]]),
        ([CASCADE_FINALIZERS["background"]], "background", [CASCADE_FINALIZERS["background"]]),
        # The failing input: a non-cascading delete of an app with a PostDelete hook keeps its hook
        # finalizers and drops only the propagation-policy ones.
        (
            [RESOURCES_FINALIZER, POST_DELETE, f"{POST_DELETE}/cleanup", CASCADE_FINALIZERS["foreground"]],
            "orphan",
            [POST_DELETE, f"{POST_DELETE}/cleanup"],
        ),
        ([PRE_DELETE, RESOURCES_FINALIZER], "orphan", [PRE_DELETE]),
    ],
)
def test_cascade_finalizers_follow_argocd_server(before: list[str], cascade: Any, after: list[str]) -> None:
    assert cascade_finalizers(before, cascade) == after


def test_no_finalizer_is_added_to_an_app_already_being_deleted() -> None:
    assert cascade_finalizers([], "foreground", deleting=True) == []


def test_an_unknown_cascade_is_rejected() -> None:
    with pytest.raises(ConfigError, match="'sideways'"):
        cascade_finalizers([], "sideways")  # type: ignore[arg-type]
