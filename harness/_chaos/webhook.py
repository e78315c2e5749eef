"""A real mutating admission webhook, served by the harness itself, for drift-loop claims.

One chaos claim is about two controllers fighting over an object: a mutating webhook keeps injecting a
field that Argo CD self-heal keeps reverting. Faking the webhook with a second client that patches the
object afterwards would change what Argo CD sees: a webhook mutates *inside* the API server's write path,
so Argo CD's own apply (and its server-side dry run) comes back already mutated, and every write the
controller makes is intercepted. Only a real webhook reproduces that, so this module serves one.

The embedded cluster's kube-apiserver is a process on 127.0.0.1, so the harness can serve the webhook from
the test process over loopback HTTPS: a throwaway CA and serving certificate per run, a
``MutatingWebhookConfiguration`` with ``clientConfig.url`` and ``caBundle``, no image, Service or
cert-manager. The configuration's namespace selector limits it to one namespace, so a webhook can never
disturb anything outside the test that owns it.

Two waits make the object trustworthy in a chaos scenario. The API server only calls a new webhook once
its configuration has propagated to the server's informer, so :meth:`MutatingWebhook.start` returns only
after a dry-run probe came back mutated; and it stops calling a deleted one only after that deletion
propagated, so :meth:`MutatingWebhook.stop` returns only after a probe is no longer intercepted.

Where the API server dials is a :class:`WebhookEndpoint`, which the provider chooses: loopback for the
embedded cluster (its API server is a process on this host); on kind, whose API server runs in a node
container, the gateway address of kind's Docker network, which is this host as the containers see it.
The serving certificate is minted for exactly that address, because the API server checks the URL's host
against the certificate's SANs.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import logging
import re
import shutil
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._cluster.embedded.pki import _key_usage, _private_pem, _write_file
from harness._cluster.endpoint import LOOPBACK, PATH, WebhookEndpoint
from harness._errors import ConfigError, HarnessError
from harness._kube import FIELD_MANAGER, dynamic_client, resource
from harness._wait import Expectation, ExpectationTimeout, Outcome, TerminalStateError, Timeouts, expect
from harness._wait import failed as outcome_failed
from harness._wait import met as outcome_met
from harness._wait import pending as outcome_pending

__all__ = ["LOOPBACK", "MutatingWebhook", "WebhookCall", "WebhookEndpoint", "WebhookError"]

log = logging.getLogger(__name__)

MANAGED_BY = {"app.kubernetes.io/managed-by": FIELD_MANAGER}
# The API server sets this label on every namespace (GA since 1.22), which makes it the one selector that
# matches exactly one namespace by name.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Webhook entries (not configurations) must be names with at least three dot-separated segments.
WEBHOOK_NAME_SUFFIX = "webhook.argocd-chaos.io"
ADMISSION_API_VERSION = "admission.k8s.io/v1"

_DIR_MODE = 0o700
_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644
# A per-run certificate; a day covers any session, and backdating tolerates a lagging clock.
_VALIDITY = datetime.timedelta(days=1)
_CLOCK_SKEW = datetime.timedelta(minutes=5)
# Bounds every blocking read on a connection (TLS handshake, headers, body), so a stuck client can tie
# up one handler thread for at most this long and never the accept loop.
_IO_TIMEOUT = 10.0
_MAX_BODY = 16 * 1024 * 1024
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

Mutate = Callable[[dict[str, Any]], list[dict[str, Any]]]


class WebhookError(HarnessError):
    """The webhook could not be set up, verified or removed; the message says what to check."""


@dataclass(frozen=True)
class WebhookCall:
    """One AdmissionReview the API server sent, as the webhook answered it.

    ``dry_run`` is true for dry-run requests (Argo CD's server-side diff and dry-run sync make those too,
    so a drift-loop claim can count real writes apart from them). ``error`` is the exception ``mutate``
    raised, if any; such a call is admitted unpatched.
    """

    at: float
    operation: str
    kind: str
    namespace: str
    name: str
    patched: bool
    dry_run: bool = False
    error: str | None = None


# --------------------------------------------------------------------------------------------------
# TLS material


@dataclass(frozen=True)
class _TLSFiles:
    dir: Path
    ca_crt: Path
    tls_crt: Path
    tls_key: Path


def _mint_tls(directory: Path, endpoint: WebhookEndpoint = LOOPBACK) -> _TLSFiles:
    """Write a fresh CA certificate and a serving certificate for ``endpoint.host`` into ``directory``.

    ``_pki.generate_pki`` would fit (its serving cert has the IP SAN) but also mints an admin client
    certificate and an RSA service-account key this webhook has no use for. The CA key is never written:
    nothing signs with it after this function returns, so it only lives in memory.
    """
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode is subject to the umask and ignored for an existing directory; make it exact.
    directory.chmod(_DIR_MODE)
    files = _TLSFiles(
        dir=directory,
        ca_crt=directory / "ca.crt",
        tls_crt=directory / "tls.crt",
        tls_key=directory / "tls.key",
    )

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "argocd-chaos-webhook-ca")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "argocd-chaos-webhook")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        # Go ignores the CN: the API server verifies the URL's host against the SANs only.
        .add_extension(x509.SubjectAlternativeName([endpoint.san]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_file(files.tls_key, _private_pem(key), _PRIVATE_MODE)
    _write_file(files.tls_crt, cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    _write_file(files.ca_crt, ca_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    return files


# --------------------------------------------------------------------------------------------------
# The HTTPS server


class _BadRequest(Exception):
    """The body is not an AdmissionReview we can answer; becomes HTTP 400."""


class _Server:
    """The HTTPS half of the webhook: answers AdmissionReviews with ``mutate``'s patch, no Kubernetes API.

    Kept apart from :class:`MutatingWebhook` so that the serving, TLS and patch encoding can be tested
    without a cluster. One instance serves once: start() after stop() is an error, make a new one.
    """

    def __init__(
        self, mutate: Mutate, tls: _TLSFiles, *, name: str = "webhook", endpoint: WebhookEndpoint = LOOPBACK
    ) -> None:
        self._mutate = mutate
        self.tls = tls
        self.endpoint = endpoint
        self.name = name
        self._lock = threading.Lock()
        self._calls: list[WebhookCall] = []
        # The patch each call was answered with, parallel to _calls; private because WebhookCall is the
        # public record and a patch may be large.
        self._patches: list[list[dict[str, Any]]] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise WebhookError(f"webhook server {self.name!r} is not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return self.endpoint.url(self.port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def calls(self) -> list[WebhookCall]:
        with self._lock:
            return list(self._calls)

    def last_call(self, name: str) -> tuple[WebhookCall, list[dict[str, Any]]] | None:
        """The latest call for an object of this name and the patch it was answered with."""
        with self._lock:
            for call, patch in zip(reversed(self._calls), reversed(self._patches), strict=True):
                if call.name == name:
                    return call, patch
        return None

    def start(self) -> _Server:
        if self._httpd is not None:
            raise WebhookError(f"webhook server {self.name!r} is already started")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.tls.tls_crt, self.tls.tls_key)
        # HTTP/1.1 only: the handler closes every connection after one response (see _Handler), which a
        # negotiated HTTP/2 connection would not allow.
        ctx.set_alpn_protocols(["http/1.1"])
        # Port 0: the kernel picks a free port at bind time, so there is no window in which another
        # process could take a port chosen in advance.
        try:
            httpd = _HTTPServer(self, ctx)
        except OSError as exc:
            raise WebhookError(
                f"webhook server {self.name!r} cannot listen on {self.endpoint.bind}: {exc}\n"
                "Hint: the bind address must be an address of this machine (for kind, the gateway of "
                "its Docker network: docker network inspect kind)"
            ) from exc
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-{self.name}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop accepting and close the listening socket; idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        if thread is not None and thread.is_alive():
            httpd.shutdown()
            thread.join()
        httpd.server_close()
        self._thread = None
        # _httpd stays set: `port` and `url` keep naming where the server was, for error messages.

    def review(self, review: Any) -> dict[str, Any]:
        """Answer one AdmissionReview and record the call.

        ``mutate`` failing must never fail the API server's write (this webhook is a test instrument, not
        a policy), so its exception is logged, recorded on the call and answered with an unpatched
        admission.
        """
        request = _admission_request(review)
        obj = request.get("object")
        obj = obj if isinstance(obj, dict) else {}
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        kind = request.get("kind")
        patch: list[dict[str, Any]] = []
        error: str | None = None
        try:
            patch = _check_patch(self._mutate(copy.deepcopy(obj)))
            encoded = json.dumps(patch).encode()
        except Exception as exc:  # any bug in a test's mutate function; see the docstring
            log.exception("webhook %s: mutate raised; admitting %s unpatched", self.name, _describe(request))
            error = f"{type(exc).__name__}: {exc}"
            patch = []
        response: dict[str, Any] = {"uid": request["uid"], "allowed": True}
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(encoded).decode("ascii")
        call = WebhookCall(
            at=time.time(),
            operation=str(request.get("operation", "")),
            kind=str(kind.get("kind", "")) if isinstance(kind, dict) else "",
            namespace=str(request.get("namespace") or meta.get("namespace") or ""),
            # On CREATE with generateName the request has no name yet; the object may not either.
            name=str(request.get("name") or meta.get("name") or meta.get("generateName") or ""),
            patched=bool(patch),
            dry_run=bool(request.get("dryRun", False)),
            error=error,
        )
        with self._lock:
            self._calls.append(call)
            self._patches.append(patch)
        return {"apiVersion": ADMISSION_API_VERSION, "kind": "AdmissionReview", "response": response}


def _admission_request(review: Any) -> dict[str, Any]:
    if not isinstance(review, dict):
        raise _BadRequest("body is not a JSON object")
    if review.get("apiVersion") != ADMISSION_API_VERSION or review.get("kind") != "AdmissionReview":
        raise _BadRequest(
            f"expected an {ADMISSION_API_VERSION} AdmissionReview, "
            f"got apiVersion={review.get('apiVersion')!r} kind={review.get('kind')!r}"
        )
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str) or not request["uid"]:
        raise _BadRequest("AdmissionReview has no request.uid")
    return request


def _check_patch(patch: Any) -> list[dict[str, Any]]:
    """Reject what the API server would reject later with a far less helpful message."""
    if not isinstance(patch, list):
        raise TypeError(f"mutate must return a list of JSONPatch operations, got {type(patch).__name__}")
    for op in patch:
        if (
            not isinstance(op, dict)
            or not isinstance(op.get("op"), str)
            or not isinstance(op.get("path"), str)
        ):
            raise TypeError(f"not a JSONPatch operation (needs 'op' and 'path'): {op!r}")
    return patch


def _describe(request: Mapping[str, Any]) -> str:
    kind = request.get("kind")
    kind_name = kind.get("kind", "?") if isinstance(kind, dict) else "?"
    where = f"{request.get('namespace', '')}/{request.get('name', '')}"
    return f"{request.get('operation', '?')} {kind_name} {where}"


class _HTTPServer(ThreadingHTTPServer):
    """Threaded HTTPS server whose TLS handshake runs in the connection's thread, not in accept().

    Wrapping the listening socket instead would do every handshake inside the accept loop, where one
    client that connects and says nothing stalls the whole server.
    """

    daemon_threads = True

    def __init__(self, app: _Server, ctx: ssl.SSLContext) -> None:
        self.app = app
        self.ssl_context = ctx
        if ":" in app.endpoint.bind:
            self.address_family = socket.AF_INET6
        super().__init__((app.endpoint.bind, 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        sock.settimeout(_IO_TIMEOUT)
        try:
            conn = self.ssl_context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            # Typically a client that does not trust our CA and aborts the handshake.
            log.info("webhook %s: TLS handshake with %s failed: %s", self.app.name, client_address, exc)
            return
        try:
            _Handler(conn, client_address, self)
        finally:
            # wrap_socket detached `sock`, so the base class's shutdown_request cannot close this.
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection. A kept-alive connection would keep being served by its
    # handler thread after the server "crashed" (see MutatingWebhook.stop_server), so an outage would not
    # be an outage for the API server's pooled connection.
    protocol_version = "HTTP/1.0"
    timeout = _IO_TIMEOUT
    server: _HTTPServer

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._reply(411, {"error": "Content-Length required"})
            return
        if not 0 <= length <= _MAX_BODY:
            self._reply(413, {"error": f"body must be 0..{_MAX_BODY} bytes"})
            return
        # Read the whole body before any answer: closing a socket with unread input makes the kernel send
        # a reset, which can destroy the response before the client has read it.
        body = self.rfile.read(length)
        if urlsplit(self.path).path != PATH:
            self._reply(404, {"error": f"no such path; the webhook is served at {PATH}"})
            return
        try:
            answer = self.server.app.review(json.loads(body))
        except (ValueError, _BadRequest) as exc:
            log.warning("webhook %s: bad request from %s: %s", self.server.app.name, self.client_address, exc)
            self._reply(400, {"error": str(exc)})
            return
        self._reply(200, answer)

    def _reply(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook %s: %s - %s", self.server.app.name, self.address_string(), format % args)


# --------------------------------------------------------------------------------------------------
# The webhook: server + configuration


class MutatingWebhook:
    """A mutating admission webhook for one namespace, served from this process; a context manager.

    ``mutate`` gets the AdmissionRequest's ``object`` (a copy) and returns JSONPatch operations, possibly
    none. It runs in a server thread, so it must be thread-safe. ``probe`` is the object
    :meth:`start` dry-run creates to prove the webhook is live; it defaults to a ConfigMap, so it is
    required when ``resources`` does not cover core/v1 configmaps.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        name: str,
        namespace: str,
        mutate: Mutate,
        resources: Sequence[str] = ("configmaps",),
        api_groups: Sequence[str] = ("",),
        api_versions: Sequence[str] = ("v1",),
        operations: Sequence[str] = ("CREATE", "UPDATE"),
        state_dir: Path,
        failure_policy: Literal["Fail", "Ignore"] = "Fail",
        timeout_seconds: int = 5,
        probe: Mapping[str, Any] | None = None,
        timeouts: Timeouts | None = None,
        endpoint: WebhookEndpoint = LOOPBACK,
    ) -> None:
        if len(name) > 253 - len(WEBHOOK_NAME_SUFFIX) - 1 or not _DNS_SUBDOMAIN.fullmatch(name):
            raise ConfigError(
                f"webhook name {name!r} must be a lowercase DNS subdomain of at most "
                f"{252 - len(WEBHOOK_NAME_SUFFIX)} characters: it names the MutatingWebhookConfiguration"
            )
        if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
            raise ConfigError(f"namespace {namespace!r} is not a valid namespace name")
        for what, values in (
            ("resources", resources),
            ("api_groups", api_groups),
            ("api_versions", api_versions),
            ("operations", operations),
        ):
            if isinstance(values, str) or not values:
                raise ConfigError(f"{what} must be a non-empty sequence of strings, got {values!r}")
        if failure_policy not in ("Fail", "Ignore"):
            raise ConfigError(f"failure_policy must be 'Fail' or 'Ignore', got {failure_policy!r}")
        if not 1 <= timeout_seconds <= 30:
            raise ConfigError(
                f"timeout_seconds must be 1..30 (the API server's maximum), not {timeout_seconds}"
            )
        covers_configmaps = (
            {"configmaps", "*"} & set(resources)
            and {"", "*"} & set(api_groups)
            and {"v1", "*"} & set(api_versions)
        )
        if probe is None and not covers_configmaps:
            raise ConfigError(
                "the default liveness probe is a ConfigMap, which these rules do not cover; pass probe= "
                "with a manifest of a kind the webhook intercepts"
            )
        if probe is None and "CREATE" not in operations and "*" not in operations:
            raise ConfigError(
                "start() proves the webhook live with a dry-run CREATE: operations needs CREATE"
            )

        self._api = api
        self.name = name
        self.namespace = namespace
        self._mutate = mutate
        self._resources = list(resources)
        self._api_groups = list(api_groups)
        self._api_versions = list(api_versions)
        self._operations = list(operations)
        self._failure_policy = failure_policy
        self._timeout_seconds = timeout_seconds
        self._timeouts = timeouts
        self.endpoint = endpoint
        self._tls_dir = Path(state_dir).absolute() / f"webhook-{name}"
        self._probe_name = f"{name[:200].rstrip('.-')}-probe-{uuid.uuid4().hex[:6]}"
        self._probe = self._probe_manifest(probe)
        self._server: _Server | None = None
        self._dyn: Any = None
        self._created = False

    # -- properties -----------------------------------------------------------------------------------

    @property
    def webhook_name(self) -> str:
        """The name of the one webhook in the configuration, as API server errors quote it."""
        return f"{self.name}.{WEBHOOK_NAME_SUFFIX}"

    @property
    def url(self) -> str:
        if self._server is None:
            raise WebhookError(f"webhook {self.name!r} is not started")
        return self._server.url

    @property
    def calls(self) -> list[WebhookCall]:
        """The calls the API server made since the last start(), oldest first, without the webhook's probes.

        Still readable after stop(), so a test can assert on them once the webhook is gone.
        """
        if self._server is None:
            return []
        return [c for c in self._server.calls if c.name != self._probe_name]

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> MutatingWebhook:
        """Serve, register and verify the webhook; on any failure leave nothing behind and raise."""
        if self._created or (self._server is not None and self._server.running):
            raise WebhookError(f"webhook {self.name!r} is already started; stop() it first")
        try:
            tls = _mint_tls(self._tls_dir, self.endpoint)
            self._server = _Server(self._mutate, tls, name=self.name, endpoint=self.endpoint).start()
            self._create_configuration(tls.ca_crt.read_bytes())
            self._wait_live()
        except BaseException:
            try:
                self.stop()
            except WebhookError as cleanup:
                log.error("webhook %s: cleanup after failed start failed: %s", self.name, cleanup)
            raise
        return self

    def stop_server(self) -> None:
        """Stop serving but leave the configuration registered: a crashed webhook, for outage scenarios.

        With failure policy Fail the API server then rejects every intercepted write in the namespace
        ("failed calling webhook ... connection refused"); with Ignore it admits them unmutated.
        """
        if self._server is not None:
            self._server.stop()

    def stop(self) -> None:
        """Delete the configuration, stop serving and remove the TLS files; idempotent.

        Returns once the API server no longer calls the webhook, so a write right after ``stop()`` is
        neither mutated nor rejected by it. Every cleanup step runs even when an earlier one fails; a
        failed deletion is raised at the end (after the rest is cleaned up), because a left-over
        configuration with failure policy Fail would block writes in the namespace.
        """
        error: WebhookError | None = None
        if self._created:
            try:
                self._delete_configuration()
                self._wait_unhooked()
            except WebhookError as exc:
                error = exc
        if self._server is not None:
            self._server.stop()
        self._dyn = None
        shutil.rmtree(self._tls_dir, ignore_errors=True)
        if error is not None:
            raise error

    def __enter__(self) -> MutatingWebhook:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the configuration ----------------------------------------------------------------------------

    def configuration(self, ca_bundle: bytes, url: str) -> dict[str, Any]:
        """The MutatingWebhookConfiguration this webhook registers, as a manifest."""
        return {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": self.name, "labels": dict(MANAGED_BY)},
            "webhooks": [
                {
                    "name": self.webhook_name,
                    "clientConfig": {"url": url, "caBundle": base64.b64encode(ca_bundle).decode("ascii")},
                    "rules": [
                        {
                            "apiGroups": self._api_groups,
                            "apiVersions": self._api_versions,
                            "operations": self._operations,
                            "resources": self._resources,
                            "scope": "Namespaced",
                        }
                    ],
                    "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: self.namespace}},
                    "failurePolicy": self._failure_policy,
                    "sideEffects": "None",
                    "admissionReviewVersions": ["v1"],
                    "reinvocationPolicy": "Never",
                    "timeoutSeconds": self._timeout_seconds,
                }
            ],
        }

    def _create_configuration(self, ca_bundle: bytes) -> None:
        assert self._server is not None
        body = self.configuration(ca_bundle, self._server.url)
        try:
            # The client serializes a plain manifest dict as it is; its type hints only name the model.
            client.AdmissionregistrationV1Api(self._api).create_mutating_webhook_configuration(
                cast(Any, body), field_manager=FIELD_MANAGER
            )
        except ApiException as exc:
            hint = (
                f"a configuration named {self.name!r} already exists, left by an earlier run or used by "
                f"another test; delete it (kubectl delete mutatingwebhookconfiguration {self.name}) or "
                "pick a unique name"
                if exc.status == 409
                else "the harness's credentials must be allowed to create "
                "mutatingwebhookconfigurations.admissionregistration.k8s.io"
            )
            raise WebhookError(
                f"could not create MutatingWebhookConfiguration {self.name!r}: {_api_error(exc)}\n"
                f"Hint: {hint}"
            ) from exc
        except Exception as exc:  # the API server is unreachable: urllib3 errors, not ApiException
            raise WebhookError(
                f"could not create MutatingWebhookConfiguration {self.name!r}: {type(exc).__name__}: {exc}\n"
                "Hint: is the cluster's API server running?"
            ) from exc
        self._created = True

    def _delete_configuration(self) -> None:
        try:
            client.AdmissionregistrationV1Api(self._api).delete_mutating_webhook_configuration(self.name)
        except ApiException as exc:
            if exc.status != 404:
                raise WebhookError(
                    f"could not delete MutatingWebhookConfiguration {self.name!r}: {_api_error(exc)}\n"
                    f"Hint: delete it by hand (kubectl delete mutatingwebhookconfiguration {self.name}); "
                    f"until then it intercepts writes in namespace {self.namespace!r}"
                ) from exc
        except Exception as exc:
            raise WebhookError(
                f"could not delete MutatingWebhookConfiguration {self.name!r}: {type(exc).__name__}: {exc}"
            ) from exc
        self._created = False

    # -- probes ---------------------------------------------------------------------------------------

    def _probe_manifest(self, probe: Mapping[str, Any] | None) -> dict[str, Any]:
        if probe is None:
            return {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": self._probe_name,
                    "namespace": self.namespace,
                    "labels": dict(MANAGED_BY),
                },
                "data": {"probe": "true"},
            }
        manifest = copy.deepcopy(dict(probe))
        if not isinstance(manifest.get("apiVersion"), str) or not isinstance(manifest.get("kind"), str):
            raise ConfigError(f"probe needs apiVersion and kind, got {probe!r}")
        meta = dict(manifest.get("metadata") or {})
        # The name is ours: calls for it are filtered out of `calls` by name.
        meta.update(name=self._probe_name, namespace=self.namespace)
        meta.pop("generateName", None)
        manifest["metadata"] = meta
        return manifest

    def _dry_run_probe(self) -> dict[str, Any]:
        """Dry-run create the probe: the API server runs admission (webhooks included) but stores nothing."""
        if self._dyn is None:
            self._dyn = dynamic_client(self._api, self._tls_dir / "discovery.json")
        res = resource(self._dyn, self._probe["apiVersion"], self._probe["kind"])
        created = res.create(body=copy.deepcopy(self._probe), namespace=self.namespace, dry_run="All")
        result: dict[str, Any] = created.to_dict()
        return result

    def _probe_calls(self) -> int:
        assert self._server is not None
        return sum(1 for c in self._server.calls if c.name == self._probe_name)

    def _wait_live(self) -> None:
        assert self._server is not None
        server = self._server
        last_api_error: list[str] = []
        not_called = (
            "the API server admitted the probe without calling the webhook (configuration not propagated yet"
        )
        if self._failure_policy == "Ignore":
            # With Ignore a failed call looks exactly like no call: the API server only logs it.
            not_called += (
                ", or the call failed and failure policy Ignore hid the error: look for 'failing open' in "
                "the kube-apiserver log"
            )
        not_called += ")"

        def check() -> Outcome:
            before = self._probe_calls()
            try:
                obj = self._dry_run_probe()
            except ApiException as exc:
                text = _api_error(exc)
                last_api_error[:] = [text]
                if exc.status == 404 and "namespaces" in text:
                    return outcome_failed(f"namespace {self.namespace!r} does not exist: {text}")
                return outcome_pending(f"dry-run create failed: {text}")
            last = server.last_call(self._probe_name)
            if self._probe_calls() == before or last is None:
                return outcome_pending(not_called)
            call, patch = last
            if not patch:
                why = f"mutate raised {call.error}" if call.error else "mutate returns no patch for it"
                return outcome_met(f"the webhook was called for the probe ({why})")
            missing = _patch_not_visible(obj, patch)
            if missing:
                return outcome_pending(f"the webhook was called but the probe came back without {missing}")
            return outcome_met("the probe came back mutated")

        what = (
            f"a dry-run create of {self._probe['kind']} {self.namespace}/{self._probe_name} comes back "
            f"mutated by the webhook at {server.url} (or, if mutate has no patch for it, calls the webhook)"
        )
        timeout = (self._timeouts or Timeouts.from_env()).apply
        try:
            expect(Expectation(what, check), timeout=timeout)
        except TerminalStateError as exc:
            raise WebhookError(
                f"webhook {self.name!r} cannot become live: {exc.last_observed}\n"
                f"Hint: create namespace {self.namespace!r} before starting the webhook"
            ) from exc
        except ExpectationTimeout as exc:
            last_error = ""
            if not last_api_error:
                last_error = "last error from the API server: none\n"
            elif last_api_error[0] not in exc.last_observed:
                last_error = f"last error from the API server: {last_api_error[0]}\n"
            raise WebhookError(
                f"webhook {self.name!r} did not become live within {exc.timeout:g}s: expected {what}\n"
                f"last observed: {exc.last_observed}\n"
                f"{last_error}"
                f"Hint: the API server must reach {server.endpoint.host} (this machine, bound on "
                f"{server.endpoint.bind}) and trust the caBundle; 'x509' means a certificate problem, "
                "'connection refused' or 'i/o timeout' an address the API server cannot reach (for kind use "
                "the gateway of its Docker network; see ClusterHandle.webhook_endpoint); the kube-apiserver "
                "log has the details"
            ) from exc

    def _wait_unhooked(self) -> None:
        """Wait until the API server's informer has dropped the deleted configuration."""
        assert self._server is not None

        def check() -> Outcome:
            before = self._probe_calls()
            try:
                self._dry_run_probe()
            except ApiException as exc:
                text = _api_error(exc)
                if exc.status == 404 and "namespaces" in text:
                    return outcome_met(f"namespace {self.namespace!r} is gone, nothing left to intercept")
                return outcome_pending(f"dry-run create still failed: {text}")
            if self._server is not None and self._server.running and self._probe_calls() != before:
                return outcome_pending("the API server still called the webhook")
            return outcome_met("a dry-run create went through without the webhook")

        what = f"the API server stops calling webhook {self.webhook_name!r} in namespace {self.namespace!r}"
        try:
            expect(Expectation(what, check), timeout=(self._timeouts or Timeouts.from_env()).cleanup)
        except (ExpectationTimeout, TerminalStateError) as exc:
            raise WebhookError(
                f"MutatingWebhookConfiguration {self.name!r} was deleted, but {exc}\n"
                "Hint: the API server may still be calling it; check the kube-apiserver log"
            ) from exc


def _api_error(exc: ApiException) -> str:
    """The API server's own message (the Status body), not the client's multi-line dump of headers."""
    message = ""
    if exc.body:
        try:
            status = json.loads(exc.body)
            message = str(status.get("message", "")) if isinstance(status, dict) else ""
        except ValueError:
            message = str(exc.body)
    return f"({exc.status} {exc.reason}) {message}".rstrip()


def _patch_not_visible(obj: Any, patch: Sequence[Mapping[str, Any]]) -> str | None:
    """Return the first add/replace/remove operation the object does not reflect, or None.

    Only operations whose effect can be read back at their path are checked; ``move``, ``copy``, ``test``
    and appends (``/-``) are taken on trust.
    """
    for op in patch:
        kind, path = op.get("op"), str(op.get("path", ""))
        if kind not in ("add", "replace", "remove") or path.endswith("/-"):
            continue
        found, value = _resolve(obj, path)
        if kind == "remove" and found and not isinstance(_resolve(obj, path.rsplit("/", 1)[0])[1], list):
            return f"{path} removed"
        if kind in ("add", "replace") and (not found or value != op.get("value")):
            return f"{path} = {json.dumps(op.get('value'))}"
    return None


def _resolve(obj: Any, pointer: str) -> tuple[bool, Any]:
    """Resolve a JSON pointer (RFC 6901); ``(False, None)`` when the path does not exist."""
    if pointer == "":
        return True, obj
    current = obj
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict) and token in current:
            current = current[token]
        elif isinstance(current, list) and token.isdigit() and int(token) < len(current):
            current = current[int(token)]
        else:
            return False, None
    return True, current
