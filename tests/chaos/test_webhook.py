"""The webhook's HTTPS server and lifecycle, without a cluster.

The server is real (TLS, threads, sockets on 127.0.0.1); only the Kubernetes API is faked, at the
AdmissionregistrationV1Api boundary.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import socket
import ssl
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._chaos import webhook as _webhook
from harness._chaos.webhook import (
    MutatingWebhook,
    WebhookCall,
    WebhookEndpoint,
    WebhookError,
    _mint_tls,
    _Server,
)
from harness._errors import ConfigError

INJECT = [{"op": "add", "path": "/data/injected", "value": "by-webhook"}]


def _review(
    *, operation: str = "CREATE", name: str = "cm", namespace: str = "ns", dry_run: bool = False
) -> dict[str, Any]:
    uid = str(uuid.uuid4())
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": name,
            "namespace": namespace,
            "operation": operation,
            "object": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": namespace},
                "data": {"a": "1"},
            },
            "dryRun": dry_run,
        },
    }


def _context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def _post(
    server: _Server, body: bytes, *, path: str = "/mutate?timeout=5s", ca: Path | None = None
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=_context(ca or server.tls.ca_crt), timeout=10
    )
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def _connect_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


class Mutations:
    """A mutate function whose answer each test chooses; records what it was given."""

    def __init__(self) -> None:
        self.patch: list[dict[str, Any]] = INJECT
        self.error: Exception | None = None
        self.seen: list[dict[str, Any]] = []

    def __call__(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        self.seen.append(obj)
        if self.error is not None:
            raise self.error
        return self.patch


@pytest.fixture
def mutations() -> Mutations:
    return Mutations()


@pytest.fixture
def server(tmp_path: Path, mutations: Mutations) -> Iterator[_Server]:
    srv = _Server(mutations, _mint_tls(tmp_path / "tls"), name="unit").start()
    yield srv
    srv.stop()


# --------------------------------------------------------------------------------------------------
# Serving


def test_patch_is_base64_json_with_patch_type_and_echoes_the_uid(server: _Server) -> None:
    review = _review()

    status, answer = _post(server, json.dumps(review).encode())

    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert response["uid"] == review["request"]["uid"]
    assert response["allowed"] is True
    assert response["patchType"] == "JSONPatch"
    assert json.loads(base64.b64decode(response["patch"])) == INJECT


def test_mutate_gets_the_request_object(server: _Server, mutations: Mutations) -> None:
    review = _review(name="seen")

    _post(server, json.dumps(review).encode())

    assert mutations.seen == [review["request"]["object"]]


def test_empty_patch_is_allowed_without_patch_type(server: _Server, mutations: Mutations) -> None:
    mutations.patch = []

    status, answer = _post(server, json.dumps(_review()).encode())

    assert status == 200
    assert answer["response"]["allowed"] is True
    assert "patchType" not in answer["response"]
    assert "patch" not in answer["response"]
    assert [c.patched for c in server.calls] == [False]


def test_mutate_raising_admits_unpatched_and_records_the_error(
    server: _Server, mutations: Mutations, caplog: pytest.LogCaptureFixture
) -> None:
    mutations.error = KeyError("data")

    status, answer = _post(server, json.dumps(_review(name="boom")).encode())

    assert status == 200
    assert answer["response"]["allowed"] is True
    assert "patchType" not in answer["response"]
    assert "patch" not in answer["response"]
    [call] = server.calls
    assert (call.name, call.patched, call.error) == ("boom", False, "KeyError: 'data'")
    assert "mutate raised" in caplog.text


def test_mutate_returning_a_non_patch_is_treated_like_an_exception(
    server: _Server, mutations: Mutations
) -> None:
    mutations.patch = [{"path": "/data/x"}]  # no "op"

    _status, answer = _post(server, json.dumps(_review()).encode())

    assert "patch" not in answer["response"]
    [call] = server.calls
    assert call.error is not None
    assert "not a JSONPatch operation" in call.error


def test_calls_are_recorded_in_order(server: _Server) -> None:
    _post(server, json.dumps(_review(operation="CREATE", name="one", namespace="ns1")).encode())
    _post(server, json.dumps(_review(operation="UPDATE", name="one", namespace="ns1", dry_run=True)).encode())

    calls = server.calls
    assert [(c.operation, c.kind, c.namespace, c.name, c.patched, c.dry_run) for c in calls] == [
        ("CREATE", "ConfigMap", "ns1", "one", True, False),
        ("UPDATE", "ConfigMap", "ns1", "one", True, True),
    ]
    assert calls[0].at <= calls[1].at
    assert all(isinstance(c, WebhookCall) for c in calls)


def test_calls_is_a_snapshot(server: _Server) -> None:
    snapshot = server.calls
    _post(server, json.dumps(_review()).encode())

    assert snapshot == []
    assert len(server.calls) == 1


def test_concurrent_reviews_are_all_answered_and_recorded(server: _Server) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        status, _ = _post(server, json.dumps(_review(name=f"cm-{i}")).encode())
        with lock:
            results.append(status)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert results == [200] * 12
    assert sorted(c.name for c in server.calls) == sorted(f"cm-{i}" for i in range(12))


def test_malformed_reviews_are_rejected_with_400_and_not_recorded(server: _Server) -> None:
    not_json = _post(server, b"{not json")
    wrong_version = _post(
        server, json.dumps({**_review(), "apiVersion": "admission.k8s.io/v1beta1"}).encode()
    )
    no_uid = _post(
        server, json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}).encode()
    )

    assert [s for s, _ in (not_json, wrong_version, no_uid)] == [400, 400, 400]
    assert "admission.k8s.io/v1 AdmissionReview" in wrong_version[1]["error"]
    assert server.calls == []


def test_other_paths_are_404(server: _Server) -> None:
    status, answer = _post(server, json.dumps(_review()).encode(), path="/validate")

    assert status == 404
    assert "/mutate" in answer["error"]
    assert server.calls == []


def test_server_listens_on_loopback_only(server: _Server) -> None:
    assert server._httpd is not None
    assert server._httpd.server_address[0] == "127.0.0.1"
    assert server.url == f"https://127.0.0.1:{server.port}/mutate"


# --------------------------------------------------------------------------------------------------
# TLS


def test_tls_files_are_private(tmp_path: Path) -> None:
    tls = _mint_tls(tmp_path / "tls")

    assert stat.S_IMODE(tls.dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(tls.tls_key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tls.dir.iterdir()) == ["ca.crt", "tls.crt", "tls.key"]  # no CA key


def test_serving_cert_is_for_ip_127_0_0_1_and_signed_by_the_ca(tmp_path: Path) -> None:
    tls = _mint_tls(tmp_path / "tls")
    cert = x509.load_pem_x509_certificate(tls.tls_crt.read_bytes())
    ca = x509.load_pem_x509_certificate(tls.ca_crt.read_bytes())

    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_client_with_another_ca_fails_verification(server: _Server, tmp_path: Path) -> None:
    other = _mint_tls(tmp_path / "other")

    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        _post(server, json.dumps(_review()).encode(), ca=other.ca_crt)

    # The failed handshake is the client's problem only: the server keeps serving.
    status, _ = _post(server, json.dumps(_review()).encode())
    assert status == 200
    assert len(server.calls) == 1


def test_a_silent_client_does_not_block_other_connections(server: _Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5):
        # Connected but no TLS handshake: served by its own thread, so this request is not stuck.
        status, _ = _post(server, json.dumps(_review()).encode())

    assert status == 200


# --------------------------------------------------------------------------------------------------
# Server lifecycle


def test_server_stop_closes_the_port_and_is_idempotent(tmp_path: Path, mutations: Mutations) -> None:
    srv = _Server(mutations, _mint_tls(tmp_path / "tls"), name="unit").start()
    port = srv.port
    assert srv.running

    srv.stop()
    srv.stop()

    assert not srv.running
    assert _connect_refused(port)
    assert not any(t.name == "webhook-unit" and t.is_alive() for t in threading.enumerate())


# --------------------------------------------------------------------------------------------------
# MutatingWebhook without a cluster


class RejectingAdmissionApi:
    """Stands in for AdmissionregistrationV1Api: the API server refuses to create the configuration."""

    created: list[dict[str, Any]] = []
    deleted: list[str] = []

    def __init__(self, api: object) -> None:
        self.api = api

    def create_mutating_webhook_configuration(self, body: dict[str, Any], **kwargs: Any) -> None:
        type(self).created.append(body)
        exc = ApiException(status=403, reason="Forbidden")
        exc.body = json.dumps(
            {
                "kind": "Status",
                "message": "mutatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: "
                'User "x" cannot create resource',
            }
        )
        raise exc

    def delete_mutating_webhook_configuration(self, name: str) -> None:
        type(self).deleted.append(name)


@pytest.fixture
def rejecting_api(monkeypatch: pytest.MonkeyPatch) -> type[RejectingAdmissionApi]:
    monkeypatch.setattr(RejectingAdmissionApi, "created", [])
    monkeypatch.setattr(RejectingAdmissionApi, "deleted", [])
    # harness._chaos.webhook looks the class up on the kubernetes.client module at call time.
    monkeypatch.setattr(client, "AdmissionregistrationV1Api", RejectingAdmissionApi)
    return RejectingAdmissionApi


def _webhook_for(tmp_path: Path, mutations: Mutations, **kwargs: Any) -> MutatingWebhook:
    return MutatingWebhook(
        client.ApiClient(),
        name="unit-webhook",
        namespace="unit-ns",
        mutate=mutations,
        state_dir=tmp_path / "state",
        **kwargs,
    )


def test_start_rejected_by_the_api_raises_and_leaves_nothing_behind(
    tmp_path: Path, mutations: Mutations, rejecting_api: type[RejectingAdmissionApi]
) -> None:
    wh = _webhook_for(tmp_path, mutations)

    with pytest.raises(WebhookError) as info:
        wh.start()

    message = str(info.value)
    assert "could not create MutatingWebhookConfiguration 'unit-webhook'" in message
    assert "(403 Forbidden)" in message
    assert "is forbidden" in message
    assert "Hint:" in message
    [body] = rejecting_api.created
    port = int(body["webhooks"][0]["clientConfig"]["url"].split(":")[2].split("/")[0])
    assert _connect_refused(port)
    assert not any(t.name == "webhook-unit-webhook" and t.is_alive() for t in threading.enumerate())
    assert not (tmp_path / "state" / "webhook-unit-webhook").exists()
    # Never created, so never deleted.
    assert rejecting_api.deleted == []


def test_stop_is_idempotent_also_after_a_failed_start_and_without_start(
    tmp_path: Path, mutations: Mutations, rejecting_api: type[RejectingAdmissionApi]
) -> None:
    never_started = _webhook_for(tmp_path, mutations)
    never_started.stop()
    never_started.stop()

    wh = _webhook_for(tmp_path, mutations)
    with pytest.raises(WebhookError):
        wh.start()
    wh.stop()
    wh.stop()

    assert wh.calls == []
    assert rejecting_api.deleted == []


def test_context_manager_start_failure_propagates(
    tmp_path: Path, mutations: Mutations, rejecting_api: type[RejectingAdmissionApi]
) -> None:
    def body() -> None:
        with _webhook_for(tmp_path, mutations):
            pytest.fail("the body must not run when start() fails")

    with pytest.raises(WebhookError, match="could not create"):
        body()


def test_configuration_manifest(tmp_path: Path, mutations: Mutations) -> None:
    wh = _webhook_for(tmp_path, mutations, failure_policy="Ignore", timeout_seconds=3)

    cfg = wh.configuration(b"PEM", "https://127.0.0.1:1234/mutate")

    assert cfg["metadata"] == {
        "name": "unit-webhook",
        "labels": {"app.kubernetes.io/managed-by": "argocd-chaos"},
    }
    [hook] = cfg["webhooks"]
    assert hook["name"] == "unit-webhook.webhook.argocd-chaos.io"
    assert hook["clientConfig"] == {"url": "https://127.0.0.1:1234/mutate", "caBundle": "UEVN"}
    assert hook["rules"] == [
        {
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["configmaps"],
            "scope": "Namespaced",
        }
    ]
    assert hook["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "unit-ns"}}
    assert (hook["failurePolicy"], hook["sideEffects"], hook["reinvocationPolicy"]) == (
        "Ignore",
        "None",
        "Never",
    )
    assert (hook["admissionReviewVersions"], hook["timeoutSeconds"]) == (["v1"], 3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": "Not_A_Name"}, "DNS subdomain"),
        ({"namespace": "bad.ns"}, "namespace"),
        ({"resources": "configmaps"}, "resources must be a non-empty sequence"),
        ({"operations": ()}, "operations must be a non-empty sequence"),
        ({"failure_policy": "Maybe"}, "failure_policy"),
        ({"timeout_seconds": 31}, "1..30"),
        ({"resources": ("secrets",)}, "pass probe="),
        ({"operations": ("UPDATE",)}, "needs CREATE"),
    ],
)
def test_bad_arguments_are_config_errors(
    tmp_path: Path, mutations: Mutations, kwargs: dict[str, Any], match: str
) -> None:
    args: dict[str, Any] = {
        "name": "ok",
        "namespace": "ok",
        "mutate": mutations,
        "state_dir": tmp_path,
        **kwargs,
    }
    with pytest.raises(ConfigError, match=match):
        MutatingWebhook(client.ApiClient(), **args)


def test_custom_probe_keeps_its_kind_and_gets_the_probe_name(tmp_path: Path, mutations: Mutations) -> None:
    probe = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"generateName": "x-"},
        "stringData": {"a": "b"},
    }
    wh = _webhook_for(tmp_path, mutations, resources=("secrets",), probe=probe)

    manifest = wh._probe
    assert manifest["kind"] == "Secret"
    assert manifest["metadata"] == {"name": wh._probe_name, "namespace": "unit-ns"}
    assert probe["metadata"] == {"generateName": "x-"}  # the caller's dict is not modified


@pytest.mark.parametrize(
    ("obj", "patch", "missing"),
    [
        ({"data": {"injected": "by-webhook"}}, INJECT, None),
        ({"data": {}}, INJECT, '/data/injected = "by-webhook"'),
        ({"data": {"injected": "other"}}, INJECT, '/data/injected = "by-webhook"'),
        (
            {"metadata": {"labels": {"a/b": "1"}}},
            [{"op": "add", "path": "/metadata/labels/a~1b", "value": "1"}],
            None,
        ),
        ({"data": {"x": "1"}}, [{"op": "remove", "path": "/data/x"}], "/data/x removed"),
        ({"data": {}}, [{"op": "remove", "path": "/data/x"}], None),
        ({"a": [1]}, [{"op": "add", "path": "/a/-", "value": 2}], None),
        ({}, [{"op": "test", "path": "/x", "value": 1}], None),
    ],
)
def test_patch_visibility_check(
    obj: dict[str, Any], patch: list[dict[str, Any]], missing: str | None
) -> None:
    assert _webhook._patch_not_visible(obj, patch) == missing


# --------------------------------------------------------------------------------------------------
# Endpoints other than loopback (kind: the Docker network's gateway)


def test_endpoint_elsewhere_is_bound_named_in_the_url_and_in_the_cert(
    tmp_path: Path, mutations: Mutations
) -> None:
    # 127.0.0.2 stands in for a gateway address: this machine owns it, and it is not 127.0.0.1.
    endpoint = WebhookEndpoint(host="127.0.0.2", bind="127.0.0.2")
    srv = _Server(mutations, _mint_tls(tmp_path / "tls", endpoint), name="gw", endpoint=endpoint).start()
    try:
        assert srv.url == f"https://127.0.0.2:{srv.port}/mutate"
        assert _connect_refused(srv.port)  # nothing on 127.0.0.1
        conn = http.client.HTTPSConnection(
            "127.0.0.2", srv.port, context=_context(srv.tls.ca_crt), timeout=10
        )
        try:
            conn.request("POST", "/mutate", body=json.dumps(_review()).encode())
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    finally:
        srv.stop()


def test_endpoint_with_a_host_name_gets_a_dns_san_and_verifies_by_name(
    tmp_path: Path, mutations: Mutations
) -> None:
    endpoint = WebhookEndpoint(host="host.docker.internal", bind="127.0.0.1")
    tls = _mint_tls(tmp_path / "tls", endpoint)
    cert = x509.load_pem_x509_certificate(tls.tls_crt.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["host.docker.internal"]
    assert sans.get_values_for_type(x509.IPAddress) == []
    srv = _Server(mutations, tls, name="dns", endpoint=endpoint).start()
    try:
        assert srv.url == f"https://host.docker.internal:{srv.port}/mutate"
        raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        with _context(tls.ca_crt).wrap_socket(raw, server_hostname="host.docker.internal") as conn:
            assert conn.version() is not None  # handshake verified the DNS SAN
    finally:
        srv.stop()


def test_ipv6_endpoint_url_is_bracketed() -> None:
    assert WebhookEndpoint(host="::1", bind="::1").url(8443) == "https://[::1]:8443/mutate"


@pytest.mark.parametrize(
    ("host", "bind", "match"),
    [
        ("", "127.0.0.1", "neither an IP address nor a DNS name"),
        ("bad host!", "127.0.0.1", "neither an IP address nor a DNS name"),
        ("127.0.0.1", "0.0.0.0", "not 0.0.0.0"),
        ("127.0.0.1", "::", "not 0.0.0.0"),
        ("127.0.0.1", "localhost", "must be one IP address"),
    ],
)
def test_bad_endpoints_are_config_errors(host: str, bind: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WebhookEndpoint(host=host, bind=bind)


def test_bind_address_not_on_this_machine_is_a_clear_error(tmp_path: Path, mutations: Mutations) -> None:
    endpoint = WebhookEndpoint(host="192.0.2.1", bind="192.0.2.1")  # TEST-NET-1: never local
    srv = _Server(mutations, _mint_tls(tmp_path / "tls", endpoint), name="far", endpoint=endpoint)
    with pytest.raises(
        WebhookError, match=r"(?s)cannot listen on 192\.0\.2\.1: .*docker network inspect kind"
    ):
        srv.start()
    assert not srv.running
