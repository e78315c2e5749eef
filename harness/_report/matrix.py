"""The claims matrix: one run of the claim suites per Argo CD release, side by side.

`make matrix` leaves one reports directory per release (`reports/<release>/claims.json`); this module
reads them, orders the releases, and writes `matrix.json` and `matrix.md` next to them:

- `releases`: the releases in version order;
- `claims`: claim -> release -> verdict;
- `changes`: for each adjacent pair, every check whose observation differs (the upgrade diff, from
  `ledger_diff.diff_ledgers`, the same comparison `argocd-chaos claims --compare` prints), plus
  verdict changes under the check name `verdict`;
- `not_applicable`: per release, the checks it cannot have and why;
- `figures`: per release, the measured figures (retry and self-heal gaps, waits) for reading side by
  side; like `claims --compare`, figures never count as changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness._build.versions import version_tuple
from harness._errors import ConfigError
from harness._report.ledger import LedgerError, _atomic_write, _md, load_ledger
from harness._report.ledger_diff import _figures, _test_name, diff_ledgers

__all__ = ["assemble_matrix", "format_matrix_markdown", "write_matrix"]


def _release_of(entries: Sequence[Mapping[str, Any]], fallback: str) -> str:
    found = {str(e.get("argocd_version", "")) for e in entries} - {"", "?"}
    return found.pop() if len(found) == 1 else fallback


def _order(release: str) -> tuple[tuple[int, ...], str]:
    try:
        return version_tuple("-".join(release.split("-")[:1])), release
    except ConfigError:
        return (10**6,), release  # a name that is not a release sorts last, by name


def load_runs(root: Path) -> dict[str, list[dict[str, Any]]]:
    """Release -> ledger, from every `root/*/claims.json`. Raises ConfigError when there is none."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for file in sorted(root.glob("*/claims.json")):
        try:
            entries = load_ledger(file)
        except LedgerError as exc:
            raise ConfigError(str(exc)) from None
        release = _release_of(entries, file.parent.name)
        if release in runs:
            raise ConfigError(f"two runs of {release} under {root}; keep one reports directory per release")
        runs[release] = entries
    if not runs:
        raise ConfigError(
            f"no per-release ledgers under {root} (expected {root}/<release>/claims.json); run `make matrix`"
        )
    return runs


def assemble_matrix(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """The matrix as JSON-ready data; `runs` maps release -> its ledger entries."""
    releases = sorted(runs, key=_order)
    claims: dict[str, dict[str, str]] = {}
    not_applicable: dict[str, list[dict[str, str]]] = {}
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for release in releases:
        for e in runs[release]:
            cid = str(e["id"])
            claims.setdefault(cid, {})[release] = str(e.get("verdict", "?"))
            for c in e.get("checks") or []:
                if c.get("applicable") is False:
                    not_applicable.setdefault(release, []).append(
                        {"claim": cid, "check": _check_name(c), "reason": str(c.get("reason", ""))}
                    )
            for test, facts in (e.get("evidence") or {}).items():
                for path, value in _figures(facts):
                    figures.setdefault(release, {}).setdefault(cid, {})[f"{_test_name(test)} {path}"] = value
    changes: list[dict[str, Any]] = []
    raced: list[dict[str, Any]] = []
    for before, after in zip(releases, releases[1:], strict=False):
        diff = diff_ledgers(runs[before], runs[after])
        for cid, vb, va in diff.verdicts:
            if vb != va:
                change = {
                    "from": before,
                    "to": after,
                    "claim": cid,
                    "check": "verdict",
                    "before": vb,
                    "after": va,
                }
                # A verdict that differs only through raced checks is shown with them, not as a change.
                (changes if diff.verdict_changed(cid) else raced).append(change)
        for ch in [*diff.checks, *diff.raced]:
            (raced if ch.race else changes).append(
                {
                    "from": before,
                    "to": after,
                    "claim": ch.claim,
                    "check": f"{_test_name(ch.test)}: {ch.statement}",
                    "before": _observed(ch.before),
                    "after": _observed(ch.after),
                    **({"race": ch.race} if ch.race else {}),
                }
            )
    ordered = sorted(claims, key=lambda c: (len(c), c))
    return {
        "releases": releases,
        "claims": {c: claims[c] for c in ordered},
        "changes": changes,
        "raced": raced,
        "not_applicable": not_applicable,
        "figures": figures,
    }


def _check_name(check: Mapping[str, Any]) -> str:
    return f"{_test_name(str(check.get('test', '')))}: {check.get('statement', '')}"


def _observed(check: Mapping[str, Any] | None) -> Any:
    """What a change shows for one side: the observation, or why there is none."""
    if check is None:
        return {"not recorded": True}
    if check.get("applicable") is False:
        return {"not applicable": check.get("reason", "")}
    return check.get("observed")


def format_matrix_markdown(m: Mapping[str, Any]) -> str:
    """`matrix.md`: verdicts per claim and release, the upgrade diffs, not-applicable checks, figures."""
    releases: list[str] = list(m["releases"])
    out = [
        "# Claims matrix",
        "",
        "| Claim | " + " | ".join(releases) + " |",
        "|---" * (len(releases) + 1) + "|",
    ]
    for cid, row in m["claims"].items():
        out.append(f"| {_md(cid)} | " + " | ".join(_md(row.get(r, "absent")) for r in releases) + " |")
    out += ["", "## What changed between releases", ""]
    pairs = list(zip(releases, releases[1:], strict=False))
    if not pairs:
        out += ["One release only: nothing to compare.", ""]
    for before, after in pairs:
        these = [c for c in m["changes"] if c["from"] == before and c["to"] == after]
        out.append(f"### {before} → {after}")
        out.append("")
        if not these:
            out.append("Every check observed the same.")
        for c in these:
            out.append(f"- {_md(c['claim'])} {_md(c['check'])}: `{_md(c['before'])}` → `{_md(c['after'])}`")
        races = [c for c in m.get("raced") or [] if c["from"] == before and c["to"] == after]
        if races:
            out += [
                "",
                "Observed differently where a known controller race decides (not counted as a change):",
            ]
        for c in races:
            ref = f" [{_md(c['race'])}]" if c.get("race") else ""
            out.append(
                f"- {_md(c['claim'])} {_md(c['check'])}{ref}: `{_md(c['before'])}` → `{_md(c['after'])}`"
            )
        out.append("")
    na = m.get("not_applicable") or {}
    if na:
        out += ["## Checks a release cannot have", ""]
        for release in releases:
            for item in na.get(release, []):
                out.append(f"- {release} {_md(item['claim'])} {_md(item['check'])}: {_md(item['reason'])}")
        out.append("")
    figures = m.get("figures") or {}
    names = sorted({(cid, name) for r in figures.values() for cid, fs in r.items() for name in fs})
    if names:
        out += [
            "## Measured figures",
            "",
            "They vary from run to run on one release; read them side by side, not as changes.",
            "",
            "| Claim | Figure | " + " | ".join(releases) + " |",
            "|---" * (len(releases) + 2) + "|",
        ]
        for cid, name in names:
            cells = [_md(figures.get(r, {}).get(cid, {}).get(name, "–")) for r in releases]
            out.append(f"| {_md(cid)} | {_md(name)} | " + " | ".join(cells) + " |")
    return "\n".join(out).rstrip("\n") + "\n"


def write_matrix(root: Path) -> tuple[Path, Path, dict[str, Any]]:
    """Assemble the matrix from `root/<release>/claims.json`; write `matrix.json` and `matrix.md`."""
    m = assemble_matrix(load_runs(root))
    json_path, md_path = root / "matrix.json", root / "matrix.md"
    _atomic_write(json_path, json.dumps(m, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    _atomic_write(md_path, format_matrix_markdown(m))
    return json_path, md_path, m
