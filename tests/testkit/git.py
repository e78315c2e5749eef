"""A working fixture repo and the repo-server's view of the git server, for every place that serves one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness._cluster.argocd_install import GitServer

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}
REPO = "chaos-abc123"


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=True
    ).stdout.strip()


def make_work_repo(parent: Path) -> Path:
    """A fixture repo as the harness keeps it locally: one commit on main."""
    repo = parent / REPO
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "job.yaml").write_text("kind: Job\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "revision 1", cwd=repo)
    return repo


def push_two_revisions_and_clone(server: GitServer, work_repo: Path, url: str, scratch: Path) -> None:
    """Push two revisions, then read them back as Argo CD's repo-server does, and find pushing refused.

    The second push finds the repo the first one created and sends only what is new; `url` is the
    git:// address the daemon serves the repo at.
    """
    server.push(work_repo)
    first = git("rev-parse", "HEAD", cwd=work_repo)
    (work_repo / "job.yaml").write_text("kind: Job\nrevision: 2\n")
    git("commit", "-q", "-am", "revision 2", cwd=work_repo)
    server.push(work_repo)
    second = git("rev-parse", "HEAD", cwd=work_repo)

    assert git("ls-remote", url, "HEAD", cwd=scratch).split()[0] == second
    clone = scratch / "clone"
    git("clone", "-q", url, str(clone), cwd=scratch)
    assert (clone / "job.yaml").read_text() == "kind: Job\nrevision: 2\n"
    assert git("log", "--format=%H", cwd=clone).split() == [second, first]

    # The daemon serves read-only: nothing in the cluster can push.
    p = subprocess.run(
        ["git", "push", url, "HEAD:refs/heads/other"], cwd=clone, capture_output=True, text=True, check=False
    )
    assert p.returncode != 0
    assert "service not enabled" in p.stderr
