"""What the kind and existing providers send to a cluster, validated by a real kube-apiserver.

kind cannot run on this machine (no Docker engine), so the manifests the kind provider generates are
checked where they can be: against the embedded cluster's API server, with server-side dry runs
(`dryRun=All`), which run defaulting, validation and admission (Pod Security included) exactly as
for a real request but persist nothing. Every test works in scratch namespaces it creates and
deletes; the objects in namespace `argocd` are only ever dry-run.
"""

from __future__ import annotations

import copy
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, dynamic
from kubernetes.client.exceptions import ApiException

from harness._cluster import argocd_install as install
from harness._cluster.existing import ExistingProvider
from harness._cluster.kind.hook_commands import SWITCH_VOLUME, switch_configmap, to_real_manifests
from harness._cluster.provider import ClusterHandle
from harness._config import HarnessConfig
from harness._errors import ConfigError
from harness._kube import FIELD_MANAGER, dynamic_client
from harness._scenario.fixtures import FIXTURES_DIR, FixtureApp
from harness._wait import Expectation, Outcome, expect

pytestmark = pytest.mark.cluster

#: Fixtures of plain manifests: a chart's or kustomization's pods are rendered by the repo-server, so
#: their outcome annotations are never translated into commands (README, "The scenario API").
FIXTURES = sorted(
    p.name
    for p in FIXTURES_DIR.iterdir()
    if p.is_dir() and FixtureApp.load(p.name).source_type == "Directory"
)
ARGOCD_IMAGE = "quay.io/argoproj/argocd:v3.6.1"
MANAGED = {"app.kubernetes.io/managed-by": "argocd-chaos"}


@pytest.fixture(scope="module")
def api(chaos_cluster: ClusterHandle) -> Iterator[client.ApiClient]:
    a = chaos_cluster.api_client()
    yield a
    a.close()


@pytest.fixture(scope="module")
def dyn(api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory) -> dynamic.DynamicClient:
    return dynamic_client(api, tmp_path_factory.mktemp("discovery") / "discovery.json")


def _namespace(api: client.ApiClient, prefix: str, labels: dict[str, str]) -> Iterator[str]:
    core = client.CoreV1Api(api)
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={**MANAGED, **labels}))
    )

    def has_default_sa() -> Outcome:
        names = [sa.metadata.name for sa in core.list_namespaced_service_account(name).items]
        return Outcome.simple("default" in names, f"service accounts: {names}")

    # Pods need the namespace's default ServiceAccount, which kube-controller-manager creates.
    expect(Expectation(f"ServiceAccount default in {name}", has_default_sa), timeout=30)
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name)
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture(scope="module")
def scratch(api: client.ApiClient) -> Iterator[str]:
    """Where translated fixture objects are dry-run, as in a test's destination namespace."""
    yield from _namespace(api, "kind-manifests-e2e", {})


@pytest.fixture(scope="module")
def restricted(api: client.ApiClient) -> Iterator[str]:
    """A namespace enforcing the restricted Pod Security Standard, as the git server's namespace does."""
    yield from _namespace(api, "kind-git-e2e", {"pod-security.kubernetes.io/enforce": "restricted"})


def dry_run_create(dyn: dynamic.DynamicClient, obj: dict[str, Any], namespace: str | None) -> Any:
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    body = copy.deepcopy(obj)
    if res.namespaced:
        body["metadata"]["namespace"] = namespace
    return res.create(body=body, namespace=namespace if res.namespaced else None, dry_run="All")


def dry_run_apply(dyn: dynamic.DynamicClient, obj: dict[str, Any]) -> Any:
    res = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    ns = obj["metadata"].get("namespace") if res.namespaced else None
    return res.server_side_apply(
        body=obj, name=obj["metadata"]["name"], namespace=ns, field_manager=FIELD_MANAGER,
        force_conflicts=True, dry_run="All",
    )  # fmt: skip


def pod_from(template: dict[str, Any], name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template.get("metadata", {})},
            "spec": template["spec"]}  # fmt: skip


# -- the git server -----------------------------------------------------------------------------------


def test_git_server_manifests_are_accepted_and_its_pod_is_restricted(
    dyn: dynamic.DynamicClient, restricted: str
) -> None:
    ns, deploy, svc = install.git_server_manifests(ARGOCD_IMAGE, namespace=restricted, labels={"t": "e2e"})
    applied = dry_run_apply(dyn, ns)
    assert applied.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    got = dry_run_apply(dyn, deploy)
    assert got.spec.template.spec.containers[0].command == install.git_daemon_argv()
    assert got.spec.template.spec.securityContext.runAsUser == 999
    assert dry_run_apply(dyn, svc).spec.ports[0].port == 9418
    # Pod Security is enforced on pods, not Deployments: the pod the Deployment would create must pass.
    pod = dry_run_create(dyn, pod_from(deploy["spec"]["template"], "git-e2e"), restricted)
    assert pod.spec.containers[0].image == ARGOCD_IMAGE


def test_restricted_namespace_really_rejects_a_root_pod(dyn: dynamic.DynamicClient, restricted: str) -> None:
    """Control for the test above: the namespace does enforce the restricted standard."""
    root = {
        "spec": {
            "containers": [{"name": "c", "image": "busybox:1.36", "securityContext": {"privileged": True}}]
        }
    }
    with pytest.raises(ApiException) as err:
        dry_run_create(dyn, pod_from(root, "root-e2e"), restricted)
    assert err.value.status == 403
    assert "violates PodSecurity" in str(err.value.body)


# -- translated fixture revisions -----------------------------------------------------------------------


def _job_names(app: FixtureApp) -> list[str]:
    out = []
    for d in app.docs:
        if d["kind"] == "Job":
            meta = d["metadata"]
            out.append(str(meta.get("name") or meta["generateName"].rstrip("-")))
    return out


def variants(fixture: str) -> list[tuple[str, FixtureApp]]:
    """The fixture as committed, and each hook failing, delayed and switched as the suites vary it."""
    app = FixtureApp.load(fixture)
    out = [("as is", app)]
    for job in _job_names(app):
        out.append((f"{job} fails", app.copy().with_hook_outcome(job, "fail", exit_code=3, duration="3s")))
        out.append((f"{job} switched", app.copy().with_hook_switch(job, f"flip-{job}")))
        delayed = app.copy().with_hook_outcome(job, "succeed")
        delayed.find("Job", job)["spec"]["template"]["metadata"]["annotations"][
            "chaos.argocd-chaos.io/start-delay"
        ] = "1s"
        out.append((f"{job} start-delay", delayed))
    return out


@pytest.mark.parametrize("fixture", FIXTURES)
def test_translated_fixture_objects_are_accepted(
    dyn: dynamic.DynamicClient, scratch: str, fixture: str
) -> None:
    checked = 0
    for label, app in variants(fixture):
        for obj in to_real_manifests(app.at_revision(2).docs):
            try:
                got = dry_run_create(dyn, obj, scratch)
            except ApiException as exc:
                pytest.fail(f"{fixture} ({label}): {obj['kind']} rejected: {exc.body}")
            if obj["kind"] == "Job":
                spec = got.spec.template.spec
                assert spec.containers[0].command[:2] == ["sh", "-c"]
                assert spec.restartPolicy == "Never"
                checked += 1
    assert checked >= 4


def test_switch_configmap_and_the_job_that_mounts_it(dyn: dynamic.DynamicClient, scratch: str) -> None:
    cm = switch_configmap("flip-e2e", scratch, exit_code=3, duration="100ms")
    got = dry_run_create(dyn, cm, scratch)
    assert got.to_dict()["data"] == {"exit-code": "3", "duration-seconds": "0.1"}
    app = FixtureApp.load("presync-hook").with_hook_switch("pre-migrate", "flip-e2e")
    job = next(d for d in to_real_manifests(app.docs) if d["kind"] == "Job")
    got_job = dry_run_create(dyn, job, scratch)
    volume = next(v for v in got_job.spec.template.spec.volumes if v.name == SWITCH_VOLUME)
    assert volume.configMap.name == cm["metadata"]["name"]
    # The pod itself, as the Job controller would create it.
    dry_run_create(dyn, pod_from(job["spec"]["template"], "switch-e2e"), scratch)


# -- Argo CD install and settings -----------------------------------------------------------------------


def test_settings_patches_are_accepted_in_argocd(dyn: dynamic.DynamicClient) -> None:
    keys = {
        "ARGOCD_APPLICATION_CONTROLLER_SELF_HEAL_TIMEOUT_SECONDS": (
            "argocd-cmd-params-cm",
            "controller.self.heal.timeout.seconds",
        ),
        "ARGOCD_RECONCILIATION_TIMEOUT": ("argocd-cm", "timeout.reconciliation"),
    }
    settings = install.ControllerSettings(("--self-heal-timeout-seconds=5", "--app-resync=10"))
    for patch in install.settings_patches(settings, keys):
        got = dry_run_apply(dyn, patch)
        assert patch["data"].items() <= (got.to_dict().get("data") or {}).items()


def _install_yaml(handle: ClusterHandle) -> Path | None:
    if handle.bin_dir is None:
        return None
    path = handle.bin_dir.parent / "manifests" / "install.yaml"
    return path if path.is_file() else None


def test_install_invocations_are_accepted_by_the_api_server(chaos_cluster: ClusterHandle) -> None:
    """The two `kubectl apply --server-side` calls of an install, exactly, with --dry-run=server."""
    kubectl = shutil.which("kubectl")
    manifest = _install_yaml(chaos_cluster)
    if kubectl is None or manifest is None:
        pytest.skip("needs kubectl on PATH and the embedded build's install.yaml")
    k = install.Kubectl(kubectl, chaos_cluster.kubeconfig)
    docs = install.load_documents(manifest)
    keys = install.controller_env_keys(docs)
    settings = install.ControllerSettings(("--self-heal-timeout-seconds=5",))
    out = k.apply_server_side(
        [install.namespace_doc("argocd", MANAGED), *install.settings_patches(settings, keys)],
        field_manager=install.SETTINGS_FIELD_MANAGER,
        dry_run=True,
    )
    assert "configmap/argocd-cmd-params-cm serverside-applied (server dry run)" in out
    out = k.apply_server_side(
        install.install_documents(docs, settings, keys),
        field_manager=install.INSTALL_FIELD_MANAGER,
        namespace="argocd",
        dry_run=True,
    )
    assert "statefulset.apps/argocd-application-controller serverside-applied (server dry run)" in out
    assert "deployment.apps/argocd-repo-server serverside-applied (server dry run)" in out


# -- the existing provider against a cluster without Argo CD workloads ------------------------------------


def test_existing_provider_refuses_a_cluster_where_argocd_does_not_run(
    chaos_cluster: ClusterHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The embedded cluster has Argo CD's CRDs but its controller is a process, not a workload."""
    if shutil.which("kubectl") is None:
        pytest.skip("needs kubectl on PATH")
    monkeypatch.setenv("KUBECONFIG", str(chaos_cluster.kubeconfig))
    monkeypatch.setenv("ARGOCD_CHAOS_STATE", str(tmp_path / "state"))
    context = yaml.safe_load(chaos_cluster.kubeconfig.read_text())["current-context"]
    cfg = HarnessConfig(provider="existing", context=context, run_id="e2e000")
    with pytest.raises(ConfigError) as err:
        ExistingProvider().acquire(cfg)
    assert str(err.value).startswith(
        f"Argo CD does not run in namespace 'argocd' of context {context!r}: there is no "
        "argocd-application-controller StatefulSet or Deployment."
    )
    assert not list((tmp_path / "state").glob("existing.*"))  # the credentials copy is gone again
