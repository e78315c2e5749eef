"""The kind provider at its boundaries: docker, kind and kubectl (faked subprocess), the API (fake HTTP).

pytest-kind's `KindCluster` runs for real and issues its own `kind` calls through the faked
subprocess functions, so the tests pin the exact command lines a user's machine will see.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.http import reply_json, serving

import harness._cluster.session
from harness._build import images
from harness._build.images import engine
from harness._chaos.webhook import WebhookEndpoint
from harness._cluster.kind import provider as _kind
from harness._cluster.kind.provider import KIND_CONFIG, KIND_NODE_IMAGE, KIND_VERSION, KindProvider
from harness._cluster.provider import ClusterHandle, Provider
from harness._cluster.registry import check_inputs, provider_for
from harness._config import HarnessConfig
from harness._errors import ClusterSetupError, ConfigError, HarnessError

pytest_plugins = ["pytester"]

NAME = "chaos-kind"
IMAGE_RE = re.compile(r"kindest/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}")


# -- fakes: the API over HTTP, the processes through subprocess ------------------------------------------


@dataclass
class FakeApi:
    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def kubeconfig_text(self) -> str:
        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": f"kind-{NAME}", "cluster": {"server": self.url}}],
                "users": [{"name": f"kind-{NAME}", "user": {"token": "t"}}],
                "contexts": [
                    {"name": f"kind-{NAME}", "context": {"cluster": f"kind-{NAME}", "user": f"kind-{NAME}"}}
                ],
                "current-context": f"kind-{NAME}",
            }
        )


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            api.requests.append(("GET", path))
            status, body = (
                (200, api.routes[("GET", path)]) if ("GET", path) in api.routes else (404, {"code": 404})
            )
            reply_json(self, status, body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as url:
        api.url = url
        yield api


def rolled_out(kind: str, name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"a": name}},
            "template": {"metadata": {"labels": {"a": name}}, "spec": {"containers": [{"name": "c"}]}},
        },
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
            "readyReplicas": 1,
            "currentRevision": "r",
            "updateRevision": "r",
        },
    }


def serve_rolled_out_argocd(api: FakeApi) -> None:
    base = "/apis/apps/v1/namespaces"
    api.routes[("GET", f"{base}/argocd/deployments")] = {
        "items": [rolled_out("Deployment", "argocd-repo-server")]
    }
    api.routes[("GET", f"{base}/argocd/statefulsets")] = {
        "items": [rolled_out("StatefulSet", "argocd-application-controller")]
    }
    api.routes[("GET", f"{base}/argocd-chaos-git/deployments")] = {
        "items": [rolled_out("Deployment", "argocd-chaos-git")]
    }
    api.routes[("GET", f"{base}/argocd-chaos-git/statefulsets")] = {"items": []}


Answer = tuple[int, str, str]


@dataclass
class Machine:
    """The user's machine as the provider sees it: executables on PATH and what they answer."""

    bin: Path
    api: FakeApi
    docker_info: Answer = (0, "28.2.2\n", "")
    cgroup_version: str = "2"
    default_runtime: str = "runc"
    #: Whether the kernel's capability bounding set lacks CAP_SYS_RESOURCE (some VMs).
    lacks_sys_resource: bool = False
    operating_system: str = "Debian GNU/Linux 12 (bookworm)"
    networks: dict[str, str] = field(
        default_factory=lambda: {"kind": '[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]'}
    )
    kind_version: str = "kind v0.33.0 go1.26.8 linux/amd64\n"
    clusters: list[str] = field(default_factory=list)
    local_images: set[str] = field(default_factory=lambda: {"busybox:1.36"})
    fail: dict[str, Answer] = field(default_factory=dict)
    calls: list[list[str]] = field(default_factory=list)
    inputs: list[str | None] = field(default_factory=list)

    def exe(self, name: str) -> str:
        return str(self.bin / name)

    def answer(self, argv: list[str], stdin: str | None) -> Answer:
        self.calls.append(argv)
        self.inputs.append(stdin)
        tool, args = Path(argv[0]).name, argv[1:]
        for prefix, ans in self.fail.items():
            if " ".join([tool, *args]).startswith(prefix):
                return ans
        if tool == "docker" and args == ["info", "--format", "{{.OperatingSystem}}"]:
            return 0, f"{self.operating_system}\n", ""
        if tool == "docker" and args == ["info", "--format", "{{.CgroupVersion}} {{.DefaultRuntime}}"]:
            return 0, f"{self.cgroup_version} {self.default_runtime}\n", ""
        if tool == "docker" and args[:1] == ["info"]:
            return self.docker_info
        if tool == "docker" and args[:2] == ["network", "inspect"]:
            known = args[2] in self.networks
            return (
                (0, self.networks[args[2]] + "\n", "") if known else (1, "", f"network {args[2]} not found")
            )
        if tool == "docker" and args[:2] == ["image", "inspect"]:
            return (0, "sha256:x\n", "") if args[-1] in self.local_images else (1, "", "No such image")
        if tool == "kind" and args == ["version"]:
            return 0, self.kind_version, ""
        if tool == "kind" and args == ["get", "clusters"]:
            return 0, "".join(f"{c}\n" for c in self.clusters), ""
        if tool == "kind" and args[:2] == ["create", "cluster"]:
            kubeconfig = next(a.split("=", 1)[1] for a in args if a.startswith("--kubeconfig="))
            Path(kubeconfig).write_text(self.api.kubeconfig_text())  # what kind writes
            self.clusters.append(NAME)
            return 0, "", ""
        if tool == "kind" and args[:2] == ["get", "kubeconfig"]:
            return 0, self.api.kubeconfig_text(), ""
        if tool in ("kind", "kubectl"):
            return 0, "", ""
        raise AssertionError(f"unexpected command {argv}")


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake_api: FakeApi) -> Machine:
    monkeypatch.chdir(tmp_path)  # relative report paths (the default `reports/`) land in the test's dir
    d = tmp_path / "bin"
    d.mkdir()
    for tool in ("docker", "kind", "kubectl"):
        (d / tool).write_text("#!/bin/sh\nexit 99\n")  # never run: subprocess is faked
        (d / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(d))
    m = Machine(d, fake_api)

    def run(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        argv = [str(a) for a in argv]
        code, out, err = m.answer(argv, kw.get("input"))
        if kw.get("check") and code:
            raise subprocess.CalledProcessError(code, argv, out, err)
        return subprocess.CompletedProcess(argv, code, out, err)

    def check_output(argv: list[str], **kw: Any) -> str:
        return run(argv, check=True, **kw).stdout

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "check_output", check_output)
    monkeypatch.setattr(engine, "lacks_sys_resource", lambda: m.lacks_sys_resource)
    return m


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    """A two-workload install.yaml, so no `go mod download` is involved."""
    docs = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "argocd-cm"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "argocd-repo-server"}},
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "argocd-application-controller"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "argocd-application-controller",
                                "image": "quay.io/argoproj/argocd:v3.6.1",
                            }
                        ]
                    }
                }
            },
        },
    ]
    path = tmp_path / "install.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def cfg(manifest: Path | None = None, **kw: Any) -> HarnessConfig:
    return HarnessConfig(provider="kind", cluster_name=NAME, argocd_manifest=manifest, **kw)


# -- pins ---------------------------------------------------------------------------------------------


def test_pins() -> None:
    assert KIND_VERSION == "v0.33.0"
    assert IMAGE_RE.fullmatch(KIND_NODE_IMAGE)
    assert _kind.node_kubernetes_version() == "v1.37.0"
    assert KIND_CONFIG.is_file()
    assert yaml.safe_load(KIND_CONFIG.read_text())["kind"] == "Cluster"


def test_provider_for_kind() -> None:
    assert isinstance(provider_for(cfg()), KindProvider)


# -- refusals -----------------------------------------------------------------------------------------


def test_no_docker_engine_is_one_clear_error_naming_embedded(machine: Machine, manifest: Path) -> None:
    machine.docker_info = (
        1,
        "",
        "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n",
    )
    with pytest.raises(ConfigError) as err:
        KindProvider().acquire(cfg(manifest))
    assert str(err.value) == (
        f"the kind provider needs a Docker engine, and none answers (`{machine.exe('docker')} info "
        "--format {{.ServerVersion}}`: Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
        "Is the docker daemon running?). Start Docker (or fix access to its socket), or run with "
        "--cluster embedded, which needs no Docker."
    )
    assert machine.calls == [[machine.exe("docker"), "info", "--format", "{{.ServerVersion}}"]]


def test_no_docker_command_names_embedded(machine: Machine) -> None:
    (machine.bin / "docker").unlink()
    with pytest.raises(
        ConfigError, match=r"docker command is not installed.*--cluster embedded, which needs no Docker"
    ):
        KindProvider().acquire(cfg())
    assert machine.calls == []


def test_docker_info_hanging_is_a_clear_error(machine: Machine, monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(argv, kw["timeout"])

    monkeypatch.setattr(subprocess, "run", hang)
    with pytest.raises(ConfigError, match=r"did not answer within 60s.*--cluster embedded"):
        _kind.require_docker_engine()


def test_no_kind_says_how_to_get_it(machine: Machine) -> None:
    (machine.bin / "kind").unlink()
    with pytest.raises(ConfigError) as err:
        KindProvider().acquire(cfg())
    assert str(err.value) == (
        "kind is not installed: build the pinned release with `go install sigs.k8s.io/kind@v0.33.0` "
        "(from the Go module proxy, into $(go env GOPATH)/bin, which must be on PATH) or pass "
        "--kind-path /path/to/kind; or run with --cluster embedded, which needs neither kind nor Docker."
    )
    assert [Path(c[0]).name for c in machine.calls] == ["docker", "docker"]  # nothing downloaded


def test_kind_path_must_be_an_executable(machine: Machine, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"--kind-path .*nope is not an executable file.*go install sigs.k8s.io/kind@"
    ):
        KindProvider().acquire(cfg(kind_path=tmp_path / "nope"))


def test_invalid_cluster_name(machine: Machine) -> None:
    with pytest.raises(ConfigError, match="cluster name 'Bad_Name' is not valid"):
        KindProvider().acquire(HarnessConfig(provider="kind", cluster_name="Bad_Name"))
    assert machine.calls == []


# -- create, reuse, release ----------------------------------------------------------------------------


def test_create_exact_invocations(
    machine: Machine,
    manifest: Path,
    chaos_dirs: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    serve_rolled_out_argocd(machine.api)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    provider = KindProvider()
    handle = provider.acquire(cfg(manifest))
    kc = chaos_dirs.state / f"kind.{NAME}" / "kubeconfig"
    kind, docker, kubectl = machine.exe("kind"), machine.exe("docker"), machine.exe("kubectl")
    assert machine.calls == [
        [docker, "info", "--format", "{{.ServerVersion}}"],
        [docker, "info", "--format", "{{.CgroupVersion}} {{.DefaultRuntime}}"],
        [kind, "version"],
        [kind, "get", "clusters"],  # ours: reuse or create?
        [kind, "get", "clusters"],  # pytest-kind's KindCluster.create
        [kind, "create", "cluster", f"--name={NAME}", f"--kubeconfig={kc}", f"--image={KIND_NODE_IMAGE}",
         "--config", str(kc.parent / "kind-config.yaml")],
        [docker, "image", "inspect", "--format", "{{.Id}}", "busybox:1.36"],
        [kind, "load", "docker-image", "--name", NAME, "busybox:1.36"],
        [docker, "info", "--format", "{{.OperatingSystem}}"],
        [docker, "network", "inspect", "kind", "--format", "{{json .IPAM.Config}}"],
        [kubectl, f"--kubeconfig={kc}", "apply", "--server-side", "--force-conflicts",
         "--field-manager=argocd-chaos-settings", "-f", "-"],
        [kubectl, f"--kubeconfig={kc}", "apply", "--server-side", "--force-conflicts",
         "--field-manager=argocd-chaos-install", "-n", "argocd", "-f", "-"],
        [kubectl, f"--kubeconfig={kc}", "apply", "--server-side", "--force-conflicts",
         "--field-manager=argocd-chaos", "-f", "-"],
    ]  # fmt: skip
    git_docs = list(yaml.safe_load_all(machine.inputs[-1] or ""))
    assert [(d["kind"], d["metadata"]["name"]) for d in git_docs] == [
        ("Namespace", "argocd-chaos-git"),
        ("Deployment", "argocd-chaos-git"),
        ("Service", "argocd-chaos-git"),
    ]
    assert handle.provider == "kind"
    assert handle.name == NAME
    assert handle.owned is True
    assert handle.kubeconfig == kc
    assert kc.stat().st_mode & 0o777 == 0o600
    assert handle.versions == {
        "argocd": "v3.6.1",
        "kubernetes": "v1.37.0",
        "kind": "v0.33.0",
        "kind_pinned": "v0.33.0",
        "kind_node_image": KIND_NODE_IMAGE,
        "kind_images": "upstream (pulled)",
        "hook_image": "busybox:1.36",
    }
    # on a cgroup v2 host with upstream images, the config is the project's as it is
    assert yaml.safe_load((kc.parent / "kind-config.yaml").read_text()) == yaml.safe_load(
        KIND_CONFIG.read_text()
    )
    assert handle.settings["controller_args"] == "(defaults)"
    assert handle.webhook_endpoint == WebhookEndpoint(host="172.18.0.1", bind="172.18.0.1")
    assert handle.settings["webhook_endpoint"] == "172.18.0.1 (bound on 172.18.0.1)"
    assert handle.boot_seconds is not None
    err = capsys.readouterr().err
    assert (
        f"kind v0.33.0 ({kind}); pinned kind v0.33.0, node image {KIND_NODE_IMAGE}; Docker engine 28.2.2 "
        "(cgroup v2, runtime runc)" in err
    )
    assert f"export KUBECONFIG={kc}" in err
    assert "warning" not in err
    assert not (work / ".pytest-kind").exists()  # pytest-kind's scratch dir went to the state dir
    assert (
        provider.repo_url(Path("/r/chaos-a1")) == "git://argocd-chaos-git.argocd-chaos-git.svc/chaos-a1.git"
    )

    provider.release(handle, keep=False)
    assert machine.calls[-1] == [kind, "delete", "cluster", f"--name={NAME}", f"--kubeconfig={kc}"]
    assert not kc.parent.exists()


def test_reuse_of_a_running_cluster_by_name(
    machine: Machine, manifest: Path, chaos_dirs: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.clusters = ["other", NAME]
    provider = KindProvider()
    handle = provider.acquire(cfg(manifest))
    kind = machine.exe("kind")
    kc = chaos_dirs.state / f"kind.{NAME}" / "kubeconfig"
    assert [kind, "get", "kubeconfig", f"--name={NAME}"] in machine.calls
    assert not any(c[1:3] == ["create", "cluster"] for c in machine.calls)
    assert handle.owned is False
    assert kc.read_text() == machine.api.kubeconfig_text()
    assert kc.stat().st_mode & 0o777 == 0o600
    n = len(machine.calls)
    provider.release(handle, keep=False)
    assert len(machine.calls) == n  # a reused cluster is left running
    err = capsys.readouterr().err
    assert f"reusing running kind cluster {NAME!r}" in err
    assert (
        f"keeping kind cluster {NAME!r}; export KUBECONFIG={kc}; "
        f"delete it with `kind delete cluster --name {NAME}`" in err
    )


def test_keep_cluster_leaves_an_owned_cluster_running(machine: Machine, manifest: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    provider = KindProvider()
    handle = provider.acquire(cfg(manifest))
    n = len(machine.calls)
    provider.release(handle, keep=True)
    assert len(machine.calls) == n
    assert handle.kubeconfig.is_file()


def test_another_kind_version_is_a_warning(
    machine: Machine, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.kind_version = "kind v0.31.0 go1.25.5 linux/amd64\n"
    handle = KindProvider().acquire(cfg(manifest))
    assert handle.versions["kind"] == "v0.31.0"
    assert "warning: the node image is published for kind v0.33.0" in capsys.readouterr().err


def test_kind_path_is_used_instead_of_path(machine: Machine, manifest: Path, tmp_path: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    mine = tmp_path / "tools" / "kind"
    mine.parent.mkdir()
    mine.write_text("#!/bin/sh\nexit 99\n")
    mine.chmod(0o755)
    (machine.bin / "kind").unlink()
    KindProvider().acquire(cfg(manifest, kind_path=mine))
    assert [str(mine), "version"] in machine.calls


def test_image_not_local_is_pulled_by_the_node(
    machine: Machine, manifest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.local_images = set()
    KindProvider().acquire(cfg(manifest))
    assert not any(c[1:3] == ["load", "docker-image"] for c in machine.calls)
    assert "busybox:1.36 is not in the local Docker images; the node pulls it" in capsys.readouterr().err


def test_failed_create_is_a_setup_error(machine: Machine, manifest: Path) -> None:
    machine.fail["kind create cluster"] = (1, "", "ERROR: failed to create cluster")
    with pytest.raises(
        ClusterSetupError, match=r"kind: `.*kind create cluster --name=chaos-kind .*` failed \(exit 1\)"
    ):
        KindProvider().acquire(cfg(manifest))


def test_failed_install_exports_logs_and_deletes_the_new_cluster(
    machine: Machine, manifest: Path, tmp_path: Path
) -> None:
    machine.fail["kubectl"] = (1, "", "error: unable to recognize")
    reports = tmp_path / "reports"
    with pytest.raises(HarnessError, match="error: unable to recognize"):
        KindProvider().acquire(cfg(manifest, reports_dir=reports))
    kind = machine.exe("kind")
    assert machine.calls[-2] == [kind, "export", "logs", str(reports / "kind-logs"), f"--name={NAME}"]
    assert machine.calls[-1][:4] == [kind, "delete", "cluster", f"--name={NAME}"]


def test_failed_install_keeps_the_cluster_when_asked(machine: Machine, manifest: Path) -> None:
    machine.fail["kubectl"] = (1, "", "error: x")
    with pytest.raises(HarnessError):
        KindProvider().acquire(cfg(manifest, keep_cluster="on-failure"))
    assert not any(c[1:3] in (["delete", "cluster"], ["export", "logs"]) for c in machine.calls)


def test_failed_install_on_a_reused_cluster_leaves_it_alone(machine: Machine, manifest: Path) -> None:
    machine.clusters = [NAME]
    machine.fail["kubectl"] = (1, "", "error: x")
    with pytest.raises(HarnessError):
        KindProvider().acquire(cfg(manifest))
    assert not any(c[1:3] == ["delete", "cluster"] for c in machine.calls)


def test_export_logs(
    machine: Machine, manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    serve_rolled_out_argocd(machine.api)
    provider = KindProvider()
    assert provider.export_logs(tmp_path / "x") is None  # nothing acquired yet
    provider.acquire(cfg(manifest))
    dest = tmp_path / "reports" / "kind-logs"
    assert provider.export_logs(dest) == dest
    assert machine.calls[-1] == [machine.exe("kind"), "export", "logs", str(dest), f"--name={NAME}"]
    machine.fail["kind export logs"] = (1, "", "ERROR: unknown cluster")
    assert provider.export_logs(dest) is None  # diagnostics never raise
    assert "warning: `" in capsys.readouterr().err


# -- the plugin calls export_logs on a failed session ---------------------------------------------------


class RecordingProvider(Provider):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        return ClusterHandle("kind", NAME, Path("/nonexistent/kubeconfig"), {"argocd": "v3.6.1"}, owned=True)

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        self.log.append(f"release keep={keep}")

    def export_logs(self, dest: Path) -> Path:
        self.log.append(f"export {dest}")
        return dest


@pytest.mark.parametrize(
    ("body", "expected"),
    [("assert False", ["export reports/kind-logs", "release keep=False"]), ("pass", ["release keep=False"])],
)
def test_plugin_exports_kind_logs_only_when_the_session_failed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, body: str, expected: list[str]
) -> None:
    log: list[str] = []
    monkeypatch.setattr(harness._cluster.session, "provider_for", lambda cfg: RecordingProvider(log))
    for var in ("ARGOCD_CHAOS_CLUSTER", "ARGOCD_CHAOS_ARGOCD_VERSION"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(f"def test_one(chaos_cluster):\n    {body}\n")
    pytester.runpytest("-p", "no:pytest-kind", "-p", "no:cacheprovider", "--cluster", "kind")
    assert log == expected


def test_plugin_passes_the_new_options(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    out = tmp_path / "seen.json"
    monkeypatch.setenv("CHAOS_OUT", str(out))
    pytester.makepyfile(
        """
        def test_config(chaos_config):
            import json, os
            seen = {"kind_path": str(chaos_config.kind_path), "manifest": str(chaos_config.argocd_manifest),
                    "allow": chaos_config.allow_global_config, "run_id": chaos_config.run_id}
            with open(os.environ["CHAOS_OUT"], "w") as f:
                json.dump(seen, f)
        """
    )
    result = pytester.runpytest(
        "-p", "no:pytest-kind", "-p", "no:cacheprovider", "--kind-path", "/opt/kind",
        "--argocd-manifest", "i.yaml", "--allow-global-config",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    seen = json.loads(out.read_text())
    assert seen["kind_path"] == "/opt/kind"
    assert seen["manifest"] == "i.yaml"
    assert seen["allow"] is True
    assert re.fullmatch(r"[0-9a-f]{6}", seen["run_id"])


def test_webhook_host_option_replaces_the_gateway(machine: Machine, manifest: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    provider = KindProvider()
    handle = provider.acquire(cfg(manifest, webhook_host="10.1.2.3"))
    assert handle.webhook_endpoint == WebhookEndpoint(host="10.1.2.3", bind="10.1.2.3")
    assert not [c for c in machine.calls if c[1:3] == ["network", "inspect"]]
    provider.release(handle, keep=False)


def test_kind_network_without_a_gateway_fails_setup_and_deletes_the_cluster(
    machine: Machine, manifest: Path
) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.networks["kind"] = "[]"
    with pytest.raises(ClusterSetupError, match="Docker network 'kind' has no IPv4 gateway"):
        KindProvider().acquire(cfg(manifest))
    assert machine.calls[-1][1:3] == ["delete", "cluster"]


def _kind_config_of(machine: Machine) -> dict[str, Any]:
    create = next(c for c in machine.calls if c[1:3] == ["create", "cluster"])
    return dict(yaml.safe_load(Path(create[create.index("--config") + 1]).read_text()))


def test_cgroup_v1_host_gets_the_kubelet_patch(machine: Machine, manifest: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.cgroup_version = "1"
    KindProvider().acquire(cfg(manifest))
    config = _kind_config_of(machine)
    patches = [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]]
    assert patches == [{"kind": "KubeletConfiguration", "failCgroupV1": False}]
    assert "networking" not in config  # upstream images keep kindnetd


def test_engine_without_the_runc_wrapper_is_refused_where_the_kernel_needs_it(
    machine: Machine, manifest: Path
) -> None:
    machine.lacks_sys_resource = True
    with pytest.raises(ConfigError, match=r"withholds CAP_SYS_RESOURCE.*--default-runtime=nosysres"):
        KindProvider().acquire(cfg(manifest))
    assert not any(c[1:3] == ["create", "cluster"] for c in machine.calls)


def test_engine_with_the_runc_wrapper_is_used(machine: Machine, manifest: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    machine.lacks_sys_resource = True
    machine.default_runtime = engine.WRAPPER_RUNTIME
    KindProvider().acquire(cfg(manifest))
    assert any(c[1:3] == ["create", "cluster"] for c in machine.calls)


LOCAL_APPS = (
    "busybox:1.36",
    "quay.io/argoproj/argocd:v3.6.1",
    "public.ecr.aws/docker/library/redis:8.10.1-alpine",
)


def _local_images(tmp_path: Path) -> images.LocalImages:
    kind = tmp_path / "cache" / "kind"
    kind.parent.mkdir(parents=True, exist_ok=True)
    kind.write_text("#!/bin/sh\nexit 99\n")
    kind.chmod(0o755)
    node = "argocd-chaos/kind-node:v1.37.0"
    return images.LocalImages(
        "v3.6.1",
        "v1.37.0",
        node,
        LOCAL_APPS,
        {t: f"sha256:{i}" for i, t in enumerate((node, *LOCAL_APPS))},
        kind,
    )


def test_local_images_make_the_cluster_from_the_local_node_image(
    machine: Machine, manifest: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve_rolled_out_argocd(machine.api)
    local = _local_images(tmp_path)
    monkeypatch.setattr(images, "find_images", lambda version, docker: local)
    machine.cgroup_version = "1"
    handle = KindProvider().acquire(cfg(manifest, kind_local_images=True))
    create = next(c for c in machine.calls if c[1:3] == ["create", "cluster"])
    assert create[0] == str(local.kind)  # the kind binary the images were built for
    assert "--image=argocd-chaos/kind-node:v1.37.0" in create
    config = _kind_config_of(machine)
    assert config["networking"] == {"disableDefaultCNI": True}  # the node image's static CNI
    assert [yaml.safe_load(p) for p in config["kubeadmConfigPatches"]] == [
        {"kind": "KubeletConfiguration", "failCgroupV1": False}
    ]
    loaded = [c[-1] for c in machine.calls if c[1:3] == ["load", "docker-image"]]
    assert loaded == list(LOCAL_APPS)
    install = next(
        i
        for c, i in zip(machine.calls, machine.inputs, strict=True)
        if "--field-manager=argocd-chaos-install" in c
    )
    policies = {
        c["imagePullPolicy"]
        for d in yaml.safe_load_all(install or "")
        for c in (((d.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers", [])
    }
    assert policies == {"IfNotPresent"}
    assert handle.versions["kind_node_image"] == "argocd-chaos/kind-node:v1.37.0"
    assert handle.versions["kind_images"] == "local (argocd-chaos images build)"
    assert handle.versions["kubernetes"] == "v1.37.0"


def test_local_images_not_built_is_one_error_naming_the_command(
    machine: Machine, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "find_images", lambda version, docker: None)
    with pytest.raises(ConfigError, match=r"argocd-chaos images build --argocd-version v3.6.1"):
        KindProvider().acquire(cfg(manifest, kind_local_images=True, argocd_version="v3.6.1"))
    assert not any(c[1:3] == ["create", "cluster"] for c in machine.calls)


def test_node_image_option_replaces_the_pinned_one(machine: Machine, manifest: Path) -> None:
    serve_rolled_out_argocd(machine.api)
    KindProvider().acquire(cfg(manifest, kind_node_image="mine/node:v1.37.0"))
    create = next(c for c in machine.calls if c[1:3] == ["create", "cluster"])
    assert "--image=mine/node:v1.37.0" in create


def test_kind_options_are_refused_with_another_provider() -> None:
    with pytest.raises(ConfigError, match="options of the kind provider"):
        check_inputs(HarnessConfig(provider="embedded", kind_local_images=True))
