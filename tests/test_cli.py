from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from harness._build import binaries as _build
from harness._build import versions as _versions
from harness._build.binaries import Build
from harness._cli import main
from harness._cluster.embedded.cluster import EmbeddedOptions
from harness._cluster.embedded.process import ProcessRecord, save_records
from harness._paths import state_root

FakeBuild = Callable[..., Build]
Spawn = Callable[..., tuple[subprocess.Popen[bytes], ProcessRecord]]


def _forbidden(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"must not be called: {args}")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to ask the module proxy, find Go or start a build fails the test."""
    monkeypatch.setattr(_versions, "_go_probe", _forbidden)
    monkeypatch.setattr(_versions, "go_binary", _forbidden)
    monkeypatch.setattr(_versions, "resolve", _forbidden)
    monkeypatch.setattr(_build._Builder, "run", _forbidden)


# -- argument and state errors -----------------------------------------------------------------------


def test_status_of_a_missing_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "status", "--name", "nope"]) == 3
    assert capsys.readouterr().out == "cluster nope: not running\n"


def test_down_of_a_missing_cluster_is_fine(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", "down", "--name", "nope"]) == 0
    assert capsys.readouterr().out == "cluster nope: not running, nothing to do\n"


@pytest.mark.parametrize("action", ["kill", "stop", "start", "restart"])
def test_component_action_on_a_missing_cluster(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cluster", action, "etcd", "--name", "nope"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "argocd-chaos: error: cluster 'nope' is not running; "
        "start it with `argocd-chaos cluster up --name nope`\n"
    )


@pytest.mark.parametrize("action", ["up", "down", "status"])
def test_invalid_cluster_name(action: str, capsys: pytest.CaptureFixture[str], offline: None) -> None:
    assert main(["cluster", action, "--name", "Bad_Name"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("argocd-chaos: error: cluster name 'Bad_Name' is not valid")
    assert "lower-case letters, digits and '-'" in err


def test_up_with_another_provider_points_to_embedded(
    capsys: pytest.CaptureFixture[str], offline: None
) -> None:
    assert main(["cluster", "up", "--provider", "kind"]) == 2
    err = capsys.readouterr().err
    assert "`cluster up --provider kind` is not available from the CLI" in err
    assert "Use --provider embedded here." in err


def test_unknown_provider_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["cluster", "up", "--provider", "docker"])
    assert exit_.value.code == 2
    assert "invalid choice: 'docker'" in capsys.readouterr().err


@pytest.mark.usefixtures("offline")
def test_build_with_a_bad_version_fails_before_any_network(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--argocd-version", "junk"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("argocd-chaos: error: Argo CD version 'junk' is not a release tag")
    assert captured.out == ""


@pytest.mark.usefixtures("offline")
def test_build_prints_the_cached_bin_dir(fake_build: FakeBuild, capsys: pytest.CaptureFixture[str]) -> None:
    b = fake_build()
    assert main(["build"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{b.bin}\n"
    assert f"build: cached {b.versions.key}" in captured.err


@pytest.mark.usefixtures("offline")
def test_build_can_print_the_release_name(fake_build: FakeBuild, capsys: pytest.CaptureFixture[str]) -> None:
    fake_build()
    assert main(["build", "--argocd-version", "v3.6.1", "--print", "release"]) == 0
    assert capsys.readouterr().out == "v3.6.1\n"  # what `make matrix` names the reports folder by


def test_build_with_version_and_source_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--argocd-version", "v3.6.1", "--argocd-source", str(tmp_path)]) == 2
    assert "pass --argocd-version or --argocd-source, not both" in capsys.readouterr().err


def test_claims_without_a_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["claims"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "argocd-chaos: error: no ledger at reports/claims.json; "
        "run `make chaos` first (or pass --reports DIR)\n"
    )
    assert main(["claims", "--reports", str(tmp_path / "elsewhere")]) == 2
    assert f"no ledger at {tmp_path / 'elsewhere' / 'claims.json'}" in capsys.readouterr().err


def test_claims_html_writes_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).parent / "report" / "data" / "claims-page"
    for name in ("claims.json", "matrix.json"):
        (tmp_path / name).write_text((data / name).read_text())
    releases = json.loads((data / "matrix.json").read_text())["releases"]

    assert main(["claims", "--html", "--reports", str(tmp_path)]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'claims.html'}\n"
    assert (
        f'data-from="{releases[-2]}" data-to="{releases[-1]}" open' in (tmp_path / "claims.html").read_text()
    )

    assert main(["claims", "--html", "--reports", str(tmp_path), "--diff", releases[0], releases[-1]]) == 0
    assert (
        f'data-from="{releases[0]}" data-to="{releases[-1]}" open' in (tmp_path / "claims.html").read_text()
    )

    assert main(["claims", "--html", "--reports", str(tmp_path), "--diff", releases[0], "v9.9.9"]) == 1
    assert "release v9.9.9 is not in the release matrix" in capsys.readouterr().err


def test_claims_html_of_replays_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    replay = Path(__file__).parent / "report" / "data" / "replay"
    folder = tmp_path / "reproduce" / "shop"
    folder.mkdir(parents=True)
    (folder / "report.json").write_text((replay / "report.json").read_text())

    assert main(["claims", "--html", "--reports", str(tmp_path)]) == 0

    assert capsys.readouterr().out == f"{tmp_path / 'claims.html'}\n"
    assert 'data-replay="shop"' in (tmp_path / "claims.html").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--html"],
            "no ledger at reports/claims.json, no matrix.json and no replay report beside it; "
            "run `make chaos` first (or pass --reports DIR)",
        ),
        (["--diff", "v1", "v2"], "--diff FROM TO chooses the upgrade shown on the page: give it with --html"),
        (
            ["--html", "--compare", "old"],
            "--html writes the page of one reports directory; run --compare separately",
        ),
    ],
)
def test_claims_html_bad_input(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["claims", *args]) == 2
    assert capsys.readouterr().err == f"argocd-chaos: error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_up_without_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], chaos_dirs: object
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the go probe module would go

    assert main(["cluster", "up", "--name", "nogo"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("argocd-chaos: error: Go is not installed or not on PATH")
    assert "https://go.dev/dl/" in err
    assert not (state_root() / "nogo").exists()


# -- a "running" cluster made of one stand-in process ------------------------------------------------


@pytest.fixture
def running_cluster(
    fake_build: FakeBuild, spawn: Spawn, chaos_dirs: object, tmp_path: Path
) -> tuple[Path, ProcessRecord]:
    """State of a cluster named `argocd-chaos` whose only component, `etcd`, is a live sleeper.

    The cluster.json holds what `EmbeddedCluster._save` writes and `EmbeddedCluster.attach` reads.
    """
    build = fake_build()
    state_dir = state_root() / "argocd-chaos"
    state_dir.mkdir(parents=True)
    _, rec = spawn("etcd", [sys.executable, "-c", "import time; time.sleep(60)"])
    extra = {
        "name": "argocd-chaos",
        "build_root": str(build.root),
        "versions": json.loads(build.versions.to_json()),
        "ports": {"etcd": 40001, "api": 40002},
        "kubeconfig": str(state_dir / "kubeconfig"),
        "options": EmbeddedOptions(name="argocd-chaos").__dict__,
        "timings": {"total": 1.5},
        "owner_pid": 1,
    }
    save_records(state_dir / "cluster.json", {"etcd": rec}, extra)
    return state_dir, rec


@pytest.mark.usefixtures("offline")
def test_up_refuses_a_cluster_that_is_already_running(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir, rec = running_cluster

    assert main(["cluster", "up"]) == 2

    err = capsys.readouterr().err
    assert "argocd-chaos: error: cluster 'argocd-chaos' is already running" in err
    assert "argocd-chaos cluster down --name argocd-chaos" in err
    assert rec.alive()  # the running cluster was left alone
    assert (state_dir / "cluster.json").is_file()


def test_status_of_a_running_cluster(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir, _ = running_cluster

    assert main(["cluster", "status"]) == 0

    status = json.loads(capsys.readouterr().out)
    assert status["name"] == "argocd-chaos"
    assert status["state_dir"] == str(state_dir)
    assert status["kubeconfig"] == str(state_dir / "kubeconfig")
    assert status["versions"]["argocd"] == "v3.6.1"
    assert status["ports"] == {"etcd": 40001, "api": 40002}
    assert status["components"] == {"etcd": "running"}


def test_kill_a_component_then_status_reports_it_stopped(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rec = running_cluster

    assert main(["cluster", "kill", "etcd"]) == 0
    assert capsys.readouterr().out == "cluster argocd-chaos: kill etcd: done\n"
    assert not rec.alive()

    assert main(["cluster", "status"]) == 4
    assert json.loads(capsys.readouterr().out)["components"] == {"etcd": "stopped"}


def test_unknown_component_of_a_running_cluster(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rec = running_cluster
    assert main(["cluster", "kill", "etcdd"]) == 2
    assert "argocd-chaos: error: unknown component 'etcdd'; components: etcd, kube-apiserver" in (
        capsys.readouterr().err
    )
    assert rec.alive()


def test_down_stops_the_processes_and_removes_the_state(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir, rec = running_cluster

    assert main(["cluster", "down"]) == 0

    assert capsys.readouterr().out == "cluster argocd-chaos: stopped and removed\n"
    assert not rec.alive()
    assert not state_dir.exists()
    assert main(["cluster", "status"]) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--argocd-cm", "novalue"], "argocd-cm entry 'novalue' must be KEY=VALUE"),
        (["--controller-arg", "x"], "controller argument 'x' must be a flag starting with '--'"),
    ],
)
def test_up_with_bad_settings_fails_before_building(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str], offline: None
) -> None:
    assert main(["cluster", "up", "--name", "ok", *args]) == 2
    assert message in capsys.readouterr().err


def test_images_build_with_a_bad_version_fails_before_any_engine(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no docker, no go: nothing may be started or built
    assert main(["images", "build", "--argocd-version", "junk"]) == 2
    err = capsys.readouterr().err
    assert "not a release tag like v3.6.1" in err


def test_images_build_without_docker_is_one_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert main(["images", "build"]) == 2
    assert "no docker command: install Debian's docker.io" in capsys.readouterr().err


def test_pause_of_a_component_on_a_missing_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["cluster", "pause", "argocd-application-controller", "--seconds", "5", "--name", "nope"]) == 2
    )
    assert "cluster 'nope' is not running" in capsys.readouterr().err


def test_pause_needs_its_seconds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["cluster", "pause", "argocd-application-controller"])
    assert info.value.code == 2
    assert "--seconds" in capsys.readouterr().err


def test_pause_of_a_running_cluster_freezes_then_resumes(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rec = running_cluster
    assert main(["cluster", "pause", rec.name, "--seconds", "0.3"]) == 0
    out = capsys.readouterr().out
    assert f"{rec.name} paused for 0.3s" in out
    assert f"{rec.name} resumed" in out
    assert rec.alive()


def test_pause_refuses_negative_seconds(
    running_cluster: tuple[Path, ProcessRecord], capsys: pytest.CaptureFixture[str]
) -> None:
    _, rec = running_cluster
    assert main(["cluster", "pause", rec.name, "--seconds=-1"]) == 2
    assert "pause seconds must be a number >= 0, got -1.0" in capsys.readouterr().err
