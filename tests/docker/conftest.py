"""A Docker engine and a busybox image for the tests that check kind's moving parts in real containers.

kind itself cannot run here (no node image without a registry), but a Docker engine can: Debian's
`docker.io`, started as root. What kind would do with a container (run a translated hook command,
reach a webhook through the network gateway) is checked in real containers instead. The engine is the
one already running, or one started here for the session and stopped after it; without an engine and
without root to start one, these tests skip and say so.

The image is made locally, as nothing can be pulled: Debian's static busybox in an otherwise empty root
file system, imported with `docker import`. It is the same busybox build the hook commands are written
for, so the commands are checked against the shell they will meet.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tarfile
import uuid
from collections.abc import Iterator

import pytest
from testkit.docker import DockerEngine

from harness._wait import Expectation, Outcome, expect, failed, met, pending

#: The busybox applets the hook commands and the containerised API server need.
APPLETS = ("sh", "sleep", "cat", "echo", "test", "[", "mkdir", "true")
_ENGINE_TIMEOUT = 60.0


def _docker_info(docker: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=_ENGINE_TIMEOUT,
    )


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker command: install Debian's docker.io (make test-deps does, as root)")
    first = _docker_info(docker)
    if first.returncode == 0:
        yield DockerEngine(docker, first.stdout.strip())
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        pytest.skip(
            "no Docker engine answers and none can be started here (needs root and dockerd from "
            f"Debian's docker.io): {first.stderr.strip()[-300:]}"
        )
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [dockerd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:

        def answers() -> Outcome:
            if proc.poll() is not None:
                return failed(f"dockerd exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            p = _docker_info(docker)
            return met(p.stdout.strip()) if p.returncode == 0 else pending(p.stderr.strip()[-200:])

        what = "the Docker engine started here answers `docker info`"
        outcome = expect(Expectation(what, answers), timeout=_ENGINE_TIMEOUT)
        yield DockerEngine(docker, outcome.message)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def busybox_image(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local image holding only Debian's static busybox, removed after the session."""
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox not installed: install Debian's busybox-static (make test-deps does, as root)")
    root = tmp_path_factory.mktemp("busybox-rootfs")
    archive = root.parent / f"{root.name}.tar"
    with tarfile.open(archive, "w") as tar:
        for d in ("bin", "tmp", "etc"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(busybox, arcname="bin/busybox")
        for applet in APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
    tag = f"argocd-chaos-test/busybox:{uuid.uuid4().hex[:8]}"
    docker_engine.ok("import", str(archive), tag)
    archive.unlink()
    try:
        yield tag
    finally:
        docker_engine.run("image", "rm", "-f", tag)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One worker runs every test here: the session's Docker engine is started and stopped by it."""
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.xdist_group("docker-engine"))
