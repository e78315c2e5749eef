"""The in-cluster git server, run as its pod would run it: in a container with the pod's security settings.

On kind and existing clusters the fixture repos are pushed through `kubectl exec -i` into a `git daemon`
pod, and the repo-server clones them over `git://`. Without a kubelet, the pod's container is run by the
Docker engine with what the Deployment manifest says (command, environment, user and group, read-only
root file system, no capabilities, no privilege escalation, emptyDir volumes as tmpfs), and `kubectl
exec -i ... -- CMD` becomes `docker exec -i ... CMD`, the same stdin/stdout pipe. The image holds this
machine's git (with its shared libraries) and busybox's sh, as the Argo CD image holds git and a shell.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from testkit.docker import DockerEngine
from testkit.git import make_work_repo, push_two_revisions_and_clone

from harness._cluster import argocd_install as install
from harness._wait import Expectation, Outcome, expect, failed, met, pending

pytestmark = pytest.mark.docker

GIT_FILES = ("/usr/bin/git", "/usr/lib/git-core/git", "/usr/lib/git-core/git-daemon")


def _shared_libraries(binary: str) -> list[str]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if path.startswith("/"):
            libs.append(path)
    return libs


def _add_file(tar: tarfile.TarFile, path: str) -> None:
    """Add the file a path resolves to under the path itself (libraries are symlinks on the host)."""
    real = os.path.realpath(path)
    info = tar.gettarinfo(real, arcname=path.lstrip("/"))
    with open(real, "rb") as f:
        tar.addfile(info, f)


def _add_dir(tar: tarfile.TarFile, path: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(path)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


@pytest.fixture(scope="module")
def git_image(docker_engine: DockerEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = [f for f in (*GIT_FILES, "/bin/busybox") if not os.path.exists(f)]
    if missing:
        pytest.skip(f"cannot assemble a git image: {missing} not installed (Debian: git, busybox-static)")
    archive = tmp_path_factory.mktemp("git-image") / "rootfs.tar"
    libs = sorted({lib for binary in GIT_FILES for lib in _shared_libraries(binary)})
    with tarfile.open(archive, "w") as tar:
        dirs = {"bin", "etc", "srv"}
        for path in (*GIT_FILES, *libs):
            parent = Path(path.lstrip("/")).parent
            dirs.update(str(p) for p in (parent, *parent.parents) if str(p) != ".")
        for d in sorted(dirs):
            _add_dir(tar, d)
        _add_dir(tar, "tmp", 0o1777)
        for path in (*GIT_FILES, *libs):
            _add_file(tar, path)
        _add_file(tar, "/bin/busybox")
        for applet in ("sh", "cat", "ls"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        for builtin in ("git-receive-pack", "git-upload-pack"):
            link = tarfile.TarInfo(f"usr/lib/git-core/{builtin}")
            link.type, link.linkname = tarfile.SYMTYPE, "git"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\nargocd:x:999:999::/home/argocd:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = len(passwd), 0o644
        tar.addfile(info, io.BytesIO(passwd))
    tag = f"argocd-chaos-test/git:{uuid.uuid4().hex[:8]}"
    docker_engine.ok("import", str(archive), tag)
    try:
        yield tag
    finally:
        docker_engine.run("image", "rm", "-f", tag)


@dataclass(frozen=True)
class RunningServer:
    container: str
    ip: str
    kubectl: Path


def docker_run_args(manifests: list[dict[str, Any]]) -> list[str]:
    """`docker run` arguments that give a container what the git server's pod spec gives it."""
    deployment = next(d for d in manifests if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    args = ["--user", f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"]
    if sc.get("readOnlyRootFilesystem"):
        args.append("--read-only")
    args += [a for cap in sc["capabilities"]["drop"] for a in ("--cap-drop", cap)]
    if sc.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    for mount in container["volumeMounts"]:
        assert mount["name"] in empty_dirs, mount
        # An emptyDir is a fresh directory every container user can write (mode 0777).
        args += ["--tmpfs", f"{mount['mountPath']}:mode=0777"]
    args += [a for env in container["env"] for a in ("-e", f"{env['name']}={env['value']}")]
    return [*args, container["image"], *container["command"]]


@pytest.fixture
def git_server(docker_engine: DockerEngine, git_image: str, tmp_path: Path) -> Iterator[RunningServer]:
    name = f"argocd-chaos-test-git-{uuid.uuid4().hex[:8]}"
    docker_engine.ok(
        "run", "--detach", "--name", name, *docker_run_args(install.git_server_manifests(git_image))
    )
    try:
        ip = docker_engine.ok("inspect", "--format", "{{.NetworkSettings.IPAddress}}", name)
        _wait_listening(docker_engine, name, ip)
        # `kubectl exec -i -n NS deploy/... -c C -- CMD...` on the pod is `docker exec -i NAME CMD...` here;
        # docker exec runs as the container's user, as kubectl exec does.
        kubectl = tmp_path / "kubectl"
        kubectl.write_text(
            f'#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\n'
            f'exec {docker_engine.docker} exec -i {name} "$@"\n'
        )
        kubectl.chmod(0o755)
        yield RunningServer(name, ip, kubectl)
    finally:
        docker_engine.run("rm", "-f", name)


def _wait_listening(engine: DockerEngine, name: str, ip: str) -> None:
    def check() -> Outcome:
        if engine.ok("inspect", "--format", "{{.State.Running}}", name) != "true":
            logs = engine.run("logs", name)
            return failed(f"git daemon container exited: {logs.stdout}{logs.stderr}")
        try:
            socket.create_connection((ip, install.GIT_PORT), timeout=2).close()
        except OSError as exc:
            return pending(f"{ip}:{install.GIT_PORT}: {exc}")
        return met(f"{ip}:{install.GIT_PORT} accepts connections")

    expect(Expectation("the git daemon in the container listens", check), timeout=60)


@pytest.fixture
def work_repo(tmp_path: Path) -> Path:
    return make_work_repo(tmp_path)


def test_push_through_exec_and_clone_over_git_protocol_under_the_pods_security_settings(
    git_server: RunningServer, work_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    server = install.GitServer(install.Kubectl(str(git_server.kubectl), tmp_path / "kubeconfig"))
    # What the repo-server does, by the container's address instead of the Service's name.
    url = f"git://{git_server.ip}:{install.GIT_PORT}/chaos-abc123.git"
    push_two_revisions_and_clone(server, work_repo, url, tmp_path)


def test_pushed_repos_belong_to_the_pods_user_on_the_emptydir(
    docker_engine: DockerEngine, git_server: RunningServer, work_repo: Path, tmp_path: Path
) -> None:
    install.GitServer(install.Kubectl(str(git_server.kubectl), tmp_path / "kubeconfig")).push(work_repo)
    listing = docker_engine.ok("exec", git_server.container, "ls", "-ln", install.GIT_BASE)
    (line,) = [ln for ln in listing.splitlines() if ln.endswith("chaos-abc123.git")]
    assert line.split()[2:4] == ["999", "999"], listing
