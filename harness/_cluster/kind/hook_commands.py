"""Real container commands for the hook-outcome annotations, for clusters with a kubelet.

On the embedded cluster KWOK plays every pod out from annotations on its pod template (see
`harness._cluster.embedded.kwok_stages`). On kind (and any real cluster) a container really runs, so the same
annotations have to become a command that behaves the way the KWOK stages do. Keeping the
fixtures' annotations as the one source of truth is what lets the suites stay the same on every
provider: this module is the only place that knows how a real pod plays an annotation out.

The translation, per annotation (all validated with the same rules as `hook_pod_annotations`):

* `outcome: fail` + `exit-code: N` + `duration: D` -> `sleep D; exit N` (N defaults to 1).
* `outcome: succeed`, or no outcome on a pod a Job owns -> `sleep D; exit 0`.
* no outcome on a pod nobody's Job owns -> the template is left alone (KWOK keeps it Running).
* whatever the translation replaces (each container's `image`, `command` and `args`) is kept, as
  JSON, in the template annotation `chaos.argocd-chaos.io/fixture-command`, so a fixture revision
  that changes only those fields is still a changed pod template on the cluster, as it is on KWOK
  (a Job's template is immutable, and C7 relies on a changed command being refused).
* `termination-grace: G` -> the command ignores SIGTERM and `terminationGracePeriodSeconds` is G
  (rounded up to whole seconds), so a deleted Running pod stays Terminating for G, as KWOK's
  `pod-delete-graceful` stage keeps it (only for a pod whose command is translated).
* `start-delay: D` -> an init container that sleeps D, so the pod is neither Running nor Ready
  before D has passed, as with KWOK's `pod-ready` stage delay.
* `switch: NAME` -> a command that waits for the switch ConfigMap's `exit-code` file (mounted from
  ConfigMap `argocd-chaos-switch-NAME`, optional, in the pod's namespace), then sleeps the
  switch's duration and exits with its code. A switch that is not set keeps the pod Running,
  as on KWOK where no stage matches such a pod; the ConfigMap is read when the container starts,
  so flipping the switch affects the next hook run, never one already running.

Every container of a translated template runs the same command, as KWOK ends every container of
the pod with the same exit code. The command needs only POSIX `sh`, `sleep` (with fractions, which
busybox's default build and GNU coreutils both accept), `cat` and `echo`: `HOOK_IMAGE` is the
busybox tag the fixtures already use, so one image serves the fixtures and the translated hooks.
"""

from __future__ import annotations

import copy
import json
import math
import shlex
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, cast

from harness._build.images import BUSYBOX_IMAGE
from harness._cluster.embedded import kwok_stages as stages
from harness._cluster.embedded.kwok_stages import StageConfigError

#: The image every translated hook container runs (the fixtures' own busybox tag; `argocd-chaos images
#: build` makes it locally under this name).
HOOK_IMAGE: Final = BUSYBOX_IMAGE

#: Where a switch's ConfigMap is mounted in the hook container, and under which volume name.
SWITCH_MOUNT: Final = "/etc/argocd-chaos/switch"
SWITCH_VOLUME: Final = "argocd-chaos-switch"
SWITCH_EXIT_CODE_KEY: Final = "exit-code"
SWITCH_DURATION_KEY: Final = "duration-seconds"
SWITCH_CONFIGMAP_PREFIX: Final = "argocd-chaos-switch-"
#: How often a hook under an unset switch looks for the ConfigMap again.
SWITCH_POLL_SECONDS: Final = 1

START_DELAY_CONTAINER: Final = "argocd-chaos-start-delay"
#: Recorded on translated templates, so a reader of the live object sees what was done to it.
TRANSLATED_ANNOTATION: Final = "chaos.argocd-chaos.io/translated-command"
#: What the fixture's containers said before the translation replaced it: `{name: {image, command,
#: args}}` as compact JSON. Without it two fixture revisions that differ only in a hook's command
#: would be translated into the same template, and the cluster would never see the change.
FIXTURE_COMMAND_ANNOTATION: Final = "chaos.argocd-chaos.io/fixture-command"
_REPLACED_FIELDS: Final = ("image", "command", "args")

Obj = dict[str, Any]

_POD_TEMPLATE_KINDS: Final = ("Job", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


def sleep_seconds(duration: str) -> str:
    """A Go duration as the decimal seconds argument of `sleep` ("100ms" -> "0.1", "1m30s" -> "90").

    The conversion is exact (nanoseconds are a power of ten of seconds), so what runs is exactly
    what the annotation says, not a float rounding of it.
    """
    ns = stages.go_duration_ns(duration)
    whole, frac = divmod(ns, 1_000_000_000)
    return f"{whole}.{frac:09d}".rstrip("0").rstrip(".")


def _sleep(duration: str | None) -> list[str]:
    if duration is None:
        return []
    seconds = sleep_seconds(duration)
    return [] if seconds == "0" else [f"sleep {seconds}"]


def _annotations(template: Mapping[str, Any]) -> dict[str, str]:
    ann = (template.get("metadata") or {}).get("annotations") or {}
    return {str(k): str(v) for k, v in ann.items()}


def _validated(ann: Mapping[str, str]) -> dict[str, str]:
    """Check the chaos annotations with the rules KWOK's stages rely on, and return only them.

    Re-running `hook_pod_annotations` on the parsed values rejects exactly what the embedded
    cluster would misplay (a switch combined with an outcome, an exit code outside 1..255, a
    duration Go cannot parse), so a fixture can never mean one thing on kind and another on KWOK.
    """
    outcome = ann.get(stages.OUTCOME)
    if outcome not in (None, "succeed", "fail"):
        raise StageConfigError(f"annotation {stages.OUTCOME}={outcome!r} must be 'succeed' or 'fail'")
    raw_code = ann.get(stages.EXIT_CODE)
    exit_code: int | None = None
    if raw_code is not None:
        try:
            exit_code = int(raw_code)
        except ValueError:
            raise StageConfigError(
                f"annotation {stages.EXIT_CODE}={raw_code!r} is not an integer; use 1..255"
            ) from None
    return stages.hook_pod_annotations(
        outcome=cast(Literal["succeed", "fail"] | None, outcome),
        exit_code=exit_code,
        duration=ann.get(stages.DURATION),
        start_delay=ann.get(stages.START_DELAY),
        switch=ann.get(stages.SWITCH),
        termination_grace=ann.get(stages.TERMINATION_GRACE),
    )


def fixed_outcome_script(*, exit_code: int, duration: str | None) -> str:
    """The `sh -c` script of a hook whose outcome the annotations fix."""
    steps = [f"echo {shlex.quote(f'argocd-chaos: hook exits {exit_code} after {duration or 0}')}"]
    steps += _sleep(duration)
    steps.append(f"exit {exit_code}")
    return "; ".join(steps)


def switch_script(*, mount: str = SWITCH_MOUNT, poll_seconds: float = SWITCH_POLL_SECONDS) -> str:
    """The `sh -c` script of a hook under a switch: read code and duration at start, then act.

    `mount` and `poll_seconds` only change for the harness's own tests, which run the script with
    the host's `/bin/sh` against a directory standing in for the mounted ConfigMap.
    """
    code_file = shlex.quote(f"{mount}/{SWITCH_EXIT_CODE_KEY}")
    duration_file = shlex.quote(f"{mount}/{SWITCH_DURATION_KEY}")
    return "\n".join(
        [
            f"while [ ! -s {code_file} ]; do sleep {poll_seconds}; done",
            f"code=$(cat {code_file})",
            'case "$code" in',
            "  ''|*[!0-9]*) echo \"argocd-chaos: switch exit code '$code' is not a number\" >&2; exit 1;;",
            "esac",
            f"seconds=$(cat {duration_file} 2>/dev/null || true)",
            'echo "argocd-chaos: switch says exit $code after ${seconds:-0}s"',
            'if [ -n "$seconds" ] && [ "$seconds" != 0 ]; then sleep "$seconds"; fi',
            'exit "$code"',
        ]
    )


def hook_script(annotations: Mapping[str, str], *, owned_by_job: bool = True) -> str | None:
    """The script a real container runs for these annotations, or None to leave the pod alone.

    None means KWOK would keep the pod Running (no outcome on a pod that no Job owns), which the
    template's own long-running command already does.
    """
    ann = _validated(annotations)
    if stages.SWITCH in ann:
        return switch_script()
    outcome = ann.get(stages.OUTCOME)
    if outcome is None and not owned_by_job:
        return None
    if outcome == "fail":
        code = int(ann.get(stages.EXIT_CODE, stages.DEFAULT_FAIL_EXIT_CODE))
    else:
        code = 0
    return fixed_outcome_script(exit_code=code, duration=ann.get(stages.DURATION))


def switch_configmap_name(switch: str) -> str:
    stages.switch_stage_name(switch)  # validates the name with the embedded cluster's rules
    return f"{SWITCH_CONFIGMAP_PREFIX}{switch}"


def switch_configmap(switch: str, namespace: str, *, exit_code: int, duration: str | None = None) -> Obj:
    """The ConfigMap a switched hook reads when it starts: the real-cluster twin of `switch_stages`."""
    if isinstance(exit_code, bool) or not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
        raise StageConfigError(f"exit_code {exit_code!r} of switch {switch!r} must be an int in 0..255")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": switch_configmap_name(switch),
            "namespace": namespace,
            "labels": {stages.MANAGED_BY_LABEL: stages.MANAGED_BY, stages.SWITCH_LABEL: switch},
        },
        "data": {
            SWITCH_EXIT_CODE_KEY: str(exit_code),
            SWITCH_DURATION_KEY: sleep_seconds(duration) if duration is not None else "0",
        },
    }


def to_real_pod_template(template: Mapping[str, Any], *, owned_by_job: bool = True) -> Obj:
    """A copy of a pod template whose containers play out its chaos annotations for real.

    `owned_by_job` says whether the template is a Job's: KWOK lets a Job's pod without an outcome
    succeed, while any other pod without one keeps running. The input is not changed.
    """
    out: Obj = copy.deepcopy(dict(template))
    ann = _annotations(out)
    script = hook_script(ann, owned_by_job=owned_by_job)
    start_delay = _sleep(ann.get(stages.START_DELAY))
    if script is None and not start_delay:
        return out
    spec = out.setdefault("spec", {})
    containers = spec.get("containers") or []
    if not containers:
        raise StageConfigError("pod template has no containers to run the hook outcome in")
    grace = ann.get(stages.TERMINATION_GRACE)
    if script is not None and grace is not None:
        # The shell ignores SIGTERM, so the kubelet keeps the pod Terminating for the whole grace
        # period and then kills it, as KWOK's `pod-delete-graceful` stage does for that long.
        script = f"trap '' TERM; {script}"
        spec["terminationGracePeriodSeconds"] = math.ceil(stages.go_duration_ns(grace) / 1e9)
    if script is not None:
        replaced = {str(c.get("name")): {k: c[k] for k in _REPLACED_FIELDS if k in c} for c in containers}
        # setdefault: translating a translated template again keeps what the fixture said.
        out.setdefault("metadata", {}).setdefault("annotations", {}).setdefault(
            FIXTURE_COMMAND_ANNOTATION, json.dumps(replaced, sort_keys=True, separators=(",", ":"))
        )
        for c in containers:
            c["image"] = HOOK_IMAGE
            c["imagePullPolicy"] = "IfNotPresent"
            c["command"] = ["sh", "-c", script]
            c.pop("args", None)
        if stages.SWITCH in ann:
            _mount_switch(spec, containers, ann[stages.SWITCH])
    if start_delay:
        spec["initContainers"] = [
            {
                "name": START_DELAY_CONTAINER,
                "image": HOOK_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "; ".join(start_delay)],
            },
            *(spec.get("initContainers") or []),
        ]
    out.setdefault("metadata", {}).setdefault("annotations", {})[TRANSLATED_ANNOTATION] = "true"
    return out


def _mount_switch(spec: Obj, containers: list[Obj], switch: str) -> None:
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") != SWITCH_VOLUME]
    volumes.append(
        {"name": SWITCH_VOLUME, "configMap": {"name": switch_configmap_name(switch), "optional": True}}
    )
    spec["volumes"] = volumes
    for c in containers:
        mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") != SWITCH_VOLUME]
        mounts.append({"name": SWITCH_VOLUME, "mountPath": SWITCH_MOUNT, "readOnly": True})
        c["volumeMounts"] = mounts


def to_real_manifests(docs: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """Copies of a fixture revision's objects with every pod template translated.

    This is what a provider with real kubelets commits to the fixture repo instead of the
    KWOK-only manifests; objects without a pod template pass through unchanged.
    """
    out: list[Obj] = []
    for doc in docs:
        d: Obj = copy.deepcopy(dict(doc))
        template = (d.get("spec") or {}).get("template")
        if d.get("kind") in _POD_TEMPLATE_KINDS and isinstance(template, dict):
            d["spec"]["template"] = to_real_pod_template(template, owned_by_job=d.get("kind") == "Job")
        out.append(d)
    return out
