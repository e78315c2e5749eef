"""Translated hook commands, run in real containers: exit codes as the annotations say.

`tests/test_hook_commands.py` runs the same commands with a local shell; here they run the way a
kubelet runs them on kind: as the container command (`sh -c SCRIPT`) of a container from a busybox
image, with the switch ConfigMap's keys mounted read-only as files at the path the pod template mounts
them. The exit code is read from the engine (`docker wait`), which is what the kubelet reports as the
container's terminated state and what Job controllers count.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testkit.docker import Containers, DockerEngine
from testkit.fixtures import job_name, jobs

from harness._cluster.embedded.kwok_stages import START_DELAY
from harness._cluster.kind.hook_commands import (
    SWITCH_MOUNT,
    switch_configmap,
    to_real_manifests,
    to_real_pod_template,
)
from harness._scenario.fixtures import FIXTURES_DIR, FixtureApp
from harness._wait import Expectation, expect_consistently, simple

pytestmark = pytest.mark.docker

#: Fixtures of plain manifests: a chart's or kustomization's pods are rendered by the repo-server, so
#: their outcome annotations are never translated into commands (README, "The scenario API").
FIXTURES = sorted(
    p.name
    for p in FIXTURES_DIR.iterdir()
    if p.is_dir() and FixtureApp.load(p.name).source_type == "Directory"
)


@pytest.fixture
def containers(docker_engine: DockerEngine, busybox_image: str) -> Iterator[Containers]:
    c = Containers(docker_engine, busybox_image)
    try:
        yield c
    finally:
        c.remove_all()


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_fixture_hook_fails_in_a_container_as_the_suites_make_it_fail(
    containers: Containers, fixture: str
) -> None:
    app = FixtureApp.load(fixture)
    hooks = jobs(app.docs)
    assert hooks, f"fixture {fixture} has no hook Job"
    for i, job in enumerate(hooks):
        failing = app.copy().with_hook_outcome(job_name(job), "fail", exit_code=2 + i, duration="200ms")
        translated = jobs(to_real_manifests(failing.docs))[i]
        for c in translated["spec"]["template"]["spec"]["containers"]:
            code, took = containers.run(c)
            assert (code, took >= 0.2) == (2 + i, True), (fixture, job_name(job), c["name"])


@pytest.mark.parametrize("fixture", FIXTURES)
def test_every_fixture_hook_succeeds_in_a_container_by_default(containers: Containers, fixture: str) -> None:
    for job in jobs(to_real_manifests(FixtureApp.load(fixture).docs)):
        for c in job["spec"]["template"]["spec"]["containers"]:
            assert containers.run(c)[0] == 0, (fixture, job_name(job), c["name"])


def _switched_container() -> dict[str, Any]:
    template = {
        "metadata": {"annotations": {"chaos.argocd-chaos.io/switch": "flip"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "hook", "image": "x", "command": ["x"]}]},
    }
    container: dict[str, Any] = to_real_pod_template(template)["spec"]["containers"][0]
    assert container["volumeMounts"][0]["mountPath"] == SWITCH_MOUNT
    return container


def _mount_configmap(directory: Path, data: dict[str, str]) -> Path:
    """Write a ConfigMap's data as the kubelet writes a ConfigMap volume: one file per key."""
    directory.mkdir(exist_ok=True)
    for key, value in data.items():
        (directory / key).write_text(value)
    return directory


@pytest.mark.parametrize(("exit_code", "duration"), [(0, "300ms"), (9, "300ms"), (42, None)])
def test_switched_hook_exits_with_the_mounted_configmap_code(
    containers: Containers, tmp_path: Path, exit_code: int, duration: str | None
) -> None:
    cm = switch_configmap("flip", "ns", exit_code=exit_code, duration=duration)
    mounted = _mount_configmap(tmp_path / "switch", cm["data"])
    code, took = containers.run(_switched_container(), {mounted: SWITCH_MOUNT})
    assert code == exit_code
    assert took >= float(cm["data"]["duration-seconds"])


def test_switched_hook_stays_running_until_the_switch_is_set(containers: Containers, tmp_path: Path) -> None:
    # An optional ConfigMap volume that does not exist yet is an empty directory in the pod.
    mounted = tmp_path / "switch"
    mounted.mkdir()
    name = containers.start(_switched_container(), {mounted: SWITCH_MOUNT})
    # As on KWOK, where no stage matches a pod under an unset switch: it keeps running.
    expect_consistently(
        Expectation(
            "the hook container keeps running while the switch is unset",
            lambda: simple(containers.running(name), containers.logs(name)),
        ),
        for_=3,
        every=0.5,
    )
    _mount_configmap(mounted, switch_configmap("flip", "ns", exit_code=6)["data"])
    assert containers.wait(name) == 6
    assert "switch says exit 6" in containers.logs(name)


def test_start_delay_init_container_sleeps_then_succeeds(containers: Containers) -> None:
    template = {
        "metadata": {"annotations": {START_DELAY: "500ms"}},
        "spec": {"containers": [{"name": "app", "image": "x", "command": ["x"]}]},
    }
    init = to_real_pod_template(template, owned_by_job=False)["spec"]["initContainers"][0]
    code, took = containers.run(init)
    assert (code, took >= 0.5) == (0, True)
