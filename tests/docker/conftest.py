"""A Docker engine and a busybox image for the tests that check kind's moving parts in real containers.

A whole kind cluster is `make test-kind`'s (its images take long to build the first time); here a
Docker engine, Debian's `docker.io` started as root, checks what kind would do with a container (run a
translated hook command, reach a webhook through the network gateway) in real containers. The engine is the
one already running, or one started for the run and stopped after it: pytest-xdist runs these tests on
any worker, so the workers share it and the last one that used it stops it (`testkit.shared_engine`);
without an engine and without root to start one, these tests skip and say so.

The image is made locally, as nothing can be pulled: Debian's static busybox in an otherwise empty root
file system, imported with `docker import`. It is the same busybox build the hook commands are written
for, so the commands are checked against the shell they will meet.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tarfile
import uuid
from collections.abc import Iterator

import pytest
from testkit.docker import DockerEngine
from testkit.shared_engine import shared_engine

from harness._errors import ConfigError
from harness._paths import state_root

#: The busybox applets the hook commands and the containerised API server need.
APPLETS = ("sh", "sleep", "cat", "echo", "test", "[", "mkdir", "true")
#: Where the processes of a run agree on the engine (read at collection, before any test points
#: ARGOCD_CHAOS_STATE at a temporary directory).
ENGINE_STATE = state_root() / ".docker-engine"


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerEngine]:
    """The running engine, or one started for the run (`harness._build.images.engine`, which adds the
    runc wrapper on kernels that need it) and stopped by the last process using it; a skip when
    neither is possible."""
    log_path = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    with contextlib.ExitStack() as stack:
        try:
            engine = stack.enter_context(shared_engine(ENGINE_STATE, log_path, _say))
        except ConfigError as exc:
            pytest.skip(f"no Docker engine for these tests: {exc}")
        yield DockerEngine(engine.docker, engine.version)


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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
