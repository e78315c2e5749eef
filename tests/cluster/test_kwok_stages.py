"""Offline checks of the KWOK Stage set.

KWOK gives no feedback on a bad stage: a selector that matches nothing leaves pods hanging, two
selectors that overlap make KWOK pick one at random, a field it does not know is pruned by the API
server, and a template error only shows up in KWOK's log. These tests catch all of that without a
cluster, by evaluating the selectors the way KWOK v0.8.0 does (pkg/utils/expression) and by
checking templates and objects against the Stage CRD.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from harness._build.versions import KWOK_VERSION
from harness._cluster.embedded import kwok_stages as ks
from harness._errors import ConfigError, HarnessError

Obj = dict[str, Any]

# --------------------------------------------------------------------------------------------------
# A tiny model of KWOK's legacy matchExpressions (key/operator/values).
#
# KWOK compiles each key with gojq and runs it over the object converted to plain JSON
# (pkg/utils/expression/query.go). Null outputs are dropped; a runtime error (iterating null,
# indexing a string) makes the whole result "no data". Requirement.Matches (selector.go) then says:
# no data -> In/Exists false, NotIn/DoesNotExist true; otherwise In is "some output is one of the
# values" (strings as is, booleans as "true"/"false"; JSON numbers arrive as float64 and never match),
# NotIn its negation, Exists "some non-null output", DoesNotExist its negation. Only the jq forms
# our stages use are modelled; anything else fails the test instead of being guessed at.


class _JqError(Exception):
    """A jq runtime error; KWOK turns it into "no data"."""


class _UnsupportedQuery(AssertionError):
    """The stage uses jq this model does not understand; extend the model before trusting it."""


_PATH_TOKEN = re.compile(r'\.\[\]|\["([^"\\]*)"\]|\.([A-Za-z_][A-Za-z0-9_]*)')
_SELECT = re.compile(r'select\(\s*(\.[^\s=]*)\s*==\s*"([^"\\]*)"\s*\)')

_Step = tuple[Literal["key", "iter"], str]


def _parse_path(path: str) -> list[_Step]:
    if path == ".":
        return []
    steps: list[_Step] = []
    pos = 0
    while pos < len(path):
        m = _PATH_TOKEN.match(path, pos)
        if m is None:
            raise _UnsupportedQuery(f"jq path {path!r} at {path[pos:]!r}")
        if m.group(0) == ".[]":
            steps.append(("iter", ""))
        else:
            steps.append(("key", m.group(1) if m.group(1) is not None else m.group(2)))
        pos = m.end()
    return steps


def _apply_path(steps: list[_Step], value: Any) -> list[Any]:
    stream = [value]
    for op, arg in steps:
        out: list[Any] = []
        for v in stream:
            if op == "key":
                if v is None:
                    out.append(None)
                elif isinstance(v, dict):
                    out.append(v.get(arg))
                else:
                    raise _JqError(f"cannot index {type(v).__name__} with {arg!r}")
            elif isinstance(v, list):
                out.extend(v)
            elif isinstance(v, dict):
                out.extend(v.values())
            else:
                raise _JqError(f"cannot iterate over {v!r}")
        stream = out
    return stream


def jq(query: str, doc: Any) -> list[Any] | None:
    """Outputs of `query` with nulls dropped, or None where gojq would raise."""
    stream = [doc]
    try:
        for segment in (s.strip() for s in query.split("|")):
            sel = _SELECT.fullmatch(segment)
            if sel:
                steps = _parse_path(sel.group(1))
                stream = [v for v in stream if any(x == sel.group(2) for x in _apply_path(steps, v))]
            else:
                steps = _parse_path(segment)
                stream = [o for v in stream for o in _apply_path(steps, v)]
    except _JqError:
        return None
    return [v for v in stream if v is not None]


def _has_value(d: Any, values: list[str]) -> bool:
    if isinstance(d, bool):
        return ("true" if d else "false") in values
    if isinstance(d, str):
        return d in values
    return False


def requirement_matches(expr: Obj, obj: Obj) -> bool:
    data = jq(expr["key"], obj)
    op = expr["operator"]
    values: list[str] = expr.get("values", [])
    if data is None:
        return op in ("NotIn", "DoesNotExist")
    if op == "In":
        return any(_has_value(d, values) for d in data)
    if op == "NotIn":
        return not any(_has_value(d, values) for d in data)
    if op == "Exists":
        return bool(data)
    if op == "DoesNotExist":
        return not data
    raise AssertionError(f"operator {op!r}")


def matching(stages: list[Obj], obj: Obj) -> list[str]:
    kind = obj["kind"]
    return [
        s["metadata"]["name"]
        for s in stages
        if s["spec"]["resourceRef"]["kind"] == kind
        and all(requirement_matches(e, obj) for e in s["spec"]["selector"]["matchExpressions"])
    ]


def test_jq_model_follows_kwok() -> None:
    pod = {"metadata": {"ownerReferences": [{"kind": "ReplicaSet"}, {"kind": "Job"}]}, "status": {}}
    assert jq(".metadata.ownerReferences.[].kind", pod) == ["ReplicaSet", "Job"]
    assert jq(".status.conditions.[] | .status", pod) is None  # iterating null is an error
    assert jq('.metadata.annotations["a/b"]', pod) == []  # indexing null gives null, then dropped
    assert jq(".status.phase", {"status": "x"}) is None
    no_owner: Obj = {"metadata": {}}
    assert requirement_matches(_expr(".metadata.ownerReferences.[].kind", "NotIn", "Job"), no_owner)
    assert not requirement_matches(_expr(".metadata.ownerReferences.[].kind", "In", "Job"), no_owner)
    assert requirement_matches(_expr(".metadata.deletionTimestamp", "DoesNotExist"), no_owner)
    # Exists means non-null: an empty annotation value counts.
    assert requirement_matches(
        _expr('.metadata.annotations["a"]', "Exists"), {"metadata": {"annotations": {"a": ""}}}
    )
    with pytest.raises(_UnsupportedQuery):
        jq(".spec.containers[0].name", pod)


def _expr(key: str, op: str, *values: str) -> Obj:
    return {"key": key, "operator": op, **({"values": list(values)} if values else {})}


# --------------------------------------------------------------------------------------------------
# Object shape

_DNS1123_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_OPERATORS = {"In", "NotIn", "Exists", "DoesNotExist"}
_SWITCH_STAGES = ks.switch_stages("s1", exit_code=7, duration="1m30s") + ks.switch_stages(
    "s2", exit_code=0, duration=None
)
_ALL = ks.default_stages() + _SWITCH_STAGES


def _ids(stages: list[Obj]) -> list[str]:
    return [s["metadata"]["name"] for s in stages]


def test_default_stage_names() -> None:
    assert _ids(ks.default_stages()) == [
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-succeed-job",
        "pod-succeed-annotated",
        "pod-fail",
        "pod-delete",
        "pod-delete-graceful",
        "pod-delete-ended",
    ]
    assert len(set(_ids(_ALL))) == len(_ALL)


@pytest.mark.parametrize("stage", _ALL, ids=_ids(_ALL))
def test_stage_is_well_formed(stage: Obj) -> None:
    json.dumps(stage)  # plain JSON, ready for the API client
    assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
    assert stage["kind"] == "Stage"
    name = stage["metadata"]["name"]
    assert len(name) <= 63
    assert _DNS1123_LABEL.fullmatch(name), name
    assert stage["metadata"]["labels"][ks.MANAGED_BY_LABEL] == "argocd-chaos"
    assert "namespace" not in stage["metadata"]  # Stage is cluster-scoped
    spec = stage["spec"]
    assert spec["resourceRef"] == {"apiGroup": "v1", "kind": spec["resourceRef"]["kind"]}
    assert spec["resourceRef"]["kind"] in ("Pod", "Node")
    exprs = spec["selector"]["matchExpressions"]
    assert exprs
    for e in exprs:
        assert set(e) <= {"key", "operator", "values"}
        assert e["operator"] in _OPERATORS
        assert isinstance(e["key"], str)
        assert e["key"].startswith(".")
        if e["operator"] in ("In", "NotIn"):
            assert e["values"]
            assert all(isinstance(v, str) for v in e["values"])
        else:
            assert "values" not in e
        jq(e["key"], {})  # raises if the model cannot follow the key
    deletion = [e for e in exprs if e["key"] == ".metadata.deletionTimestamp"]
    grace = {"key": f'.metadata.annotations["{ks.TERMINATION_GRACE}"]'}
    if name == "pod-delete":
        assert deletion == [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]
        assert {**grace, "operator": "DoesNotExist"} in exprs
        assert spec["next"] == {"delete": True}
    elif name in ("pod-delete-graceful", "pod-delete-ended"):
        assert deletion == [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]
        assert {**grace, "operator": "Exists"} in exprs
        running = {"key": ".status.phase", "values": ["Running"]}
        assert {**running, "operator": "In" if name == "pod-delete-graceful" else "NotIn"} in exprs
        assert spec["next"] == {"delete": True}
    else:
        assert deletion == [{"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}]
        assert set(spec["next"]) == {"statusTemplate"}
    delay = spec.get("delay", {})
    assert set(delay) <= {"durationMilliseconds", "jitterDurationMilliseconds", "durationFrom"}
    for key in ("durationMilliseconds", "jitterDurationMilliseconds"):
        if key in delay:
            assert isinstance(delay[key], int)
            assert delay[key] >= 0
    if "durationFrom" in delay:
        assert delay["durationFrom"]["expressionFrom"] in (
            f'.metadata.annotations["{ks.START_DELAY}"]',
            f'.metadata.annotations["{ks.DURATION}"]',
            f'.metadata.annotations["{ks.TERMINATION_GRACE}"]',
        )


def test_outcome_stages_ignore_switched_pods() -> None:
    no_switch = {"key": f'.metadata.annotations["{ks.SWITCH}"]', "operator": "DoesNotExist"}
    by_name = {s["metadata"]["name"]: s for s in ks.default_stages()}
    for name in ("pod-succeed-job", "pod-succeed-annotated", "pod-fail"):
        assert no_switch in by_name[name]["spec"]["selector"]["matchExpressions"], name


def test_delays() -> None:
    by_name = {s["metadata"]["name"]: s for s in _ALL}
    assert by_name["pod-ready"]["spec"]["delay"] == {
        "durationFrom": {"expressionFrom": f'.metadata.annotations["{ks.START_DELAY}"]'}
    }
    for name in ("pod-succeed-job", "pod-succeed-annotated", "pod-fail"):
        assert by_name[name]["spec"]["delay"] == {
            "durationFrom": {"expressionFrom": f'.metadata.annotations["{ks.DURATION}"]'}
        }
    assert by_name["node-heartbeat"]["spec"]["delay"] == {
        "durationMilliseconds": 20000,
        "jitterDurationMilliseconds": 25000,
    }
    assert by_name["pod-delete-graceful"]["spec"]["delay"] == {
        "durationFrom": {"expressionFrom": f'.metadata.annotations["{ks.TERMINATION_GRACE}"]'}
    }
    assert "delay" not in by_name["pod-delete"]["spec"]
    assert "delay" not in by_name["pod-delete-ended"]["spec"]
    assert by_name["switch-s1-exit"]["spec"]["delay"] == {"durationMilliseconds": 90_000}
    assert "delay" not in by_name["switch-s2-exit"]["spec"]


def test_switch_stage_labels() -> None:
    for stage, name in zip(_SWITCH_STAGES, ("s1", "s2"), strict=True):
        assert stage["metadata"]["name"] == f"switch-{name}-exit"
        assert stage["metadata"]["labels"] == {ks.MANAGED_BY_LABEL: "argocd-chaos", ks.SWITCH_LABEL: name}
        assert {"key": f'.metadata.annotations["{ks.SWITCH}"]', "operator": "In", "values": [name]} in stage[
            "spec"
        ]["selector"]["matchExpressions"]
    for stage in ks.default_stages():
        assert ks.SWITCH_LABEL not in stage["metadata"]["labels"]


# --------------------------------------------------------------------------------------------------
# Selector exclusivity over a matrix of pod states

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
Outcome = Literal["succeed", "fail"] | None


def _pod(
    phase: Phase,
    *,
    deleting: bool,
    owner: str | None,
    outcome: Outcome,
    switch: str | None,
    scheduled: bool = True,
    grace: str | None = None,
) -> Obj:
    annotations = {"argocd.argoproj.io/hook": "PreSync"}
    if grace is not None:
        annotations[ks.TERMINATION_GRACE] = grace
    if outcome is not None:
        annotations[ks.OUTCOME] = outcome
    if switch is not None:
        annotations[ks.SWITCH] = switch
    metadata: Obj = {"name": "p", "namespace": "ns", "uid": "u", "annotations": annotations}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": owner, "name": "o", "uid": "x"}]
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
        metadata["deletionGracePeriodSeconds"] = 30
    conditions = [{"type": "PodScheduled", "status": "True" if scheduled else "False"}]
    if phase != "Pending":
        conditions.append({"type": "Ready", "status": "True" if phase == "Running" else "False"})
    spec: Obj = {"containers": [{"name": "main", "image": "busybox"}]}
    if scheduled:
        spec["nodeName"] = "kwok-node-0"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": spec,
        "status": {"phase": phase, "conditions": conditions},
    }


def _expected(
    phase: Phase,
    deleting: bool,
    owner: str | None,
    outcome: Outcome,
    switch: str | None,
    grace: str | None = None,
) -> str | None:
    if deleting:
        if not grace:
            return "pod-delete"
        return "pod-delete-graceful" if phase == "Running" else "pod-delete-ended"
    if phase == "Pending":
        return "pod-ready"
    if phase != "Running":
        return None
    if switch is not None:
        return f"switch-{switch}-exit" if switch in ("s1", "s2") else None
    if outcome == "fail":
        return "pod-fail"
    if owner == "Job":
        return "pod-succeed-job"
    if outcome == "succeed":
        return "pod-succeed-annotated"
    return None


def _matrix() -> Iterator[tuple[Phase, bool, str | None, Outcome, str | None, str | None]]:
    phases: tuple[Phase, ...] = ("Pending", "Running", "Succeeded", "Failed")
    owners = (None, "Job", "ReplicaSet")
    outcomes: tuple[Outcome, ...] = (None, "succeed", "fail")
    switches = (None, "s1", "s2", "unknown")
    graces = (None, "8s")
    yield from itertools.product(phases, (False, True), owners, outcomes, switches, graces)


@pytest.mark.parametrize(("phase", "deleting", "owner", "outcome", "switch", "grace"), list(_matrix()))
def test_each_pod_state_matches_exactly_the_expected_stage(
    phase: Phase, deleting: bool, owner: str | None, outcome: Outcome, switch: str | None, grace: str | None
) -> None:
    pod = _pod(phase, deleting=deleting, owner=owner, outcome=outcome, switch=switch, grace=grace)
    want = _expected(phase, deleting, owner, outcome, switch, grace)
    assert matching(_ALL, pod) == ([want] if want else [])
    # Without any switch installed, switched pods are simply left running.
    default_want = None if want is None or want.startswith("switch-") else want
    assert matching(ks.default_stages(), pod) == ([default_want] if default_want else [])


def test_job_owned_among_several_owners() -> None:
    pod = _pod("Running", deleting=False, owner="ReplicaSet", outcome="succeed", switch=None)
    pod["metadata"]["ownerReferences"].append(
        {"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "y"}
    )
    assert matching(_ALL, pod) == ["pod-succeed-job"]


def test_pod_without_annotations_or_owners() -> None:
    pod = _pod("Running", deleting=False, owner=None, outcome=None, switch=None)
    del pod["metadata"]["annotations"]
    assert matching(_ALL, pod) == []
    pod["status"] = {"phase": "Pending"}
    assert matching(_ALL, pod) == ["pod-ready"]


def test_pending_pods_wait_for_scheduling_and_readiness() -> None:
    unscheduled = _pod("Pending", deleting=False, owner="Job", outcome=None, switch=None, scheduled=False)
    assert matching(_ALL, unscheduled) == []
    no_conditions = _pod("Pending", deleting=False, owner="Job", outcome=None, switch=None)
    del no_conditions["status"]["conditions"]
    assert matching(_ALL, no_conditions) == ["pod-ready"]
    already_ready = _pod("Pending", deleting=False, owner=None, outcome=None, switch=None)
    already_ready["status"]["conditions"].append({"type": "Ready", "status": "True"})
    assert matching(_ALL, already_ready) == []


def _node(status: Obj | None, *, deleting: bool = False) -> Obj:
    metadata: Obj = {"name": "kwok-node-0"}
    if deleting:
        metadata["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": metadata}
    if status is not None:
        node["status"] = status
    return node


@pytest.mark.parametrize(
    ("node", "want"),
    [
        (_node(None), ["node-initialize"]),
        (_node({"nodeInfo": {}}), ["node-initialize"]),
        (
            _node({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}),
            ["node-initialize"],
        ),
        (
            _node({"phase": "Running", "conditions": [{"type": "Ready", "status": "Unknown"}]}),
            ["node-initialize"],
        ),
        (
            _node({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
            ["node-heartbeat"],
        ),
        (_node({"conditions": [{"type": "Ready", "status": "True"}]}), []),
        (_node(None, deleting=True), []),
    ],
)
def test_node_stages(node: Obj, want: list[str]) -> None:
    assert matching(_ALL, node) == want


# --------------------------------------------------------------------------------------------------
# Status templates

_KWOK_FUNCS = {"Now", "Quote", "YAML", "Version", "NodeConditions", "StartTime"}
_NODE_FUNCS = _KWOK_FUNCS | {"NodeIP", "NodeName", "NodePort"}
_POD_FUNCS = _KWOK_FUNCS | {"NodeIP", "PodIP", "NodeIPWith", "NodeIPsWith", "PodIPWith", "PodIPsWith"}
# text/template builtins and the sprig functions the templates may use.
_LOWER_FUNCS = set("and or not eq ne lt le gt ge index len printf dict atoi toString true false nil".split())
_OPENERS = {"if", "range", "with"}
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.S)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')


def check_template(text: str, funcs: set[str]) -> None:
    """Catch what text/template would reject at parse time, plus calls KWOK does not provide."""
    depth = 0
    for m in re.finditer(r"\{\{|\}\}", text):
        depth += 1 if m.group() == "{{" else -1
        assert depth in (0, 1), (
            f"unbalanced braces at offset {m.start()}: {text[max(0, m.start() - 40) : m.end()]!r}"
        )
    assert depth == 0, "unclosed {{"
    stack: list[str] = []
    declared = {"$"}
    for raw in _ACTION.findall(text):
        action = _STRING.sub('""', raw).strip().lstrip("-").rstrip("-").strip()
        words = action.split()
        assert words, "empty action"
        head = words[0]
        if head in _OPENERS:
            stack.append(head)
        elif head == "else":
            assert stack, "else outside a block"
        elif head == "end":
            assert stack, "end without a block"
            stack.pop()
        assert head not in {"define", "template", "block"}
        for var in re.findall(r"(\$[A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*\$[A-Za-z_][A-Za-z0-9_]*\s*)?:=", action):
            declared.add(var)
        for pair in re.findall(r"(\$[A-Za-z_]\w*)\s*,\s*(\$[A-Za-z_]\w*)\s*:=", action):
            declared.update(pair)
        for var in re.findall(r"\$[A-Za-z_][A-Za-z0-9_]*", action):
            assert var in declared, f"{var} used before it is declared in {{{{{raw}}}}}"
        for name in re.findall(r"(?<![.\w$])([A-Za-z][A-Za-z0-9]*)\b", action):
            if name[0].isupper():
                assert name in funcs, f"KWOK provides no {name}() here: {{{{{raw}}}}}"
            else:
                assert name in _LOWER_FUNCS | _OPENERS | {"else", "end"}, f"unknown function {name}"
    assert not stack, f"unclosed {stack}"


def skeleton(text: str) -> Any:
    """Render a template roughly: drop lines that only hold actions, put x for inline ones."""
    lines = []
    for line in text.splitlines():
        if "{{" in line and not _ACTION.sub("", line).strip():
            continue
        lines.append(_ACTION.sub("x", line))
    return yaml.safe_load("\n".join(lines))


def _template(name: str) -> str:
    by_name = {s["metadata"]["name"]: s for s in _ALL}
    template = by_name[name]["spec"]["next"]["statusTemplate"]
    assert isinstance(template, str)
    return template


@pytest.mark.parametrize(
    "stage", [s for s in _ALL if "statusTemplate" in s["spec"]["next"]], ids=lambda s: s["metadata"]["name"]
)
def test_template_parses(stage: Obj) -> None:
    kind = stage["spec"]["resourceRef"]["kind"]
    check_template(stage["spec"]["next"]["statusTemplate"], _POD_FUNCS if kind == "Pod" else _NODE_FUNCS)
    assert "\t" not in stage["spec"]["next"]["statusTemplate"]


@pytest.mark.parametrize(
    "bad",
    ["{{ Now }", "{{ if .a }}x", "{{ end }}", "{{ $x }}", "{{ NodeName }}", "{{ {{ . }} }}", "{{ frob . }}"],
)
def test_template_checker_rejects(bad: str) -> None:
    with pytest.raises(AssertionError):
        check_template(bad, _POD_FUNCS)


@pytest.mark.parametrize(
    ("name", "phase", "reason"),
    [
        ("pod-succeed-job", "Succeeded", "Completed"),
        ("pod-succeed-annotated", "Succeeded", "Completed"),
        ("pod-fail", "Failed", "Error"),
        ("switch-s1-exit", "Failed", "Error"),
        ("switch-s2-exit", "Succeeded", "Completed"),
    ],
)
def test_terminating_templates(name: str, phase: str, reason: str) -> None:
    status = skeleton(_template(name))
    assert status["phase"] == phase
    (container,) = status["containerStatuses"]
    assert container["ready"] is False
    assert container["state"]["terminated"]["reason"] == reason
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "False",
        "ContainersReady": "False",
    }


def test_exit_codes_in_templates() -> None:
    assert "{{ $exitCode := 7 }}" in _template("switch-s1-exit")
    assert "{{ $exitCode := 0 }}" in _template("switch-s2-exit")
    assert "{{ $exitCode := 0 }}" in _template("pod-succeed-job")
    fail = _template("pod-fail")
    assert f'(index $annotations "{ks.EXIT_CODE}") "1"' in fail
    assert "{{ $exitCode = 1 }}" in fail  # out-of-range codes fall back to 1


def test_pod_ready_template() -> None:
    status = skeleton(_template("pod-ready"))
    assert status["phase"] == "Running"
    assert {"Ready", "ContainersReady", "Initialized"} <= {c["type"] for c in status["conditions"]}
    assert all(c["status"] == "True" for c in status["conditions"])
    assert status["containerStatuses"][0]["state"] == {"running": {"startedAt": "x"}}
    assert status["containerStatuses"][0]["ready"] is True
    assert {"podIP", "podIPs", "hostIP", "startTime"} <= set(status)


def test_node_templates() -> None:
    init = skeleton(_template("node-initialize"))
    assert init["phase"] == "Running"
    assert {"conditions", "addresses", "allocatable", "capacity", "nodeInfo"} <= set(init)
    assert "kubeletVersion" in init["nodeInfo"]
    assert init["conditions"][0].keys() >= {"lastHeartbeatTime", "type", "status"}
    beat = skeleton(_template("node-heartbeat"))
    assert set(beat) == {"conditions"}
    assert "NodeConditions" in _template("node-heartbeat")


# --------------------------------------------------------------------------------------------------
# Annotation helper


def test_hook_pod_annotations() -> None:
    assert ks.hook_pod_annotations(outcome=None) == {}
    assert ks.hook_pod_annotations(outcome="succeed", exit_code=0, duration="2s", start_delay="500ms") == {
        ks.OUTCOME: "succeed",
        ks.DURATION: "2s",
        ks.START_DELAY: "500ms",
    }
    assert ks.hook_pod_annotations(outcome="fail") == {ks.OUTCOME: "fail"}
    assert ks.hook_pod_annotations(outcome="fail", exit_code=255, duration="1m30s") == {
        ks.OUTCOME: "fail",
        ks.EXIT_CODE: "255",
        ks.DURATION: "1m30s",
    }
    assert ks.hook_pod_annotations(outcome=None, switch="gate-1", start_delay="1s") == {
        ks.SWITCH: "gate-1",
        ks.START_DELAY: "1s",
    }
    assert ks.OUTCOME == "chaos.argocd-chaos.io/outcome"
    assert ks.EXIT_CODE == "chaos.argocd-chaos.io/exit-code"
    assert ks.START_DELAY == "chaos.argocd-chaos.io/start-delay"
    assert ks.DURATION == "chaos.argocd-chaos.io/duration"
    assert ks.SWITCH == "chaos.argocd-chaos.io/switch"
    assert ks.hook_pod_annotations(outcome="succeed", termination_grace="8s") == {
        ks.OUTCOME: "succeed",
        ks.TERMINATION_GRACE: "8s",
    }
    assert ks.TERMINATION_GRACE == "chaos.argocd-chaos.io/termination-grace"


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"outcome": "fail", "exit_code": 0}, "0"),
        ({"outcome": "fail", "exit_code": 256}, "256"),
        ({"outcome": "fail", "exit_code": -1}, "-1"),
        ({"outcome": "succeed", "exit_code": 3}, "3"),
        ({"outcome": None, "exit_code": 2}, "2"),
        ({"outcome": "fail", "exit_code": True}, "True"),
        ({"outcome": "maybe"}, "'maybe'"),
        ({"outcome": "fail", "duration": "2 s"}, "'2 s'"),
        ({"outcome": "fail", "duration": "2"}, "'2'"),
        ({"outcome": "fail", "duration": "-1s"}, "'-1s'"),
        ({"outcome": "fail", "duration": "1d"}, "'1d'"),
        ({"outcome": "fail", "duration": ""}, "''"),
        ({"outcome": None, "start_delay": "abc"}, "'abc'"),
        ({"outcome": None, "start_delay": "3000000h"}, "'3000000h'"),
        ({"outcome": None, "termination_grace": "8"}, "'8'"),
        ({"outcome": None, "termination_grace": "-8s"}, "'-8s'"),
        ({"outcome": None, "switch": "Bad_Name"}, "'Bad_Name'"),
        ({"outcome": None, "switch": "x" * 60}, "x" * 60),
        ({"outcome": "fail", "switch": "ok"}, "'outcome': 'fail'"),
        ({"outcome": None, "duration": "1s", "switch": "ok"}, "'duration': '1s'"),
    ],
)
def test_hook_pod_annotations_rejects(kwargs: dict[str, Any], shown: str) -> None:
    with pytest.raises(ValueError, match=re.escape(shown)) as info:
        ks.hook_pod_annotations(**kwargs)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, HarnessError)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("0s", 0),
        ("500ms", 500_000_000),
        ("2s", 2_000_000_000),
        ("1m30s", 90_000_000_000),
        ("1.5s", 1_500_000_000),
        (".5s", 500_000_000),
        ("1.s", 1_000_000_000),
        ("2h45m", 9_900_000_000_000),
        ("1us", 1_000),
        ("1µs", 1_000),
        ("1μs", 1_000),
        ("3ns", 3),
        ("1s500ms", 1_500_000_000),
    ],
)
def test_go_duration(text: str, ns: int) -> None:
    assert ks.go_duration_ns(text) == ns


def test_switch_stages_validation() -> None:
    (stage,) = ks.switch_stages("flip", exit_code=3, duration="1.5s")
    assert stage["spec"]["delay"] == {"durationMilliseconds": 1500}
    with pytest.raises(ValueError, match="256"):
        ks.switch_stages("flip", exit_code=256, duration=None)
    with pytest.raises(ValueError, match="'Flip'"):
        ks.switch_stages("Flip", exit_code=1, duration=None)
    with pytest.raises(ValueError, match="'soon'"):
        ks.switch_stages("flip", exit_code=1, duration="soon")


def test_stages_are_fresh_objects() -> None:
    first = ks.default_stages()
    first[2]["spec"]["selector"]["matchExpressions"][0]["key"] = "mutated"
    first[2]["metadata"]["labels"]["extra"] = "x"
    assert ks.default_stages()[2]["spec"]["selector"]["matchExpressions"][0]["key"] != "mutated"
    assert "extra" not in ks.default_stages()[2]["metadata"]["labels"]


# --------------------------------------------------------------------------------------------------
# The CRD


def _kwok_module_dir() -> Path:
    gopath = os.environ.get("GOPATH", "").split(os.pathsep)[0] or str(Path.home() / "go")
    cache = os.environ.get("GOMODCACHE") or str(Path(gopath) / "pkg" / "mod")
    return Path(cache) / "sigs.k8s.io" / f"kwok@{KWOK_VERSION}"


def test_stage_crd_from_fake_module(tmp_path: Path) -> None:
    path = tmp_path / ks.STAGE_CRD_PATH
    path.parent.mkdir(parents=True)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "stages.kwok.x-k8s.io"},
        "spec": {},
    }
    path.write_text("---\n" + yaml.safe_dump(crd))
    assert ks.stage_crd(tmp_path) == crd
    path.write_text(yaml.safe_dump({**crd, "metadata": {"name": "other.kwok.x-k8s.io"}}))
    with pytest.raises(ConfigError, match="does not contain"):
        ks.stage_crd(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        ks.stage_crd(tmp_path / "nowhere")


def _schema_errors(value: Any, schema: Obj, where: str) -> list[str]:
    """Structural-schema check: the fields the API server would reject or silently prune."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    kind = schema.get("type")
    errors: list[str] = []
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected object"]
        props: Obj | None = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                errors += _schema_errors(item, props[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                errors += _schema_errors(item, extra, f"{where}.{key}")
            elif props is not None or extra is False:
                errors.append(f"{where}.{key}: unknown field, would be pruned")
        errors += [f"{where}.{r}: required" for r in schema.get("required", []) if r not in value]
    elif kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected array"]
        for i, item in enumerate(value):
            errors += _schema_errors(item, schema.get("items", {}), f"{where}[{i}]")
    elif kind == "string":
        if not isinstance(value, str):
            errors.append(f"{where}: expected string")
        elif "enum" in schema and value not in schema["enum"]:
            errors.append(f"{where}: {value!r} not in {schema['enum']}")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: expected integer")
        elif "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below minimum")
    elif kind == "boolean" and not isinstance(value, bool):
        errors.append(f"{where}: expected boolean")
    return errors


def test_stages_fit_the_real_crd() -> None:
    module = _kwok_module_dir()
    if not (module / ks.STAGE_CRD_PATH).is_file():
        pytest.skip(f"KWOK module not in the Go module cache at {module}")
    crd = ks.stage_crd(module)
    assert crd["spec"]["scope"] == "Cluster"
    assert crd["spec"]["group"] == ks.STAGE_GROUP
    assert crd["spec"]["names"]["plural"] == ks.STAGE_PLURAL
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == ks.STAGE_VERSION]
    schema = version["schema"]["openAPIV3Schema"]
    for stage in _ALL:
        assert _schema_errors(stage, schema, stage["metadata"]["name"]) == []
    assert _schema_errors({"spec": {"resourceRef": {"kind": "Pod"}, "nxet": {}}}, schema, "typo") == [
        "typo.spec.nxet: unknown field, would be pruned"
    ]
