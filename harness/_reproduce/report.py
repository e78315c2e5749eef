"""The replay's report: `report.json`, `report.md`, Allure results and the diagnostics bundle.

`report.json` shape (every string redacted with `harness._redact.redact_text` before writing)::

    {"argocd_version": "v3.6.1", "provider": "embedded", "application": {...as created...},
     "sources": {"application": PATH, "manifests": PATH, "steps": PATH},
     "rewrites": [{"where", "before", "after", "why"}],
     "hook_plans": {"migrate": {"outcome": "fail", "exit_code": 3, "duration": null}},
     "steps": [{"step", "description", "status", "detail", "t"}],
     "operations": [{"seq", "phase", "message", "started_at", "finished_at", "retry_count",
                     "automated", "initiated_by", "revision", "resources": [{"kind", "name",
                     "status", "message", "hook_type", "hook_phase", "sync_phase"}]}],
     "self_heals": [...], "deletions": [...], "events": [...],
     "timeline": {"operations": [{"t", "ended_t", "seq", "phase", "automated", "retry_count",
                                  "message", "hooks": [[name, hook_type, hook_phase]]}],
                  "operation_gaps_s": [7.4], "hook_runs": [{"t", "name", "uid"}],
                  "retry_marks": [{"t", "retry_count"}], "sample_errors": 0, "stopped_t": 21.9},
     "final": {"application", "sync", "health", "operation_phase", "operation_message",
               "finalizers", "conditions"},
     "final_objects": [...], "expectations": [{"step", "expectation", "held", "observed"}],
     "held": true, "seconds": 41.2}

`timeline` is `Timeline.summary()` (harness/_scenario/timeline.py): every `t`, `ended_t` and
`stopped_t` is seconds since the timeline started sampling, a moment our sampler first saw (every
0.2 s), not the controller's timestamps; `ended_t` is null for an operation never seen ended. The
claims page draws it as a lane chart (harness/_report/lanes.py). `seconds` is the whole replay.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from allure_commons.logger import AllureFileLogger
from allure_commons.model2 import Attachment, Label, Status, StatusDetails, TestResult, TestStepResult

from harness._redact import redact_text
from harness._reproduce.run import ReplayResult


def to_json(result: ReplayResult) -> dict[str, Any]:
    p = result.prepared
    data: dict[str, Any] = {
        "argocd_version": result.versions.get("argocd", "unknown"),
        "versions": result.versions,
        "provider": result.provider,
        "incident": p.application.manifest_name,
        "application": result.application,
        "sources": p.sources,
        "rewrites": [r.to_json() for r in p.rewrites],
        "hook_plans": {k: v.__dict__ for k, v in p.hook_plans.items()},
        "steps": [s.to_json() for s in result.steps],
        "operations": [
            {
                "seq": op.seq,
                "phase": op.phase,
                "message": op.message,
                "started_at": op.started_at,
                "finished_at": op.finished_at,
                "retry_count": op.retry_count,
                "automated": op.automated,
                "initiated_by": op.initiated_by,
                "revision": op.revision,
                "resources": [
                    {
                        "kind": r.kind,
                        "name": r.name,
                        "status": r.status,
                        "message": r.message,
                        "hook_type": r.hook_type,
                        "hook_phase": r.hook_phase,
                        "sync_phase": r.sync_phase,
                    }
                    for r in op.resources
                ],
            }
            for op in result.operations
        ],
        "self_heals": result.self_heals,
        "deletions": result.deletions,
        "events": result.events,
        "timeline": result.timeline,
        "final": result.final,
        "final_objects": result.final_objects,
        "expectations": [e.to_json() for e in result.expectations],
        "held": result.held,
        "seconds": round(result.seconds, 1),
    }
    return redact_tree(data)


def redact_tree(value: Any) -> Any:
    """Every string in a JSON-shaped value through `redact_text` (keys kept: they are names)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_tree(v) for v in value]
    return value


def to_markdown(data: dict[str, Any]) -> str:
    held = data["held"]
    lines = [
        f"# Replay of {data['incident']} on Argo CD {data['argocd_version']}",
        "",
        f"Result: **{'every expectation held' if held else 'an expectation did not hold'}** "
        f"({len(data['expectations'])} expectations, {data['seconds']} s, {data['provider']} cluster).",
        "",
        "## Expectations",
        "",
    ]
    if data["expectations"]:
        lines += ["| step | expectation | held | observed |", "|---|---|---|---|"]
        lines += [
            f"| {e['step']} | {_cell(e['expectation'])} | {'yes' if e['held'] else '**no**'} "
            f"| {_cell(e['observed'])} |"
            for e in data["expectations"]
        ]
    else:
        lines.append("No expectations given (add `expect` steps to steps.yaml).")
    lines += ["", "## Operations", ""]
    if not data["operations"]:
        lines.append("No operation was seen.")
    for op in data["operations"]:
        who = "automated" if op["automated"] else op["initiated_by"] or "?"
        lines += [
            f"**#{op['seq']}** {op['phase']} ({who}), retries {op['retry_count']}, "
            f"{op['started_at']} → {op['finished_at'] or '…'}: {op['message']}",
            "",
        ]
        if op["resources"]:
            lines += ["| resource | hook | phase / status | message |", "|---|---|---|---|"]
            lines += [
                f"| {r['kind']}/{r['name']} | {r['hook_type'] or '-'} | {r['hook_phase'] or r['status']} "
                f"| {_cell(r['message'])} |"
                for r in op["resources"]
            ]
            lines.append("")
    final = data["final"]
    lines += [
        "## Final state",
        "",
        f"Application {final['application']}; sync {final['sync'] or '-'}, health {final['health'] or '-'}, "
        f"operation {final['operation_phase'] or '-'}: {final['operation_message'] or '-'}",
        "",
    ]
    if final["finalizers"]:
        lines += [f"Finalizers: {', '.join(final['finalizers'])}", ""]
    for c in final["conditions"]:
        lines += [f"- condition {c['type']}: {c['message']}"]
    if data["deletions"]:
        lines += ["", "## Deletions", ""]
        lines += [
            f"- step {d['step']} (cascade {d['cascade']}): "
            + (
                f"gone after {d['seconds']} s"
                if d["gone"]
                else f"still there after {d['waited_s']:g} s: {d['blocked_by']}"
            )
            for d in data["deletions"]
        ]
    if data["self_heals"]:
        lines += ["", "## Self-heals", ""]
        lines += [
            f"- operation #{s['operation']}: attempt {s['attempts']}, {s['phase']}"
            for s in data["self_heals"]
        ]
    lines += ["", "## Steps", "", "| step | what | status | detail |", "|---|---|---|---|"]
    lines += [
        f"| {s['step']} | {_cell(s['description'])} | {s['status']} | {_cell(s['detail'])} |"
        for s in data["steps"]
    ]
    lines += ["", "## What the replay changed in the input", ""]
    lines += [
        f"- {r['where']}: {_cell(r['before'])} → {_cell(r['after'])} ({r['why']})" for r in data["rewrites"]
    ]
    if data["events"]:
        lines += ["", "## Events", "", "```", *data["events"][-40:], "```"]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")[:300]


def write(result: ReplayResult, out: Path) -> tuple[Path, Path]:
    """Write report.json, report.md, diagnostics/ and allure-results/ into `out`; returns the two reports."""
    out.mkdir(parents=True, exist_ok=True)
    data = to_json(result)
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    markdown = to_markdown(data)
    md_path.write_text(markdown, encoding="utf-8")
    diag = out / "diagnostics"
    diag.mkdir(exist_ok=True)
    for name, text in result.diagnostics.items():
        # diagnostics.render redacts already; once more here, as every text this module writes.
        (diag / (name if name.endswith(".yaml") else f"{name}.txt")).write_text(
            redact_text(text), encoding="utf-8"
        )
    _write_allure(data, markdown, out / "allure-results")
    return json_path, md_path


def _write_allure(data: dict[str, Any], markdown: str, where: Path) -> None:
    """One Allure test result per replay: a step per replay step, the report attached."""
    logger = AllureFileLogger(str(where))
    now = int(time.time() * 1000)
    start = now - int(data["seconds"] * 1000)
    steps = []
    for s in data["steps"]:
        failed = s["status"] in ("NOT HELD", "error")
        steps.append(
            TestStepResult(
                name=f"[{s['step']}] {s['description']}",
                status=Status.FAILED if failed else Status.PASSED,
                statusDetails=StatusDetails(message=s["detail"]) if s["detail"] else None,
                start=start + int(s["t"] * 1000),
                stop=start + int(s["t"] * 1000),
            )
        )
    source = f"{uuid.uuid4()}-attachment.md"
    logger.report_attached_data(markdown, source)
    unmet = [e for e in data["expectations"] if not e["held"]]
    result = TestResult(
        uuid=str(uuid.uuid4()),
        name=f"reproduce {data['incident']} on {data['argocd_version']}",
        fullName=f"argocd-chaos reproduce {data['incident']}",
        historyId=f"reproduce-{data['incident']}-{data['argocd_version']}",
        status=Status.FAILED if unmet else Status.PASSED,
        statusDetails=StatusDetails(message="; ".join(f"{e['expectation']}: {e['observed']}" for e in unmet))
        if unmet
        else None,
        steps=steps,
        attachments=[Attachment(name="report.md", source=source, type="text/markdown")],
        labels=[Label(name="suite", value="reproduce"), Label(name="tag", value=data["argocd_version"])],
        start=start,
        stop=now,
    )
    logger.report_result(result)
