"""What changed between two claims ledgers: the upgrade check, claim by claim.

A platform team runs the suites on the Argo CD it runs today and on the release it wants next, then
asks one question: did anything the claims describe behave differently? Verdicts answer it coarsely;
the checks underneath (each a statement with what was claimed and what was observed) answer it
exactly, so both are compared. Checks are matched by test and statement, which stay put across runs,
while their observed values are what the controller did.

Measured figures (retry and self-heal gaps, wait times) are shown side by side but never count as a
change: they vary from run to run on the same release, and calling that a behaviour change would make
the comparison useless as a gate. So does a check whose observation a known controller race decides
(its `race` names the upstream issue): it is listed apart, with both observations, and a verdict that
differs only through such checks is shown but not counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CheckChange", "LedgerDiff", "diff_ledgers", "format_ledger_diff"]

_FIGURE_WORDS = ("gap", "seconds")


@dataclass(frozen=True)
class CheckChange:
    claim: str
    test: str
    statement: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None

    @property
    def race(self) -> str:
        """The upstream race either side names; "" when neither does or a side is not applicable.

        A check that is not applicable on one release and observed on the next is the feature
        appearing, a change whatever the race then decides.
        """
        sides = [c for c in (self.before, self.after) if c is not None]
        if any(c.get("applicable") is False for c in sides):
            return ""
        return next((str(c["race"]) for c in sides if c.get("race")), "")


@dataclass
class LedgerDiff:
    before_version: str
    after_version: str
    #: (claim, verdict before, verdict after) for every claim in either ledger.
    verdicts: list[tuple[str, str, str]] = field(default_factory=list)
    checks: list[CheckChange] = field(default_factory=list)
    #: Differing checks a known controller race decides (see `CheckChange.race`): shown, not counted.
    raced: list[CheckChange] = field(default_factory=list)
    #: (claim, test, path, before, after) for measured figures that both runs recorded.
    figures: list[tuple[str, str, str, Any, Any]] = field(default_factory=list)

    @property
    def compared(self) -> list[str]:
        """Claims that ran in both runs (a verdict other than not-run on each side).

        A gate must not pass on no evidence: two ledgers where nothing ran, or where the runs share
        no claim that ran, show no change only because they show nothing.
        """
        idle = ("not-run", "absent")
        return [claim for claim, before, after in self.verdicts if before not in idle and after not in idle]

    def verdict_changed(self, claim: str) -> bool:
        """Whether the claim's verdict differs, other than through raced checks alone."""
        differs = any(c == claim and b != a for c, b, a in self.verdicts)
        only_raced = any(r.claim == claim for r in self.raced) and not any(
            c.claim == claim for c in self.checks
        )
        return differs and not only_raced

    @property
    def changed(self) -> bool:
        """Whether a verdict or a check differs (figures and raced checks never count)."""
        return bool(self.checks) or any(self.verdict_changed(claim) for claim, _, _ in self.verdicts)


def _version(entries: Sequence[Mapping[str, Any]]) -> str:
    versions = sorted({str(e.get("argocd_version", "?")) for e in entries})
    return ", ".join(versions) or "?"


def _checks(entry: Mapping[str, Any] | None) -> dict[tuple[str, str], Mapping[str, Any]]:
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    for check in (entry or {}).get("checks") or []:
        out[(str(check.get("test", "")), str(check.get("statement", "")))] = check
    return out


def _same_check(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("claimed") == b.get("claimed") and a.get("observed") == b.get("observed")


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return (
        isinstance(value, list)
        and bool(value)
        and all(_numeric(v) and not isinstance(v, list) for v in value)
    )


def _figures(evidence: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Numeric leaves whose path names a gap or a duration; the raw timeline is left out (too long)."""
    if isinstance(evidence, Mapping):
        for key, value in evidence.items():
            if key == "timeline":
                continue
            yield from _figures(value, f"{path}.{key}" if path else str(key))
    elif _numeric(evidence) and any(word in path.lower() for word in _FIGURE_WORDS):
        yield path, evidence


def diff_ledgers(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> LedgerDiff:
    old = {str(e["id"]): e for e in before}
    new = {str(e["id"]): e for e in after}
    ids = sorted(set(old) | set(new), key=lambda c: (len(c), c))
    diff = LedgerDiff(_version(before), _version(after))
    for claim in ids:
        o, n = old.get(claim), new.get(claim)
        diff.verdicts.append(
            (claim, str((o or {}).get("verdict", "absent")), str((n or {}).get("verdict", "absent")))
        )
        oc, nc = _checks(o), _checks(n)
        for key in sorted(set(oc) | set(nc)):
            a, b = oc.get(key), nc.get(key)
            if a is None or b is None or not _same_check(a, b):
                change = CheckChange(claim, key[0], key[1], a, b)
                (diff.raced if change.race else diff.checks).append(change)
        oe, ne = (o or {}).get("evidence") or {}, (n or {}).get("evidence") or {}
        for test in sorted(set(oe) & set(ne)):
            before_figures = dict(_figures(oe[test]))
            for path, value in _figures(ne[test]):
                if path in before_figures:
                    diff.figures.append((claim, test, path, before_figures[path], value))
    return diff


def _short(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _test_name(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _describe(check: Mapping[str, Any] | None) -> str:
    if check is None:
        return "not recorded"
    agrees = "agrees" if check.get("agrees") else "disagrees"
    return f"observed {_short(check.get('observed'))} ({agrees} with claimed {_short(check.get('claimed'))})"


def format_ledger_diff(diff: LedgerDiff, before_label: str, after_label: str) -> str:
    """Plain text for a terminal or a CI log: verdicts, then changed checks, then figures."""
    lines = [
        f"Before: Argo CD {diff.before_version} ({before_label})",
        f"After:  Argo CD {diff.after_version} ({after_label})",
        "",
    ]
    width = max([len("Before"), *(len(b) for _, b, _ in diff.verdicts)])
    lines.append(f"{'Claim':<6} {'Before':<{width}}  After")
    for claim, b, a in diff.verdicts:
        mark = ""
        if a != b:
            mark = "   <- changed" if diff.verdict_changed(claim) else "   <- differs (raced checks only)"
        lines.append(f"{claim:<6} {b:<{width}}  {a}{mark}")
    lines.append("")
    if diff.checks:
        lines.append(f"Checks that differ ({len(diff.checks)}):")
        for c in diff.checks:
            lines.append(f"- {c.claim} {_test_name(c.test)}: {c.statement}")
            lines.append(f"    before: {_describe(c.before)}")
            lines.append(f"    after:  {_describe(c.after)}")
    elif not diff.raced:
        lines.append("Every check observed the same in both runs.")
    else:
        lines.append("Every check not decided by a known race observed the same in both runs.")
    if diff.raced:
        lines += [
            "",
            f"Checks a known controller race decides, observed differently ({len(diff.raced)}, not counted):",
        ]
        for c in diff.raced:
            lines.append(f"- {c.claim} {_test_name(c.test)}: {c.statement} [{c.race}]")
            lines.append(f"    before: {_describe(c.before)}")
            lines.append(f"    after:  {_describe(c.after)}")
    if diff.figures:
        lines += ["", "Measured figures (they vary from run to run; not counted as changes):"]
        for claim, test, path, b, a in diff.figures:
            lines.append(f"- {claim} {_test_name(test)} {path}: {_short(b)} -> {_short(a)}")
    if diff.changed:
        verdict = "Behaviour changed."
    elif not diff.compared:
        verdict = "Nothing to compare: no claim ran in both runs."
    else:
        verdict = "No behaviour change."
    lines += ["", verdict]
    return "\n".join(lines) + "\n"
