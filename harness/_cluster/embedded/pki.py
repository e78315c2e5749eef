"""Certificates and kubeconfig for the embedded local control plane.

The harness runs its own kube-apiserver on 127.0.0.1, so it has to mint the TLS material a real cluster
installer would: a throwaway CA, a serving certificate whose SANs cover every name in-cluster clients and
the host use to reach the API server, a ``system:masters`` client certificate for the harness itself, and
the service-account signing key pair. Everything is generated fresh per cluster directory; nothing here is
meant to outlive a test session, which is why the CA is self-signed and lives next to its leaves.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness._errors import ConfigError

__all__ = [
    "ADMIN_COMMON_NAME",
    "ADMIN_ORGANIZATION",
    "CA_COMMON_NAME",
    "DEFAULT_SERVING_DNS_NAMES",
    "DEFAULT_SERVING_IPS",
    "SERVING_COMMON_NAME",
    "ClusterPKI",
    "generate_pki",
    "write_kubeconfig",
]

CA_COMMON_NAME = "argocd-chaos-ca"
SERVING_COMMON_NAME = "kube-apiserver"
ADMIN_COMMON_NAME = "argocd-chaos-admin"
# The group kube-apiserver grants cluster-admin to without any RBAC objects, so the harness can act
# before (and independently of) whatever RBAC the system under test installs.
ADMIN_ORGANIZATION = "system:masters"

# In-cluster clients (Argo CD among them) reach the API through the ``kubernetes`` Service under any of
# these names, and the host reaches it on loopback; the serving cert must be valid for all of them.
DEFAULT_SERVING_DNS_NAMES: tuple[str, ...] = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)
# 10.0.0.1 is the first address of the default service CIDR, i.e. the ClusterIP of ``kubernetes``.
DEFAULT_SERVING_IPS: tuple[str, ...] = ("127.0.0.1", "::1", "10.0.0.1")

_VALIDITY = datetime.timedelta(days=365)
# Backdating keeps a freshly minted cert usable when a container or VM clock lags the host a little.
_CLOCK_SKEW = datetime.timedelta(minutes=5)
_SA_KEY_BITS = 2048
_DNS_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
# One optional leading wildcard label, then ordinary labels; no trailing dot, which TLS name matching
# in Go and OpenSSL does not expect in a SAN.
_DNS_NAME = re.compile(rf"(?:\*\.)?{_DNS_LABEL}(?:\.{_DNS_LABEL})*")

_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644
_DIR_MODE = 0o700


@dataclass(frozen=True)
class ClusterPKI:
    """Paths to one cluster's TLS material, as the API server flags and kubeconfig consume them.

    Only paths are kept, never key bytes, so the object can be logged or put in a report without
    leaking secrets.
    """

    dir: Path
    ca_crt: Path
    ca_key: Path
    serving_crt: Path
    serving_key: Path
    admin_crt: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def generate_pki(directory: Path, *, extra_sans: Sequence[str] = ()) -> ClusterPKI:
    """Mint a fresh CA, API server serving cert, admin client cert and service-account key pair.

    ``extra_sans`` exists for callers that expose the API server under another address (a bridge IP a
    kind node or container uses, a host name); each entry becomes an IP SAN when it parses as an IP and a
    DNS SAN otherwise. Existing files in ``directory`` are replaced, because keys from an earlier run would
    not match the new CA. Private keys are created 0600 from the first byte and the directory is forced to
    0700, since anyone who can read them is cluster-admin.
    """
    sans = _serving_sans(extra_sans)

    directory = Path(directory).absolute()
    directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    # mkdir's mode is subject to the umask and ignored for an existing directory; make it exact.
    directory.chmod(_DIR_MODE)

    pki = ClusterPKI(
        dir=directory,
        ca_crt=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_crt=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_crt=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_key=directory / "sa.key",
        sa_pub=directory / "sa.pub",
    )

    now = datetime.datetime.now(datetime.UTC)
    not_before = now - _CLOCK_SKEW
    not_after = now + _VALIDITY

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_COMMON_NAME)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(
        key: ec.EllipticCurvePrivateKey,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        san: x509.SubjectAlternativeName | None,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
            )
        )
        if san is not None:
            builder = builder.add_extension(san, critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving_cert = issue(
        serving_key,
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVING_COMMON_NAME)]),
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName(sans),
    )

    admin_key = ec.generate_private_key(ec.SECP256R1())
    admin_cert = issue(
        admin_key,
        # kube-apiserver maps O to groups and CN to the user name.
        x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_ORGANIZATION),
                x509.NameAttribute(NameOID.COMMON_NAME, ADMIN_COMMON_NAME),
            ]
        ),
        ExtendedKeyUsageOID.CLIENT_AUTH,
        None,
    )

    # RSA because ServiceAccount tokens are RS256 by default and some verifiers accept nothing else.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=_SA_KEY_BITS)

    # Keys first and CA cert last: a reader that sees ca.crt can rely on the rest being in place.
    _write_file(pki.ca_key, _private_pem(ca_key), _PRIVATE_MODE)
    _write_file(pki.serving_key, _private_pem(serving_key), _PRIVATE_MODE)
    _write_file(pki.admin_key, _private_pem(admin_key), _PRIVATE_MODE)
    _write_file(pki.sa_key, _private_pem(sa_key), _PRIVATE_MODE)
    _write_file(
        pki.sa_pub,
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        _PUBLIC_MODE,
    )
    _write_file(pki.serving_crt, serving_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    _write_file(pki.admin_crt, admin_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    _write_file(pki.ca_crt, ca_cert.public_bytes(serialization.Encoding.PEM), _PUBLIC_MODE)
    return pki


def write_kubeconfig(
    path: Path,
    *,
    server: str,
    pki: ClusterPKI,
    cluster_name: str,
    namespace: str | None = None,
) -> Path:
    """Write a kubeconfig that authenticates as the admin cert against ``server``.

    Paths are referenced rather than inlined so that kubectl, client-go and the Python client all read
    the same files the API server was started with, and they are made absolute so the kubeconfig works
    from any working directory. The file is 0600 because it grants cluster-admin.
    """
    if not cluster_name:
        raise ConfigError("cluster_name must not be empty: it names the kubeconfig context")
    if not server.startswith("https://"):
        raise ConfigError(
            f"server {server!r} must be an https:// URL: the admin identity is a TLS client certificate"
        )

    user_name = f"{cluster_name}-admin"
    context: dict[str, Any] = {"cluster": cluster_name, "user": user_name}
    if namespace is not None:
        context["namespace"] = namespace
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {
                    "server": server,
                    "certificate-authority": str(pki.ca_crt.absolute()),
                },
            }
        ],
        "users": [
            {
                "name": user_name,
                "user": {
                    "client-certificate": str(pki.admin_crt.absolute()),
                    "client-key": str(pki.admin_key.absolute()),
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": context}],
        "current-context": cluster_name,
    }

    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
    _write_file(path, text.encode("utf-8"), _PRIVATE_MODE)
    return path


def _serving_sans(extra_sans: Sequence[str]) -> list[x509.GeneralName]:
    """Build the SAN list, rejecting bad extras here rather than as an opaque TLS failure later."""
    if isinstance(extra_sans, str):
        # A bare string is a Sequence[str] too; iterating it would add one SAN per character.
        raise ConfigError(f"extra_sans must be a sequence of names, not the string {extra_sans!r}")

    names: list[x509.GeneralName] = []
    seen: set[x509.GeneralName] = set()

    def add(name: x509.GeneralName) -> None:
        if name not in seen:
            seen.add(name)
            names.append(name)

    for dns in DEFAULT_SERVING_DNS_NAMES:
        add(x509.DNSName(dns))
    for ip in DEFAULT_SERVING_IPS:
        add(x509.IPAddress(ipaddress.ip_address(ip)))
    for raw in extra_sans:
        try:
            add(x509.IPAddress(ipaddress.ip_address(raw)))
            continue
        except ValueError:
            pass
        if not raw.isascii() or len(raw) > 253 or not _DNS_NAME.fullmatch(raw):
            raise ConfigError(
                f"extra SAN {raw!r} is neither an IP address nor a valid DNS name "
                "(use the punycode form for non-ASCII names)"
            )
        add(x509.DNSName(raw.lower()))
    return names


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    """Spell out every flag, as cryptography requires, while keeping the CA/leaf difference visible."""
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    """Use unencrypted PKCS#8, the one PEM form kube-apiserver, client-go, OpenSSL and Python all load."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with ``mode`` set before any content lands.

    The temporary file is opened 0600 with O_EXCL, so secret bytes are never readable by others, and
    fchmod makes the final mode exact regardless of umask. Renaming over the target means a process
    that is reading the old file (a restarting API server, say) sees either the old or the new
    content, never a torn write.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
