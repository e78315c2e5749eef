from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest

from harness._errors import HarnessError
from harness._report.ledger import (
    CLAIMS,
    VERDICTS,
    Check,
    ClaimRecorder,
    Ledger,
    LedgerError,
    derive_verdict,
    format_ledger_table,
    load_ledger,
)

T1 = "suites/test_presync.py::test_presync_failure_blocks_sync"
T2 = "suites/test_presync.py::test_presync_failure_keeps_old_version"


def check(agrees: bool, test: str = T1) -> Check:
    return Check(
        "C1", "no manifest applied", claimed=0, observed=0 if agrees else 2, agrees=agrees, test=test
    )


# -- verdicts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agrees", "outcomes", "verdict"),
    [
        pytest.param([True], {T1: "passed"}, "held", id="one-agreeing"),
        pytest.param([True, True], {T1: "passed", T2: "passed"}, "held", id="all-agreeing"),
        pytest.param([False], {T1: "passed"}, "disproved", id="one-disagreeing"),
        pytest.param([False, False], {T1: "passed"}, "disproved", id="none-agreeing"),
        pytest.param([True, False], {T1: "passed"}, "partial", id="mixed"),
        pytest.param([True], {}, "not-run", id="no-test-recorded"),
        pytest.param([True], {T1: "skipped", T2: "skipped"}, "not-run", id="all-skipped"),
        pytest.param([], {T1: "passed"}, "not-run", id="passed-without-checks"),
        pytest.param([], {T1: "error"}, "not-run", id="errored-without-checks"),
        pytest.param([True], {T1: "failed"}, "held", id="failed-elsewhere-still-counts-checks"),
        pytest.param([False], {T1: "error", T2: "skipped"}, "disproved", id="error-and-skip"),
        pytest.param([], {}, "not-run", id="nothing"),
    ],
)
def test_derive_verdict(agrees: list[bool], outcomes: dict[str, str], verdict: str) -> None:
    assert derive_verdict([check(a) for a in agrees], outcomes) == verdict


# -- recording --------------------------------------------------------------------------------------


def test_check_agrees_on_equality_and_returns_it() -> None:
    rec = ClaimRecorder()
    assert rec.check("C1", "no manifest applied", claimed=[], observed=[], test=T1) is True
    assert rec.check("C1", "phase", claimed="Failed", observed="Running", test=T1) is False
    assert [c.agrees for c in rec.checks("C1")] == [True, False]
    assert rec.checks("C2") == []


def test_recorded_values_are_snapshots() -> None:
    rec = ClaimRecorder()
    observed = ["pre-sync-job"]
    rec.check("C6", "hooks left", claimed=["pre-sync-job"], observed=observed, test=T1)
    rec.evidence("C6", "jobs", observed, test=T1)
    observed.append("late")
    assert rec.checks("C6")[0].observed == ["pre-sync-job"]
    assert rec.evidence_for("C6") == {T1: {"jobs": ["pre-sync-job"]}}


@pytest.mark.parametrize("bad", ["", "  "])
def test_bad_claim_id(bad: str) -> None:
    with pytest.raises(ValueError, match="claim id"):
        ClaimRecorder().evidence(bad, "k", 1, test=T1)


def test_record_test_rejects_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="'passd'"):
        Ledger().record_test("C1", T1, "passd")


def test_recorder_is_thread_safe() -> None:
    rec = ClaimRecorder()

    def work(n: int) -> None:
        for i in range(200):
            rec.check("C9", "gap", claimed=5, observed=5, test=f"t{n}")
            rec.evidence("C9", f"gap{i}", i, test=f"t{n}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec.checks("C9")) == 800
    assert sum(len(v) for v in rec.evidence_for("C9").values()) == 800


# -- writing ----------------------------------------------------------------------------------------


ENTRY_KEYS = {"id", "title", "verdict", "argocd_version", "tests", "evidence", "checks"}
CHECK_KEYS = {"statement", "claimed", "observed", "agrees", "test"}


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger()
    rec = led.recorder
    # C1 held, C3 disproved, C8 partial, C40 unknown to CLAIMS, everything else not run.
    led.record_test("C1", T1, "passed")
    rec.check("C1", "no manifest applied", claimed=0, observed=0, test=T1)
    rec.evidence("C1", "operation_phase", "Failed", test=T1)
    led.record_test("C3", "suites/test_postsync.py::test_rollback", "passed")
    rec.check(
        "C3",
        "nothing rolled back",
        claimed=True,
        observed=False,
        test="suites/test_postsync.py::test_rollback",
    )
    led.record_test("C8", "suites/test_selfheal.py::test_postsync_rerun", "failed")
    rec.check(
        "C8",
        "PreSync re-ran",
        claimed=True,
        observed=True,
        test="suites/test_selfheal.py::test_postsync_rerun",
    )
    rec.check(
        "C8",
        "PostSync re-ran",
        claimed=True,
        observed=False,
        test="suites/test_selfheal.py::test_postsync_rerun",
    )
    led.record_test("C4", "suites/test_syncfail.py::test_syncfail_fails", "skipped")
    rec.check("C40", "new claim | with pipe", claimed=1, observed=1, test="suites/test_new.py::test_new")
    return led


def test_write_json_schema(ledger: Ledger, tmp_path: Path) -> None:
    json_path, md_path = ledger.write(tmp_path / "reports", "v3.1.5")
    assert json_path == tmp_path / "reports" / "claims.json"
    assert md_path == tmp_path / "reports" / "claims.md"
    entries = json.loads(json_path.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    assert [e["id"] for e in entries] == [*CLAIMS, "C40"]
    for entry in entries:
        assert set(entry) == ENTRY_KEYS
        assert entry["verdict"] in VERDICTS
        assert entry["argocd_version"] == "v3.1.5"
        assert isinstance(entry["title"], str)
        assert entry["title"]
        assert isinstance(entry["evidence"], dict)
        for test in entry["tests"]:
            assert set(test) == {"nodeid", "outcome"}
        for c in entry["checks"]:
            assert set(c) == CHECK_KEYS
            assert isinstance(c["agrees"], bool)
    by_id = {e["id"]: e for e in entries}
    assert {i: by_id[i]["verdict"] for i in ("C1", "C2", "C3", "C4", "C8", "C40")} == {
        "C1": "held",
        "C2": "not-run",
        "C3": "disproved",
        "C4": "not-run",
        "C8": "partial",
        "C40": "held",  # the check proves the test ran even though no outcome was recorded
    }
    assert by_id["C1"]["title"] == CLAIMS["C1"]
    assert by_id["C1"]["tests"] == [{"nodeid": T1, "outcome": "passed"}]
    assert by_id["C1"]["evidence"] == {T1: {"operation_phase": "Failed"}}
    assert by_id["C40"]["tests"] == [{"nodeid": "suites/test_new.py::test_new", "outcome": "unknown"}]
    assert "not in the claims list" in by_id["C40"]["title"]
    assert by_id["C3"]["checks"] == [
        {
            "statement": "nothing rolled back",
            "claimed": True,
            "observed": False,
            "agrees": False,
            "test": "suites/test_postsync.py::test_rollback",
        }
    ]


def test_claims_sorted_by_number_not_text(tmp_path: Path) -> None:
    led = Ledger()
    for claim_id in ("C20", "C3b", "C40"):
        led.recorder.evidence(claim_id, "x", 1, test=T1)
    ids = [e["id"] for e in led.entries("v3")]
    assert ids == [*CLAIMS, "C20", "C40", "C3b"]


def test_empty_ledger_lists_every_claim_as_not_run(tmp_path: Path) -> None:
    json_path, md_path = Ledger().write(tmp_path, "v3")
    entries = load_ledger(json_path)
    assert [e["id"] for e in entries] == list(CLAIMS)
    assert {e["verdict"] for e in entries} == {"not-run"}
    assert md_path.read_text(encoding="utf-8").count("No test of this claim ran.") == len(CLAIMS)


def test_markdown(ledger: Ledger, tmp_path: Path) -> None:
    _, md_path = ledger.write(tmp_path, "v3.1.5")
    md = md_path.read_text(encoding="utf-8")
    assert "| Claim | Verdict | Argo CD | Evidence |" in md
    rows = [line for line in md.splitlines() if re.match(r"\| C\d+:", line)]
    assert len(rows) == len(CLAIMS) + 1
    for claim_id, title in CLAIMS.items():
        assert any(row.startswith(f"| {claim_id}: {title} |") for row in rows), claim_id
    assert "| C1: " in md
    assert "| held | v3.1.5 |" in md
    assert "| C40: " in md
    assert "new claim \\| with pipe" in md  # a pipe must not split the table cell
    assert "## C8: " in md
    assert "- ✔ PreSync re-ran" in md
    assert "- ✘ PostSync re-ran" in md
    assert "operation_phase: `Failed`" in md


# -- redaction and serialisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["password", "admin.password", "API_TOKEN", "clientSecret", "ssh-key", "Keys"]
)
def test_secret_evidence_is_redacted(key: str, tmp_path: Path) -> None:
    led = Ledger()
    led.recorder.evidence("C7", key, "hunter2", test=T1)
    json_path, md_path = led.write(tmp_path, "v3")
    assert "hunter2" not in json_path.read_text(encoding="utf-8")
    assert "hunter2" not in md_path.read_text(encoding="utf-8")
    assert load_ledger(json_path)[6]["evidence"] == {T1: {key: "***"}}


def test_nested_secrets_are_redacted_and_other_keys_kept() -> None:
    rec = ClaimRecorder()
    rec.evidence("C7", "argocd-secret", {"admin.password": "x"}, test=T1)
    rec.evidence("C7", "config", {"repo": {"url": "https://git", "sshPrivateKey": "y"}, "n": 1}, test=T1)
    assert rec.evidence_for("C7") == {
        T1: {
            "argocd-secret": "***",
            "config": {"repo": {"url": "https://git", "sshPrivateKey": "***"}, "n": 1},
        }
    }


class Phase(enum.Enum):
    FAILED = "Failed"


@dataclasses.dataclass
class HookRun:
    name: str
    phase: Phase
    started: dt.datetime
    took: dt.timedelta
    lock: threading.Lock  # not deep-copyable: dataclasses.asdict would fail on it


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


def test_non_serialisable_evidence_is_converted(tmp_path: Path) -> None:
    started = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    led = Ledger()
    rec = led.recorder
    rec.evidence(
        "C6",
        "run",
        HookRun("pre", Phase.FAILED, started, dt.timedelta(seconds=1.5), threading.Lock()),
        test=T1,
    )
    rec.evidence("C6", "names", {"b", "a", "c"}, test=T1)
    rec.evidence("C6", "when", started, test=T1)
    rec.evidence("C6", "path", Path("/tmp/x"), test=T1)
    rec.evidence("C6", "opaque", Opaque(), test=T1)
    rec.evidence("C6", "ratio", float("nan"), test=T1)
    rec.evidence("C6", "raw", b"\xffok", test=T1)
    rec.evidence("C6", "pair", (1, 2), test=T1)
    rec.evidence("C6", "by number", {1: "one"}, test=T1)
    rec.check("C6", "policy", claimed=Phase.FAILED, observed=Phase.FAILED, test=T1)
    json_path, _ = led.write(tmp_path, "v3")
    text = json_path.read_text(encoding="utf-8")
    assert "NaN" not in text  # strict JSON
    facts = load_ledger(json_path)[5]["evidence"][T1]
    run = facts["run"]
    assert run["name"] == "pre"
    assert run["phase"] == "Failed"
    assert run["started"] == "2026-01-02T03:04:05+00:00"
    assert run["took"] == 1.5
    assert run["lock"].startswith("<unlocked _thread.lock")
    assert facts["names"] == ["a", "b", "c"]
    assert facts["when"] == "2026-01-02T03:04:05+00:00"
    assert facts["path"] == "/tmp/x"
    assert facts["opaque"] == "<Opaque>"
    assert facts["ratio"] == "nan"
    assert facts["raw"] == "\ufffdok"
    assert facts["pair"] == [1, 2]
    assert facts["by number"] == {"1": "one"}
    assert load_ledger(json_path)[5]["checks"][0]["claimed"] == "Failed"


def test_self_referencing_evidence_does_not_recurse_forever() -> None:
    loop: list[Any] = []
    loop.append(loop)
    rec = ClaimRecorder()
    rec.evidence("C11", "loop", loop, test=T1)
    assert "nested too deep" in json.dumps(rec.evidence_for("C11"))


# -- reading ----------------------------------------------------------------------------------------


def test_round_trip(ledger: Ledger, tmp_path: Path) -> None:
    json_path, _ = ledger.write(tmp_path, "v3.1.5")
    assert load_ledger(json_path) == ledger.entries("v3.1.5")
    assert load_ledger(tmp_path) == load_ledger(json_path)  # a reports directory works too


def test_rewrite_replaces_previous_ledger(ledger: Ledger, tmp_path: Path) -> None:
    ledger.write(tmp_path, "v3.0.0")
    ledger.write(tmp_path, "v3.1.5")
    assert {e["argocd_version"] for e in load_ledger(tmp_path)} == {"v3.1.5"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.json", "claims.md"]  # no temp files left


def test_load_missing_ledger_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="run the suite first") as info:
        load_ledger(tmp_path)
    assert isinstance(info.value, HarnessError)
    assert str(tmp_path / "claims.json") in str(info.value)


@pytest.mark.parametrize("content", ["{not json", '{"id": "C1"}', "[1, 2]"])
def test_load_invalid_ledger(tmp_path: Path, content: str) -> None:
    path = tmp_path / "claims.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LedgerError, match="claims.json"):
        load_ledger(path)


def test_format_ledger_table(ledger: Ledger) -> None:
    table = format_ledger_table(ledger.entries("v3.1.5"))
    lines = table.splitlines()
    assert lines[0].split() == ["Claim", "Verdict", "Argo", "CD", "Checks", "Title"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    c8 = next(line for line in lines if line.startswith("C8 "))
    assert "partial" in c8
    assert "v3.1.5" in c8
    assert "1/2 checks agree, 1 test" in c8
    assert CLAIMS["C8"] in c8
    assert lines[-1] == f"held 2, partial 1, disproved 1, not-run {len(CLAIMS) - 3}"
    # The Verdict column lines up across rows.
    starts = {line.index(v) for line in lines[2 : 3 + len(CLAIMS)] for v in VERDICTS if f" {v} " in line}
    assert len(starts) == 1


def test_worker_ledgers_merge_into_one_like_a_single_run() -> None:
    """pytest-xdist: each worker exports its ledger; the controller merges them into one."""
    single = Ledger()
    workers = [Ledger(), Ledger()]
    for ledger, test in ((workers[0], "s.py::a"), (workers[1], "s.py::b")):
        for target in (ledger, single):
            target.recorder.check(
                "C1", f"check of {test}", claimed=1, observed=1 if test.endswith("a") else 2, test=test
            )
            target.recorder.evidence("C1", "gaps", [1.5, 2.0], test=test)
            target.record_test("C1", test, "passed")
    merged = Ledger()
    for w in workers:
        merged.merge(json.loads(json.dumps(w.export())))
    assert merged.entries("v3.6.1") == single.entries("v3.6.1")
    assert merged.entries("v3.6.1")[0]["verdict"] == "partial"
    assert merged.observed_anything()
    assert not Ledger().observed_anything()


def test_a_not_applicable_check_stays_one_across_the_worker_merge() -> None:
    """Seen in a matrix run on v2.12.6: C12's not-applicable checks reached the controller as plain
    disagreeing checks, without their reason, and the claim read `disproved`."""
    worker = Ledger()
    worker.recorder.not_applicable(
        "C12", "a PreDelete hook runs first", reason="PreDelete hooks exist from v3.3.0", test="s.py::a"
    )
    worker.record_test("C12", "s.py::a", "passed")
    merged = Ledger()
    merged.merge(json.loads(json.dumps(worker.export())))

    entry = next(e for e in merged.entries("v2.12.6") if e["id"] == "C12")
    assert entry["verdict"] == "not-applicable"
    assert entry["checks"][0]["applicable"] is False
    assert entry["checks"][0]["reason"] == "PreDelete hooks exist from v3.3.0"


# -- a ledger of the wrong shape: one error naming the file and the field (issue 10, item 5) ----------


def _one_claim(**fields: object) -> list[dict[str, object]]:
    entry: dict[str, object] = {"id": "C1", "verdict": "held", "checks": [], "tests": [], "evidence": {}}
    entry.update(fields)
    return [entry]


@pytest.mark.parametrize(
    ("entries", "where"),
    [
        (
            _one_claim(checks="abc"),
            'claim C1 (entry 1): field `checks`: Input should be a valid list (got a string "abc")',
        ),
        (
            _one_claim(checks=5),
            "claim C1 (entry 1): field `checks`: Input should be a valid list (got a number 5)",
        ),
        (
            _one_claim(
                checks=[{"statement": "s", "claimed": 1, "observed": 1, "agrees": "yes", "test": "t"}]
            ),
            "claim C1 (entry 1): field `checks[0].agrees`: Input should be a valid boolean",
        ),
        (
            _one_claim(checks=[{"statement": "s"}]),
            "claim C1 (entry 1): field `checks[0].claimed`: Field required",
        ),
        (
            _one_claim(tests={"a": "passed"}),
            "claim C1 (entry 1): field `tests`: Input should be a valid list",
        ),
        (_one_claim(evidence=[]), "claim C1 (entry 1): field `evidence`: Input should be a valid dictionary"),
        (
            _one_claim(evidence={"t": 5}),
            "claim C1 (entry 1): field `evidence.t`: Input should be a valid dictionary",
        ),
        (
            _one_claim(verdict="maybe"),
            "claim C1 (entry 1): field `verdict`: Input should be 'held', 'partial'",
        ),
        ([{"verdict": "held"}], "entry 1: field `id`: Field required"),
        ([{"id": 7, "verdict": "held"}], "entry 1: field `id`: Input should be a valid string"),
        ({"checks": []}, "expected a JSON list of claim objects, got an object"),
    ],
)
def test_load_ledger_of_the_wrong_shape_names_the_file_and_the_field(
    tmp_path: Path, entries: object, where: str
) -> None:
    path = tmp_path / "claims.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    with pytest.raises(LedgerError) as info:
        load_ledger(tmp_path)
    assert str(info.value).startswith(f"{path} is not a claims ledger: {where}")


def test_a_written_ledger_passes_the_shape_check(ledger: Ledger, tmp_path: Path) -> None:
    ledger.write(tmp_path, "v3.6.1")
    assert [e["id"] for e in load_ledger(tmp_path)][:2] == ["C1", "C2"]
