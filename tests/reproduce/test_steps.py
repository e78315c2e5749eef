"""steps.yaml: every step kind and every mistake, as the user would write them."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness._errors import ConfigError
from harness._reproduce.steps import load_steps, seconds


def _steps(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "steps.yaml"
    path.write_text(text)
    return path


def test_every_step_kind(tmp_path: Path) -> None:
    (tmp_path / "v2").mkdir()
    path = _steps(
        tmp_path,
        """
description: all of them
steps:
  - commit: v2
  - sync: {prune: true, sync_options: [Replace=true], timeout: 90s}
  - drift: {kind: ConfigMap, name: cfg, patch: {data: {a: "2"}}}
  - delete: {cascade: orphan, wait: 1m}
  - chaos: {action: restart, component: argocd-application-controller}
  - observe: {timeout: 30}
  - wait: 1.5s
  - expect:
      operation_phase: Failed
      message_contains: hook
      retry_count_at_least: 2
      hook: {name: migrate, phase: absent}
      object: {kind: Job, name: migrate}
      app: deleting
      sync: OutOfSync
      health: Healthy
      operations_at_least: 1
      operations_at_most: 3
      condition: {type: DeletionError}
      within: 10s
""",
    )
    f = load_steps(path)
    assert f.description == "all of them"
    assert [s.kind for s in f.steps] == [
        "commit",
        "sync",
        "drift",
        "delete",
        "chaos",
        "observe",
        "wait",
        "expect",
    ]
    assert f.steps[0].args == {"path": str((tmp_path / "v2").resolve())}
    assert f.steps[1].args["timeout"] == 90.0
    assert f.steps[3].args == {"cascade": "orphan", "wait": 60.0}
    assert f.steps[6].args == {"seconds": 1.5}
    expect = f.steps[7].args
    assert expect["within"] == 10.0
    assert expect["object"] == {"kind": "Job", "name": "migrate", "present": True}
    assert expect["condition"] == {"type": "DeletionError", "present": True}
    assert [s.number for s in f.steps] == list(range(1, 9))


def test_hooks_section_becomes_flags(tmp_path: Path) -> None:
    f = load_steps(
        _steps(
            tmp_path,
            "hooks:\n  a: {outcome: fail}\n  b: {outcome: fail, exit_code: 7}\n  c: {outcome: hang}\n"
            "  d: {duration: 3s}\nsteps: []\n",
        )
    )
    assert (f.fail, f.hang, f.duration) == (["a", "b=7"], ["c"], ["d=3s"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps: [\n", "is not valid YAML"),
        ("- sync: {}\n", "must be a mapping with a `steps:` list"),
        ("steps: []\nflags: 1\n", "unknown top-level key"),
        ("steps:\n  - teleport: {}\n", r"step 1: unknown step 'teleport'"),
        ("steps:\n  - {sync: {}, wait: 1s}\n", "exactly one of"),
        ("steps:\n  - sync: {prune: yes-please}\n", "prune is true or false"),
        ("steps:\n  - sync: {sync_options: Replace=true}\n", "sync_options is a list"),
        ("steps:\n  - sync: {force: true, dry: 1}\n", "unknown key"),
        ("steps:\n  - commit: nowhere/\n", "does not exist"),
        (
            "steps:\n  - drift: {kind: Secret, name: x, patch: {a: 1}}\n",
            "kind is one of ConfigMap, Deployment",
        ),
        ("steps:\n  - drift: {kind: ConfigMap, name: x}\n", "patch is a merge patch"),
        ("steps:\n  - delete: {cascade: sideways}\n", "cascade is one of"),
        ("steps:\n  - chaos: {action: nuke, component: redis}\n", "action is one of"),
        ("steps:\n  - chaos: {action: kill, component: etcd2}\n", "component is one of"),
        ("steps:\n  - wait: 5 seconds\n", "not a Go duration"),
        ("steps:\n  - wait: -1\n", "cannot be negative"),
        ("steps:\n  - expect: {}\n", "needs at least one expectation"),
        ("steps:\n  - expect: {within: 5s}\n", "needs at least one expectation"),
        ("steps:\n  - expect: {operation_phase: Broken}\n", "operation_phase is one of"),
        ("steps:\n  - expect: {retry_count_at_least: two}\n", "whole number"),
        ("steps:\n  - expect: {hook: {name: x, phase: Exploded}}\n", "hook is"),
        ("steps:\n  - expect: {object: {kind: Job, name: x, present: maybe}}\n", "present is true or false"),
        ("steps:\n  - expect: {app: vanished}\n", "app is one of"),
        ("steps:\n  - expect: {phase: Failed}\n", "unknown key"),
        ("hooks: {x: {outcome: explode}}\nsteps: []\n", "outcome is succeed, fail or hang"),
        ("hooks: {x: {outcome: hang, exit_code: 3}}\nsteps: []\n", "exit_code goes with outcome fail"),
    ],
)
def test_a_step_that_does_not_parse(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_steps(_steps(tmp_path, text))


def test_missing_steps_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_steps(tmp_path / "nope.yaml")


@pytest.mark.parametrize(("value", "expected"), [("90s", 90.0), ("2m", 120.0), (5, 5.0), ("1m30s", 90.0)])
def test_seconds(value: object, expected: float) -> None:
    assert seconds(value, "x") == expected
