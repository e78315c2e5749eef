"""Argo CD install, controller settings and the fixture git server, at their process boundaries.

Subprocesses (go, kubectl) are faked by replacing `subprocess.run` and recording the exact argv;
the git server's git side is real: the daemon command line and the `ext::` push run with the
host's git against a temporary directory.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.clock import FakeClock
from testkit.git import git, make_work_repo, push_two_revisions_and_clone

from harness._cluster import argocd_install as install
from harness._cluster.argocd_install import (
    CMD_PARAMS_CM,
    INSTALL_FIELD_MANAGER,
    SETTINGS_FIELD_MANAGER,
    SETTINGS_HASH_ANNOTATION,
    ControllerSettings,
    GitServer,
    Kubectl,
)
from harness._cluster.embedded.ports import free_port
from harness._errors import ClusterSetupError, ConfigError, HarnessError
from harness._wait import ExpectationTimeout, TerminalStateError

ARGO_MODULE_DIR = Path.home() / "go" / "pkg" / "mod" / "github.com" / "argoproj" / "argo-cd" / "v3@v3.6.1"


# -- fakes --------------------------------------------------------------------------------------------


@dataclass
class Call:
    argv: list[str]
    kwargs: dict[str, Any]


@dataclass
class FakeRun:
    """Stands in for subprocess.run: records each argv and answers from `handler`."""

    handler: Callable[[list[str], dict[str, Any]], tuple[int, str, str]]
    calls: list[Call] = field(default_factory=list)

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(Call(list(map(str, argv)), kwargs))
        code, out, err = self.handler(list(map(str, argv)), kwargs)
        return subprocess.CompletedProcess(argv, code, out, err)


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeRun]:
    def install_fake(handler: Callable[[list[str], dict[str, Any]], tuple[int, str, str]]) -> FakeRun:
        fake = FakeRun(handler)
        monkeypatch.setattr(subprocess, "run", fake)
        return fake

    return install_fake


def controller_doc(
    env: list[dict[str, Any]] | None = None, image: str = "quay.io/argoproj/argocd:v3.6.1"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "argocd-application-controller"},
        "spec": {
            "replicas": 1,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "argocd-application-controller"}},
                "spec": {
                    "containers": [
                        {"name": "argocd-application-controller", "image": image, "env": env or []},
                    ]
                },
            },
        },
    }


def _ref(env: str, cm: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"configMapKeyRef": {"name": cm, "key": key, "optional": True}}}


ENV = [
    {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "argocd-redis", "key": "auth"}}},
    _ref("ARGOCD_RECONCILIATION_TIMEOUT", "argocd-cm", "timeout.reconciliation"),
    _ref(
        "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS",
        "argocd-cmd-params-cm",
        "controller.self.heal.timeout.seconds",
    ),
    _ref(
        "ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_PLAINTEXT",
        "argocd-cmd-params-cm",
        "controller.repo.server.plaintext",
    ),
    _ref("ARGOCD_CONTROLLER_SHARDING_ALGORITHM", "argocd-cmd-params-cm", "controller.sharding.algorithm"),
]


def install_docs(image: str = "quay.io/argoproj/argocd:v3.6.1") -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "x"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "argocd-cm", "labels": {"app.kubernetes.io/part-of": "argocd"}},
            "data": {"resource.exclusions": "upstream", "timeout.reconciliation": "180s"},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cmd-params-cm"}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "argocd-repo-server"},
            "spec": {},
        },
        controller_doc(ENV, image),
    ]


def write_manifest(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def env_keys() -> install.EnvKeys:
    return install.controller_env_keys([controller_doc(ENV)])


# -- kubectl ------------------------------------------------------------------------------------------


def test_apply_server_side_exact_invocation(fake_run: Callable[..., FakeRun], tmp_path: Path) -> None:
    fake = fake_run(lambda argv, kw: (0, "applied\n", ""))
    k = Kubectl("/usr/bin/kubectl", tmp_path / "kubeconfig", context="staging")
    docs = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}]
    assert k.apply_server_side(docs, field_manager="fm", namespace="argocd", dry_run=True) == "applied\n"
    (call,) = fake.calls
    assert call.argv == [
        "/usr/bin/kubectl",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        "--context=staging",
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=fm",
        "-n",
        "argocd",
        "--dry-run=server",
        "-f",
        "-",
    ]
    assert list(yaml.safe_load_all(call.kwargs["input"])) == docs
    assert call.kwargs["capture_output"]
    assert call.kwargs["text"]


def test_kubectl_failure_quotes_the_command_and_stderr(
    fake_run: Callable[..., FakeRun], tmp_path: Path
) -> None:
    fake_run(lambda argv, kw: (1, "", 'error: the server doesn\'t have a resource type "stages"'))
    with pytest.raises(
        HarnessError, match=r"`/k --kubeconfig=.* get stages` failed \(exit 1\): error: the server"
    ):
        Kubectl("/k", tmp_path / "kc").run("get", "stages")


def test_find_kubectl_is_never_downloaded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"kubectl not found on PATH.*--cluster embedded"):
        install.find_kubectl()
    exe = tmp_path / "kubectl"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert install.find_kubectl() == str(exe)
    with pytest.raises(ConfigError, match="kubectl not found at /nope"):
        install.find_kubectl("/nope")


# -- the manifest -------------------------------------------------------------------------------------


def test_local_manifest_is_used_as_is_and_must_exist(tmp_path: Path) -> None:
    m = write_manifest(tmp_path / "install.yaml", install_docs())
    assert install.install_manifest("v9.9.9", m) == m
    with pytest.raises(ConfigError, match=r"--argocd-manifest .*missing.yaml is not a file"):
        install.install_manifest(None, tmp_path / "missing.yaml")


def test_release_manifest_comes_from_go_mod_download(
    fake_run: Callable[..., FakeRun], tmp_path: Path, chaos_dirs: Any
) -> None:
    module = tmp_path / "mod"
    (module / "manifests").mkdir(parents=True)
    write_manifest(module / "manifests" / "install.yaml", install_docs())
    fake = fake_run(lambda argv, kw: (0, json.dumps({"Dir": str(module)}), ""))
    assert install.install_manifest("3.6.1") == module / "manifests" / "install.yaml"
    (call,) = fake.calls
    assert call.argv[1:] == ["mod", "download", "-json", "github.com/argoproj/argo-cd/v3@v3.6.1"]
    assert Path(call.argv[0]).name == "go"
    assert call.kwargs["cwd"] == chaos_dirs.cache / "probe"
    assert call.kwargs["env"]["GOTOOLCHAIN"] == "local"


def test_release_manifest_is_read_from_the_zip_when_go_is_too_old(
    fake_run: Callable[..., FakeRun], tmp_path: Path, chaos_dirs: Any
) -> None:
    z = tmp_path / "v3.6.1.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("github.com/argoproj/argo-cd/v3@v3.6.1/manifests/install.yaml", "kind: Namespace\n")
    answer = {"Error": "requires go >= 1.27.0 (running go 1.26.8; GOTOOLCHAIN=local)", "Zip": str(z)}
    fake_run(lambda argv, kw: (1, json.dumps(answer), ""))
    path = install.install_manifest("v3.6.1")
    assert path == chaos_dirs.cache / "argocd-install" / "v3.6.1-install.yaml"
    assert path.read_text() == "kind: Namespace\n"


def test_unserved_release_names_both_ways_out(fake_run: Callable[..., FakeRun]) -> None:
    fake_run(lambda argv, kw: (1, json.dumps({"Error": "v9.9.9: 403 Forbidden"}), ""))
    with pytest.raises(
        ConfigError,
        match=r"v9\.9\.9 could not be fetched .*403 Forbidden.*--argocd-version.*--argocd-manifest",
    ):
        install.install_manifest("v9.9.9")


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("quay.io/argoproj/argocd:v3.6.1", "v3.6.1"),
        ("localhost:5000/argocd:v3.5.0@sha256:abc", "v3.5.0"),
        ("quay.io/argoproj/argocd@sha256:abc", None),
        ("localhost:5000/argocd", None),
    ],
)
def test_image_version(image: str, version: str | None) -> None:
    assert install.image_version(image) == version


# -- settings -----------------------------------------------------------------------------------------


def test_parse_flags() -> None:
    assert install.parse_flags(["--a", "1", "--b=2", "--c", "--d=x=y"]) == {
        "a": "1",
        "b": "2",
        "c": "true",
        "d": "x=y",
    }
    with pytest.raises(ConfigError, match="'-x' is not a --flag"):
        install.parse_flags(["-x"])


def test_env_keys_come_from_the_controller_env() -> None:
    assert env_keys() == {
        "ARGOCD_RECONCILIATION_TIMEOUT": ("argocd-cm", "timeout.reconciliation"),
        "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS": (
            "argocd-cmd-params-cm",
            "controller.self.heal.timeout.seconds",
        ),
        "ARGOCD_APPLICATION_CONTROLLER_REPO_SERVER_PLAINTEXT": (
            "argocd-cmd-params-cm",
            "controller.repo.server.plaintext",
        ),
        "ARGOCD_CONTROLLER_SHARDING_ALGORITHM": ("argocd-cmd-params-cm", "controller.sharding.algorithm"),
    }


def test_settings_become_configmap_patches() -> None:
    s = ControllerSettings(
        (
            "--self-heal-timeout-seconds",
            "5",
            "--app-resync=10",
            "--repo-server-plaintext",
            "--sharding-method=legacy",
        ),
        {"resource.exclusions": "[]"},
    )
    cm, params = install.settings_patches(s, env_keys())
    assert cm == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        # --app-resync counts seconds, the variable is a Go duration
        "data": {"resource.exclusions": "[]", "timeout.reconciliation": "10s"},
    }
    assert params["metadata"]["name"] == CMD_PARAMS_CM
    assert params["data"] == {
        "controller.self.heal.timeout.seconds": "5",
        "controller.repo.server.plaintext": "true",
        "controller.sharding.algorithm": "legacy",
    }


def test_no_settings_still_patch_both_configmaps_empty() -> None:
    assert [p["data"] for p in install.settings_patches(ControllerSettings(), env_keys())] == [{}, {}]


def test_unwired_flag_is_an_error_naming_the_settable_ones() -> None:
    with pytest.raises(ConfigError) as err:
        install.settings_patches(ControllerSettings(("--metrics-port=1",)), env_keys())
    msg = str(err.value)
    assert "--metrics-port cannot be set on a real cluster" in msg
    assert "ARGOCD_APPLICATION_CONTROLLER_METRICS_PORT" in msg
    assert "--app-resync, --repo-server-plaintext, --self-heal-timeout-seconds, --sharding-method" in msg


def test_a_key_set_twice_differently_is_an_error() -> None:
    s = ControllerSettings(("--app-resync=10",), {"timeout.reconciliation": "20s"})
    with pytest.raises(ConfigError, match="'timeout.reconciliation' is set twice, to '20s' and"):
        install.settings_patches(s, env_keys())


def test_settings_hash_changes_with_the_settings_only() -> None:
    keys = env_keys()
    a = ControllerSettings(("--self-heal-timeout-seconds=5",))
    assert a.hash(keys) == ControllerSettings(("--self-heal-timeout-seconds", "5")).hash(keys)
    assert a.hash(keys) != ControllerSettings(("--self-heal-timeout-seconds=6",)).hash(keys)
    assert a.hash(keys) != ControllerSettings().hash(keys)
    assert re.fullmatch(r"[0-9a-f]{16}", a.hash(keys))


def test_install_documents_leave_settings_keys_to_the_settings_manager() -> None:
    docs = install_docs()
    s = ControllerSettings(("--app-resync=10",))
    out = install.install_documents(docs, s, env_keys())
    assert docs == install_docs()  # input untouched
    cm = next(d for d in out if d["metadata"]["name"] == "argocd-cm")
    assert cm["data"] == {"resource.exclusions": "upstream"}  # timeout.reconciliation is ours now
    ctrl = install._controller(out)
    assert ctrl["spec"]["template"]["metadata"]["annotations"] == {
        SETTINGS_HASH_ANNOTATION: s.hash(env_keys())
    }


def test_controller_restart_patch() -> None:
    assert install.controller_restart_patch("Deployment", "abc") == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "argocd-application-controller", "namespace": "argocd"},
        "spec": {"template": {"metadata": {"annotations": {SETTINGS_HASH_ANNOTATION: "abc"}}}},
    }


_FLAG_SOURCE = (
    ARGO_MODULE_DIR
    / "cmd"
    / "argocd-application-controller"
    / "commands"
    / "argocd_application_controller.go"
)


@pytest.mark.skipif(
    not _FLAG_SOURCE.is_file(),
    reason="Argo CD v3.6.1 module source not in the Go module cache; `make build` downloads it",
)
def test_flag_table_matches_the_v3_6_1_controller_source() -> None:
    """Every flag the release's manifest wires to a ConfigMap maps to the variable the source reads."""
    src = _FLAG_SOURCE.read_text()
    common = (ARGO_MODULE_DIR / "common" / "common.go").read_text()
    keys = install.controller_env_keys(install.load_documents(ARGO_MODULE_DIR / "manifests" / "install.yaml"))
    checked = 0
    for m in re.finditer(r'Flags\(\)\.(\w+)Var\(&[\w.]+, "([a-z0-9-]+)", (.*)\n', src):
        var_type, flag, rest = m.groups()
        env_m = re.search(r'env\.(\w+)\(("([A-Z0-9_]+)"|common\.(\w+))', rest)
        if not env_m:
            continue
        parser, _, literal, const = env_m.groups()
        env = literal or re.search(rf'\b{const}\s*=\s*"([A-Z0-9_]+)"', common).group(1)  # type: ignore[union-attr]
        if env not in keys:
            continue
        assert install.flag_env(flag) == env, flag
        seconds = var_type.startswith("Int") and parser == "ParseDurationFromEnv"
        assert (install._FLAG_ENV.get(flag, ("", None))[1] == "seconds") == seconds, flag
        checked += 1
    assert checked > 30


# -- rollout ------------------------------------------------------------------------------------------


def deployment(name: str = "argocd-repo-server", **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "generation": 2},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 2, **status},
    }


def statefulset(**status: Any) -> dict[str, Any]:
    return {
        "kind": "StatefulSet",
        "metadata": {"name": "argocd-application-controller", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, **status},
    }


@pytest.mark.parametrize(
    ("obj", "done", "msg"),
    [
        (deployment(updatedReplicas=1, replicas=1, availableReplicas=1), True, "rolled out"),
        (deployment(updatedReplicas=0), False, "0 of 1 replicas updated"),
        (deployment(updatedReplicas=1, replicas=2, availableReplicas=1), False, "1 old replicas pending"),
        (deployment(updatedReplicas=1, replicas=1), False, "0 of 1 updated replicas available"),
        ({**deployment(), "status": {"observedGeneration": 1}}, False, "spec change not yet observed"),
        (
            deployment(
                conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "m"}]
            ),
            None,
            "progress deadline exceeded",
        ),
        (statefulset(readyReplicas=1, currentRevision="a", updateRevision="a"), True, "rolled out"),
        (statefulset(readyReplicas=0), False, "0 of 1 replicas ready"),
        (statefulset(readyReplicas=1, currentRevision="a", updateRevision="b"), False, "at the new revision"),
    ],
)
def test_rollout_status(obj: dict[str, Any], done: bool | None, msg: str) -> None:
    got, text = install.rollout_status(obj)
    assert got is done
    assert msg in text


def test_wait_rolled_out_names_the_workload_still_rolling(clock: FakeClock) -> None:
    workloads = [deployment(updatedReplicas=1, replicas=1, availableReplicas=1), statefulset(readyReplicas=0)]
    with pytest.raises(ExpectationTimeout) as err:
        install.wait_rolled_out(
            lambda: workloads,
            [
                ("Deployment", "argocd-repo-server"),
                ("StatefulSet", "argocd-application-controller"),
                ("Deployment", "x"),
            ],
            namespace="argocd",
            timeout=60,
        )
    msg = str(err.value)
    assert "timed out after 60s waiting for: rollout of Deployment/argocd-repo-server, Deployment/x" in msg
    assert "StatefulSet/argocd-application-controller: 0 of 1 replicas ready" in msg
    assert "Deployment/x: not created" in msg
    assert "argocd-repo-server: " not in msg.split("last observed:")[1]


def test_wait_rolled_out_stops_at_a_failed_rollout(clock: FakeClock) -> None:
    bad = deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    with pytest.raises(TerminalStateError, match="progress deadline exceeded"):
        install.wait_rolled_out(
            lambda: [bad], [("Deployment", "argocd-repo-server")], namespace="argocd", timeout=60
        )
    assert clock.sleeps == []  # no waiting for a rollout that cannot finish


# -- install flow -------------------------------------------------------------------------------------


def _rolled_out() -> list[dict[str, Any]]:
    return [
        deployment(updatedReplicas=1, replicas=1, availableReplicas=1),
        statefulset(readyReplicas=1, currentRevision="a", updateRevision="a"),
    ]


def test_install_applies_settings_first_then_the_manifest(
    fake_run: Callable[..., FakeRun], tmp_path: Path, clock: FakeClock
) -> None:
    m = write_manifest(tmp_path / "install.yaml", install_docs())
    fake = fake_run(lambda argv, kw: (0, "", ""))
    said: list[str] = []
    k = Kubectl("/bin/kubectl", tmp_path / "kc")
    s = ControllerSettings(("--self-heal-timeout-seconds=5",))
    got = install.install_argocd(
        k, _rolled_out, version=None, manifest=m, settings=s, timeout=30, say=said.append
    )
    assert [c.argv for c in fake.calls] == [
        ["/bin/kubectl", f"--kubeconfig={tmp_path / 'kc'}", "apply", "--server-side", "--force-conflicts",
         f"--field-manager={SETTINGS_FIELD_MANAGER}", "-f", "-"],
        ["/bin/kubectl", f"--kubeconfig={tmp_path / 'kc'}", "apply", "--server-side", "--force-conflicts",
         f"--field-manager={INSTALL_FIELD_MANAGER}", "-n", "argocd", "-f", "-"],
    ]  # fmt: skip
    first = list(yaml.safe_load_all(fake.calls[0].kwargs["input"]))
    assert [(d["kind"], d["metadata"]["name"]) for d in first] == [
        ("Namespace", "argocd"),
        ("ConfigMap", "argocd-cm"),
        ("ConfigMap", "argocd-cmd-params-cm"),
    ]
    assert first[2]["data"] == {"controller.self.heal.timeout.seconds": "5"}
    second = list(yaml.safe_load_all(fake.calls[1].kwargs["input"]))
    assert len(second) == len(install_docs())
    assert got.version == "v3.6.1"
    assert got.image == "quay.io/argoproj/argocd:v3.6.1"
    assert got.workloads == ["argocd-repo-server", "argocd-application-controller"]
    assert got.settings_hash == s.hash(env_keys())
    assert said[0] == f"argocd-chaos: installing Argo CD v3.6.1 from {m} into namespace argocd"


def test_install_refuses_a_manifest_of_another_version(
    fake_run: Callable[..., FakeRun], tmp_path: Path
) -> None:
    m = write_manifest(tmp_path / "install.yaml", install_docs("quay.io/argoproj/argocd:v3.5.2"))
    fake = fake_run(lambda argv, kw: (0, "", ""))
    with pytest.raises(
        ConfigError, match=r"installs Argo CD v3\.5\.2 .*but --argocd-version asks for v3\.6\.1"
    ):
        install.install_argocd(
            Kubectl("k", tmp_path), _rolled_out, version="v3.6.1", manifest=m, settings=ControllerSettings(),
            timeout=1, say=print,
        )  # fmt: skip
    assert fake.calls == []


def test_install_rollout_timeout_is_a_setup_error_naming_the_workload(
    fake_run: Callable[..., FakeRun], tmp_path: Path, clock: FakeClock
) -> None:
    m = write_manifest(tmp_path / "install.yaml", install_docs())
    fake_run(lambda argv, kw: (0, "", ""))
    stuck = [deployment(updatedReplicas=1, replicas=1, availableReplicas=1), statefulset(readyReplicas=0)]
    with pytest.raises(ClusterSetupError) as err:
        install.install_argocd(
            Kubectl("/k", tmp_path / "kc"), lambda: stuck, version=None, manifest=m,
            settings=ControllerSettings(), timeout=600, say=lambda _m: None,
        )  # fmt: skip
    msg = str(err.value)
    assert msg.startswith("argocd: Argo CD v3.6.1 did not roll out: timed out after 600s")
    assert "StatefulSet/argocd-application-controller: 0 of 1 replicas ready" in msg
    assert f"`/k --kubeconfig={tmp_path / 'kc'} -n argocd get pods`" in msg


@pytest.mark.skipif(
    not (ARGO_MODULE_DIR / "manifests" / "install.yaml").is_file(),
    reason="Argo CD v3.6.1 module not in the Go module cache; `make build` downloads it",
)
def test_real_v3_6_1_manifest_is_understood() -> None:
    docs = install.load_documents(ARGO_MODULE_DIR / "manifests" / "install.yaml")
    assert install.controller_image(docs) == "quay.io/argoproj/argocd:v3.6.1"
    keys = install.controller_env_keys(docs)
    assert keys["ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS"] == (
        "argocd-cmd-params-cm",
        "controller.self.heal.timeout.seconds",
    )
    assert keys["ARGOCD_RECONCILIATION_TIMEOUT"] == ("argocd-cm", "timeout.reconciliation")
    out = install.install_documents(docs, ControllerSettings(("--self-heal-timeout-seconds=1",)), keys)
    assert {d["kind"] for d in out if d["kind"] in ("Deployment", "StatefulSet")} == {
        "Deployment",
        "StatefulSet",
    }


# -- the git server -----------------------------------------------------------------------------------


def test_git_server_manifests() -> None:
    ns, deploy, svc = install.git_server_manifests(
        "quay.io/argoproj/argocd:v3.6.1", namespace="g", labels={"r": "1"}
    )
    assert (ns["kind"], ns["metadata"]["name"]) == ("Namespace", "g")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["metadata"]["labels"]["r"] == "1"
    (c,) = deploy["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "quay.io/argoproj/argocd:v3.6.1"
    assert c["command"] == [
        "git", "daemon", "--verbose", "--reuseaddr", "--export-all", "--informative-errors",
        "--base-path=/srv/git", "--port=9418", "/srv/git",
    ]  # fmt: skip
    assert deploy["spec"]["strategy"] == {"type": "Recreate"}
    assert svc["spec"]["ports"] == [{"name": "git", "port": 9418, "targetPort": "git", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"]
    assert all(d["metadata"].get("namespace") == "g" for d in (deploy, svc))


@pytest.mark.parametrize(
    ("provider", "path", "url"),
    [
        ("embedded", "/tmp/r/chaos-abc123", "file:///tmp/r/chaos-abc123"),
        ("kind", "/tmp/r/chaos-abc123", "git://argocd-chaos-git.argocd-chaos-git.svc/chaos-abc123.git"),
        ("existing", "/x/chaos-abc123.git", "git://argocd-chaos-git.argocd-chaos-git.svc/chaos-abc123.git"),
    ],
)
def test_repo_url_for(provider: str, path: str, url: str) -> None:
    assert install.repo_url_for(provider, Path(path)) == url


def test_repo_url_for_other_namespace_and_refusals() -> None:
    assert install.repo_url_for("existing", Path("/r/a"), namespace="argocd-chaos-git-abc") == (
        "git://argocd-chaos-git.argocd-chaos-git-abc.svc/a.git"
    )
    with pytest.raises(ConfigError, match="must be absolute"):
        install.repo_url_for("embedded", Path("rel/a"))
    with pytest.raises(ConfigError, match="cannot be served"):
        install.repo_url_for("kind", Path("/r/has space"))
    with pytest.raises(ConfigError, match="no repository URL scheme for provider 'docker'"):
        install.repo_url_for("docker", Path("/r/a"))


def test_ext_url_escapes_spaces_and_percent() -> None:
    assert install.ext_url(["a b", "50%", "c"]) == "ext::a% b 50%% c"


def test_push_argv(tmp_path: Path) -> None:
    g = GitServer(Kubectl("/k", Path("/kc")), namespace="ns")
    argv = g.push_argv(tmp_path / "chaos-abc123")
    assert argv[:5] == ["git", "-c", "protocol.ext.allow=always", "push", "--quiet"]
    assert argv[6] == "HEAD:refs/heads/main"
    assert argv[5] == install.ext_url(
        ["/k", "--kubeconfig=/kc", "exec", "-i", "-n", "ns", "deploy/argocd-chaos-git", "-c", "git-daemon",
         "--", "sh", "-c", install._RECEIVE, "sh", "/srv/git/chaos-abc123.git", "main"]
    )  # fmt: skip


@pytest.fixture
def fake_kubectl(tmp_path: Path) -> Path:
    """A kubectl whose `exec ... -- CMD` runs CMD here: the pod's side of the push, on this host."""
    path = tmp_path / "bin dir" / "kubectl"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def work_repo(tmp_path: Path) -> Path:
    return make_work_repo(tmp_path)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The git server's daemon command line, run with the host's git on a loopback port."""
    base = tmp_path / "srv git"
    base.mkdir()
    port = free_port()
    argv = install.git_daemon_argv(str(base), port)
    argv.insert(-1, "--listen=127.0.0.1")  # the pod listens on all its interfaces; the test host must not
    p = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stderr is not None
        for line in p.stderr:  # the daemon says when it listens; no polling
            if "Ready to rumble" in line:
                break
        else:
            pytest.fail(f"git daemon exited: {p.wait()}")
        yield base, port
    finally:
        p.terminate()
        p.wait(timeout=10)
        if p.stderr is not None:
            p.stderr.close()


def test_push_through_kubectl_exec_then_serve_read_only(
    tmp_path: Path,
    fake_kubectl: Path,
    work_repo: Path,
    daemon: tuple[Path, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, port = daemon
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    server = GitServer(Kubectl(str(fake_kubectl), tmp_path / "kube config"), base=str(base))
    push_two_revisions_and_clone(server, work_repo, f"git://127.0.0.1:{port}/chaos-abc123.git", tmp_path)
    # The first push created the bare repo with HEAD on the pushed branch, which Argo CD's HEAD follows.
    assert (
        git("--git-dir", str(base / "chaos-abc123.git"), "symbolic-ref", "HEAD", cwd=tmp_path)
        == "refs/heads/main"
    )


def test_push_failure_names_the_repo_and_how_to_look(tmp_path: Path, work_repo: Path) -> None:
    broken = tmp_path / "kubectl"
    broken.write_text("#!/bin/sh\necho 'error: pods \"x\" not found' >&2\nexit 1\n")
    broken.chmod(0o755)
    server = GitServer(Kubectl(str(broken), tmp_path / "kc"))
    with pytest.raises(
        HarnessError, match=r"pushing .*chaos-abc123 to the in-cluster git server failed"
    ) as err:
        server.push(work_repo)
    assert "-n argocd-chaos-git get pods" in str(err.value)
