"""`steps.yaml`: what happens after the default create-sync-observe, in order, checked up front.

Shape (every key optional but `steps`)::

    description: what the incident is, in a line
    observe_timeout: 30s               # how long the default observe waits (default: the assert timeout)
    hooks:                             # the same as the command-line flags, kept with the incident
      migrate: {outcome: fail, exit_code: 3, duration: 2s}   # outcome: succeed | fail | hang
    steps:
      - commit: manifests-v2/          # the next revision of the manifests (a path next to steps.yaml);
                                       # or {path: manifests-v2/, timeout: 60s} (observing its automated sync)
      - sync: {prune: true, sync_options: [Replace=true], timeout: 90s}
      - drift: {kind: ConfigMap, name: app-config, patch: {data: {mode: drifted}}}
      - delete: {cascade: foreground, wait: 60s}
      - chaos: {action: restart, component: argocd-application-controller}
      - observe: {timeout: 120s}       # wait until the latest operation ends
      - wait: 10s                      # a fixed pause: the delay is the scenario
      - expect:
          operation_phase: Failed
          message_contains: "one or more"
          retry_count_at_least: 2
          hook: {name: migrate, phase: Failed}
          object: {kind: Job, name: migrate, present: true}
          app: present                 # present | absent | deleting
          sync: OutOfSync
          health: Healthy
          operations_at_least: 2
          operations_at_most: 1
          condition: {type: DeletionError, message_contains: "hook"}
          job_runs: {name: migrate, at_least: 2, at_most: 3}   # Jobs of that name (or prefix) seen
          within: 30s                  # poll until it holds (default: now)

Every mistake is a ConfigError naming the step (its number, from 1) and what it takes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError

CASCADES = ("foreground", "background", "orphan")
CHAOS_ACTIONS = ("kill", "stop", "start", "restart")
COMPONENTS = (
    "argocd-application-controller",
    "argocd-repo-server",
    "redis",
    "kube-apiserver",
    "kube-controller-manager",
    "kwok",
)
APP_STATES = ("present", "absent", "deleting")
EXPECT_KEYS = (
    "operation_phase",
    "message_contains",
    "retry_count_at_least",
    "hook",
    "object",
    "app",
    "sync",
    "health",
    "operations_at_least",
    "operations_at_most",
    "condition",
    "job_runs",
    "within",
)
OPERATION_PHASES = ("Running", "Succeeded", "Failed", "Error", "Terminating")
HOOK_PHASES = ("Running", "Succeeded", "Failed", "Error", "absent")
DRIFT_KINDS = ("ConfigMap", "Deployment")


@dataclass(frozen=True)
class StepsFile:
    """A parsed steps.yaml: its steps and its hook outcomes, as --fail/--hang/--duration entries."""

    steps: list[Step]
    fail: list[str] = field(default_factory=list)
    hang: list[str] = field(default_factory=list)
    duration: list[str] = field(default_factory=list)
    description: str = ""
    #: How long the default observe waits for the first operation to end; None: the assert timeout.
    observe_timeout: float | None = None


@dataclass(frozen=True)
class Step:
    """One step: `kind` (the key in steps.yaml) and its checked arguments; `number` counts from 1."""

    number: int
    kind: str
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if not self.args:
            return self.kind
        parts = ", ".join(f"{k}={v}" for k, v in self.args.items() if k != "manifests")
        return f"{self.kind} ({parts})"


def seconds(value: object, where: str) -> float:
    """A Go duration ("90s", "2m") or a number of seconds, as seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not a duration; write e.g. 30s or 2m")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{where}: a duration cannot be negative, got {value}")
        return float(value)
    if isinstance(value, str):
        return stages.go_duration_ns(value) / 1e9
    raise ConfigError(f"{where}: {value!r} is not a duration; write e.g. 30s or 2m")


def load_steps(path: Path) -> StepsFile:
    """The steps of `path`, every argument checked; paths of `commit` resolved next to the file."""
    if not path.is_file():
        raise ConfigError(f"--steps {path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"--steps {path} is not valid YAML: {exc.problem}{where}") from None
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--steps {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise ConfigError(
            f"--steps {path} must be a mapping with a `steps:` list (see `argocd-chaos reproduce --help`)"
        )
    extra = sorted(set(data) - {"steps", "description", "hooks", "observe_timeout"})
    if extra:
        raise ConfigError(
            f"--steps {path}: unknown top-level key(s) {', '.join(map(str, extra))}; "
            "it takes steps, hooks, observe_timeout and description"
        )
    steps = [parse_step(i, raw, path.parent, path) for i, raw in enumerate(data["steps"], start=1)]
    observe = data.get("observe_timeout")
    out = StepsFile(
        steps,
        description=str(data.get("description") or ""),
        observe_timeout=seconds(observe, f"--steps {path}: observe_timeout") if observe is not None else None,
    )
    hooks = data.get("hooks") or {}
    if not isinstance(hooks, dict):
        raise ConfigError(
            f"--steps {path}: hooks is a mapping of hook name to {{outcome, exit_code, duration}}"
        )
    for name, raw in hooks.items():
        where = f"--steps {path}: hooks.{name}"
        plan = _mapping(raw, where, ("outcome", "exit_code", "duration"))
        outcome = plan.get("outcome", "succeed")
        if outcome not in ("succeed", "fail", "hang"):
            raise ConfigError(f"{where}: outcome is succeed, fail or hang, got {outcome!r}")
        if "exit_code" in plan and outcome != "fail":
            raise ConfigError(f"{where}: exit_code goes with outcome fail")
        if outcome == "fail":
            code = plan.get("exit_code")
            out.fail.append(f"{name}={code}" if code is not None else str(name))
        elif outcome == "hang":
            out.hang.append(str(name))
        if "duration" in plan:
            out.duration.append(f"{name}={plan['duration']}")
    return out


_KINDS = ("commit", "sync", "drift", "delete", "chaos", "observe", "wait", "expect")


def parse_step(number: int, raw: object, base: Path, path: Path) -> Step:
    where = f"--steps {path}: step {number}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ConfigError(
            f"{where} must be a mapping with exactly one of {', '.join(_KINDS)}; got {raw!r:.80}"
        )
    ((kind, value),) = raw.items()
    if kind not in _KINDS:
        raise ConfigError(f"{where}: unknown step {kind!r}; steps are {', '.join(_KINDS)}")
    where = f"{where} ({kind})"
    parse = _PARSERS[kind]
    return Step(number, kind, parse(value, base, where))


def _mapping(value: object, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where} takes a mapping with {', '.join(allowed)}; got {value!r:.80}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))}; it takes {', '.join(allowed)}"
        )
    return dict(value)


def _commit(value: object, base: Path, where: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if isinstance(value, dict):
        args = _mapping(value, where, ("path", "timeout"))
        value = args.get("path")
        if "timeout" in args:
            args["timeout"] = seconds(args["timeout"], f"{where} timeout")
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"{where} takes the path of the next revision's manifests, e.g. `commit: manifests-v2/` "
            "(or {path: manifests-v2/, timeout: 60s})"
        )
    target = (base / value).resolve()
    if not target.exists():
        raise ConfigError(f"{where}: {value} (resolved to {target}) does not exist")
    return {**args, "path": str(target)}


def _sync(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, ("prune", "force", "sync_options", "timeout"))
    for flag in ("prune", "force"):
        if flag in args and not isinstance(args[flag], bool):
            raise ConfigError(f"{where}: {flag} is true or false, got {args[flag]!r}")
    opts = args.get("sync_options")
    if opts is not None and (
        not isinstance(opts, list) or not all(isinstance(o, str) and "=" in o for o in opts)
    ):
        raise ConfigError(f"{where}: sync_options is a list such as [Replace=true], got {opts!r}")
    if "timeout" in args:
        args["timeout"] = seconds(args["timeout"], f"{where} timeout")
    return args


def _drift(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, ("kind", "name", "patch"))
    if args.get("kind") not in DRIFT_KINDS:
        raise ConfigError(f"{where}: kind is one of {', '.join(DRIFT_KINDS)}, got {args.get('kind')!r}")
    if not isinstance(args.get("name"), str) or not args["name"]:
        raise ConfigError(f"{where}: name is the object's name")
    if not isinstance(args.get("patch"), dict) or not args["patch"]:
        raise ConfigError(f"{where}: patch is a merge patch, e.g. {{data: {{mode: drifted}}}}")
    return args


def _delete(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, ("cascade", "wait"))
    args.setdefault("cascade", "foreground")
    if args["cascade"] not in CASCADES:
        raise ConfigError(f"{where}: cascade is one of {', '.join(CASCADES)}, got {args['cascade']!r}")
    if "wait" in args:
        args["wait"] = seconds(args["wait"], f"{where} wait")
    return args


def _chaos(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, ("action", "component"))
    if args.get("action") not in CHAOS_ACTIONS:
        raise ConfigError(f"{where}: action is one of {', '.join(CHAOS_ACTIONS)}, got {args.get('action')!r}")
    if args.get("component") not in COMPONENTS:
        raise ConfigError(
            f"{where}: component is one of {', '.join(COMPONENTS)}, got {args.get('component')!r}"
        )
    return args


def _observe(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, ("timeout",))
    if "timeout" in args:
        args["timeout"] = seconds(args["timeout"], f"{where} timeout")
    return args


def _wait(value: object, base: Path, where: str) -> dict[str, Any]:
    return {"seconds": seconds(value, where)}


def _expect(value: object, base: Path, where: str) -> dict[str, Any]:
    args = _mapping(value, where, EXPECT_KEYS)
    if not set(args) - {"within"}:
        raise ConfigError(f"{where} needs at least one expectation: {', '.join(EXPECT_KEYS[:-1])}")
    if "within" in args:
        args["within"] = seconds(args["within"], f"{where} within")
    if "operation_phase" in args and args["operation_phase"] not in OPERATION_PHASES:
        raise ConfigError(
            f"{where}: operation_phase is one of {', '.join(OPERATION_PHASES)}, "
            f"got {args['operation_phase']!r}"
        )
    for key in ("retry_count_at_least", "operations_at_least", "operations_at_most"):
        if key in args and (isinstance(args[key], bool) or not isinstance(args[key], int) or args[key] < 0):
            raise ConfigError(f"{where}: {key} is a whole number >= 0, got {args[key]!r}")
    for key in ("message_contains", "sync", "health"):
        if key in args and (not isinstance(args[key], str) or not args[key]):
            raise ConfigError(f"{where}: {key} is a non-empty string, got {args[key]!r}")
    if "app" in args and args["app"] not in APP_STATES:
        raise ConfigError(f"{where}: app is one of {', '.join(APP_STATES)}, got {args['app']!r}")
    if "hook" in args:
        hook = _mapping(args["hook"], f"{where} hook", ("name", "phase"))
        if not isinstance(hook.get("name"), str) or hook.get("phase") not in HOOK_PHASES:
            raise ConfigError(
                f"{where}: hook is {{name: NAME, phase: {'|'.join(HOOK_PHASES)}}}, got {args['hook']!r}"
            )
        args["hook"] = hook
    if "object" in args:
        obj = _mapping(args["object"], f"{where} object", ("kind", "name", "present"))
        if not isinstance(obj.get("kind"), str) or not isinstance(obj.get("name"), str):
            raise ConfigError(f"{where}: object is {{kind: KIND, name: NAME, present: true|false}}")
        obj.setdefault("present", True)
        if not isinstance(obj["present"], bool):
            raise ConfigError(f"{where}: object present is true or false, got {obj['present']!r}")
        args["object"] = obj
    if "job_runs" in args:
        runs = _mapping(args["job_runs"], f"{where} job_runs", ("name", "at_least", "at_most"))
        bounds = [k for k in ("at_least", "at_most") if k in runs]
        if (
            not isinstance(runs.get("name"), str)
            or not bounds
            or any(isinstance(runs[k], bool) or not isinstance(runs[k], int) or runs[k] < 0 for k in bounds)
        ):
            raise ConfigError(
                f"{where}: job_runs is {{name: NAME, at_least: N, at_most: N}} (one bound or both)"
            )
        args["job_runs"] = runs
    if "condition" in args:
        cond = _mapping(args["condition"], f"{where} condition", ("type", "message_contains", "present"))
        if not isinstance(cond.get("type"), str):
            raise ConfigError(
                f"{where}: condition is {{type: TYPE, message_contains: TEXT, present: true|false}}"
            )
        cond.setdefault("present", True)
        args["condition"] = cond
    return args


_PARSERS = {
    "commit": _commit,
    "sync": _sync,
    "drift": _drift,
    "delete": _delete,
    "chaos": _chaos,
    "observe": _observe,
    "wait": _wait,
    "expect": _expect,
}
