"""The few Docker engine calls the image build makes: import, build, save, inspect, run, commit.

Builds use Docker's classic builder (`DOCKER_BUILDKIT=0`): with nothing pullable, `FROM` must name
an image the engine already has, which the classic builder takes as it is, and it needs no buildx
plugin (Debian's docker.io ships none).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness._build.images import steps
from harness._errors import BuildError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Docker:
    exe: str
    say: steps.Say

    def _env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_BUILDKIT": "0"}

    def run(self, args: Sequence[str], what: str, *, quiet: bool = True, input: bytes | None = None) -> str:
        return steps.run([self.exe, *args], what, self.say, env=self._env(), quiet=quiet, input=input).strip()

    def image_id(self, ref: str) -> str | None:
        p = subprocess.run(
            [self.exe, "image", "inspect", "--format", "{{.Id}}", ref],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None

    def import_tar(self, tar: Path, tag: str) -> str:
        """`docker import` a root file system; PATH set, as a tar carries no image config."""
        self.run(
            ["import", "--change", f"ENV PATH={DEFAULT_PATH}", str(tar), tag],
            f"docker import {tar.parent.name} as {tag}",
            quiet=False,
        )
        return self.image_id(tag) or ""

    def build(self, context: Path, tag: str, build_args: Mapping[str, str] | None = None) -> str:
        args = ["build", "--quiet", "--tag", tag]
        for k, v in (build_args or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        self.run([*args, str(context)], f"docker build {tag}", quiet=False)
        return self.image_id(tag) or ""

    def save(self, refs: Sequence[str]) -> bytes:
        p = subprocess.run([self.exe, "save", *refs], capture_output=True, check=False, env=self._env())
        if p.returncode != 0:
            raise BuildError(f"`docker save {' '.join(refs)}` failed: {p.stderr.decode()[-1000:]}")
        return p.stdout

    def remove_container(self, name: str) -> None:
        subprocess.run([self.exe, "rm", "-f", "-v", name], capture_output=True, check=False, timeout=120)
