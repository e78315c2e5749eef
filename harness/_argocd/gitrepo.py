"""Local git repositories that Argo CD's repo-server reads by `file://` URL.

Each test gets its own repository, so revisions are independent between tests and a commit made
by one test can never change what another test deploys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from harness._errors import HarnessError

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "argocd-chaos",
    "GIT_AUTHOR_EMAIL": "argocd-chaos@localhost",
    "GIT_COMMITTER_NAME": "argocd-chaos",
    "GIT_COMMITTER_EMAIL": "argocd-chaos@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_TERMINAL_PROMPT": "0",
}


class GitRepo:
    """A working repository whose default branch Argo CD tracks."""

    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        self.branch = branch

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    @classmethod
    def init(cls, path: Path, branch: str = "main") -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path, branch)
        repo._git("init", "-q", "-b", branch)
        return repo

    def _git(self, *args: str) -> str:
        env = {**os.environ, **_GIT_ENV}
        p = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        if p.returncode != 0:
            raise HarnessError(f"git {' '.join(args)} in {self.path} failed: {p.stderr.strip()}")
        return p.stdout.strip()

    def commit_files(self, files: Mapping[str, str], message: str, *, replace_all: bool = True) -> str:
        """Make the tree hold exactly `files` (or add them), commit, and return the new revision."""
        if replace_all:
            for child in self.path.iterdir():
                if child.name == ".git":
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        for rel, content in files.items():
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self._git("add", "-A")
        self._git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def tag(self, name: str, revision: str = "HEAD") -> str:
        """Tag `revision` (moving the tag if it exists, as a re-released tag would) and return its commit."""
        if not name or name.startswith("-") or any(c in name for c in " ~^:?*[\\"):
            raise HarnessError(f"{name!r} is not a valid git tag name")
        self._git("tag", "-f", name, revision)
        return self._git("rev-list", "-n", "1", name)

    def head(self) -> str:
        return self._git("rev-parse", "HEAD")

    def log(self) -> list[str]:
        return self._git("log", "--format=%H %s").splitlines()
