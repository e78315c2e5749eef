"""Credentials inside values never reach a report (issue 10): the text rules, then every place that writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness._errors import ClusterSetupError
from harness._report import evidence
from harness._report.claims_plugin import write_environment
from harness._report.ledger import Ledger, to_json
from harness._scenario import diagnostics

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzIn0.c2lnbmF0dXJlLXBhcnQ"
SECRETS = ("secret", "hunter2", "abc.def-ghi", "dXNlcjpwYXNz", "s3cr3t", "abcd1234", JWT, "MIIEvQIBADANBg")


@pytest.mark.parametrize(
    ("text", "redacted"),
    [
        ("dial postgres://user:secret@db/app: refused", "dial postgres://user:***@db/app: refused"),
        (
            "GET /api Authorization: Bearer abc.def-ghi took 3ms",
            "GET /api Authorization: Bearer *** took 3ms",
        ),
        ('{"Authorization": "Basic dXNlcjpwYXNz"}', '{"Authorization": "Basic ***"}'),
        ('curl -H "authorization: bearer abc.def-ghi" x', 'curl -H "authorization: bearer ***" x'),
        ("args: --password=hunter2 --user=x", "args: --password=*** --user=x"),
        ("db_password: s3cr3t", "db_password: ***"),
        ('{"token": "abcd1234", "name": "x"}', '{"token": "***", "name": "x"}'),
        ("https://h/cb?access_token=abcd1234&x=1", "https://h/cb?access_token=***&x=1"),
        (f"token {JWT} expired", "token *** expired"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END RSA PRIVATE KEY-----", None),
    ],
)
def test_credentials_in_text_are_redacted(text: str, redacted: str | None) -> None:
    from harness._redact import redact_text

    out = redact_text(text)
    if redacted is not None:
        assert out == redacted
    assert not any(s in out for s in SECRETS)
    assert redact_text(out) == out  # idempotent


@pytest.mark.parametrize(
    "text",
    [
        "one or more synchronization tasks completed unsuccessfully",
        "kind: Secret name: my-secret secretName: db-creds",
        "https://github.com/argoproj/argo-cd git@github.com:org/repo.git",
        "Job/presync-hook-1a2b3c uid 6f1c2d7e-0b6a-4f7e-9c3d-1e2f3a4b5c6d revision 9f8e7d6c5b4a",
        "tokens: 5, passwords rotated",
    ],
)
def test_evidence_without_credentials_is_left_alone(text: str) -> None:
    from harness._redact import redact_text

    assert redact_text(text) == text


def test_ledger_checks_and_evidence_are_redacted_in_both_files(tmp_path: Path) -> None:
    led = Ledger()
    led.recorder.check(
        "C1",
        "the message names the repo",
        claimed="any",
        observed="rpc error: repository postgres://user:secret@db/app not accessible",
        test="t",
    )
    led.recorder.evidence("C1", "log", ["x Authorization: Bearer abc.def-ghi", b"password=hunter2"], test="t")
    led.record_test("C1", "t", "passed")

    json_path, md_path = led.write(tmp_path, "v3.6.1")

    for text in (json_path.read_text(), md_path.read_text()):
        assert not any(s in text for s in SECRETS)
        assert "postgres://user:***@db/app" in text
    assert json.loads(json_path.read_text())[0]["evidence"]["t"]["log"] == [
        "x Authorization: Bearer ***",
        "password=***",
    ]


def test_repr_of_an_unknown_object_is_redacted_too() -> None:
    class Conn:
        def __repr__(self) -> str:
            return "Conn(url='redis://:secret@127.0.0.1:6379')"

    assert to_json(Conn()) == "Conn(url='redis://:***@127.0.0.1:6379')"


def test_component_log_excerpts_and_events_are_redacted(tmp_path: Path) -> None:
    log = tmp_path / "argocd-application-controller.log"
    log.write_text(
        '{"msg":"sync","app":"a1","header":"Authorization: Bearer abc.def-ghi"}\n'
        '{"msg":"other app","app":"zz"}\n'
        '{"msg":"comparing","app":"a1","repo":"https://user:hunter2@git.example/r.git"}\n'
    )

    lines = evidence.log_lines(log, needles=["a1"])

    assert lines == [
        '{"msg":"sync","app":"a1","header":"Authorization: Bearer ***"}',
        '{"msg":"comparing","app":"a1","repo":"https://user:***@git.example/r.git"}',
    ]


def test_diagnostics_pieces_are_redacted() -> None:
    app_yaml = diagnostics.render(
        {"spec": {"source": {"repoURL": "https://bot:hunter2@git.example/r.git"}}, "password": "s3cr3t"}
    )
    failing = diagnostics.render(lambda: (_ for _ in ()).throw(RuntimeError("GET postgres://u:secret@db")))

    assert "repoURL: https://bot:***@git.example/r.git" in app_yaml
    assert "password: ***" in app_yaml
    assert failing == "(could not collect: RuntimeError: GET postgres://u:***@db)"


def test_a_setup_error_quoting_a_log_is_redacted() -> None:
    err = ClusterSetupError("redis", "exited with code 1", "starting\nAUTH password=hunter2 failed")
    assert "hunter2" not in str(err)
    assert "password=***" in str(err)


def test_allure_environment_is_redacted(tmp_path: Path) -> None:
    write_environment(tmp_path, {"setting.controller_args": "--redis-password=hunter2", "argocd": "v3.6.1"})
    text = (tmp_path / "environment.properties").read_text()
    assert text == "argocd=v3.6.1\nsetting.controller_args=--redis-password=***\n"


def test_an_exported_log_dump_is_redacted_in_place(tmp_path: Path) -> None:
    from harness._redact import REDACTED, redact_tree

    (tmp_path / "node" / "pods").mkdir(parents=True)
    (tmp_path / "node" / "pods" / "a.log").write_text("token=abcd1234\nplain line\n")
    (tmp_path / "node" / "clean.log").write_text("nothing to hide\n")
    binary = bytes(range(256))
    (tmp_path / "node" / "journal.bin").write_bytes(binary)

    assert redact_tree(tmp_path) == 1

    assert (tmp_path / "node" / "pods" / "a.log").read_text() == f"token={REDACTED}\nplain line\n"
    assert (tmp_path / "node" / "clean.log").read_text() == "nothing to hide\n"
    assert (tmp_path / "node" / "journal.bin").read_bytes() == binary
