"""An embedded cluster's state on disk (`cluster.json`) that is corrupt, empty or from an older version.

`cluster status` says what is wrong, `cluster down` cleans up whatever it finds (the processes still
writing into the cluster's logs, the directory), and `cluster up` or a pytest session removes state
whose processes are all gone instead of failing on it (issue 10, item 7).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness._build.binaries import Build
from harness._cli import main
from harness._cluster.embedded import process as proc
from harness._cluster.embedded.cluster import EmbeddedCluster, EmbeddedOptions
from harness._errors import ClusterSetupError, ConfigError
from harness._paths import state_root

pytest_plugins = ["pytester"]

FakeBuild = Callable[..., Build]
Spawn = Callable[..., tuple[subprocess.Popen[bytes], proc.ProcessRecord]]
NAME = "argocd-chaos"

_SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def _valid_state(build: Build, state_dir: Path, records: dict[str, proc.ProcessRecord]) -> dict[str, object]:
    return {
        "components": {k: r.__dict__ for k, r in records.items()},
        "name": NAME,
        "build_root": str(build.root),
        "versions": json.loads(build.versions.to_json()),
        "ports": {"etcd": 40001, "api": 40002},
        "kubeconfig": str(state_dir / "kubeconfig"),
        "options": EmbeddedOptions(name=NAME).__dict__,
        "timings": {"total": 1.5},
        "owner_pid": 1,
    }


# What each bad file looks like, and how `status` must describe it.
BAD_STATE: dict[str, tuple[Callable[[dict[str, object]], str], str]] = {
    "corrupt": (lambda good: json.dumps(good)[:40], "is not valid JSON (Invalid JSON: EOF while parsing"),
    "empty": (lambda good: "", "is empty"),
    "not-an-object": (
        lambda good: "[]",
        "is not a state file this version can read: Input should be an object",
    ),
    "older-format": (
        lambda good: json.dumps({k: v for k, v in good.items() if k not in ("build_root", "options")}),
        "is not a state file this version can read: field `build_root`: Field required",
    ),
    "wrong-type": (
        lambda good: json.dumps({**good, "ports": ["api"]}),
        "is not a state file this version can read: field `ports`: Input should be an object",
    ),
}


@pytest.fixture
def state_dir(chaos_dirs: object) -> Path:
    d = state_root() / NAME
    (d / "logs").mkdir(parents=True)
    return d


def _component(spawn: Spawn, state_dir: Path, name: str = "etcd") -> proc.ProcessRecord:
    """A live stand-in for a component: a process writing into the cluster's log directory."""
    _, rec = spawn(name, _SLEEPER, log_dir=state_dir / "logs")
    return rec


def _write_bad(state_dir: Path, build: Build, kind: str, records: dict[str, proc.ProcessRecord]) -> None:
    make, _ = BAD_STATE[kind]
    (state_dir / "cluster.json").write_text(make(_valid_state(build, state_dir, records)))


@pytest.mark.parametrize("kind", sorted(BAD_STATE))
def test_status_says_what_is_wrong_with_the_state_file(
    kind: str, state_dir: Path, fake_build: FakeBuild, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_bad(state_dir, fake_build(), kind, {})

    assert main(["cluster", "status"]) == 1

    captured = capsys.readouterr()
    _, problem = BAD_STATE[kind]
    assert captured.out == ""
    assert captured.err.startswith(
        f"argocd-chaos: error: cluster {NAME!r}: its state file {state_dir / 'cluster.json'} {problem}"
    )
    assert captured.err.endswith(
        f"; none of its processes runs. `argocd-chaos cluster down --name {NAME}` stops what it finds "
        f"and removes {state_dir}\n"
    )


def test_status_names_the_processes_that_still_run(
    state_dir: Path, fake_build: FakeBuild, spawn: Spawn, capsys: pytest.CaptureFixture[str]
) -> None:
    rec = _component(spawn, state_dir)
    _write_bad(state_dir, fake_build(), "corrupt", {"etcd": rec})

    assert main(["cluster", "status"]) == 1

    assert f"; 1 of its processes still run (etcd pid {rec.pid})." in capsys.readouterr().err
    assert rec.alive()  # status only looks


@pytest.mark.parametrize("kind", sorted(BAD_STATE))
def test_down_stops_what_it_finds_and_removes_the_state(
    kind: str, state_dir: Path, fake_build: FakeBuild, spawn: Spawn, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded, unrecorded = _component(spawn, state_dir, "etcd"), _component(spawn, state_dir, "kwok")
    _write_bad(state_dir, fake_build(), kind, {"etcd": recorded})

    assert main(["cluster", "down"]) == 0

    assert capsys.readouterr().out == f"cluster {NAME}: stopped and removed\n"
    assert not recorded.alive()
    assert not unrecorded.alive()
    assert not state_dir.exists()


def test_down_also_stops_a_component_the_readable_file_does_not_list(
    state_dir: Path, fake_build: FakeBuild, spawn: Spawn
) -> None:
    # Killed between starting a component and saving the file: only the log directory knows it.
    listed, unlisted = _component(spawn, state_dir, "etcd"), _component(spawn, state_dir, "kube-apiserver")
    (state_dir / "cluster.json").write_text(
        json.dumps(_valid_state(fake_build(), state_dir, {"etcd": listed}))
    )

    assert main(["cluster", "down"]) == 0

    assert not listed.alive()
    assert not unlisted.alive()
    assert not state_dir.exists()


def test_down_removes_a_state_dir_without_a_state_file(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cluster", "status"]) == 3
    assert capsys.readouterr().out == (
        f"cluster {NAME}: not running; `cluster down --name {NAME}` removes {state_dir}\n"
    )

    assert main(["cluster", "down"]) == 0

    assert capsys.readouterr().out == f"cluster {NAME}: stopped and removed\n"
    assert not state_dir.exists()


def test_a_state_file_without_options_from_an_older_version_still_attaches(
    state_dir: Path, fake_build: FakeBuild, spawn: Spawn
) -> None:
    rec = _component(spawn, state_dir)
    good = _valid_state(fake_build(), state_dir, {"etcd": rec})
    del good["options"]
    good["retired_field"] = 1
    (state_dir / "cluster.json").write_text(json.dumps(good))

    cluster = EmbeddedCluster.attach(NAME)

    assert cluster is not None
    assert cluster.running() == {"etcd": True}
    assert cluster.options == EmbeddedOptions()


def test_up_removes_unreadable_state_whose_processes_are_gone(state_dir: Path, fake_build: FakeBuild) -> None:
    build = fake_build()
    _write_bad(state_dir, build, "corrupt", {})
    said: list[str] = []

    # The fake build's binaries are empty files, so the boot itself fails at its first component:
    # what matters is that it got past the unreadable file, and cleaned up after itself.
    with pytest.raises(ClusterSetupError):
        EmbeddedCluster(NAME, build).up(EmbeddedOptions(name=NAME), say=said.append)

    assert said[0].startswith(
        f"removing unreadable state of cluster {NAME!r} at {state_dir} (is not valid JSON"
    )
    assert not state_dir.exists()


def test_up_refuses_unreadable_state_while_its_processes_run(
    state_dir: Path, fake_build: FakeBuild, spawn: Spawn
) -> None:
    build = fake_build()
    rec = _component(spawn, state_dir)
    _write_bad(state_dir, build, "empty", {"etcd": rec})

    with pytest.raises(ConfigError, match=rf"is empty; 1 of its processes still run \(etcd pid {rec.pid}\)"):
        EmbeddedCluster(NAME, build).up(EmbeddedOptions(name=NAME))

    assert rec.alive()
    assert (state_dir / "cluster.json").exists()


def test_attach_raises_one_harness_error(state_dir: Path, fake_build: FakeBuild) -> None:
    from harness._cluster.embedded.cluster import StateFileError

    _write_bad(state_dir, fake_build(), "wrong-type", {})
    with pytest.raises(StateFileError) as info:
        EmbeddedCluster.attach(NAME)
    assert info.value.path == state_dir / "cluster.json"
    assert info.value.running == []


@pytest.mark.parametrize("kind", ["corrupt", "older-format"])
def test_a_pytest_session_gets_past_an_unreadable_state_file(
    kind: str,
    state_dir: Path,
    fake_build: FakeBuild,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _write_bad(state_dir, fake_build(versions=None), kind, {})
    # No cached build for the version asked and no Go: the session must get as far as the build step.
    monkeypatch.setenv("PATH", str(tmp_path))
    pytester.makepyfile("def test_one(chaos_cluster): pass")

    result = pytester.runpytest(
        "-p", "no:pytest-kind", "-p", "no:cacheprovider", "--cluster-name", NAME, "--argocd-version", "v3.5.0"
    )

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["cluster setup failed: Go is not installed or not on PATH*"])
    text = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in text
    assert "JSONDecodeError" not in text  # what a corrupt file raised before
    assert "KeyError" not in text  # what a file of an older version raised before
