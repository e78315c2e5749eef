"""Driving a Docker engine from the tests: one engine handle, and pod-template containers run in it."""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DockerEngine:
    docker: str
    version: str

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.docker, *args], capture_output=True, text=True, check=False, timeout=timeout
        )

    def ok(self, *args: str, timeout: float = 120) -> str:
        """Run a docker command that must succeed; its stdout, stripped."""
        p = self.run(*args, timeout=timeout)
        assert p.returncode == 0, f"docker {' '.join(args)} failed (exit {p.returncode}): {p.stderr}"
        return p.stdout.strip()


class Containers:
    """Runs pod-template containers in the engine and removes every container it made."""

    def __init__(self, engine: DockerEngine, image: str) -> None:
        self.engine, self.image = engine, image
        self.made: list[str] = []

    def start(self, container: dict[str, Any], mounts: dict[Path, str] | None = None) -> str:
        name = f"argocd-chaos-test-{uuid.uuid4().hex[:8]}"
        volumes = [a for host, path in (mounts or {}).items() for a in ("-v", f"{host}:{path}:ro")]
        command = container["command"]
        assert command[:2] == ["sh", "-c"], command
        self.engine.ok("create", "--name", name, "--network", "none", *volumes, self.image, *command)
        self.made.append(name)
        self.engine.ok("start", name)
        return name

    def wait(self, name: str, timeout: float = 60) -> int:
        return int(self.engine.ok("wait", name, timeout=timeout))

    def run(self, container: dict[str, Any], mounts: dict[Path, str] | None = None) -> tuple[int, float]:
        """Exit code and wall time of one container run (the time includes the engine's start-up)."""
        t0 = time.monotonic()
        name = self.start(container, mounts)
        return self.wait(name), time.monotonic() - t0

    def running(self, name: str) -> bool:
        return self.engine.ok("inspect", "--format", "{{.State.Running}}", name) == "true"

    def logs(self, name: str) -> str:
        p = self.engine.run("logs", name)
        return p.stdout + p.stderr

    def remove_all(self) -> None:
        for name in self.made:
            self.engine.run("rm", "-f", name)
