"""The catalogue of known upstream hook bugs (`incidents/`), replayed per release.

Each folder of the catalogue is one upstream argo-cd issue: `application.yaml`, `manifests/`,
`steps.yaml` and a README. Its steps' expectations describe the *buggy* behaviour the issue reports,
so "every expectation held" means "reproduced on this release". `run_incidents` replays every entry
on one cluster of one release into `REPORTS/incidents/<release>/`, then writes the table over every
release found there: `REPORTS/incidents.json` and `REPORTS/incidents.md`.

`incidents.json` shape::

    {"releases": ["v2.14.21", "v3.6.1"],
     "incidents": [{"id": "27507-...", "upstream": 27507, "title": "...",
                    "results": {"v3.6.1": {"verdict": "reproduced" | "not reproduced" | "error",
                                           "evidence": ["..."], "report": PATH, "seconds": 41.0}}}]}
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._build.versions import normalise_version
from harness._config import check_writable_dir, timeouts_from_env
from harness._errors import ConfigError, HarnessError
from harness._report.html import refresh_claims_page
from harness._reproduce import report
from harness._reproduce.command import ClusterOptions, _config, run_one, session_cluster
from harness._reproduce.prepare import Prepared, prepare

REPRODUCED, NOT_REPRODUCED, ERROR = "reproduced", "not reproduced", "error"


@dataclass(frozen=True)
class Incident:
    id: str
    folder: Path
    upstream: int | None
    title: str


def list_catalogue(root: Path) -> list[Incident]:
    """Every entry of the catalogue, in folder order; ConfigError for a folder missing a file."""
    if not root.is_dir():
        raise ConfigError(f"--catalogue {root}: no such folder")
    out: list[Incident] = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        missing = [
            f for f in ("application.yaml", "manifests", "steps.yaml", "README.md") if not (d / f).exists()
        ]
        if missing:
            raise ConfigError(f"incident {d.name} lacks {', '.join(missing)}; every entry has all four")
        number = re.match(r"(\d+)", d.name)
        first = (d / "README.md").read_text(encoding="utf-8").splitlines()
        title = next((line.lstrip("# ").strip() for line in first if line.startswith("#")), d.name)
        out.append(Incident(d.name, d, int(number.group(1)) if number else None, title))
    return out


def prepare_incident(incident: Incident) -> Prepared:
    d = incident.folder
    return prepare(d / "application.yaml", d / "manifests", steps_path=d / "steps.yaml")


def run_incidents(
    *,
    catalogue: Path,
    reports: Path,
    argocd_version: str | None,
    cluster_name: str,
    only: list[str],
    table_only: bool,
    say: Callable[[str], None],
) -> int:
    """Replay the catalogue on one release (unless `table_only`), then write the table and the claims page.

    Returns 0 unless a replay could not run. The page (`REPORTS/claims.html`) draws every replay under
    `reports`; one that cannot be written is a warning, not an error.
    """
    check_writable_dir(reports, "--reports")
    status = 0
    if not table_only:
        if argocd_version is not None:
            normalise_version(argocd_version)
        entries = _select(list_catalogue(catalogue), only)
        # Every entry is read and checked before the cluster boots: a broken entry costs seconds.
        prepared = [(i, prepare_incident(i)) for i in entries]
        timeouts = timeouts_from_env()
        cfg = _config(ClusterOptions(argocd_version=argocd_version, cluster_name=cluster_name), reports)
        with session_cluster(cfg, say) as (handle, run_id):
            release = handle.versions.get("argocd", "unknown")
            out = reports / "incidents" / release
            rows = []
            for incident, prep in prepared:
                t0 = time.monotonic()
                try:
                    result = run_one(handle, prep, timeouts=timeouts, run_id=run_id, say=say)
                except HarnessError as exc:
                    say(f"argocd-chaos: {incident.id}: error: {exc}")
                    rows.append(
                        _row(incident, ERROR, [f"the replay did not run: {exc}"], "", time.monotonic() - t0)
                    )
                    status = 1
                    continue
                json_path, md_path = report.write(result, out / incident.id)
                verdict = REPRODUCED if result.held else NOT_REPRODUCED
                evidence = [
                    f"{'held' if e.held else 'not held'}: {e.expectation}; observed: {e.observed}"
                    for e in result.expectations
                ]
                say(f"argocd-chaos: {incident.id} on {release}: {verdict}")
                rows.append(
                    _row(incident, verdict, evidence, str(md_path.relative_to(reports)), result.seconds)
                )
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text(
                json.dumps({"release": release, "incidents": rows}, indent=2) + "\n", encoding="utf-8"
            )
    json_path, md_path = write_table(reports, catalogue if catalogue.is_dir() else None)
    print(md_path.read_text(encoding="utf-8"), end="")
    say(f"argocd-chaos: wrote {json_path} and {md_path}")
    refresh_claims_page(reports, say)
    return status


def _select(entries: list[Incident], only: list[str]) -> list[Incident]:
    if not only:
        return entries
    chosen = [i for i in entries if i.id in only or any(i.id.startswith(f"{o}-") for o in only)]
    unknown = [o for o in only if not any(i.id == o or i.id.startswith(f"{o}-") for i in entries)]
    if unknown:
        raise ConfigError(
            f"--only {', '.join(unknown)}: no such incident; "
            f"the catalogue has {', '.join(i.id for i in entries)}"
        )
    return chosen


def _row(
    incident: Incident, verdict: str, evidence: list[str], report_path: str, seconds: float
) -> dict[str, Any]:
    return {
        "id": incident.id,
        "upstream": incident.upstream,
        "title": incident.title,
        "verdict": verdict,
        "evidence": evidence,
        "report": report_path,
        "seconds": round(seconds, 1),
    }


def load_results(reports: Path) -> dict[str, dict[str, Any]]:
    """`release -> summary` of every `REPORTS/incidents/<release>/summary.json`."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted((reports / "incidents").glob("*/summary.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        out[str(data["release"])] = data
    return out


def _release_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release)[:3]) or (0,)


def table(reports: Path) -> dict[str, Any]:
    results = load_results(reports)
    releases = sorted(results, key=_release_key)
    incidents: dict[str, dict[str, Any]] = {}
    for release in releases:
        for row in results[release]["incidents"]:
            entry = incidents.setdefault(
                row["id"],
                {"id": row["id"], "upstream": row["upstream"], "title": row["title"], "results": {}},
            )
            entry["results"][release] = {k: row[k] for k in ("verdict", "evidence", "report", "seconds")}
    rows = [incidents[k] for k in sorted(incidents)]
    return {"releases": releases, "incidents": rows, "changes": changes(releases, rows)}


def changes(releases: list[str], rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Known bugs that appear or disappear between adjacent releases (both must have a verdict)."""
    out: list[dict[str, str]] = []
    for old, new in zip(releases, releases[1:], strict=False):
        for row in rows:
            before = row["results"].get(old, {}).get("verdict")
            after = row["results"].get(new, {}).get("verdict")
            if {before, after} == {REPRODUCED, NOT_REPRODUCED}:
                what = "appears" if after == REPRODUCED else "disappears"
                out.append({"from": old, "to": new, "incident": row["id"], "change": what})
    return out


def write_table(reports: Path, catalogue_root: Path | None = None) -> tuple[Path, Path]:
    data = table(reports)
    reports.mkdir(parents=True, exist_ok=True)
    json_path, md_path = reports / "incidents.json", reports / "incidents.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(format_table(data), encoding="utf-8")
    return json_path, md_path


def format_changes(data: dict[str, Any]) -> list[str]:
    """The appear/disappear lines between adjacent releases, as a Markdown section."""
    lines = ["## Between releases", ""]
    if len(data["releases"]) < 2:
        return [*lines, "One release only: nothing to compare.", ""]
    if not data["changes"]:
        return [*lines, "No known bug appears or disappears between adjacent releases.", ""]
    lines += [f"- {c['from']} → {c['to']}: {c['incident']} {c['change']}" for c in data["changes"]]
    return [*lines, ""]


def matrix_section(reports: Path) -> str:
    """The catalogue's part of the claims matrix (`claims --matrix`); "" when no incident ran there."""
    if not load_results(reports):
        return ""
    write_table(reports)
    data = table(reports)
    lines = ["", "## Known hook bugs (incidents/)", ""]
    releases = data["releases"]
    lines += ["| incident | " + " | ".join(releases) + " |", "|---|" + "---|" * len(releases)]
    for inc in data["incidents"]:
        cells = [inc["results"].get(r, {}).get("verdict", "–") for r in releases]
        lines.append(f"| #{inc['upstream']} {inc['title']} | " + " | ".join(cells) + " |")
    lines += ["", *format_changes(data)[2:], f"Evidence: {reports / 'incidents.md'}", ""]
    return "\n".join(lines)


def compare_runs(old: Path, new: Path) -> list[dict[str, str]]:
    """Known bugs whose verdict differs between two reports directories (`claims --compare`).

    Each side is the newest release that side replayed the catalogue on; an incident counts only when
    both sides have a verdict for it. Rows: `{"incident", "upstream", "title", "from", "to", "before",
    "after", "change"}` with `change` "appears" or "disappears". [] when either side has no results.
    """
    sides = []
    for reports in (old, new):
        results = load_results(reports.parent if reports.is_file() else reports)
        if not results:
            return []
        release = max(results, key=_release_key)
        sides.append((release, {row["id"]: row for row in results[release]["incidents"]}))
    (old_release, before), (new_release, after) = sides
    out: list[dict[str, str]] = []
    for key in sorted(before.keys() & after.keys()):
        was, now = before[key]["verdict"], after[key]["verdict"]
        if was != now and {was, now} == {REPRODUCED, NOT_REPRODUCED}:
            out.append(
                {
                    "incident": key,
                    "upstream": str(after[key]["upstream"]),
                    "title": str(after[key]["title"]),
                    "from": old_release,
                    "to": new_release,
                    "before": was,
                    "after": now,
                    "change": "appears" if now == REPRODUCED else "disappears",
                }
            )
    return out


def format_compare(rows: list[dict[str, str]]) -> str:
    """The `claims --compare` lines for the catalogue; "" when nothing changed or nothing was run."""
    if not rows:
        return ""
    lines = ["", "## Known hook bugs (incidents/)", ""]
    lines += [
        f"- #{r['upstream']} {r['title']}: {r['before']} on {r['from']} → {r['after']} on {r['to']} "
        f"(the bug {r['change']})"
        for r in rows
    ]
    return "\n".join([*lines, ""])


def format_table(data: dict[str, Any]) -> str:
    releases = data["releases"]
    lines = [
        "# Known hook bugs by release",
        "",
        "Each row is an upstream argo-cd issue modelled in `incidents/`; its expectations describe the "
        "bug, so *reproduced* means the release still behaves as the issue reports.",
        "",
    ]
    if not releases:
        return "\n".join([*lines, "No results yet: run `make incidents`.", ""])
    lines += ["| incident | " + " | ".join(releases) + " |", "|---|" + "---|" * len(releases)]
    for inc in data["incidents"]:
        link = f"#{inc['upstream']}" if inc["upstream"] else inc["id"]
        cells = [inc["results"].get(r, {}).get("verdict", "–") for r in releases]
        lines.append(f"| {link} {inc['title']} | " + " | ".join(cells) + " |")
    lines += ["", *format_changes(data), "## Evidence", ""]
    for inc in data["incidents"]:
        lines += [f"### {inc['id']}", ""]
        for r in releases:
            res = inc["results"].get(r)
            if res is None:
                continue
            lines.append(f"- **{r}: {res['verdict']}** ({res['seconds']} s, {res['report'] or 'no report'})")
            lines += [f"  - {' '.join(e.split())[:400]}" for e in res["evidence"]]
        lines.append("")
    return "\n".join(lines) + "\n"
