from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness._cluster.embedded.pki import ClusterPKI, generate_pki, write_kubeconfig
from harness._errors import ConfigError

EXPECTED_DNS = [
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
]
EXPECTED_IPS = [ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.1")]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ClusterPKI:
    return generate_pki(tmp_path_factory.mktemp("pki") / "certs")


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _key(path: Path) -> PrivateKeyTypes:
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def _assert_signed_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    ca_pub = ca.public_key()
    assert isinstance(ca_pub, ec.EllipticCurvePublicKey)
    hash_alg = cert.signature_hash_algorithm
    assert hash_alg is not None
    # Raises InvalidSignature if the CA key did not sign this certificate.
    ca_pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hash_alg))
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_files_live_in_directory(pki: ClusterPKI) -> None:
    paths = [
        pki.ca_crt,
        pki.ca_key,
        pki.serving_crt,
        pki.serving_key,
        pki.admin_crt,
        pki.admin_key,
        pki.sa_key,
        pki.sa_pub,
    ]
    assert pki.dir.is_absolute()
    assert len(set(paths)) == len(paths)
    for p in paths:
        assert p.parent == pki.dir
        assert p.is_file()
    # No temporary files left behind by the atomic writes.
    assert sorted(p.name for p in pki.dir.iterdir()) == sorted(p.name for p in paths)


def test_ca_is_self_signed_ca(pki: ClusterPKI) -> None:
    ca = _cert(pki.ca_crt)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "argocd-chaos-ca"
    assert ca.subject == ca.issuer
    _assert_signed_by(ca, ca)
    bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign
    assert ku.crl_sign

    now = datetime.datetime.now(datetime.UTC)
    assert ca.not_valid_before_utc < now - datetime.timedelta(minutes=1)
    lifetime = ca.not_valid_after_utc - now
    assert datetime.timedelta(days=364) < lifetime <= datetime.timedelta(days=366)

    ca_key = _key(pki.ca_key)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    assert ca_key.public_key() == ca.public_key()


@pytest.mark.parametrize(
    ("crt_attr", "key_attr"),
    [("serving_crt", "serving_key"), ("admin_crt", "admin_key")],
)
def test_leaf_signed_by_ca_and_matches_key(pki: ClusterPKI, crt_attr: str, key_attr: str) -> None:
    ca = _cert(pki.ca_crt)
    leaf = _cert(getattr(pki, crt_attr))
    _assert_signed_by(leaf, ca)
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.not_valid_after_utc <= ca.not_valid_after_utc
    key = _key(getattr(pki, key_attr))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.public_key() == leaf.public_key()


def test_chain_verifies_with_policy_verifiers(pki: ClusterPKI) -> None:
    ca = _cert(pki.ca_crt)
    store = verification.Store([ca])
    builder = verification.PolicyBuilder().store(store)

    server_verifier = builder.build_server_verifier(x509.DNSName("kubernetes.default.svc"))
    chain = server_verifier.verify(_cert(pki.serving_crt), [])
    assert chain[-1] == ca

    ip_verifier = builder.build_server_verifier(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    ip_verifier.verify(_cert(pki.serving_crt), [])
    # The admin cert has no SAN (Kubernetes reads CN/O), which the WebPKI client policy insists on, so
    # its chain is checked by signature above and by OpenSSL in the mutual-TLS handshake test below.


def test_serving_sans_exact(pki: ClusterPKI) -> None:
    serving = _cert(pki.serving_crt)
    sans = _sans(serving)
    assert sans.get_values_for_type(x509.DNSName) == EXPECTED_DNS
    assert sans.get_values_for_type(x509.IPAddress) == EXPECTED_IPS
    assert len(list(sans)) == len(EXPECTED_DNS) + len(EXPECTED_IPS)
    eku = serving.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_extra_sans_parsed_as_ip_or_dns(tmp_path: Path) -> None:
    extras = ["192.168.49.2", "fd00::5", "api.example.test", "*.apps.example.test", "localhost"]
    pki = generate_pki(tmp_path / "pki", extra_sans=extras)
    sans = _sans(_cert(pki.serving_crt))
    assert sans.get_values_for_type(x509.DNSName) == [
        *EXPECTED_DNS,
        "api.example.test",
        "*.apps.example.test",
    ]
    assert sans.get_values_for_type(x509.IPAddress) == [
        *EXPECTED_IPS,
        ipaddress.ip_address("192.168.49.2"),
        ipaddress.ip_address("fd00::5"),
    ]


@pytest.mark.parametrize("bad", ["", "has space", "bad..name", "-leading.dash", "ünicode.example"])
def test_invalid_extra_san_rejected(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="extra SAN"):
        generate_pki(tmp_path / "pki", extra_sans=[bad])
    assert not (tmp_path / "pki").exists()


def test_extra_sans_as_bare_string_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sequence"):
        generate_pki(tmp_path / "pki", extra_sans="example.test")


def test_admin_subject_and_usage(pki: ClusterPKI) -> None:
    admin = _cert(pki.admin_crt)
    assert admin.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "argocd-chaos-admin"
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == [
        "system:masters"
    ]
    eku = admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_file_modes(pki: ClusterPKI) -> None:
    assert _mode(pki.dir) == 0o700
    for key in (pki.ca_key, pki.serving_key, pki.admin_key, pki.sa_key):
        assert _mode(key) == 0o600, key
    for pub in (pki.ca_crt, pki.serving_crt, pki.admin_crt, pki.sa_pub):
        assert _mode(pub) == 0o644, pub


def test_modes_enforced_over_existing_dir_and_umask(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    old_umask = os.umask(0o077)
    try:
        pki = generate_pki(directory)
    finally:
        os.umask(old_umask)
    assert _mode(directory) == 0o700
    assert _mode(pki.ca_crt) == 0o644
    assert _mode(pki.ca_key) == 0o600


def test_regenerate_replaces_material(tmp_path: Path) -> None:
    first = generate_pki(tmp_path / "pki")
    ca_before = first.ca_crt.read_bytes()
    second = generate_pki(tmp_path / "pki")
    assert second == first
    assert second.ca_crt.read_bytes() != ca_before
    _assert_signed_by(_cert(second.serving_crt), _cert(second.ca_crt))


def test_sa_key_is_rsa_2048_and_pub_matches(pki: ClusterPKI) -> None:
    priv = _key(pki.sa_key)
    assert isinstance(priv, rsa.RSAPrivateKey)
    assert priv.key_size == 2048
    pub = serialization.load_pem_public_key(pki.sa_pub.read_bytes())
    assert isinstance(pub, rsa.RSAPublicKey)
    assert pub.public_numbers() == priv.public_key().public_numbers()
    assert pki.sa_pub.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_kubeconfig(tmp_path: Path, pki: ClusterPKI) -> None:
    out = write_kubeconfig(
        tmp_path / "kube" / "config",
        server="https://127.0.0.1:6443",
        pki=pki,
        cluster_name="chaos",
        namespace="argocd",
    )
    assert out == (tmp_path / "kube" / "config").absolute()
    assert _mode(out) == 0o600
    cfg = yaml.safe_load(out.read_text())
    assert cfg["apiVersion"] == "v1"
    assert cfg["kind"] == "Config"
    assert cfg["current-context"] == "chaos"

    [cluster] = cfg["clusters"]
    [user] = cfg["users"]
    [context] = cfg["contexts"]
    assert context["name"] == "chaos"
    assert context["context"] == {"cluster": cluster["name"], "user": user["name"], "namespace": "argocd"}

    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    ca_path = Path(cluster["cluster"]["certificate-authority"])
    assert ca_path.is_absolute()
    assert ca_path == pki.ca_crt
    assert Path(user["user"]["client-certificate"]) == pki.admin_crt
    assert Path(user["user"]["client-key"]) == pki.admin_key
    for p in (ca_path, Path(user["user"]["client-certificate"]), Path(user["user"]["client-key"])):
        assert p.is_absolute()
        assert p.is_file()


def test_kubeconfig_without_namespace(tmp_path: Path, pki: ClusterPKI) -> None:
    out = write_kubeconfig(tmp_path / "config", server="https://127.0.0.1:1", pki=pki, cluster_name="c")
    [context] = yaml.safe_load(out.read_text())["contexts"]
    assert "namespace" not in context["context"]


@pytest.mark.parametrize(
    ("server", "cluster_name"),
    [("http://127.0.0.1:8080", "chaos"), ("127.0.0.1:6443", "chaos"), ("https://127.0.0.1:6443", "")],
)
def test_kubeconfig_rejects_bad_input(
    tmp_path: Path, pki: ClusterPKI, server: str, cluster_name: str
) -> None:
    with pytest.raises(ConfigError):
        write_kubeconfig(tmp_path / "config", server=server, pki=pki, cluster_name=cluster_name)
    assert not (tmp_path / "config").exists()


def test_ssl_context_loads_pairs(pki: ClusterPKI) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.serving_crt, pki.serving_key)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(pki.admin_crt, pki.admin_key)
    client_ctx.load_verify_locations(cafile=pki.ca_crt)


@pytest.mark.parametrize("server_hostname", ["kubernetes.default.svc", "localhost", "127.0.0.1", "::1"])
def test_mutual_tls_handshake_in_memory(pki: ClusterPKI, server_hostname: str) -> None:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(pki.serving_crt, pki.serving_key)
    server_ctx.load_verify_locations(cafile=pki.ca_crt)
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(pki.admin_crt, pki.admin_key)
    client_ctx.load_verify_locations(cafile=pki.ca_crt)

    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)

    done = {"client": False, "server": False}
    for _ in range(20):
        for name, obj in (("client", client), ("server", server)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            break
    assert all(done.values())

    # The server saw exactly the admin identity, and the client the serving cert.
    client_der = server.getpeercert(binary_form=True)
    assert client_der is not None
    assert x509.load_der_x509_certificate(client_der) == _cert(pki.admin_crt)
    server_der = client.getpeercert(binary_form=True)
    assert server_der is not None
    assert x509.load_der_x509_certificate(server_der) == _cert(pki.serving_crt)
