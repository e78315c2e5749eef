"""`argocd-chaos reproduce` and `incidents` with bad input: exit 2, one clear error, nothing left behind.

No cluster is touched: acquiring one fails the test, so each error is proven to come before slow work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness._argocd.observe import OperationState, ResourceResult
from harness._cli import main
from harness._cluster import session as _session
from harness._cluster.lease import leases_dir
from harness._paths import state_root
from harness._report.html import refresh_claims_page
from harness._reproduce import incidents as _incidents
from harness._reproduce import report
from harness._reproduce.command import page_root
from harness._reproduce.prepare import prepare
from harness._reproduce.run import ExpectationResult, ReplayResult, StepResult

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "reproduce" / "presync-migration-retry"


@pytest.fixture(autouse=True)
def _no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("bad input must be found before a cluster is acquired")

    monkeypatch.setattr(_session, "acquire", forbidden)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    d = tmp_path / "incident"
    shutil.copytree(EXAMPLE, d)
    return d


def _run(example: Path, tmp_path: Path, *extra: str, app: Path | None = None) -> int:
    return main(
        [
            "reproduce",
            "--app",
            str(app or example / "application.yaml"),
            "--manifests",
            str(example / "manifests"),
            "--reports",
            str(tmp_path / "out"),
            "--cluster-name",
            "rep-unit",
            *extra,
        ]
    )


def _nothing_left(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not state_root().exists() or not any(state_root().iterdir())
    assert not any(leases_dir().glob("rep-unit*.json")) if leases_dir().exists() else True


def test_not_an_application(example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}))
    assert _run(example, tmp_path, app=cm) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1
    assert "is not an Argo CD Application: it has kind 'ConfigMap'" in err
    _nothing_left(tmp_path)


def test_unknown_hook(example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(example, tmp_path, "--fail", "migrate") == 2
    err = capsys.readouterr().err
    assert "no hook named 'migrate' in the manifests; the hooks found are: db-migrate" in err
    _nothing_left(tmp_path)


def test_a_step_that_does_not_parse(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example / "steps.yaml").write_text("steps:\n  - expect: {operation_phase: Exploded}\n")
    assert _run(example, tmp_path, "--steps", str(example / "steps.yaml")) == 2
    assert "step 1 (expect): operation_phase is one of" in capsys.readouterr().err
    _nothing_left(tmp_path)


def test_manifests_that_are_not_objects(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (example / "manifests" / "broken.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    assert _run(example, tmp_path) == 2
    assert "has no metadata.name" in capsys.readouterr().err
    _nothing_left(tmp_path)


def test_bad_version_and_reports_dir(
    example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(example, tmp_path, "--argocd-version", "latest-and-greatest") == 2
    (tmp_path / "file").write_text("")
    assert (
        main(
            [
                "reproduce",
                "--app",
                str(example / "application.yaml"),
                "--manifests",
                str(example / "manifests"),
                "--reports",
                str(tmp_path / "file" / "out"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "exists and is not a directory" in err
    _nothing_left(tmp_path)


def test_broken_catalogue_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cat" / "123-half").mkdir(parents=True)
    args = ["incidents", "--catalogue", str(tmp_path / "cat"), "--reports", str(tmp_path / "out")]
    assert main(args) == 2
    assert (
        "incident 123-half lacks application.yaml, manifests, steps.yaml, README.md"
        in capsys.readouterr().err
    )


def _result(tmp_path: Path) -> ReplayResult:
    p = prepare(EXAMPLE / "application.yaml", EXAMPLE / "manifests", fail=["db-migrate=3"], test_id="abc123")
    op = OperationState(
        "Failed",
        "one or more tasks failed; connecting to postgres://shop:s3cr3t-pa55@db.internal/shop",
        2,
        "2026-12-01T00:00:00Z",
        "2026-12-01T00:00:30Z",
        "abc",
        (
            ResourceResult(
                "Job", "db-migrate", "chaos-abc123", "", "Job failed", "PreSync", "Failed", "PreSync"
            ),
        ),
        seq=1,
    )
    return ReplayResult(
        p,
        {"argocd": "v3.6.1"},
        "embedded",
        p.application_manifest("file:///repo"),
        steps=[StepResult(0, "sync", "done", "ok", 1.0)],
        expectations=[ExpectationResult(1, "the latest operation's phase is Failed", True, op.excerpt())],
        operations=[op],
        final={
            "application": "present",
            "sync": "OutOfSync",
            "health": "Missing",
            "operation_phase": "Failed",
            "operation_message": op.message,
            "finalizers": [],
            "conditions": [],
        },
        diagnostics={"log-argocd-application-controller": "password=s3cr3t-pa55 msg=retrying"},
        seconds=31.0,
    )


def test_report_shape_and_no_secret_value_written(tmp_path: Path) -> None:
    json_path, md_path = report.write(_result(tmp_path), tmp_path / "out")
    data = json.loads(json_path.read_text())
    assert {"argocd_version", "application", "operations", "final", "expectations"} <= set(data)
    assert data["argocd_version"] == "v3.6.1"
    op = data["operations"][0]
    assert (op["phase"], op["retry_count"], op["resources"][0]["hook_phase"]) == ("Failed", 2, "Failed")
    assert {"sync", "health", "operation_phase"} <= set(data["final"])
    assert data["held"] is True
    assert "Job/db-migrate" in md_path.read_text()
    written = "".join(p.read_text(errors="replace") for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert "s3cr3t-pa55" not in written
    assert "DATABASE_URL" in written  # the key is kept, the value never written
    assert list((tmp_path / "out" / "allure-results").glob("*-result.json"))


def test_incident_table_over_releases(tmp_path: Path) -> None:
    for release, verdict in (("v3.6.1", "not reproduced"), ("v2.14.21", "reproduced")):
        d = tmp_path / "incidents" / release
        d.mkdir(parents=True)
        row = {
            "id": "27507-x",
            "upstream": 27507,
            "title": "t",
            "verdict": verdict,
            "evidence": ["e"],
            "report": "r.md",
            "seconds": 3.0,
        }
        (d / "summary.json").write_text(json.dumps({"release": release, "incidents": [row]}))
    data = _incidents.table(tmp_path)
    assert data["releases"] == ["v2.14.21", "v3.6.1"]
    assert data["incidents"][0]["results"]["v2.14.21"]["verdict"] == "reproduced"
    md = _incidents.format_table(data)
    assert "| #27507 t | reproduced | not reproduced |" in md


def test_known_bugs_that_appear_or_disappear_between_releases(tmp_path: Path) -> None:
    _summary(tmp_path, "v2.14.21", {17191: "reproduced", 9830: "reproduced"})
    _summary(tmp_path, "v3.6.1", {17191: "not reproduced", 9830: "reproduced"})
    data = _incidents.table(tmp_path)
    assert data["changes"] == [
        {"from": "v2.14.21", "to": "v3.6.1", "incident": "17191-x", "change": "disappears"}
    ]
    section = _incidents.matrix_section(tmp_path)
    assert "| #17191 bug 17191 | reproduced | not reproduced |" in section
    assert "- v2.14.21 → v3.6.1: 17191-x disappears" in section
    assert _incidents.matrix_section(tmp_path / "none") == ""


def _summary(reports: Path, release: str, verdicts: dict[int, str]) -> None:
    d = reports / "incidents" / release
    d.mkdir(parents=True)
    rows = [
        {
            "id": f"{n}-x",
            "upstream": n,
            "title": f"bug {n}",
            "verdict": v,
            "evidence": [],
            "report": "",
            "seconds": 1.0,
        }
        for n, v in verdicts.items()
    ]
    (d / "summary.json").write_text(json.dumps({"release": release, "incidents": rows}))


def test_compare_of_two_runs_names_the_bugs_that_appear_or_disappear(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _summary(old, "v2.14.21", {17191: "reproduced", 9830: "not reproduced", 6880: "reproduced"})
    _summary(new, "v3.6.1", {17191: "not reproduced", 9830: "reproduced", 6880: "reproduced"})
    (new / "claims.json").write_text("[]")

    rows = _incidents.compare_runs(old, new / "claims.json")  # a ledger path stands for its folder

    assert [(r["upstream"], r["before"], r["after"], r["change"]) for r in rows] == [
        ("17191", "reproduced", "not reproduced", "disappears"),
        ("9830", "not reproduced", "reproduced", "appears"),
    ]
    text = _incidents.format_compare(rows)
    assert "- #9830 bug 9830: not reproduced on v2.14.21 → reproduced on v3.6.1 (the bug appears)" in text
    assert _incidents.compare_runs(old, tmp_path / "nothing-here") == []
    assert _incidents.format_compare([]) == ""


@pytest.mark.parametrize(
    ("out", "root"),
    [
        ("reports/reproduce/shop", "reports"),  # the default: the page of the suites' reports
        ("reproduce/shop", "."),
        ("mine", "mine"),  # any other --reports: a page of its own
        ("a/reproduce", "a/reproduce"),
    ],
)
def test_which_page_a_replay_belongs_to(out: str, root: str) -> None:
    assert page_root(Path(out)) == Path(root)


def test_a_replay_refreshes_the_page_of_its_reports_root(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    json_path, _ = report.write(_result(tmp_path), root / "reproduce" / "shop")
    said: list[str] = []

    page = refresh_claims_page(page_root(json_path.parent), said.append)

    assert page == root / "claims.html"
    assert 'data-replay="shop"' in page.read_text()
    assert said == [f"argocd-chaos: claims page written to {page} (open it in a browser)"]


def test_a_page_that_cannot_be_written_is_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "reports"
    json_path, _ = report.write(_result(tmp_path), root / "reproduce" / "shop")
    (root / "matrix.json").write_text("{")
    said: list[str] = []

    assert refresh_claims_page(root, said.append) is None

    (line,) = said
    assert line.startswith(
        "argocd-chaos: warning: the claims page was not written: cannot read the release matrix"
    )
    assert not (root / "claims.html").exists()
    assert json_path.is_file()


def test_the_incident_table_refreshes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = tmp_path / "reports"
    _summary(reports, "v3.6.1", {27507: "reproduced"})
    report.write(_result(tmp_path), reports / "incidents" / "v3.6.1" / "27507-x")
    args = ["incidents", "--table-only", "--catalogue", str(tmp_path / "none"), "--reports", str(reports)]

    assert main(args) == 0

    html = (reports / "claims.html").read_text()
    assert 'data-replay="27507-x"' in html
    assert "Known hook bugs (argocd-chaos incidents) on v3.6.1" in html
    assert f"claims page written to {reports / 'claims.html'}" in capsys.readouterr().err
