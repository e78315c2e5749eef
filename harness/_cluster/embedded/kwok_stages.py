"""KWOK Stage resources that make fake pod outcomes deterministic.

KWOK fakes the kubelet by patching objects whenever one of its Stage resources matches them. Its
stock stage sets finish Job pods at random and leave other pods running forever, which is useless
for testing how Argo CD reacts to hooks that fail, succeed late, or hang. This module writes our
own stage set instead, driven by annotations on the pod template, so a test states the outcome of
each hook pod up front and KWOK plays it out exactly.

Semantics taken from the KWOK v0.8.0 source (pkg/utils/expression, pkg/utils/lifecycle,
pkg/utils/gotpl), which the stage definitions rely on:

* Selector keys are jq programs run over the object as JSON. A key that is missing, or a path that
  fails (iterating a null list), yields nothing, and nothing satisfies `NotIn` and `DoesNotExist`
  while failing `In` and `Exists`. `Exists` is true for any non-null value, even "".
* `.metadata.ownerReferences.[].kind` yields one value per owner: `In [Job]` means "some owner is a
  Job" and `NotIn [Job]` means "no owner is a Job", so the two are exact complements.
* When several stages match, KWOK picks one at random by weight. Every selector below is therefore
  written so that a pod matches at most one stage at any moment.
* `delay.durationFrom.expressionFrom` is a jq program too. A string result is tried first as an
  RFC 3339 timestamp (delay until then), then with Go's `time.ParseDuration`. An unparsable or
  missing value falls back to `durationMilliseconds` (0 when unset); an empty string means no delay.
  The delay counts from when KWOK sees the pod event that matched, and restarts whenever the pod
  changes while the stage is pending.
* A match is evaluated only when a pod event arrives (or the informer resyncs). Creating a Stage
  does not re-examine pods already sitting in a state no stage matched; touch them to pick it up.
* `next.statusTemplate` is a Go text/template with the sprig functions plus KWOK's `Now`, `Quote`,
  `YAML`, `Version`, `NodeConditions`, and per controller `NodeIP`, `NodeName`, `NodePort` (nodes)
  or `NodeIP`, `PodIP`, `NodeIPWith`, `NodeIPsWith`, `PodIPWith`, `PodIPsWith` (pods). The result
  is parsed as YAML and sent as a strategic-merge patch of the status subresource, so conditions
  merge by type while `containerStatuses` (an atomic list) is replaced whole.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from harness._errors import ConfigError

#: Pod-template annotations read by the stages.
OUTCOME: Final = "chaos.argocd-chaos.io/outcome"
EXIT_CODE: Final = "chaos.argocd-chaos.io/exit-code"
START_DELAY: Final = "chaos.argocd-chaos.io/start-delay"
DURATION: Final = "chaos.argocd-chaos.io/duration"
SWITCH: Final = "chaos.argocd-chaos.io/switch"
#: How long a deleted Running pod stays Terminating before KWOK removes it (Go duration), as a kubelet
#: does while the container uses its grace period to stop. Without it, or once the pod's containers
#: have ended, a deleted pod goes at once.
TERMINATION_GRACE: Final = "chaos.argocd-chaos.io/termination-grace"

#: Labels on our Stage objects, so the harness can find and remove exactly what it created.
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "argocd-chaos"
SWITCH_LABEL: Final = "argocd-chaos.io/switch"

STAGE_GROUP: Final = "kwok.x-k8s.io"
STAGE_VERSION: Final = "v1alpha1"
STAGE_API_VERSION: Final = f"{STAGE_GROUP}/{STAGE_VERSION}"
STAGE_KIND: Final = "Stage"
STAGE_PLURAL: Final = "stages"

#: Exit code of a failing pod whose template does not name one.
DEFAULT_FAIL_EXIT_CODE: Final = 1

#: Where the Stage CRD sits inside the sigs.k8s.io/kwok module directory.
STAGE_CRD_PATH: Final = Path("kustomize", "crd", "bases", "kwok.x-k8s.io_stages.yaml")

# One element of a Go duration: a decimal number with optional fraction, then a unit. Go also
# accepts a sign; we do not, since a negative delay is always a mistake in a test.
_GO_DURATION_RE = re.compile(r"(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+")
_GO_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS: Final[dict[str, int]] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 MICRO SIGN
    "μs": 1_000,  # U+03BC GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_GO_DURATION_NS: Final = 2**63 - 1

# A switch name becomes a label value and part of a Stage name, so it must be a DNS-1123 label
# short enough to leave room for the "switch-" prefix and "-exit" suffix.
_SWITCH_NAME_RE = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_SWITCH_NAME_MAX = 63 - len("switch-") - len("-exit")

Stage = dict[str, Any]


class StageConfigError(ConfigError, ValueError):
    """A hook annotation or switch setting that KWOK would misread or silently ignore."""


# --------------------------------------------------------------------------------------------------
# Annotation helper


def go_duration_ns(text: str) -> int:
    """Parse the unsigned subset of Go's duration syntax the stages accept.

    KWOK hands annotation values to `time.ParseDuration` and silently falls back to "no delay" when
    that fails, so a typo like "2 s" would turn a slow hook into an instant one. Checking here makes
    the mistake loud and at the call site.
    """
    if text == "0":
        return 0
    if not _GO_DURATION_RE.fullmatch(text):
        raise StageConfigError(
            f"duration {text!r} is not a Go duration; write e.g. '500ms', '2s' or '1m30s' "
            "(units ns, us, ms, s, m, h; no sign, no spaces)"
        )
    total = Fraction(0)
    for number, unit in _GO_DURATION_PART_RE.findall(text):
        total += Fraction(number) * _UNIT_NS[unit]
    ns = int(total)  # Go truncates fractions of a nanosecond.
    if ns > _MAX_GO_DURATION_NS:
        raise StageConfigError(f"duration {text!r} overflows Go's time.Duration (about 292 years)")
    return ns


def _check_switch_name(name: str) -> None:
    if len(name) > _SWITCH_NAME_MAX or not _SWITCH_NAME_RE.fullmatch(name):
        raise StageConfigError(
            f"switch name {name!r} must be a DNS-1123 label of at most {_SWITCH_NAME_MAX} characters "
            "(lowercase letters, digits and '-', starting and ending with a letter or digit)"
        )


def hook_pod_annotations(
    *,
    outcome: Literal["succeed", "fail"] | None,
    exit_code: int | None = None,
    duration: str | None = None,
    start_delay: str | None = None,
    switch: str | None = None,
    termination_grace: str | None = None,
) -> dict[str, str]:
    """Annotations that make KWOK play a pod out as described.

    Everything is validated here because the stages cannot complain: a value they do not
    understand just selects a different stage, or none, and the test then fails far away with a
    hook that never finishes. A pod under a switch has its outcome and run time decided by the
    switch stage, so combining `switch` with `outcome`, `exit_code` or `duration` is rejected
    rather than silently ignored.
    """
    annotations: dict[str, str] = {}
    if outcome not in (None, "succeed", "fail"):
        raise StageConfigError(f"outcome {outcome!r} must be 'succeed', 'fail' or None")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise StageConfigError(f"exit_code {exit_code!r} must be an int")

    if switch is not None:
        _check_switch_name(switch)
        given = {"outcome": outcome, "exit_code": exit_code, "duration": duration}
        clashing = {k: v for k, v in given.items() if v is not None}
        if clashing:
            raise StageConfigError(
                f"switch {switch!r} decides exit code and run time; drop {clashing!r} "
                "and pass them to switch_stages() instead"
            )
        annotations[SWITCH] = switch

    if outcome == "fail":
        if exit_code is not None and not 1 <= exit_code <= 255:
            raise StageConfigError(f"exit_code {exit_code} of a failing pod must be in 1..255")
        annotations[OUTCOME] = "fail"
        if exit_code is not None:
            annotations[EXIT_CODE] = str(exit_code)
    elif outcome == "succeed":
        if exit_code not in (None, 0):
            raise StageConfigError(f"exit_code {exit_code} contradicts outcome 'succeed'; use 0 or None")
        annotations[OUTCOME] = "succeed"
    elif exit_code is not None:
        raise StageConfigError(f"exit_code {exit_code} needs outcome='fail' (or 0 with 'succeed')")

    if duration is not None:
        go_duration_ns(duration)
        annotations[DURATION] = duration
    if start_delay is not None:
        go_duration_ns(start_delay)
        annotations[START_DELAY] = start_delay
    if termination_grace is not None:
        go_duration_ns(termination_grace)
        annotations[TERMINATION_GRACE] = termination_grace
    return annotations


# --------------------------------------------------------------------------------------------------
# Selector building blocks


def _annotation(key: str) -> str:
    return f'.metadata.annotations["{key}"]'


_READY_STATUS = '.status.conditions.[] | select( .type == "Ready" ) | .status'
_OWNER_KINDS = ".metadata.ownerReferences.[].kind"


def _in(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "In", "values": list(values)}


def _not_in(key: str, *values: str) -> dict[str, Any]:
    return {"key": key, "operator": "NotIn", "values": list(values)}


def _exists(key: str) -> dict[str, Any]:
    return {"key": key, "operator": "Exists"}


def _absent(key: str) -> dict[str, Any]:
    return {"key": key, "operator": "DoesNotExist"}


_NOT_DELETING = _absent(".metadata.deletionTimestamp")
_NO_SWITCH = _absent(_annotation(SWITCH))


def _running() -> list[dict[str, Any]]:
    return [dict(_NOT_DELETING), _in(".status.phase", "Running")]


def _stage(
    name: str,
    kind: Literal["Pod", "Node"],
    match: list[dict[str, Any]],
    next_: dict[str, Any],
    *,
    delay: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    immediate_next_stage: bool = False,
) -> Stage:
    spec: dict[str, Any] = {
        "resourceRef": {"apiGroup": "v1", "kind": kind},
        "selector": {"matchExpressions": [dict(e) for e in match]},
        "next": next_,
    }
    if delay is not None:
        spec["delay"] = delay
    if immediate_next_stage:
        spec["immediateNextStage"] = True
    return {
        "apiVersion": STAGE_API_VERSION,
        "kind": STAGE_KIND,
        "metadata": {"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY, **(labels or {})}},
        "spec": spec,
    }


def _delay_from_annotation(key: str) -> dict[str, Any]:
    # No durationMilliseconds: a missing annotation then means no delay at all.
    return {"durationFrom": {"expressionFrom": _annotation(key)}}


# --------------------------------------------------------------------------------------------------
# Status templates (Go text/template producing YAML)

_NODE_CONDITIONS = """\
{{ $now := Now }}
{{ $since := or .metadata.creationTimestamp $now }}
conditions:
{{ range NodeConditions }}
- lastHeartbeatTime: {{ $now | Quote }}
  lastTransitionTime: {{ $since | Quote }}
  message: {{ .message | Quote }}
  reason: {{ .reason | Quote }}
  status: {{ .status | Quote }}
  type: {{ .type | Quote }}
{{ end }}
"""

# Keeps whatever addresses, resources and node info the Node object was created with and only
# fills the gaps, so a test that shapes a node is not overridden.
_NODE_INITIALIZE_TEMPLATE = (
    _NODE_CONDITIONS
    + """\
{{ $hasInternalIP := false }}
{{ $hasHostname := false }}
{{ range .status.addresses }}
{{ if eq .type "InternalIP" }}{{ $hasInternalIP = true }}{{ end }}
{{ if eq .type "Hostname" }}{{ $hasHostname = true }}{{ end }}
{{ end }}
{{ $nodeIP := NodeIP }}
{{ if or (and (not $hasInternalIP) $nodeIP) (not $hasHostname) }}
addresses:
{{ if and (not $hasInternalIP) $nodeIP }}
- address: {{ $nodeIP | Quote }}
  type: InternalIP
{{ end }}
{{ if not $hasHostname }}
- address: {{ .metadata.name | Quote }}
  type: Hostname
{{ end }}
{{ end }}
{{ with NodePort }}
daemonEndpoints:
  kubeletEndpoint:
    Port: {{ . }}
{{ end }}
{{ if not .status.allocatable }}
allocatable:
  cpu: "1k"
  memory: "1Ti"
  pods: "1M"
{{ end }}
{{ if not .status.capacity }}
capacity:
  cpu: "1k"
  memory: "1Ti"
  pods: "1M"
{{ end }}
{{ $info := or .status.nodeInfo dict }}
{{ $fake := printf "kwok-%s" Version }}
nodeInfo:
  architecture: {{ or $info.architecture "amd64" | Quote }}
  bootID: {{ or $info.bootID "" | Quote }}
  containerRuntimeVersion: {{ or $info.containerRuntimeVersion $fake | Quote }}
  kernelVersion: {{ or $info.kernelVersion $fake | Quote }}
  kubeProxyVersion: {{ or $info.kubeProxyVersion $fake | Quote }}
  kubeletVersion: {{ or $info.kubeletVersion $fake | Quote }}
  machineID: {{ or $info.machineID "" | Quote }}
  operatingSystem: {{ or $info.operatingSystem "linux" | Quote }}
  osImage: {{ or $info.osImage "" | Quote }}
  systemUUID: {{ or $info.systemUUID "" | Quote }}
phase: Running
"""
)

_NODE_HEARTBEAT_TEMPLATE = _NODE_CONDITIONS

_POD_READY_TEMPLATE = """\
{{ $now := Now }}
conditions:
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: PodReadyToStartContainers
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Initialized
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: Ready
{{ range .spec.readinessGates }}
- lastTransitionTime: {{ $now | Quote }}
  status: "True"
  type: {{ .conditionType | Quote }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
{{ if eq (or .restartPolicy "") "Always" }}
  started: true
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ else }}
  started: false
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
{{ end }}
{{ with NodeIPsWith .spec.nodeName }}
hostIP: {{ index . 0 | Quote }}
hostIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
{{ with PodIPsWith .spec.nodeName (or .spec.hostNetwork false) (or .metadata.uid "") \
(or .metadata.name "") (or .metadata.namespace "") }}
podIP: {{ index . 0 | Quote }}
podIPs:
{{ range . }}
- ip: {{ . | Quote }}
{{ end }}
{{ end }}
phase: Running
startTime: {{ $now | Quote }}
"""

# @EXIT_CODE@ is replaced by template actions that set $exitCode; @REASON@ and @PHASE@ by words.
_POD_TERMINATE_TEMPLATE = """\
{{ $now := Now }}
{{ $root := . }}
@EXIT_CODE@
conditions:
- lastTransitionTime: {{ $now | Quote }}
  reason: PodCompleted
  status: "False"
  type: ContainersReady
- lastTransitionTime: {{ $now | Quote }}
  reason: PodCompleted
  status: "False"
  type: Ready
containerStatuses:
{{ range .spec.containers }}
{{ $name := .name }}
{{ $startedAt := $now }}
{{ range $root.status.containerStatuses }}
{{ if eq .name $name }}{{ with .state.running }}{{ $startedAt = or .startedAt $now }}{{ end }}{{ end }}
{{ end }}
- image: {{ .image | Quote }}
  name: {{ $name | Quote }}
  ready: false
  restartCount: 0
  started: false
  state:
    terminated:
      exitCode: {{ $exitCode }}
      finishedAt: {{ $now | Quote }}
      reason: @REASON@
      startedAt: {{ $startedAt | Quote }}
{{ end }}
phase: @PHASE@
"""

# Out-of-range or non-numeric codes fall back to the default: a Failed pod must not report 0, and
# a status patch with a non-integer exitCode would be rejected and retried forever.
_EXIT_CODE_FROM_ANNOTATION = """\
{{ $annotations := or .metadata.annotations dict }}
{{ $exitCode := atoi (toString (or (index $annotations "@KEY@") "@DEFAULT@")) }}
{{ if or (lt $exitCode 1) (gt $exitCode 255) }}{{ $exitCode = @DEFAULT@ }}{{ end }}\
""".replace("@KEY@", EXIT_CODE).replace("@DEFAULT@", str(DEFAULT_FAIL_EXIT_CODE))


def _terminate_template(exit_code: int | None) -> str:
    """Status that ends every container; `exit_code` None reads it from the pod's annotation."""
    if exit_code is None:
        setup, reason, phase = _EXIT_CODE_FROM_ANNOTATION, "Error", "Failed"
    else:
        setup = f"{{{{ $exitCode := {exit_code} }}}}"
        reason, phase = ("Completed", "Succeeded") if exit_code == 0 else ("Error", "Failed")
    return (
        _POD_TERMINATE_TEMPLATE.replace("@EXIT_CODE@", setup)
        .replace("@REASON@", reason)
        .replace("@PHASE@", phase)
    )


# --------------------------------------------------------------------------------------------------
# Stage sets


def node_stages() -> list[Stage]:
    return [
        _stage(
            "node-initialize",
            "Node",
            [_NOT_DELETING, _not_in(_READY_STATUS, "True")],
            {"statusTemplate": _NODE_INITIALIZE_TEMPLATE},
        ),
        _stage(
            "node-heartbeat",
            "Node",
            [_NOT_DELETING, _in(".status.phase", "Running"), _in(_READY_STATUS, "True")],
            {"statusTemplate": _NODE_HEARTBEAT_TEMPLATE},
            # KWOK draws the delay from [duration, jitter): 20-25s, well inside the node controller's
            # grace period, and spread so that nodes do not all beat at once.
            delay={"durationMilliseconds": 20_000, "jitterDurationMilliseconds": 25_000},
            immediate_next_stage=True,
        ),
    ]


def pod_stages() -> list[Stage]:
    """Pod stages every cluster runs; pods under a switch only pass through ready and delete."""
    run_for = _delay_from_annotation(DURATION)
    succeed = {"statusTemplate": _terminate_template(0)}
    return [
        _stage(
            "pod-ready",
            "Pod",
            [
                _NOT_DELETING,
                _in(".status.phase", "Pending"),
                _not_in(_READY_STATUS, "True"),
                _exists(".spec.nodeName"),
            ],
            {"statusTemplate": _POD_READY_TEMPLATE},
            delay=_delay_from_annotation(START_DELAY),
        ),
        _stage(
            "pod-succeed-job",
            "Pod",
            [*_running(), _in(_OWNER_KINDS, "Job"), _not_in(_annotation(OUTCOME), "fail"), _NO_SWITCH],
            succeed,
            delay=run_for,
        ),
        _stage(
            "pod-succeed-annotated",
            "Pod",
            [*_running(), _in(_annotation(OUTCOME), "succeed"), _not_in(_OWNER_KINDS, "Job"), _NO_SWITCH],
            succeed,
            delay=run_for,
        ),
        _stage(
            "pod-fail",
            "Pod",
            [*_running(), _in(_annotation(OUTCOME), "fail"), _NO_SWITCH],
            {"statusTemplate": _terminate_template(None)},
            delay=run_for,
        ),
        # Finalizers are left alone: Argo CD's hook finalizer must be removed by Argo CD, and the
        # API server drops the pod itself once they are gone because the grace period is already 0.
        _stage(
            "pod-delete",
            "Pod",
            [_exists(".metadata.deletionTimestamp"), _absent(_annotation(TERMINATION_GRACE))],
            {"delete": True},
        ),
        # A Running pod with a termination grace stays Terminating that long, as under a kubelet whose
        # container takes its grace period to stop; its owner (a Job deleted in the foreground, as
        # Argo CD deletes hooks) stays with it. A pod whose containers have ended has nothing left to
        # stop, so a kubelet removes it at once, and so does `pod-delete-ended`.
        _stage(
            "pod-delete-graceful",
            "Pod",
            [
                _exists(".metadata.deletionTimestamp"),
                _exists(_annotation(TERMINATION_GRACE)),
                _in(".status.phase", "Running"),
            ],
            {"delete": True},
            delay=_delay_from_annotation(TERMINATION_GRACE),
        ),
        _stage(
            "pod-delete-ended",
            "Pod",
            [
                _exists(".metadata.deletionTimestamp"),
                _exists(_annotation(TERMINATION_GRACE)),
                _not_in(".status.phase", "Running"),
            ],
            {"delete": True},
        ),
    ]


def default_stages() -> list[Stage]:
    """Everything a fresh cluster needs before any switch is installed."""
    return [*node_stages(), *pod_stages()]


def switch_stage_name(name: str) -> str:
    _check_switch_name(name)
    return f"switch-{name}-exit"


def switch_stages(name: str, *, exit_code: int, duration: str | None) -> list[Stage]:
    """Stages that end the Running pods of switch `name` with `exit_code` after `duration`.

    One stage per switch under a fixed name, so installing the switch again with another code
    replaces it instead of racing it. KWOK only evaluates stages on pod events: pods that were
    already Running before this stage existed need a touch (any update) to be picked up, and the
    delay counts from that event.
    """
    if isinstance(exit_code, bool) or not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
        raise StageConfigError(f"exit_code {exit_code!r} of switch {name!r} must be an int in 0..255")
    stage_name = switch_stage_name(name)
    delay = None
    if duration is not None:
        delay = {"durationMilliseconds": go_duration_ns(duration) // 1_000_000}
    return [
        _stage(
            stage_name,
            "Pod",
            [*_running(), _in(_annotation(SWITCH), name)],
            {"statusTemplate": _terminate_template(exit_code)},
            delay=delay,
            labels={SWITCH_LABEL: name},
        )
    ]


def stage_crd(kwok_module_dir: Path) -> dict[str, Any]:
    """Load the Stage CRD shipped in the KWOK module, so it always matches the KWOK binary we run."""
    path = Path(kwok_module_dir) / STAGE_CRD_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"Stage CRD not found at {path}; pass the sigs.k8s.io/kwok module directory "
            "(`go mod download -json sigs.k8s.io/kwok@<version>` prints it as Dir)"
        ) from None
    docs = [d for d in yaml.safe_load_all(text) if d]
    for doc in docs:
        if (
            isinstance(doc, dict)
            and doc.get("kind") == "CustomResourceDefinition"
            and doc.get("metadata", {}).get("name") == f"{STAGE_PLURAL}.{STAGE_GROUP}"
        ):
            return doc
    raise ConfigError(f"{path} does not contain the {STAGE_PLURAL}.{STAGE_GROUP} CustomResourceDefinition")
