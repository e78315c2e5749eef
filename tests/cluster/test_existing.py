"""The existing provider at its boundaries: kubectl (faked subprocess) and the Kubernetes API (fake HTTP).

The Kubernetes Python client runs for real against a small HTTP server that answers the few API
paths the provider reads, so what is checked is the provider's requests and its reading of real
API responses, not a mocked client.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from testkit.http import reply_json, serving

from harness._argocd.driver import LABEL_RUN
from harness._cluster.existing import ExistingProvider, find_argocd, guard_global_config, sweep
from harness._cluster.provider import ClusterHandle
from harness._cluster.registry import provider_for
from harness._config import HarnessConfig
from harness._errors import ConfigError, HarnessError
from harness._kube import api_client

RUN = "abc123"
CTRL = "/apis/apps/v1/namespaces/argocd/statefulsets/argocd-application-controller"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io"
PROJECT = "/apis/argoproj.io/v1alpha1/namespaces/argocd/appprojects/default"
VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.26",
    "compiler": "gc",
    "platform": "linux/amd64",
}


# -- a fake Kubernetes API over HTTP --------------------------------------------------------------------


@dataclass
class FakeApi:
    """Answers (method, path) from `routes`; everything else is a 404 Status, as the API server says."""

    routes: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def route(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.routes[(method, path)] = (status, body)

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.requests if method in (None, m)]

    def kubeconfig(self, path: Path, context: str = "staging") -> str:
        text = yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": context, "cluster": {"server": self.url}}],
                "users": [{"name": context, "user": {"token": "t"}}],
                "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
                "current-context": context,
            }
        )
        path.write_text(text)
        return text


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            url = urlsplit(self.path)
            api.requests.append((self.command, unquote(self.path)))
            status, body = api.routes.get((self.command, url.path.rstrip("/")), (404, None))
            if body is None:
                body = {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "status": "Failure",
                    "reason": "NotFound",
                    "code": 404,
                }
            reply_json(self, status, body)

        do_GET = do_DELETE = do_PATCH = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        api.url = url
        yield api


def workload(kind: str, name: str, *, ready: int = 1, replicas: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": "argocd", "generation": 1, **extra.pop("metadata", {})},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": extra.pop(
                        "containers", [{"name": name, "image": "quay.io/argoproj/argocd:v3.6.1"}]
                    )
                },
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": ready,
            "currentRevision": "r1",
            "updateRevision": "r1",
        },
    }


CRD_BODY = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "applications.argoproj.io"},
    "spec": {
        "group": "argoproj.io",
        "names": {"kind": "Application", "plural": "applications"},
        "scope": "Namespaced",
        "versions": [{"name": "v1alpha1", "served": True, "storage": True}],
    },
}


def argocd_runs(api: FakeApi, controller: dict[str, Any] | None = None) -> None:
    api.route("GET", "/version", VERSION)
    api.route("GET", CRD, CRD_BODY)
    api.route("GET", CTRL, controller or workload("StatefulSet", "argocd-application-controller"))
    api.route(
        "GET",
        PROJECT,
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject", "metadata": {"name": "default"}},
    )


def git_server_runs(api: FakeApi, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}"
    api.route(
        "GET",
        f"{base}/deployments",
        {"kind": "DeploymentList", "items": [workload("Deployment", "argocd-chaos-git")]},
    )
    api.route("GET", f"{base}/statefulsets", {"kind": "StatefulSetList", "items": []})


# -- faked kubectl ------------------------------------------------------------------------------------


@dataclass
class Recorder:
    calls: list[tuple[list[str], dict[str, Any]]] = field(default_factory=list)

    def argvs(self) -> list[list[str]]:
        return [a for a, _ in self.calls]


@pytest.fixture
def kubectl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An executable named kubectl, first on PATH; its runs are faked by `fake_run`."""
    d = tmp_path / "bin"
    d.mkdir()
    exe = d / "kubectl"
    exe.write_text("#!/bin/sh\nexit 99\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:/usr/bin:/bin")
    return exe


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch, fake_api: FakeApi, tmp_path: Path) -> Callable[..., Recorder]:
    """subprocess.run for kubectl: `config view` prints the fake API's kubeconfig, `apply` succeeds."""

    def install(view_error: str = "") -> Recorder:
        rec = Recorder()
        kubeconfig_text = fake_api.kubeconfig(tmp_path / "user-kubeconfig")

        def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
            argv = [str(a) for a in argv]
            rec.calls.append((argv, kwargs))
            if argv[1:4] == ["config", "view", "--minify"]:
                if view_error:
                    return subprocess.CompletedProcess(argv, 1, "", view_error)
                return subprocess.CompletedProcess(argv, 0, kubeconfig_text, "")
            return subprocess.CompletedProcess(argv, 0, "", "")

        monkeypatch.setattr(subprocess, "run", run)
        return rec

    return install


def cfg(**kw: Any) -> HarnessConfig:
    base: dict[str, Any] = {"provider": "existing", "context": "staging", "run_id": RUN}
    return HarnessConfig(**{**base, **kw})


# -- refusals -----------------------------------------------------------------------------------------


def test_provider_for_existing() -> None:
    assert isinstance(provider_for(cfg()), ExistingProvider)


def test_refuses_without_a_context() -> None:
    with pytest.raises(ConfigError) as err:
        ExistingProvider().acquire(cfg(context=None))
    assert str(err.value) == (
        "--cluster existing needs --context NAME: the harness never falls back to the current kubeconfig "
        "context, so it cannot run against a cluster by accident. List the contexts with "
        "`kubectl config get-contexts`."
    )


def test_unknown_context_names_kubectl_and_how_to_list(
    kubectl: Path, fake_run: Callable[..., Recorder], chaos_dirs: Any
) -> None:
    rec = fake_run(view_error="error: cannot locate context nope")
    with pytest.raises(
        ConfigError, match=r"context 'nope' cannot be used .*cannot locate context nope.*get-contexts"
    ):
        ExistingProvider().acquire(cfg(context="nope"))
    assert rec.argvs() == [
        [str(kubectl), "config", "view", "--minify", "--flatten", "--raw", "--context=nope"]
    ]
    assert not list(chaos_dirs.state.glob("existing.*"))  # no credentials copy left behind


def test_argocd_missing_crd(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.route("GET", "/version", VERSION)
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(ConfigError) as err:
        find_argocd(api_client(tmp_path / "kc"), "staging")
    assert str(err.value) == (
        "Argo CD is not installed in context 'staging': the CustomResourceDefinition "
        "applications.argoproj.io does not exist. Install Argo CD there, or use --cluster kind (installs it) "
        "or --cluster embedded."
    )


def test_argocd_missing_controller(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.route("GET", "/version", VERSION)
    fake_api.route("GET", CRD, CRD_BODY)
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(
        ConfigError, match="there is no argocd-application-controller StatefulSet or Deployment"
    ):
        find_argocd(api_client(tmp_path / "kc"), "staging")
    assert fake_api.paths("GET")[-2:] == [
        CTRL,
        "/apis/apps/v1/namespaces/argocd/deployments/argocd-application-controller",
    ]


def test_argocd_controller_not_ready(fake_api: FakeApi, tmp_path: Path) -> None:
    argocd_runs(fake_api, workload("StatefulSet", "argocd-application-controller", ready=0))
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(
        ConfigError, match=r"StatefulSet/argocd-application-controller .* has 0 of 1 replicas ready"
    ):
        find_argocd(api_client(tmp_path / "kc"), "staging")


def test_forbidden_is_a_permissions_error(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.route("GET", "/version", VERSION)
    fake_api.route("GET", CRD, {"kind": "Status", "code": 403}, status=403)
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(
        ConfigError, match=r"context 'staging' may not read CRD applications.argoproj.io \(HTTP 403\)"
    ):
        find_argocd(api_client(tmp_path / "kc"), "staging")


def test_unreachable_api_server(tmp_path: Path) -> None:
    from harness._cluster.embedded.ports import free_port

    api = FakeApi(url=f"http://127.0.0.1:{free_port()}")
    api.kubeconfig(tmp_path / "kc")
    client_ = api_client(tmp_path / "kc")
    client_.configuration.retries = 0
    with pytest.raises(ConfigError, match="cannot reach the API server of context 'staging'"):
        find_argocd(client_, "staging")


def test_missing_default_project(fake_api: FakeApi, tmp_path: Path) -> None:
    argocd_runs(fake_api)
    del fake_api.routes[("GET", PROJECT)]
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(ConfigError, match="has no AppProject 'default'"):
        find_argocd(api_client(tmp_path / "kc"), "staging")


# -- version ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("controller", "version"),
    [
        (workload("StatefulSet", "argocd-application-controller"), "v3.6.1"),
        (
            workload(
                "StatefulSet",
                "argocd-application-controller",
                containers=[
                    {"name": "sidecar", "image": "example.com/sidecar:9"},
                    {"name": "argocd-application-controller", "image": "ghcr.io/mirror/argocd:v3.5.4"},
                ],
            ),
            "v3.5.4",
        ),
        (
            workload(
                "StatefulSet",
                "argocd-application-controller",
                metadata={"labels": {"app.kubernetes.io/version": "v3.4.2"}},
                containers=[
                    {"name": "argocd-application-controller", "image": "quay.io/argoproj/argocd@sha256:ab"}
                ],
            ),
            "v3.4.2",
        ),
    ],
)
def test_version_from_the_image_tag_else_the_label(
    fake_api: FakeApi, tmp_path: Path, controller: dict[str, Any], version: str
) -> None:
    argocd_runs(fake_api, controller)
    fake_api.kubeconfig(tmp_path / "kc")
    found = find_argocd(api_client(tmp_path / "kc"), "staging")
    assert (found.version, found.controller_kind, found.kubernetes) == (version, "StatefulSet", "v1.37.0")


def test_controller_as_a_deployment(fake_api: FakeApi, tmp_path: Path) -> None:
    argocd_runs(fake_api)
    del fake_api.routes[("GET", CTRL)]
    fake_api.route(
        "GET",
        "/apis/apps/v1/namespaces/argocd/deployments/argocd-application-controller",
        workload("Deployment", "argocd-application-controller", ready=2, replicas=2),
    )
    fake_api.kubeconfig(tmp_path / "kc")
    assert find_argocd(api_client(tmp_path / "kc"), "staging").controller_kind == "Deployment"


# -- acquire and release ------------------------------------------------------------------------------


def test_acquire_uses_the_context_never_owns_and_deploys_a_per_run_git_server(
    kubectl: Path,
    fake_run: Callable[..., Recorder],
    fake_api: FakeApi,
    chaos_dirs: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argocd_runs(fake_api)
    git_server_runs(fake_api, f"argocd-chaos-git-{RUN}")
    rec = fake_run()
    provider = ExistingProvider()
    handle = provider.acquire(cfg())
    assert handle.provider == "existing"
    assert handle.name == "staging"
    assert handle.owned is False
    assert handle.versions == {"argocd": "v3.6.1", "kubernetes": "v1.37.0", "hook_image": "busybox:1.36"}
    assert handle.settings == {"controller_args": "(as deployed)"}
    assert handle.webhook_endpoint is None  # a remote API server may not reach this machine
    kc = chaos_dirs.state / f"existing.staging.{RUN}" / "kubeconfig"
    assert handle.kubeconfig == kc
    assert kc.stat().st_mode & 0o777 == 0o600
    assert kc.parent.stat().st_mode & 0o777 == 0o700
    view, apply_git = rec.argvs()
    assert view == [str(kubectl), "config", "view", "--minify", "--flatten", "--raw", "--context=staging"]
    assert apply_git == [
        str(kubectl), f"--kubeconfig={kc}", "apply", "--server-side", "--force-conflicts",
        "--field-manager=argocd-chaos", "-f", "-",
    ]  # fmt: skip
    docs = list(yaml.safe_load_all(rec.calls[1][1]["input"]))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("Namespace", f"argocd-chaos-git-{RUN}"),
        ("Deployment", "argocd-chaos-git"),
        ("Service", "argocd-chaos-git"),
    ]
    assert all(d["metadata"]["labels"][LABEL_RUN] == RUN for d in docs)
    assert docs[1]["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/argoproj/argocd:v3.6.1"
    assert (
        provider.repo_url(Path("/r/chaos-x1"))
        == f"git://argocd-chaos-git.argocd-chaos-git-{RUN}.svc/chaos-x1.git"
    )
    assert "Argo CD v3.6.1 (StatefulSet/argocd-application-controller" in capsys.readouterr().err
    # Nothing but reads went to the API: the provider changed no Argo CD object.
    assert {m for m, _ in fake_api.requests} == {"GET"}


def test_argocd_version_must_match_what_runs(
    kubectl: Path, fake_run: Callable[..., Recorder], fake_api: FakeApi, chaos_dirs: Any
) -> None:
    argocd_runs(fake_api)
    fake_run()
    with pytest.raises(ConfigError, match=r"runs Argo CD v3\.6\.1, not --argocd-version v3\.5\.0"):
        ExistingProvider().acquire(cfg(argocd_version="v3.5.0"))
    assert not list(chaos_dirs.state.glob("existing.*"))


def test_settings_are_refused_without_allow_global_config(
    kubectl: Path, fake_run: Callable[..., Recorder], fake_api: FakeApi
) -> None:
    argocd_runs(fake_api)
    rec = fake_run()
    with pytest.raises(ConfigError) as err:
        ExistingProvider().acquire(cfg(controller_args=("--self-heal-timeout-seconds=5",)))
    assert str(err.value).startswith(
        "refusing to change global Argo CD settings in context 'staging' (controller flags "
        "['--self-heal-timeout-seconds=5'] and argocd-cm keys []): everyone using that Argo CD would be "
        "affected. Pass --allow-global-config to allow it"
    )
    assert len(rec.calls) == 1  # only `kubectl config view`: nothing was applied


def test_settings_with_allow_global_config_patch_configmaps_and_roll_the_controller(
    kubectl: Path, fake_run: Callable[..., Recorder], fake_api: FakeApi
) -> None:
    env = [
        {
            "name": "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS",
            "valueFrom": {
                "configMapKeyRef": {
                    "name": "argocd-cmd-params-cm",
                    "key": "controller.self.heal.timeout.seconds",
                }
            },
        }
    ]
    ctrl = workload(
        "StatefulSet",
        "argocd-application-controller",
        containers=[
            {"name": "argocd-application-controller", "image": "quay.io/argoproj/argocd:v3.6.1", "env": env}
        ],
    )
    argocd_runs(fake_api, ctrl)
    fake_api.route(
        "GET", "/apis/apps/v1/namespaces/argocd/deployments", {"kind": "DeploymentList", "items": []}
    )
    fake_api.route(
        "GET", "/apis/apps/v1/namespaces/argocd/statefulsets", {"kind": "StatefulSetList", "items": [ctrl]}
    )
    git_server_runs(fake_api, f"argocd-chaos-git-{RUN}")
    rec = fake_run()
    handle = ExistingProvider().acquire(
        cfg(controller_args=("--self-heal-timeout-seconds=5",), allow_global_config=True)
    )
    settings_apply = rec.argvs()[1]
    assert "--field-manager=argocd-chaos-settings" in settings_apply
    docs = list(yaml.safe_load_all(rec.calls[1][1]["input"]))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("ConfigMap", "argocd-cm"),
        ("ConfigMap", "argocd-cmd-params-cm"),
        ("StatefulSet", "argocd-application-controller"),
    ]
    assert docs[1]["data"] == {"controller.self.heal.timeout.seconds": "5"}
    hash_ = docs[2]["spec"]["template"]["metadata"]["annotations"]["argocd-chaos.io/settings-hash"]
    assert handle.settings["settings_hash"] == hash_


def test_guard_global_config() -> None:
    guard_global_config(cfg(allow_global_config=True), "anything")
    with pytest.raises(ConfigError, match=r"\(argocd-cm timeout\.reconciliation\).*--allow-global-config"):
        guard_global_config(cfg(), "argocd-cm timeout.reconciliation")


def _handle(fake_api: FakeApi, tmp_path: Path) -> ClusterHandle:
    fake_api.kubeconfig(tmp_path / "kc")
    return ClusterHandle("existing", "staging", tmp_path / "kc", {}, owned=False)


def test_release_sweeps_only_objects_of_this_run(fake_api: FakeApi, tmp_path: Path) -> None:
    apps = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
    fake_api.route(
        "GET", apps, {"items": [{"metadata": {"name": "chaos-a1"}}, {"metadata": {"name": "chaos-b2"}}]}
    )
    fake_api.route("DELETE", f"{apps}/chaos-a1", {"kind": "Status"})
    fake_api.route(
        "GET", "/api/v1/namespaces", {"kind": "NamespaceList", "items": [{"metadata": {"name": "chaos-a1"}}]}
    )
    fake_api.route("DELETE", "/api/v1/namespaces/chaos-a1", {"kind": "Status"})
    provider = ExistingProvider()
    provider.run_id = RUN
    provider.release(_handle(fake_api, tmp_path), keep=False)
    selector = f"labelSelector={LABEL_RUN}={RUN}"
    assert fake_api.requests == [
        ("GET", f"{apps}?{selector}"),
        ("DELETE", f"{apps}/chaos-a1"),
        ("DELETE", f"{apps}/chaos-b2"),  # already gone (404): fine
        ("GET", f"/api/v1/namespaces?{selector}"),
        ("DELETE", "/api/v1/namespaces/chaos-a1"),
    ]


def test_release_with_keep_touches_nothing(
    fake_api: FakeApi, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = ExistingProvider()
    provider.run_id = RUN
    provider.release(_handle(fake_api, tmp_path), keep=True)
    assert fake_api.requests == []
    assert f"delete namespaces -l {LABEL_RUN}={RUN}" in capsys.readouterr().err


def test_sweep_refuses_an_empty_run_id(fake_api: FakeApi, tmp_path: Path) -> None:
    fake_api.kubeconfig(tmp_path / "kc")
    with pytest.raises(HarnessError, match="refusing to sweep without a run id"):
        sweep(api_client(tmp_path / "kc"), "")
    assert fake_api.requests == []
