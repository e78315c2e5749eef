"""``claims.html``: the one page people open after a run, verdicts first.

A single self-contained file (inline CSS and SVG, no script, no network) rendered with Jinja2 from
the run's ledger (``claims.json``) and, when several releases were run, the release matrix
(``matrix.json``, written by ``make matrix``). It opens from the file system, from a CI artifact and
inside the Allure report alike. Reading order: the verdict table; the measured series as charts; the
replayed incidents as lane charts (``lanes.py``: the reports of ``argocd-chaos reproduce`` and
``incidents`` under the same directory); the claims × releases grid and the upgrade diff between two
releases; then each claim with its text, its checks (claimed against observed), its evidence and the
tests that produced them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from harness._errors import HarnessError
from harness._report.charts import SvgChart, chart_rows, charts_for, layout
from harness._report.claim_texts import claim_text
from harness._report.lanes import LaneChart, Replay, lane_chart, lane_rows, load_replays
from harness._report.ledger import (
    CLAIMS,
    VERDICTS,
    LedgerError,
    _atomic_write,
    _claim_sort_key,
    load_ledger,
)

__all__ = [
    "PAGE_NAME",
    "Matrix",
    "load_matrix",
    "refresh_claims_page",
    "render_claims_page",
    "write_claims_page",
]

PAGE_NAME = "claims.html"
MATRIX_NAME = "matrix.json"
#: Evidence values longer than this are folded away behind their key (the timelines, mostly).
_FOLD_CHARS = 240


@dataclass(frozen=True)
class Matrix:
    """``matrix.json``: releases in run order, verdict per claim and release, and the check changes.

    Each change is a mapping with ``from``, ``to``, ``claim``, ``check``, ``before`` and ``after``.
    """

    releases: tuple[str, ...]
    claims: Mapping[str, Mapping[str, str]]
    changes: tuple[Mapping[str, Any], ...] = ()
    #: Differences where a known controller race decides the observation (not counted as changes).
    raced: tuple[Mapping[str, Any], ...] = ()


def load_matrix(path: Path) -> Matrix:
    """Read ``matrix.json`` (or the directory holding it); LedgerError names the file and the problem."""
    file = path / MATRIX_NAME if path.is_dir() else path
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LedgerError(f"no release matrix at {file}; `make matrix` writes one") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LedgerError(f"cannot read the release matrix {file}: {exc}") from exc
    shape = (
        'expected {"releases": [...], "claims": {"C1": {"<release>": "<verdict>"}}, '
        '"changes": [{"from", "to", "claim", "check", "before", "after"}]}'
    )
    if not isinstance(data, dict):
        raise LedgerError(f"{file} is not a release matrix: {shape}")
    releases, claims, changes = data.get("releases"), data.get("claims"), data.get("changes", [])
    if not isinstance(releases, list) or not all(isinstance(r, str) for r in releases):
        raise LedgerError(f"{file}: 'releases' must be a list of release names; {shape}")
    if not isinstance(claims, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in claims.values()
    ):
        raise LedgerError(f"{file}: 'claims' must map claim ids to {{release: verdict}}; {shape}")
    if not isinstance(changes, list) or not all(isinstance(c, dict) for c in changes):
        raise LedgerError(f"{file}: 'changes' must be a list of objects; {shape}")
    raced = data.get("raced", [])
    if not isinstance(raced, list) or not all(isinstance(c, dict) for c in raced):
        raise LedgerError(f"{file}: 'raced' must be a list of objects; {shape}")
    return Matrix(tuple(releases), claims, tuple(changes), tuple(raced))


# --------------------------------------------------------------------------------------------------
# The page model: plain values, so the template only places them


@dataclass(frozen=True)
class CheckView:
    statement: str
    claimed: str
    observed: str
    agrees: bool
    test: str
    #: The upstream issue of a controller race that decides this observation ("" for none).
    race: str = ""


@dataclass(frozen=True)
class FactView:
    key: str
    value: str
    folded: bool


@dataclass(frozen=True)
class ChartView:
    svg: SvgChart
    rows: Sequence[tuple[str, list[str]]]


@dataclass(frozen=True)
class ClaimView:
    id: str
    name: str
    title: str
    statement: str
    section: str
    verdict: str
    argocd_version: str
    checks: list[CheckView]
    tests: list[tuple[str, str]]
    evidence: list[tuple[str, list[FactView]]]
    charts: list[ChartView]

    @property
    def agreeing(self) -> int:
        return sum(1 for c in self.checks if c.agrees)


@dataclass(frozen=True)
class DiffView:
    before: str
    after: str
    default: bool
    verdicts: list[tuple[str, str, str]]
    checks: Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class ReplayView:
    """A replay with its lane chart and the chart's numbers; no chart when the report is broken."""

    replay: Replay
    chart: LaneChart | None
    rows: Sequence[tuple[str, str, str, str]]


def _replay_groups(replays: Sequence[Replay]) -> list[tuple[str, list[ReplayView]]]:
    """The replays under their headings, in the order given (headings in order of first use)."""
    groups: dict[str, list[ReplayView]] = {}
    for r in replays:
        view = ReplayView(r, None, []) if r.problem else ReplayView(r, lane_chart(r), lane_rows(r))
        groups.setdefault(r.group, []).append(view)
    return list(groups.items())


@dataclass(frozen=True)
class GridView:
    releases: tuple[str, ...]
    rows: list[tuple[str, str, list[str]]]
    diffs: list[DiffView] = field(default_factory=list)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2)


def _claim_view(entry: Mapping[str, Any]) -> ClaimView:
    claim_id = str(entry.get("id", "?"))
    title = str(entry.get("title") or CLAIMS.get(claim_id, claim_id))
    text = claim_text(claim_id, title)
    checks = [
        CheckView(
            statement=str(c.get("statement", "")),
            claimed=_text(c.get("claimed")),
            observed=_text(c.get("observed")),
            agrees=bool(c.get("agrees")),
            test=str(c.get("test", "")),
            race=str(c.get("race") or ""),
        )
        for c in entry.get("checks") or []
        if isinstance(c, Mapping)
    ]
    tests = [
        (str(t.get("nodeid", "")), str(t.get("outcome", "")))
        for t in entry.get("tests") or []
        if isinstance(t, Mapping)
    ]
    evidence: list[tuple[str, list[FactView]]] = []
    raw_evidence = entry.get("evidence")
    for test, facts in (raw_evidence or {}).items() if isinstance(raw_evidence, Mapping) else ():
        if not isinstance(facts, Mapping):
            continue
        views = []
        for key, value in facts.items():
            compact = _text(value)
            if len(compact) > _FOLD_CHARS or "\n" in compact:
                views.append(FactView(str(key), _pretty(value), folded=True))
            else:
                views.append(FactView(str(key), compact, folded=False))
        evidence.append((str(test), views))
    charts = [ChartView(layout(c), chart_rows(c)) for c in charts_for(entry)]
    return ClaimView(
        id=claim_id,
        name=text.name,
        title=title,
        statement=text.statement,
        section=text.section,
        verdict=str(entry.get("verdict", "not-run")),
        argocd_version=str(entry.get("argocd_version", "?")),
        checks=checks,
        tests=tests,
        evidence=evidence,
        charts=charts,
    )


def _grid(matrix: Matrix, pair: tuple[str, str] | None) -> GridView:
    releases = matrix.releases
    ids = sorted(matrix.claims, key=_claim_sort_key)
    rows = [
        (cid, claim_text(cid, CLAIMS.get(cid, cid)).name, [matrix.claims[cid].get(r, "") for r in releases])
        for cid in ids
    ]
    pairs: list[tuple[str, str]] = []
    for change in matrix.changes:
        candidate = (str(change.get("from", "")), str(change.get("to", "")))
        if candidate not in pairs and all(candidate):
            pairs.append(candidate)
    if pair is None and len(releases) >= 2:
        pair = (releases[-2], releases[-1])
    if pair is not None and pair not in pairs:
        pairs.append(pair)
    order = {r: i for i, r in enumerate(releases)}
    pairs.sort(key=lambda p: (order.get(p[1], len(order)), order.get(p[0], len(order))))
    diffs = []
    for before, after in pairs:
        verdicts = [
            (cid, matrix.claims[cid].get(before, "—"), matrix.claims[cid].get(after, "—"))
            for cid in ids
            if matrix.claims[cid].get(before) != matrix.claims[cid].get(after)
        ]
        checks = [
            {k: _text(c.get(k, "")) for k in ("claim", "check", "before", "after")}
            for c in matrix.changes
            if str(c.get("from", "")) == before and str(c.get("to", "")) == after
        ] + [
            {
                **{k: _text(c.get(k, "")) for k in ("claim", "before", "after")},
                "check": f"{_text(c.get('check', ''))} (decided by a known race, "
                f"{_text(c.get('race', '?'))}; not counted as a change)",
            }
            for c in matrix.raced
            if str(c.get("from", "")) == before and str(c.get("to", "")) == after
        ]
        diffs.append(DiffView(before, after, (before, after) == pair, verdicts, checks))
    return GridView(releases, rows, diffs)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("harness._report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_claims_page(
    entries: Sequence[Mapping[str, Any]],
    *,
    matrix: Matrix | None = None,
    diff_pair: tuple[str, str] | None = None,
    source: str = "",
    generated_at: dt.datetime | None = None,
    replays: Sequence[Replay] = (),
) -> str:
    """The page as a string; ``entries`` is a loaded ledger, ``diff_pair`` the upgrade diff to open.

    ``replays`` (``lanes.load_replays``) are drawn as lane charts after the measured charts; a broken
    one is listed with its problem.

    Raises LedgerError when ``diff_pair`` names a release the matrix does not have.
    """
    if diff_pair is not None:
        known = matrix.releases if matrix else ()
        missing = [r for r in diff_pair if r not in known]
        if missing:
            raise LedgerError(
                f"release {', '.join(missing)} is not in the release matrix "
                f"(releases: {', '.join(known) or 'none, no matrix.json'})"
            )
    claims = [_claim_view(e) for e in entries]
    counts = {v: sum(1 for c in claims if c.verdict == v) for v in VERDICTS}
    # A page of replays only names the releases they ran on.
    released = {c.argocd_version for c in claims} or {r.release for r in replays if r.release}
    versions = sorted(released) or ["?"]
    when = generated_at or dt.datetime.now(dt.UTC)
    template = _environment().get_template("claims.html.j2")
    return template.render(
        claims=claims,
        counts=counts,
        versions=versions,
        charts=[(c, chart) for c in claims for chart in c.charts],
        grid=_grid(matrix, diff_pair) if matrix and matrix.releases else None,
        replay_groups=_replay_groups(replays),
        source=source,
        generated=when.strftime("%Y-%m-%d %H:%M UTC"),
        verdicts=VERDICTS,
    )


def write_claims_page(reports_dir: Path, *, diff_pair: tuple[str, str] | None = None) -> Path:
    """Write ``<reports_dir>/claims.html`` from the ledger, matrix and replays found there; return its path.

    The ledger is ``claims.json`` in ``reports_dir``; without one, a matrix run's page uses the ledger
    of its last release (``<reports_dir>/<release>/claims.json``). Replays are the ``report.json`` files
    ``lanes.replay_reports`` finds; a page may hold only them. Raises LedgerError when there is no
    ledger, no matrix and no replay, or when the ledger or matrix is unreadable (a broken replay
    report is shown on the page instead).
    """
    matrix = load_matrix(reports_dir) if (reports_dir / MATRIX_NAME).is_file() else None
    ledger_path = reports_dir / "claims.json"
    if not ledger_path.is_file() and matrix and matrix.releases:
        candidate = reports_dir / matrix.releases[-1] / "claims.json"
        ledger_path = candidate if candidate.is_file() else ledger_path
    replays = load_replays(reports_dir)
    if ledger_path.is_file():
        entries = load_ledger(ledger_path)
    elif matrix is not None or replays:
        entries = []
    else:
        raise LedgerError(
            f"no claims ledger at {ledger_path}, no {MATRIX_NAME} and no replay report in {reports_dir}; "
            "run the suites first (`make chaos` writes both the ledger and the page), replay an incident "
            "(`argocd-chaos reproduce`) or pass --reports DIR"
        )
    if ledger_path.is_file():
        source = os.path.relpath(ledger_path, reports_dir)
    else:
        source = MATRIX_NAME if matrix is not None else ""
    html = render_claims_page(entries, matrix=matrix, diff_pair=diff_pair, source=source, replays=replays)
    page = reports_dir / PAGE_NAME
    _atomic_write(page, html)
    return page


def refresh_claims_page(root: Path, say: Callable[[str], None]) -> Path | None:
    """Write ``<root>/claims.html`` again (``write_claims_page``) and say where; returns its path.

    For the end of a run whose own reports are written already (a pytest session, a replay): a page
    that cannot be written (an unreadable ledger or matrix, a read-only folder) is said as a warning
    and gives None, so the run's outcome never depends on the page.
    """
    try:
        page = write_claims_page(root)
    except (HarnessError, OSError) as exc:
        say(f"argocd-chaos: warning: the claims page was not written: {exc}")
        return None
    say(f"argocd-chaos: claims page written to {page} (open it in a browser)")
    return page
