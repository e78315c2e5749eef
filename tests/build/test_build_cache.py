"""The build cache under concurrency and interruption, with `go` faked at the subprocess boundary.

FakeGoCommand answers the go commands `_Builder` runs (`mod edit`, `mod tidy`, `list -m`, `build -o`,
`install`) by creating the files the real command would, and can hold or break one of them.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from testkit.git import git
from testkit.goproxy import argocd_gomod

from harness._build import binaries as _build
from harness._build import versions
from harness._build.binaries import ensure_build, find_build
from harness._build.versions import BuildVersions, parse_argocd_gomod
from harness._errors import BuildError

V214 = BuildVersions("v2.14.21", "v1.31.0", "v0.8.0", "local", argocd_commit="a" * 40)
V213 = BuildVersions("v2.13.9", "v1.31.0", "v0.8.0", "local", argocd_commit="b" * 40)
REAL_RUN = subprocess.run
WAIT = 30  # seconds; a bound on thread hand-offs that take milliseconds, never reached when green


class FakeGoCommand:
    """Stands in for `subprocess.run([go, ...])`; records each command as a tuple of its args."""

    def __init__(self, upstream: Path) -> None:
        self.upstream = upstream  # what `go list -m -f {{.Dir}}` reports for Argo CD
        (upstream / "manifests").mkdir(parents=True)
        (upstream / "manifests" / "install.yaml").write_text("# install\n")
        (upstream / "hack").mkdir()
        for script in _build.ARGOCD_SCRIPTS:
            (upstream / "hack" / script).write_text("#!/bin/sh\n")
        self.calls: list[tuple[str, ...]] = []
        self.hold: str | None = None  # the output name whose build blocks until `release` is set
        self.entered = threading.Event()
        self.release = threading.Event()
        self.interrupt: str | None = None  # the output name whose build is interrupted (Ctrl-C)
        self.fail: str | None = None  # the output name whose build fails with a compile error
        self.unserved: set[str] = set()  # `module@version`s the module proxy answers 403 for

    def __call__(self, cmd: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if cmd[0] != "go":  # git, for source checkouts, runs for real
            return REAL_RUN(cmd, **kw)
        args = tuple(cmd[1:])
        self.calls.append(args)
        cwd = Path(kw.get("cwd", "."))
        out = ""
        if args == ("env", "GOVERSION"):
            out = "go1.26.8\n"
        elif args[:2] == ("mod", "tidy"):
            (cwd / "go.sum").write_text("")
        elif args[:3] == ("list", "-m", "-f") and args[3] == "{{.Version}}":
            out = "v3.5.16\n"
        elif args[:3] == ("list", "-m", "-f") and args[3] == "{{.Dir}}":
            out = f"{self.upstream}\n"
        elif args[0] == "build":
            target = Path(args[args.index("-o") + 1])
            names = [p.rsplit("/", 1)[-1] for p in args if p.startswith("k8s.io/kubernetes/cmd/")]
            made = [target / n for n in names] if str(args[args.index("-o") + 1]).endswith("/") else [target]
            for path in made:
                if path.name == self.hold:
                    self.entered.set()
                    assert self.release.wait(WAIT), "the test never released the held build"
                if path.name == self.interrupt:
                    path.write_bytes(b"half a binary")  # what a killed linker can leave behind
                    raise KeyboardInterrupt
                if path.name == self.fail:
                    err = "# pkg\ncontroller/cache/info.go:51: undefined: settings.ValidateExternalURL\n"
                    return subprocess.CompletedProcess(cmd, 1, "", "go: downloading a\n" * 40 + err)
                path.write_bytes(b"\x7fELF")
                path.chmod(0o755)
        elif args[0] == "install":
            gobin = Path(kw["env"]["GOBIN"])
            (gobin / "kwok").write_bytes(b"\x7fELF")
        return subprocess.CompletedProcess(cmd, 0, out, "")

    def builds_of(self, name: str) -> int:
        return sum(1 for a in self.calls if a[0] == "build" and any(p.endswith(name) for p in a))


@pytest.fixture
def go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chaos_dirs: object) -> FakeGoCommand:
    fake = FakeGoCommand(tmp_path / "argo-cd")
    k8s_mod = tmp_path / "kubernetes.mod"
    k8s_mod.write_text("module k8s.io/kubernetes\n\nreplace k8s.io/api => ./staging/src/k8s.io/api\n")
    crd_dir = tmp_path / "kwok"
    (crd_dir / "kustomize" / "crd" / "bases").mkdir(parents=True)
    (crd_dir / "kustomize" / "crd" / "bases" / "kwok.x-k8s.io_stages.yaml").write_text("# crd\n")

    def probe(args: list[str]) -> str:
        if args[:3] == ["mod", "download", "-json"] and all(
            a.startswith("k8s.io/") and not a.startswith(versions.K8S_MODULE + "@") for a in args[3:]
        ):  # the staging modules of one Kubernetes patch: the ones in fake.unserved fail
            answers = []
            for a in args[3:]:
                path, version = a.split("@")
                err = (
                    {"Error": f"{a}: reading {path}/@v/{version}.zip: 403 Forbidden"}
                    if a in fake.unserved
                    else {}
                )
                answers.append(json.dumps({"Path": path, "Version": version, **err}))
            return "\n".join(answers)
        if args[-1].startswith(versions.K8S_MODULE + "@"):
            return json.dumps({"GoMod": str(k8s_mod)})
        if args[-1].startswith(versions.KWOK_MODULE + "@"):
            return json.dumps({"Dir": str(crd_dir)})
        raise AssertionError(f"unexpected probe {args}")

    monkeypatch.setattr(_build.subprocess, "run", fake)
    monkeypatch.setattr(versions, "go_binary", lambda: "go")
    monkeypatch.setattr(versions, "_go_probe", probe)
    resolved = {"v2.14.21": V214, "v2.13.9": V213}
    monkeypatch.setattr(versions, "resolve", lambda v: (resolved[v], parse_argocd_gomod(argocd_gomod(v))))
    return fake


def test_a_cold_build_installs_a_complete_entry_and_a_shared_control_plane(go: FakeGoCommand) -> None:
    said: list[str] = []
    b = ensure_build("v2.14.21", out=said.append)

    assert b.root == _build.build_dir(V214)
    assert b.root.name == "v2.14.21-v1.31.0"
    assert find_build("v2.14.21") == b
    assert b.versions.etcd == "v3.5.16"
    assert json.loads((b.root / "versions.json").read_text())["argocd"] == "v2.14.21"
    assert not any((b.root.parent / ".staging").iterdir())  # nothing left half-way
    cp = _build.controlplane_dir("v1.31.0", "v0.8.0")
    assert (b.bin / "kube-apiserver").stat().st_ino == (cp / "bin" / "kube-apiserver").stat().st_ino
    build = next(a for a in go.calls if a[0] == "build" and a[-1].endswith("/cmd"))
    assert build[-1] == "github.com/argoproj/argo-cd/v2/cmd"
    assert "build: argocd done in" in "\n".join(said)
    assert said[-1].startswith("build: done in ")


def test_a_second_release_with_the_same_kubernetes_reuses_the_control_plane(go: FakeGoCommand) -> None:
    ensure_build("v2.14.21", out=lambda _m: None)
    said: list[str] = []
    b = ensure_build("v2.13.9", out=said.append)

    assert go.builds_of("kube-apiserver") == 1
    assert go.builds_of("etcd") == 1
    assert go.builds_of("argocd") == 2
    assert any("control plane for Kubernetes v1.31.0 shared from" in m for m in said)
    assert find_build("v2.13.9") == b


def test_an_older_release_entry_lends_its_control_plane(go: FakeGoCommand, fake_build: Any) -> None:
    # A complete entry from before the shared control plane (the first v3.6.1 build's layout).
    fake_build(BuildVersions("v2.13.9", "v1.31.0", "v0.8.0", "local", etcd="v3.5.15"))
    b = ensure_build("v2.14.21", out=lambda _m: None)
    assert go.builds_of("kube-apiserver") == 0
    assert b.versions.etcd == "v3.5.15"


def test_a_kubernetes_patch_the_proxy_does_not_serve_in_full_falls_back_to_the_nearest(
    go: FakeGoCommand,
) -> None:
    # The module proxy here answers 403 for k8s.io/endpointslice@v0.29.6 (Argo CD v2.12.6's pin).
    go.unserved = {"k8s.io/api@v0.31.0", "k8s.io/api@v0.31.1"}
    said: list[str] = []
    b = ensure_build("v2.14.21", out=said.append)

    assert b.root.name == "v2.14.21-v1.31.2"  # v1.31.1 is not served in full either
    assert (b.versions.kubernetes, b.versions.kubernetes_pinned) == ("v1.31.2", "v1.31.0")
    assert json.loads((b.root / "versions.json").read_text())["kubernetes_pinned"] == "v1.31.0"
    assert _build.controlplane_dir("v1.31.2", "v0.8.0").is_dir()
    build = next(a for a in go.calls if a[0] == "build" and "k8s.io/kubernetes/cmd/kube-apiserver" in a)
    assert "gitVersion=v1.31.2" in build[build.index("-ldflags") + 1]
    note = next(m for m in said if "cannot be built here" in m)
    assert "Kubernetes v1.31.0" in note
    assert "k8s.io/api@v0.31.0 (403 Forbidden)" in note
    assert "built from v1.31.2 instead" in note
    assert find_build("v2.14.21") == b
    assert ensure_build("v2.14.21", out=lambda _m: None) == b  # cached: no second look at the proxy


def test_a_kubernetes_minor_the_proxy_serves_no_patch_of_is_one_clear_error(go: FakeGoCommand) -> None:
    go.unserved = {f"k8s.io/api@v0.{v}" for v in ("31.0", "31.1", "31.2", "31.3", "31.4")}
    with pytest.raises(BuildError) as err:
        ensure_build("v2.14.21", out=lambda _m: None)

    msg = str(err.value)
    assert "Kubernetes v1.31.0 (pinned by the release's go.mod) cannot be built" in msg
    assert "k8s.io/api@v0.31.0 (403 Forbidden)" in msg
    assert "tried v1.31.1, v1.31.2, v1.31.3, v1.31.4" in msg
    assert not go.calls or all(a[0] not in ("build", "install") for a in go.calls)  # before any build
    assert find_build("v2.14.21") is None


def test_two_builds_at_once_build_once_and_both_get_the_result(go: FakeGoCommand) -> None:
    go.hold = "argocd"
    results: dict[str, _build.Build] = {}
    errors: list[BaseException] = []
    second_waits = threading.Event()

    def second_say(msg: str) -> None:
        if "another build of v2.14.21-v1.31.0 is running; waiting" in msg:
            second_waits.set()

    def run(name: str, say: Any) -> None:
        try:
            results[name] = ensure_build("v2.14.21", out=say)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    first = threading.Thread(target=run, args=("first", lambda _m: None))
    first.start()
    assert go.entered.wait(WAIT), "the first build never reached the argocd step"
    second = threading.Thread(target=run, args=("second", second_say))
    second.start()
    assert second_waits.wait(WAIT), "the second build did not wait on the entry's lock"
    assert find_build("v2.14.21") is None  # while the first still builds, nothing looks complete
    go.release.set()
    first.join(WAIT)
    second.join(WAIT)

    assert errors == []
    assert results["first"] == results["second"]
    assert go.builds_of("argocd") == 1


def test_an_interrupted_build_leaves_no_entry_and_the_next_build_completes(go: FakeGoCommand) -> None:
    go.interrupt = "argocd"
    with pytest.raises(KeyboardInterrupt):
        ensure_build("v2.14.21", out=lambda _m: None)

    assert find_build("v2.14.21") is None
    assert not _build.build_dir(V214).exists()
    leftover = _build.build_dir(V214).parent / ".staging" / "v2.14.21-v1.31.0"
    assert (leftover / "bin" / "argocd").read_bytes() == b"half a binary"

    go.interrupt = None
    b = ensure_build("v2.14.21", out=lambda _m: None)

    assert find_build("v2.14.21") == b
    assert (b.bin / "argocd").read_bytes() == b"\x7fELF"
    assert not leftover.exists()
    assert go.builds_of("kube-apiserver") == 1  # the control plane finished before the interrupt


def test_a_leftover_incomplete_entry_is_replaced(go: FakeGoCommand) -> None:
    # An entry the old layout left half-built in place (bin/ without versions.json).
    root = _build.build_dir(V214)
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "kube-apiserver").write_bytes(b"half")
    b = ensure_build("v2.14.21", out=lambda _m: None)
    assert (b.bin / "kube-apiserver").read_bytes() == b"\x7fELF"
    assert find_build("v2.14.21") == b


def test_a_failed_build_names_the_module_and_quotes_the_go_error(go: FakeGoCommand) -> None:
    go.fail = "argocd"
    with pytest.raises(BuildError) as err:
        ensure_build("v2.14.21", out=lambda _m: None)

    msg = str(err.value)
    assert "building github.com/argoproj/argo-cd/v2@v2.14.21 failed" in msg
    assert msg.rstrip().endswith("controller/cache/info.go:51: undefined: settings.ValidateExternalURL")
    assert msg.count("go: downloading a") == _build.GO_ERROR_LINES - 2  # only the last lines
    assert find_build("v2.14.21") is None
    assert not _build.build_dir(V214).exists()


def test_a_source_build_points_argocd_and_its_in_tree_gitops_engine_at_the_checkout(
    go: FakeGoCommand, tmp_path: Path
) -> None:
    repo = tmp_path / "argo-cd-src"
    (repo / "gitops-engine").mkdir(parents=True)
    (repo / "go.mod").write_text(argocd_gomod("v3.4.7"))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "release", cwd=repo)
    git("tag", "v3.4.7", cwd=repo)

    b = ensure_build(source=repo, out=lambda _m: None)

    edit = next(
        a for a in go.calls if a[:2] == ("mod", "edit") and "-tool=github.com/argoproj/argo-cd/v3/cmd" in a
    )
    assert "-require=github.com/argoproj/argo-cd/v3@v3.4.7" in edit
    assert f"-replace=github.com/argoproj/argo-cd/v3={repo}" in edit
    assert f"-replace=github.com/argoproj/argo-cd/gitops-engine={repo / 'gitops-engine'}" in edit
    assert b.versions.source == f"{repo}@{git('rev-parse', 'HEAD', cwd=repo)}"
    assert find_build("v3.4.7") is None  # a source build never stands in for the release
    assert ensure_build(source=repo, out=lambda _m: None) == b
    assert go.builds_of("argocd") == 1
