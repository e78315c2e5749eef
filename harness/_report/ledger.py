"""The claims ledger: what each claim about sync hooks turned out to be on the real controller.

A claim is a hypothesis. A suite test does not just pass or fail on it: it records *checks* (what the
claim says next to what the controller did) and *evidence* (phases, messages, counts, timings seen
along the way). The verdict per claim is derived from the checks, never from whether the test
passed, because a test that asserts the observed behaviour passes both when the claim holds and when
the controller does something else, and a test that broke for an unrelated reason (a cluster hiccup)
says nothing about the claim.

The ledger is written at the end of every run as ``claims.json`` (for machines and the
``argocd-chaos claims`` command) and ``claims.md`` (for people). Values are snapshotted into JSON
form when recorded, so later mutation by the test cannot change the record and writing the files at
the end of a failing run cannot crash on an odd object; reports that break exactly when tests fail
are useless.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NotRequired, TypeAlias, cast

import pydantic
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12

from harness._errors import HarnessError
from harness._redact import redact_text

__all__ = [
    "CLAIMS",
    "OUTCOMES",
    "VERDICTS",
    "Check",
    "ClaimRecorder",
    "Ledger",
    "LedgerError",
    "Verdict",
    "derive_verdict",
    "format_ledger_markdown",
    "format_ledger_table",
    "json_type",
    "load_ledger",
    "redact",
    "to_json",
]

CLAIMS: dict[str, str] = {
    "C1": "A failing PreSync hook stops the operation before any manifest is applied",
    "C2": "A failure in the Sync phase leaves the app half applied, matching neither revision",
    "C3": "A failing PostSync hook marks the operation Failed after the deploy, with no rollback",
    "C4": "SyncFail hooks run only on failure, and their own failure goes unnoticed",
    "C5": "Every phase failure ends Failed and runs SyncFail hooks; auto-sync retries on reconcile",
    "C6": "Without a delete policy, BeforeHookCreation keeps only the latest hook run",
    "C7": "A fixed-name HookSucceeded hook that failed wedges the next sync; generateName avoids it",
    "C8": "Each self-heal sync runs every phase again, PostSync hooks included",
    "C9": "Self-heal syncs are spaced by a default 5 s gap",
    "C10": "Self-heal does not retry a sync that already failed on the same commit",
    "C11": "A mutating webhook fighting self-heal fires hooks every cycle; ignoreDifferences stops it",
    "C12": "A PreDelete hook runs before the resources are deleted; failing, it blocks deletion until fixed",
    "C13": "PostDelete hooks run once the resources are gone and stay unless a delete policy removes them",
    "C14": "Argo CD maps Helm hook annotations onto its own hooks and ignores the ones it cannot map",
}

Verdict: TypeAlias = Literal["held", "partial", "disproved", "not-run", "not-applicable"]
#: "not-applicable": every check of the claim needs something the release under test lacks (each
#: check says what and why); never used to hide a check that could run.
VERDICTS: tuple[Verdict, ...] = ("held", "partial", "disproved", "not-run", "not-applicable")

# "unknown" is for a test that recorded checks but whose outcome never reached the ledger; "flaky" is a
# test that passed only on a rerun, which is reported rather than hidden.
OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "xfailed", "xpassed", "flaky", "unknown"})

Json: TypeAlias = None | bool | int | float | str | list["Json"] | dict[str, "Json"]

_SECRET_KEY = re.compile(r"password|token|secret|key", re.IGNORECASE)
_REDACTED = "***"
_MAX_DEPTH = 32


class LedgerError(HarnessError):
    """The ledger file is missing or unreadable; the message says which file and what to do."""


# --------------------------------------------------------------------------------------------------
# JSON snapshots


def to_json(value: object, *, _depth: int = 0) -> Json:
    """Turn any observed value into plain JSON, losing as little as possible.

    Whatever a test observed must end up in the ledger, even a Kubernetes client model or a set, so
    nothing here raises: unknown objects fall back to ``repr``. Non-finite floats become strings
    because ``NaN`` is not valid JSON and would break strict readers of ``claims.json``.
    """
    if _depth > _MAX_DEPTH:
        return "<nested too deep>"
    depth = _depth + 1
    if isinstance(value, str):
        return redact_text(value)  # a credential inside a message or URL, not only under a secret key
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return to_json(value.value, _depth=depth)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, os.PathLike):
        return os.fsdecode(value)
    if isinstance(value, bytes | bytearray):
        return redact_text(bytes(value).decode("utf-8", errors="replace"))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Field by field rather than dataclasses.asdict, which deep-copies and fails on locks, clients
        # and other uncopyable members.
        return _redacted_dict(((f.name, getattr(value, f.name)) for f in dataclasses.fields(value)), depth)
    if isinstance(value, Mapping):
        return _redacted_dict(value.items(), depth)
    if isinstance(value, set | frozenset):
        items = [to_json(v, _depth=depth) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, list | tuple):
        return [to_json(v, _depth=depth) for v in value]
    return redact_text(repr(value))


def _redacted_dict(items: Iterable[tuple[object, object]], depth: int) -> dict[str, Json]:
    # Nested keys are redacted too: a secret in a ConfigMap's data is still a secret.
    return {str(k): redact(str(k), v, _depth=depth) for k, v in items}


def redact(key: str, value: object, *, _depth: int = 0) -> Json:
    """Snapshot ``value`` as JSON, replacing it with ``***`` when its key looks like a credential.

    The match is deliberately broad (``key`` also matches ``hook_key``): a ledger may be attached to
    a public CI run, and an over-redacted fact costs less than a leaked token.
    """
    if _SECRET_KEY.search(key):
        return _REDACTED
    return to_json(value, _depth=_depth)


# --------------------------------------------------------------------------------------------------
# Recording


@dataclass(frozen=True)
class Check:
    """One comparison of a claim against the controller.

    ``claimed`` and ``observed`` are JSON snapshots; ``agrees`` was computed on the original values.
    """

    claim_id: str
    statement: str
    claimed: Json
    observed: Json
    agrees: bool
    test: str
    #: False when the release under test lacks what the check needs; `reason` then says what.
    applicable: bool = True
    reason: str = ""
    #: The upstream issue (e.g. "argoproj/argo-cd#29100") of a controller race that decides this
    #: observation, so it may differ between two runs of one release: a comparison shows such a
    #: difference apart and does not count it as a behaviour change.
    race: str = ""


class ClaimRecorder:
    """What test code talks to: record checks and evidence against claims.

    Thread-safe, because chaos tests observe the cluster from watcher threads while the scenario runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: list[Check] = []
        self._evidence: dict[str, dict[str, dict[str, Json]]] = {}

    def check(
        self, claim_id: str, statement: str, *, claimed: object, observed: object, test: str, race: str = ""
    ) -> bool:
        """Record whether the controller did what the claim says; return whether it agreed.

        The return value lets the test branch: assert the claim where it held, and otherwise assert
        what the controller really did, so the test stays green and the ledger carries the news.
        `race`: the upstream issue of a controller race that decides the observation (see `Check`).
        """
        _check_claim_id(claim_id)
        agrees = bool(observed == claimed)
        entry = Check(
            claim_id=claim_id,
            statement=redact_text(statement),  # a statement may quote what it saw
            claimed=to_json(claimed),
            observed=to_json(observed),
            agrees=agrees,
            test=test,
            race=race,
        )
        with self._lock:
            self._checks.append(entry)
        return agrees

    def not_applicable(self, claim_id: str, statement: str, *, reason: str, test: str) -> None:
        """Record that a check cannot be made on this release, and why; it counts toward no verdict."""
        _check_claim_id(claim_id)
        if not reason.strip():
            raise ValueError("a not-applicable check needs the reason (what the release lacks)")
        entry = Check(
            claim_id,
            redact_text(statement),
            None,
            None,
            agrees=False,
            test=test,
            applicable=False,
            reason=redact_text(reason),
        )
        with self._lock:
            self._checks.append(entry)

    def evidence(self, claim_id: str, key: str, value: object, *, test: str) -> None:
        """Attach an observed fact without a verdict; a later value for the same key replaces it."""
        _check_claim_id(claim_id)
        snapshot = redact(key, value)
        with self._lock:
            self._evidence.setdefault(claim_id, {}).setdefault(test, {})[key] = snapshot

    def checks(self, claim_id: str | None = None) -> list[Check]:
        with self._lock:
            return [c for c in self._checks if claim_id is None or c.claim_id == claim_id]

    def evidence_for(self, claim_id: str) -> dict[str, dict[str, Json]]:
        """Evidence of one claim, keyed by test node id, then by evidence key."""
        with self._lock:
            return {test: dict(facts) for test, facts in self._evidence.get(claim_id, {}).items()}

    def claim_ids(self) -> set[str]:
        with self._lock:
            return {c.claim_id for c in self._checks} | set(self._evidence)

    def export(self) -> dict[str, Json]:
        """Everything recorded, as JSON (what a pytest-xdist worker hands to the controller)."""
        with self._lock:
            return {
                "checks": [
                    {
                        "claim_id": c.claim_id,
                        "statement": c.statement,
                        "claimed": c.claimed,
                        "observed": c.observed,
                        "agrees": c.agrees,
                        "test": c.test,
                        # a not-applicable check stays one on the controller (verdict, reason)
                        **({"applicable": False, "reason": c.reason} if not c.applicable else {}),
                        **({"race": c.race} if c.race else {}),
                    }
                    for c in self._checks
                ],
                "evidence": {
                    cid: {t: dict(f) for t, f in tests.items()} for cid, tests in self._evidence.items()
                },
            }

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add what another recorder exported (checks appended, evidence merged per test)."""
        checks = [Check(**c) for c in data.get("checks", [])]
        with self._lock:
            self._checks.extend(checks)
            for cid, tests in dict(data.get("evidence", {})).items():
                for test, facts in dict(tests).items():
                    self._evidence.setdefault(cid, {}).setdefault(test, {}).update(facts)


def _check_claim_id(claim_id: str) -> None:
    if not isinstance(claim_id, str) or not claim_id.strip():
        raise ValueError(f"a claim id is a non-empty string such as 'C1', got {claim_id!r}")


# --------------------------------------------------------------------------------------------------
# Verdicts


def derive_verdict(checks: Sequence[Check], tests_outcomes: Mapping[str, str]) -> Verdict:
    """Derive a claim's verdict from its checks.

    ``tests_outcomes`` maps each test node id of the claim to its outcome. The outcome is used only to
    know whether anything ran: a test that failed for an unrelated reason still counts with the checks
    it recorded before failing, and a run with no checks at all has shown nothing (``not-run``), even
    when its tests passed.
    """
    ran = any(outcome != "skipped" for outcome in tests_outcomes.values())
    if not ran or not checks:
        return "not-run"
    applicable = [c for c in checks if c.applicable]
    if not applicable:
        return "not-applicable"
    checks = applicable
    agreeing = sum(1 for c in checks if c.agrees)
    if agreeing == len(checks):
        return "held"
    if agreeing == 0:
        return "disproved"
    return "partial"


def _claim_sort_key(claim_id: str) -> tuple[int, int, str]:
    match = re.fullmatch(r"C(\d+)", claim_id)
    return (0, int(match.group(1)), "") if match else (1, 0, claim_id)


# --------------------------------------------------------------------------------------------------
# The ledger


class Ledger:
    """A run's claims: the recorder's checks and evidence plus the outcome of each claim test.

    The plugin feeds ``record_test`` from its report hook; tests only see :attr:`recorder`.
    """

    def __init__(self, recorder: ClaimRecorder | None = None) -> None:
        self.recorder = recorder if recorder is not None else ClaimRecorder()
        self._tests: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def record_test(self, claim_id: str, nodeid: str, outcome: str) -> None:
        """Record a claim test's outcome; a later outcome (a rerun, say) replaces an earlier one."""
        _check_claim_id(claim_id)
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
        with self._lock:
            self._tests.setdefault(claim_id, {})[nodeid] = outcome

    def export(self) -> dict[str, Json]:
        """The recorder's export plus the test outcomes."""
        with self._lock:
            tests: dict[str, Json] = {cid: dict(t) for cid, t in self._tests.items()}
        return {"recorder": self.recorder.export(), "tests": tests}

    def merge(self, data: Mapping[str, Any]) -> None:
        """Add another ledger's export (pytest-xdist: each worker's ledger into the controller's)."""
        self.recorder.merge(data.get("recorder", {}))
        for cid, tests in dict(data.get("tests", {})).items():
            for nodeid, outcome in dict(tests).items():
                self.record_test(cid, nodeid, outcome)

    def observed_anything(self) -> bool:
        """Whether any claim test recorded a check or evidence: a run that did not leaves the old ledger."""
        return bool(self.recorder.checks()) or bool(self.recorder.claim_ids())

    def tests_for(self, claim_id: str) -> dict[str, str]:
        with self._lock:
            tests = dict(self._tests.get(claim_id, {}))
        # A test that recorded something did run, even if its outcome never reached us (it was
        # recorded outside a marked test, or the plugin missed the report).
        recorded = [c.test for c in self.recorder.checks(claim_id)] + list(
            self.recorder.evidence_for(claim_id)
        )
        for nodeid in recorded:
            tests.setdefault(nodeid, "unknown")
        return tests

    def claim_ids(self) -> list[str]:
        with self._lock:
            ids = set(CLAIMS) | set(self._tests)
        return sorted(ids | self.recorder.claim_ids(), key=_claim_sort_key)

    def entries(self, argocd_version: str) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per claim, sorted by number.

        C1..C14 are always present, so a claim that no test reached shows as ``not-run`` instead of
        silently dropping out of the report; ids that tests used but CLAIMS lacks are kept too.
        """
        result: list[dict[str, Any]] = []
        for claim_id in self.claim_ids():
            checks = self.recorder.checks(claim_id)
            tests = self.tests_for(claim_id)
            result.append(
                {
                    "id": claim_id,
                    "title": CLAIMS.get(claim_id, "(not in the claims list: add it to CLAIMS and claims.md)"),
                    "verdict": derive_verdict(checks, tests),
                    "argocd_version": argocd_version,
                    "tests": [{"nodeid": n, "outcome": o} for n, o in sorted(tests.items())],
                    "evidence": self.recorder.evidence_for(claim_id),
                    "checks": [_check_json(c) for c in checks],
                }
            )
        return result

    def write(self, reports_dir: Path, argocd_version: str) -> tuple[Path, Path]:
        """Write ``claims.json`` and ``claims.md`` into ``reports_dir`` and return their paths.

        Each file is written to a temporary name and renamed into place, so an interrupted run leaves
        the previous ledger rather than half a file.
        """
        entries = self.entries(argocd_version)
        reports_dir.mkdir(parents=True, exist_ok=True)
        json_path = reports_dir / "claims.json"
        md_path = reports_dir / "claims.md"
        _atomic_write(json_path, json.dumps(entries, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        _atomic_write(md_path, format_ledger_markdown(entries))
        return json_path, md_path


def _check_json(c: Check) -> dict[str, Any]:
    out: dict[str, Any] = {
        "statement": c.statement,
        "claimed": c.claimed,
        "observed": c.observed,
        "agrees": c.agrees,
        "test": c.test,
    }
    if not c.applicable:  # keys only where they say something, so older ledgers compare equal
        out["applicable"] = False
        out["reason"] = c.reason
    if c.race:
        out["race"] = c.race
    return out


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------
# Reading and formatting


def load_ledger(path: Path) -> list[dict[str, Any]]:
    """Read a ledger written by :meth:`Ledger.write`; ``path`` is ``claims.json`` or its directory."""
    file = path / "claims.json" if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerError(
            f"no claims ledger at {file}; run the suite first (pytest writes it at the end of every run) "
            "or point to the reports directory of an earlier run"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError(f"cannot read the claims ledger {file}: {exc}") from exc
    try:
        _LEDGER_SHAPE.validate_python(data, strict=True)
    except pydantic.ValidationError as exc:
        raise LedgerError(f"{file} is not a claims ledger: {_shape_problem(data, exc)}") from None
    return cast(list[dict[str, Any]], data)


class _CheckShape(TypedDict):
    statement: str
    claimed: Any
    observed: Any
    agrees: bool
    test: str


class _TestShape(TypedDict):
    nodeid: str
    outcome: str


class _EntryShape(TypedDict):
    """One claim as `Ledger.entries` writes it; fields beyond `id` and `verdict` may be absent."""

    id: Annotated[str, pydantic.StringConstraints(min_length=1)]
    verdict: Verdict
    title: NotRequired[str]
    argocd_version: NotRequired[str]
    tests: NotRequired[list[_TestShape]]
    evidence: NotRequired[dict[str, dict[str, Any]]]
    checks: NotRequired[list[_CheckShape]]


# Checked before anything reads the entries: a ledger is an input (an artifact of another run, an
# upgrade gate's baseline), and a wrong shape must be one error naming the field, not a traceback.
_LEDGER_SHAPE = pydantic.TypeAdapter(list[_EntryShape])


def _shape_problem(data: object, exc: pydantic.ValidationError) -> str:
    """The first problem, as `claim C1 (entry 1): field checks[0].agrees: Input should be ...`."""
    if not isinstance(data, list):
        return f"expected a JSON list of claim objects, got {json_type(data)}"
    error = exc.errors()[0]
    loc = list(error["loc"])
    first = loc.pop(0) if loc else None
    index = first if isinstance(first, int) else None
    where = ""
    if index is not None:
        entry = data[index]
        claim = entry.get("id") if isinstance(entry, dict) else None
        where = f"claim {claim} (entry {index + 1})" if isinstance(claim, str) else f"entry {index + 1}"
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    if field:
        where += f": field `{field}`"
    value = error.get("input")
    got = f" (got {json_type(value)} {json.dumps(value)[:60]})" if error["type"] != "missing" else ""
    return f"{where}: {error['msg']}{got}"


def json_type(value: object) -> str:
    """What a JSON value is, in words for an error message ("a string", "an object", ...)."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _check_summary(entry: Mapping[str, Any]) -> str:
    checks = entry.get("checks") or []
    agreeing = sum(1 for c in checks if c.get("agrees"))
    tests = entry.get("tests") or []
    return f"{agreeing}/{len(checks)} checks agree, {len(tests)} test{'s' if len(tests) != 1 else ''}"


def _verdict_counts(entries: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
    for e in entries:
        verdict = str(e.get("verdict", "?"))
        counts[verdict] = counts.get(verdict, 0) + 1
    shown = [(v, n) for v, n in counts.items() if n or v != "not-applicable"]  # the rare one only when seen
    return ", ".join(f"{verdict} {n}" for verdict, n in shown)


def format_ledger_table(entries: Sequence[Mapping[str, Any]]) -> str:
    """Render a ledger for ``argocd-chaos claims``: plain text, since it is read in CI logs."""
    header = ("Claim", "Verdict", "Argo CD", "Checks", "Title")
    rows = [
        (
            str(e.get("id", "?")),
            str(e.get("verdict", "?")),
            str(e.get("argocd_version", "?")),
            _check_summary(e),
            str(e.get("title", "")),
        )
        for e in entries
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        return "  ".join([*cells, row[-1]]).rstrip()

    lines = [line(header), line(tuple("-" * w for w in widths) + ("-" * len(header[-1]),))]
    lines += [line(r) for r in rows]
    lines.append("")
    lines.append(_verdict_counts(entries))
    return "\n".join(lines) + "\n"


def _md(value: object) -> str:
    # Table cells and list items are single lines; pipes would split a cell.
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def format_ledger_markdown(entries: Sequence[Mapping[str, Any]]) -> str:
    """``claims.md``: a summary table, then one section per claim with its checks and evidence."""
    out = [
        "# Claims ledger",
        "",
        _verdict_counts(entries),
        "",
        "| Claim | Verdict | Argo CD | Evidence |",
        "|---|---|---|---|",
    ]
    for e in entries:
        out.append(
            f"| {_md(e['id'])}: {_md(e.get('title', ''))} | {_md(e.get('verdict', '?'))} "
            f"| {_md(e.get('argocd_version', '?'))} | {_md(_check_summary(e))} |"
        )
    for e in entries:
        out += [
            "",
            f"## {e['id']}: {_md(e.get('title', ''))}",
            "",
            f"Verdict: **{e.get('verdict', '?')}**",
            "",
        ]
        tests = e.get("tests") or []
        if tests:
            out.append("Tests:")
            out += [f"- `{t['nodeid']}`: {t['outcome']}" for t in tests]
            out.append("")
        checks = e.get("checks") or []
        if checks:
            out.append("Checks:")
            for c in checks:
                if c.get("applicable") is False:
                    out.append(f"- – {_md(c['statement'])}: not applicable: {_md(c.get('reason', ''))}")
                    continue
                mark = "✔" if c.get("agrees") else "✘"
                out.append(
                    f"- {mark} {_md(c['statement'])}: claimed `{_md(c['claimed'])}`, "
                    f"observed `{_md(c['observed'])}` (`{c['test']}`)"
                )
            out.append("")
        evidence = e.get("evidence") or {}
        if evidence:
            out.append("Evidence:")
            for test, facts in evidence.items():
                out.append(f"- `{test}`")
                out += [f"  - {_md(k)}: `{_md(v)}`" for k, v in facts.items()]
            out.append("")
        if not tests and not checks and not evidence:
            out += ["No test of this claim ran.", ""]
    return "\n".join(out).rstrip("\n") + "\n"
