"""Hook-outcome annotations become real container commands that exit as the annotations say.

The commands are run here twice: with the host's /bin/sh, and with busybox's own sh and applets
(when busybox is installed), the binary the hook image runs. They use only POSIX sh, `sleep`,
`cat` and `echo`, so an exit code seen here is the one the hook container reports on kind.
Durations are tiny (0.1s) to keep the suite fast.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testkit.fixtures import job_name, jobs

from harness._cluster.embedded import kwok_stages as stages
from harness._cluster.embedded.kwok_stages import StageConfigError
from harness._cluster.kind.hook_commands import (
    FIXTURE_COMMAND_ANNOTATION,
    HOOK_IMAGE,
    START_DELAY_CONTAINER,
    SWITCH_MOUNT,
    SWITCH_VOLUME,
    TRANSLATED_ANNOTATION,
    hook_script,
    sleep_seconds,
    switch_configmap,
    switch_configmap_name,
    switch_script,
    to_real_manifests,
    to_real_pod_template,
)
from harness._scenario.fixtures import FIXTURES_DIR, HOOK_DELETE_POLICY, FixtureApp

#: Fixtures of plain manifests: a chart's or kustomization's pods are rendered by the repo-server, so
#: their outcome annotations are never translated into commands (README, "The scenario API").
FIXTURES = sorted(
    p.name
    for p in FIXTURES_DIR.iterdir()
    if p.is_dir() and FixtureApp.load(p.name).source_type == "Directory"
)
BUSYBOX = shutil.which("busybox")


@dataclass(frozen=True)
class Shell:
    """A shell to run container commands with: the host's /bin/sh, or busybox with only its applets."""

    argv: tuple[str, ...]
    env: dict[str, str]

    def popen_argv(self, script: str) -> list[str]:
        return [*self.argv, "-c", script]

    def run(self, command: list[str], timeout: float = 10) -> tuple[int, float, str, str]:
        """Run a container command; returns (exit code, seconds, stdout, stderr)."""
        assert command[:2] == ["sh", "-c"], command
        t0 = time.monotonic()
        p = subprocess.run(
            self.popen_argv(command[2]),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return p.returncode, time.monotonic() - t0, p.stdout, p.stderr


@pytest.fixture(scope="module", params=["host-sh", "busybox"])
def sh(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Shell:
    """Every command runs under both: POSIX sh here, and busybox's sh, sleep and cat as in the image.

    The busybox variant puts only busybox applets on PATH (as in the busybox image, where /bin/sleep
    is busybox), so e.g. fractional `sleep 0.1` is busybox's own. It is skipped without busybox
    (Debian: `apt-get install busybox-static`).
    """
    if request.param == "host-sh":
        return Shell(("/bin/sh",), dict(os.environ))
    if BUSYBOX is None:
        pytest.skip("busybox not installed (apt-get install busybox-static)")
    bindir = tmp_path_factory.mktemp("busybox-bin")
    for applet in ("sh", "sleep", "cat", "echo", "test", "["):
        (bindir / applet).symlink_to(BUSYBOX)
    return Shell((str(bindir / "sh"),), {"PATH": str(bindir)})


def template(annotations: dict[str, str] | None = None, containers: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"annotations": dict(annotations or {})},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": f"c{i}", "image": "example.com/app:1", "command": ["app"], "args": ["--x"]}
                for i in range(containers)
            ],
        },
    }


# -- durations --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("100ms", "0.1"),
        ("3s", "3"),
        ("1m30s", "90"),
        ("1.5h", "5400"),
        ("1ns", "0.000000001"),
        ("250us", "0.00025"),
        ("0", "0"),
        ("0s", "0"),
    ],
)
def test_go_durations_become_exact_sleep_arguments(duration: str, seconds: str) -> None:
    assert sleep_seconds(duration) == seconds


@pytest.mark.parametrize("bad", ["2 s", "-1s", "3", "1d", ""])
def test_bad_durations_are_rejected_like_on_kwok(bad: str) -> None:
    with pytest.raises(StageConfigError, match="not a Go duration"):
        sleep_seconds(bad)


# -- fixed outcomes, run for real --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotations", "exit_code"),
    [
        ({stages.OUTCOME: "fail"}, 1),
        ({stages.OUTCOME: "fail", stages.EXIT_CODE: "3"}, 3),
        ({stages.OUTCOME: "fail", stages.EXIT_CODE: "255"}, 255),
        ({stages.OUTCOME: "succeed"}, 0),
        ({stages.OUTCOME: "succeed", stages.EXIT_CODE: "0"}, 0),
        ({}, 0),  # a Job's pod without an outcome succeeds, as on KWOK
    ],
)
def test_translated_command_exits_as_annotated(
    sh: Shell, annotations: dict[str, str], exit_code: int
) -> None:
    out = to_real_pod_template(template(annotations))
    (container,) = out["spec"]["containers"]
    code, _, stdout, _ = sh.run(container["command"])
    assert code == exit_code
    assert f"hook exits {exit_code}" in stdout


@pytest.mark.parametrize(("outcome", "exit_code"), [("fail", 3), ("succeed", 0)])
def test_duration_delays_the_exit(sh: Shell, outcome: str, exit_code: int) -> None:
    ann = {stages.OUTCOME: outcome, stages.DURATION: "100ms"}
    if outcome == "fail":
        ann[stages.EXIT_CODE] = str(exit_code)
    (container,) = to_real_pod_template(template(ann))["spec"]["containers"]
    assert "sleep 0.1" in container["command"][2]
    code, took, _, _ = sh.run(container["command"])
    assert code == exit_code
    assert took >= 0.1


def test_command_replaces_image_command_and_args_in_every_container() -> None:
    out = to_real_pod_template(template({stages.OUTCOME: "fail", stages.EXIT_CODE: "4"}, containers=2))
    for c in out["spec"]["containers"]:
        assert c["image"] == HOOK_IMAGE
        assert c["imagePullPolicy"] == "IfNotPresent"
        assert c["command"] == ["sh", "-c", "echo 'argocd-chaos: hook exits 4 after 0'; exit 4"]
        assert "args" not in c
    assert out["metadata"]["annotations"][TRANSLATED_ANNOTATION] == "true"


def test_what_the_translation_replaces_is_kept_in_an_annotation() -> None:
    tmpl = template({stages.OUTCOME: "fail"}, containers=2)
    tmpl["spec"]["containers"][1]["args"] = ["--x"]
    out = to_real_pod_template(tmpl)
    kept = json.loads(out["metadata"]["annotations"][FIXTURE_COMMAND_ANNOTATION])
    containers = tmpl["spec"]["containers"]
    assert kept == {c["name"]: {k: c[k] for k in ("image", "command", "args") if k in c} for c in containers}
    # A second translation keeps what the fixture said, not the first translation's command.
    assert (
        to_real_pod_template(out)["metadata"]["annotations"][FIXTURE_COMMAND_ANNOTATION]
        == (out["metadata"]["annotations"][FIXTURE_COMMAND_ANNOTATION])
    )


def test_a_changed_hook_command_is_a_changed_template_on_the_cluster() -> None:
    """C7's third sync: revision 2 changes only the hook's command, which the translation replaces.

    Were the change lost, both revisions would commit the same Job, and Argo CD would apply it
    without the error Kubernetes gives for a changed Job template.
    """
    fixture = (
        FixtureApp.load("single-hook")
        .with_hook_outcome("hook", "fail")
        .with_annotation("Job", "hook", HOOK_DELETE_POLICY, "HookSucceeded")
    )
    changed = fixture.copy().with_container_command("hook", ["sh", "-c", "echo changed"])
    job = [
        next(d for d in to_real_manifests(f.docs) if d["kind"] == "Job")["spec"]["template"]
        for f in (fixture, changed)
    ]
    assert job[0] != job[1]
    assert job[0]["spec"] == job[1]["spec"]  # the command that runs is the outcome's, in both


def test_input_template_is_not_changed() -> None:
    original = template({stages.OUTCOME: "fail", stages.START_DELAY: "1s"})
    before = copy.deepcopy(original)
    to_real_pod_template(original)
    assert original == before


def test_pod_without_outcome_outside_a_job_is_left_running() -> None:
    tmpl = template({})
    assert hook_script({}, owned_by_job=False) is None
    assert to_real_pod_template(tmpl, owned_by_job=False) == tmpl


def test_start_delay_is_an_init_container_that_sleeps_first(sh: Shell) -> None:
    out = to_real_pod_template(template({stages.OUTCOME: "succeed", stages.START_DELAY: "100ms"}))
    (init,) = out["spec"]["initContainers"]
    assert init["name"] == START_DELAY_CONTAINER
    assert init["image"] == HOOK_IMAGE
    assert init["command"] == ["sh", "-c", "sleep 0.1"]
    code, took, _, _ = sh.run(init["command"])
    assert (code, took >= 0.1) == (0, True)


def test_start_delay_alone_keeps_a_running_pod_running_after_the_delay() -> None:
    out = to_real_pod_template(template({stages.START_DELAY: "2s"}), owned_by_job=False)
    assert out["spec"]["initContainers"][0]["command"] == ["sh", "-c", "sleep 2"]
    assert out["spec"]["containers"][0]["command"] == ["app"]  # its own long-running command


@pytest.mark.parametrize(
    ("annotations", "match"),
    [
        ({stages.SWITCH: "s1", stages.OUTCOME: "fail"}, "decides exit code"),
        ({stages.OUTCOME: "fail", stages.EXIT_CODE: "0"}, r"must be in 1\.\.255"),
        ({stages.OUTCOME: "fail", stages.EXIT_CODE: "300"}, r"must be in 1\.\.255"),
        ({stages.OUTCOME: "fail", stages.EXIT_CODE: "x"}, "not an integer"),
        ({stages.EXIT_CODE: "2"}, "needs outcome='fail'"),
        ({stages.OUTCOME: "maybe"}, "must be 'succeed' or 'fail'"),
        ({stages.OUTCOME: "fail", stages.DURATION: "2 s"}, "not a Go duration"),
        ({stages.SWITCH: "Not_A_Label"}, "DNS-1123"),
    ],
)
def test_annotations_kwok_would_misplay_are_rejected(annotations: dict[str, str], match: str) -> None:
    with pytest.raises(StageConfigError, match=match):
        to_real_pod_template(template(annotations))


def test_template_without_containers_is_rejected() -> None:
    with pytest.raises(StageConfigError, match="no containers"):
        to_real_pod_template({"metadata": {"annotations": {stages.OUTCOME: "fail"}}, "spec": {}})


# -- switches -----------------------------------------------------------------------------------------


def _switch_dir(tmp_path: Path, exit_code: str | None, seconds: str | None = None) -> Path:
    d = tmp_path / "switch"
    d.mkdir(exist_ok=True)
    if exit_code is not None:
        (d / "exit-code").write_text(exit_code)
    if seconds is not None:
        (d / "duration-seconds").write_text(seconds)
    return d


def test_switch_template_mounts_the_switch_configmap() -> None:
    out = to_real_pod_template(template({stages.SWITCH: "flip-abc123"}, containers=2))
    assert out["spec"]["volumes"] == [
        {"name": SWITCH_VOLUME, "configMap": {"name": "argocd-chaos-switch-flip-abc123", "optional": True}}
    ]
    for c in out["spec"]["containers"]:
        assert c["command"] == ["sh", "-c", switch_script()]
        assert c["volumeMounts"] == [{"name": SWITCH_VOLUME, "mountPath": SWITCH_MOUNT, "readOnly": True}]


def test_switch_mount_replaces_an_earlier_one_and_keeps_other_volumes() -> None:
    tmpl = template({stages.SWITCH: "b"})
    tmpl["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    tmpl["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    once = to_real_pod_template(tmpl)
    twice = to_real_pod_template(once)
    assert [v["name"] for v in twice["spec"]["volumes"]] == ["data", SWITCH_VOLUME]
    assert [m["name"] for m in twice["spec"]["containers"][0]["volumeMounts"]] == ["data", SWITCH_VOLUME]


@pytest.mark.parametrize(("exit_code", "seconds"), [("0", None), ("1", "0"), ("7", "0.1")])
def test_switch_command_exits_with_the_configmap_code_after_its_duration(
    sh: Shell, tmp_path: Path, exit_code: str, seconds: str | None
) -> None:
    d = _switch_dir(tmp_path, exit_code, seconds)
    code, took, stdout, _ = sh.run(["sh", "-c", switch_script(mount=str(d))])
    assert code == int(exit_code)
    assert took >= float(seconds or 0)
    assert f"switch says exit {exit_code}" in stdout


def test_switch_command_keeps_running_until_the_switch_is_set(sh: Shell, tmp_path: Path) -> None:
    d = _switch_dir(tmp_path, None)
    p = subprocess.Popen(
        sh.popen_argv(switch_script(mount=str(d), poll_seconds=0.05)), env=sh.env, stdout=subprocess.DEVNULL
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.2)  # no switch yet: the hook stays Running, as on KWOK
        (d / "exit-code").write_text("5")
        assert p.wait(timeout=5) == 5
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_switch_command_fails_on_a_garbled_code(sh: Shell, tmp_path: Path) -> None:
    d = _switch_dir(tmp_path, "abc")
    code, _, _, stderr = sh.run(["sh", "-c", switch_script(mount=str(d))])
    assert code == 1
    assert "is not a number" in stderr


def test_switch_configmap_is_what_the_command_reads(sh: Shell, tmp_path: Path) -> None:
    cm = switch_configmap("flip-abc123", "chaos-abc123", exit_code=7, duration="100ms")
    assert cm["metadata"] == {
        "name": switch_configmap_name("flip-abc123"),
        "namespace": "chaos-abc123",
        "labels": {stages.MANAGED_BY_LABEL: stages.MANAGED_BY, stages.SWITCH_LABEL: "flip-abc123"},
    }
    assert cm["data"] == {"exit-code": "7", "duration-seconds": "0.1"}
    # Write the ConfigMap's data as the kubelet writes a ConfigMap volume: one file per key.
    d = tmp_path / "mounted"
    d.mkdir()
    for key, value in cm["data"].items():
        (d / key).write_text(value)
    code, took, _, _ = sh.run(["sh", "-c", switch_script(mount=str(d))])
    assert (code, took >= 0.1) == (7, True)


@pytest.mark.parametrize("bad", [-1, 256, True, "1"])
def test_switch_configmap_rejects_bad_codes(bad: Any) -> None:
    with pytest.raises(StageConfigError, match=r"0\.\.255"):
        switch_configmap("s", "ns", exit_code=bad)


# -- every fixture ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_fixture_hook_runs_as_annotated(sh: Shell, fixture: str) -> None:
    app = FixtureApp.load(fixture)
    hooks = jobs(app.docs)
    assert hooks, f"fixture {fixture} has no hook Job"
    for job in jobs(to_real_manifests(app.docs)):
        for c in job["spec"]["template"]["spec"]["containers"]:
            assert sh.run(c["command"])[0] == 0, (fixture, job_name(job))  # fixtures succeed by default


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_fixture_hook_fails_as_the_suites_make_it_fail(sh: Shell, fixture: str) -> None:
    app = FixtureApp.load(fixture)
    for i, job in enumerate(jobs(app.docs)):
        failing = app.copy().with_hook_outcome(job_name(job), "fail", exit_code=2 + i, duration="100ms")
        translated = jobs(to_real_manifests(failing.docs))[i]
        code, took, _, _ = sh.run(translated["spec"]["template"]["spec"]["containers"][0]["command"])
        assert (code, took >= 0.1) == (2 + i, True)


def test_manifests_without_pod_templates_pass_through_and_deployments_keep_running() -> None:
    app = FixtureApp.load("presync-hook")
    out = to_real_manifests(app.docs)
    assert [d["kind"] for d in out] == [d["kind"] for d in app.docs]
    cm_in = next(d for d in app.docs if d["kind"] == "ConfigMap")
    cm_out = next(d for d in out if d["kind"] == "ConfigMap")
    assert cm_out == cm_in
    deploy_in = next(d for d in app.docs if d["kind"] == "Deployment")
    deploy_out = next(d for d in out if d["kind"] == "Deployment")
    assert deploy_out == deploy_in  # no outcome: KWOK keeps it Running, its own command does too


# -- termination grace -------------------------------------------------------------------------------


def test_termination_grace_sets_the_grace_period_and_ignores_sigterm(sh: Shell) -> None:
    out = to_real_pod_template(
        template({stages.OUTCOME: "succeed", stages.DURATION: "30s", stages.TERMINATION_GRACE: "1500ms"})
    )
    assert out["spec"]["terminationGracePeriodSeconds"] == 2  # whole seconds, rounded up
    (c,) = out["spec"]["containers"]
    # As the kubelet does: SIGTERM to the container's first process, which must outlive it.
    p = subprocess.Popen(sh.popen_argv(c["command"][2]), env=sh.env, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None
        assert "hook exits 0" in p.stdout.readline()  # echoed after the trap is in place
        p.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(timeout=0.5)  # still running: the kubelet would wait out the grace period
    finally:
        p.kill()
        p.wait(timeout=5)
        if p.stdout is not None:
            p.stdout.close()


def test_without_termination_grace_nothing_changes_on_sigterm() -> None:
    out = to_real_pod_template(template({stages.OUTCOME: "succeed", stages.DURATION: "30s"}))
    assert "terminationGracePeriodSeconds" not in out["spec"]
    assert "trap" not in out["spec"]["containers"][0]["command"][2]


def test_a_bad_termination_grace_is_rejected_like_on_kwok() -> None:
    with pytest.raises(StageConfigError, match="'8' is not a Go duration"):
        to_real_pod_template(template({stages.OUTCOME: "succeed", stages.TERMINATION_GRACE: "8"}))
