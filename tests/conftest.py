"""Shared fixtures of the harness's own unit tests.

Unit tests never touch the real build cache or cluster state: an autouse fixture points
ARGOCD_CHAOS_CACHE and ARGOCD_CHAOS_STATE at fresh temporary directories for every test that is
not marked `cluster`. Tests marked `cluster` (tests/e2e/) keep the real ones, because they need the
real build and may reuse a running cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from testkit.clock import FakeClock

from harness import _wait
from harness._build.binaries import ARGOCD_ALIASES, ARGOCD_SCRIPTS, BINARIES, Build
from harness._build.versions import BuildVersions
from harness._cluster.embedded import process as _process


@dataclass(frozen=True)
class ChaosDirs:
    cache: Path
    state: Path


@pytest.fixture
def chaos_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> ChaosDirs:
    """Fresh, empty (not yet created) cache and state roots for this test."""
    base = tmp_path_factory.mktemp("chaos")
    dirs = ChaosDirs(cache=base / "cache", state=base / "state")
    monkeypatch.setenv("ARGOCD_CHAOS_CACHE", str(dirs.cache))
    monkeypatch.setenv("ARGOCD_CHAOS_STATE", str(dirs.state))
    return dirs


@pytest.fixture(autouse=True)
def _hermetic_chaos_dirs(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("cluster") is None:
        request.getfixturevalue("chaos_dirs")


FakeBuild = Callable[..., Build]


@pytest.fixture
def fake_build(chaos_dirs: ChaosDirs) -> FakeBuild:
    """Lay out a build in the test's cache as `_Builder.run` leaves it, with empty executables.

    Call it as `fake_build(versions=None, skip=())`; `skip` names binaries, aliases or manifests
    to leave out.
    """

    def _make(versions: BuildVersions | None = None, skip: Sequence[str] = ()) -> Build:
        v = versions or BuildVersions(argocd="v3.6.1", kubernetes="v1.37.0", kwok="v0.8.0", toolchain="local")
        root = chaos_dirs.cache / f"{v.argocd}-{v.kubernetes}"
        (root / "bin").mkdir(parents=True)
        (root / "manifests").mkdir()
        for name in (*BINARIES, *ARGOCD_SCRIPTS):
            if name not in skip:
                path = root / "bin" / name
                path.write_bytes(b"")
                path.chmod(0o755)
        for alias in ARGOCD_ALIASES:
            if alias not in skip:
                (root / "bin" / alias).symlink_to("argocd")
        for manifest in ("install.yaml", "kwok-stage-crd.yaml"):
            if manifest not in skip:
                (root / "manifests" / manifest).write_text("# fake\n")
        if "tool-versions.sh" not in skip:
            # The render tools of a cached build: their versions in the entry, each in its own entry.
            (root / "manifests" / "tool-versions.sh").write_text(
                "HELM_VERSION=4.3.1\nKUSTOMIZE_VERSION=5.8.3\n"
            )
            for tool, version in (("helm", "v4.3.1"), ("kustomize", "v5.8.3")):
                tool_bin = chaos_dirs.cache / f"{tool}-{version}" / "bin"
                tool_bin.mkdir(parents=True, exist_ok=True)
                (tool_bin / tool).write_bytes(b"")
                (tool_bin / tool).chmod(0o755)
        (root / "versions.json").write_text(v.to_json())
        return Build(root, v)

    return _make


Spawn = Callable[..., tuple[subprocess.Popen[bytes], _process.ProcessRecord]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start processes through `_process.start`; whatever is still running at the end is killed."""
    started: list[tuple[subprocess.Popen[bytes], _process.ProcessRecord]] = []
    log_dir = tmp_path / "logs"

    def _spawn(
        name: str, argv: Sequence[str], **kwargs: object
    ) -> tuple[subprocess.Popen[bytes], _process.ProcessRecord]:
        kwargs.setdefault("log_dir", log_dir)
        p, rec = _process.start(name, argv, **kwargs)  # type: ignore[arg-type]
        started.append((p, rec))
        return p, rec

    yield _spawn
    for p, rec in started:
        if rec.alive():
            try:
                os.killpg(rec.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Reap (or notice that `_process` already reaped) so Popen does not warn in __del__.
        p.wait(timeout=10)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """`harness._wait` on a fake clock: waits finish at once and record what they slept."""
    fake = FakeClock()
    monkeypatch.setattr(_wait, "_now", fake.time)
    monkeypatch.setattr(_wait, "_sleep", fake.sleep)
    return fake
