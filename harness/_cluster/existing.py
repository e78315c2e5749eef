"""The existing provider: the suites against an Argo CD that already runs in a kubeconfig context.

For staging clusters and incident reproduction. Such a cluster is somebody else's, so the provider
is careful in ways the others need not be:

* It runs only with an explicit `--context`: falling back to the current context could aim the
  suites at whatever cluster the shell last pointed at.
* It checks that Argo CD runs there (the `applications.argoproj.io` CRD, a ready
  `argocd-application-controller` in namespace `argocd`, the `default` AppProject the suites use)
  and reads its version from the controller's image tag, falling back to the
  `app.kubernetes.io/version` label Helm charts set.
* It never owns the cluster. Everything it creates carries the run id label
  (`argocd-chaos.io/run-id`, as every app the suites create does), and releasing it only sweeps
  Applications and namespaces with that label: the fixture git server lives in a namespace named
  and labelled by the run, so two runs on one cluster never share or delete each other's.
* It never changes settings every user of that Argo CD shares (argocd-cm, argocd-cmd-params-cm,
  the controller's pods) unless `--allow-global-config` is given; `guard_global_config` is the
  one gate for that. Settings it was allowed to change are not restored afterwards.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.driver import GROUP, LABEL_RUN, PLURAL, VERSION
from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._build.versions import normalise_version
from harness._cluster import argocd_install as install
from harness._cluster.kind.hook_commands import HOOK_IMAGE
from harness._cluster.provider import ClusterHandle, Provider, configured_webhook_endpoint, say
from harness._cluster.real_repos import RealClusterRepos
from harness._config import HarnessConfig
from harness._errors import ConfigError, HarnessError
from harness._kube import api_client
from harness._paths import state_root

APPLICATION_CRD: Final = f"{PLURAL}.{GROUP}"
VERSION_LABEL: Final = "app.kubernetes.io/version"
SETTINGS_ROLLOUT_TIMEOUT: Final = 300.0
GIT_SERVER_TIMEOUT: Final = 300.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def require_context(cfg: HarnessConfig) -> str:
    if not cfg.context:
        raise ConfigError(
            "--cluster existing needs --context NAME: the harness never falls back to the current "
            "kubeconfig context, so it cannot run against a cluster by accident. List the contexts with "
            "`kubectl config get-contexts`."
        )
    return cfg.context


def guard_global_config(cfg: HarnessConfig, change: str) -> None:
    """Raise unless the user allowed changes that every user of this Argo CD would see."""
    if not cfg.allow_global_config:
        raise ConfigError(
            f"refusing to change global Argo CD settings in context {cfg.context!r} ({change}): everyone "
            "using that Argo CD would be affected. Pass --allow-global-config to allow it, or run on a "
            "cluster the harness owns (--cluster kind or --cluster embedded)."
        )


def context_kubeconfig(kubectl: str, context: str, dest: Path) -> Path:
    """A self-contained kubeconfig holding only `context` (as its current context), mode 0600.

    `kubectl config view --minify --flatten --raw` resolves KUBECONFIG lists and relative file
    paths the way every other kubectl call would; the handle's API clients then cannot reach
    any other context.
    """
    argv = [kubectl, "config", "view", "--minify", "--flatten", "--raw", f"--context={context}"]
    p = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if p.returncode != 0 or not p.stdout.strip():
        raise ConfigError(
            f"kubeconfig context {context!r} cannot be used (`{' '.join(argv)}`: "
            f"{p.stderr.strip() or 'no output'}). List the contexts with `kubectl config get-contexts`."
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.parent.chmod(0o700)
    dest.touch(mode=0o600, exist_ok=True)
    dest.chmod(0o600)
    dest.write_text(p.stdout)
    return dest


@dataclass(frozen=True)
class FoundArgoCD:
    version: str
    image: str
    controller_kind: str
    kubernetes: str


def _api_error(context: str, what: str, exc: ApiException) -> ConfigError:
    if exc.status in (401, 403):
        return ConfigError(
            f"context {context!r} may not {what} (HTTP {exc.status}); the existing provider needs to read "
            "CRDs, and Argo CD's workloads and AppProjects in namespace argocd."
        )
    return ConfigError(f"context {context!r}: cannot {what} (HTTP {exc.status}: {exc.reason})")


def find_argocd(api: client.ApiClient, context: str, namespace: str = ARGOCD_NAMESPACE) -> FoundArgoCD:
    """Prove Argo CD runs in the context and say which version; a ConfigError says what is missing."""
    missing = "Install Argo CD there, or use --cluster kind (installs it) or --cluster embedded."
    try:
        k8s = str(client.VersionApi(api).get_code().git_version)
    except ApiException as exc:
        raise _api_error(context, "read the server version", exc) from None
    except Exception as exc:  # urllib3 connection errors: the cluster is unreachable
        raise ConfigError(f"cannot reach the API server of context {context!r}: {exc}") from None
    try:
        client.ApiextensionsV1Api(api).read_custom_resource_definition(APPLICATION_CRD)
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(
                f"Argo CD is not installed in context {context!r}: the CustomResourceDefinition "
                f"{APPLICATION_CRD} does not exist. {missing}"
            ) from None
        raise _api_error(context, f"read CRD {APPLICATION_CRD}", exc) from None
    workload, kind = _controller(api, context, namespace)
    if workload is None:
        raise ConfigError(
            f"Argo CD does not run in namespace {namespace!r} of context {context!r}: there is no "
            f"{install.CONTROLLER} StatefulSet or Deployment. The suites create their Applications in "
            f"namespace {namespace!r}. {missing}"
        )
    want = workload.spec.replicas if workload.spec.replicas is not None else 1
    ready = (workload.status.ready_replicas or 0) if workload.status else 0
    if want < 1 or ready < want:
        raise ConfigError(
            f"Argo CD's {kind}/{install.CONTROLLER} in context {context!r} has {ready} of {want} replicas "
            f"ready; the suites need a running controller (`kubectl --context {context} -n {namespace} "
            f"describe {kind.lower()} {install.CONTROLLER}`)."
        )
    containers = workload.spec.template.spec.containers
    container = next((c for c in containers if c.name == install.CONTROLLER), containers[0])
    image = str(container.image)
    version = install.image_version(image) or (workload.metadata.labels or {}).get(VERSION_LABEL) or "unknown"
    try:
        client.CustomObjectsApi(api).get_namespaced_custom_object(
            GROUP, VERSION, namespace, "appprojects", "default"
        )
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(
                f"Argo CD in context {context!r} has no AppProject 'default' in namespace {namespace!r}; "
                "the suites' Applications use it (argocd-server creates it on start)."
            ) from None
        raise _api_error(context, "read AppProject default", exc) from None
    return FoundArgoCD(version=version, image=image, controller_kind=kind, kubernetes=k8s)


def _controller(api: client.ApiClient, context: str, namespace: str) -> tuple[Any, str]:
    apps = client.AppsV1Api(api)
    for kind, read in (
        ("StatefulSet", apps.read_namespaced_stateful_set),
        ("Deployment", apps.read_namespaced_deployment),
    ):
        try:
            return read(install.CONTROLLER, namespace), kind
        except ApiException as exc:
            if exc.status != 404:
                raise _api_error(context, f"read {kind} {install.CONTROLLER}", exc) from None
    return None, ""


def sweep(api: client.ApiClient, run_id: str, namespace: str = ARGOCD_NAMESPACE) -> list[str]:
    """Delete the Applications and namespaces labelled with this run id; returns what was deleted.

    Applications go first, so their resources finalizer removes what they deployed while the
    destination namespaces still exist.
    """
    if not run_id:
        raise HarnessError(
            "refusing to sweep without a run id: the selector would not be limited to this run"
        )
    selector = f"{LABEL_RUN}={run_id}"
    co = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    deleted: list[str] = []
    apps = cast(
        dict[str, Any],
        co.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, label_selector=selector),
    )
    for app in apps.get("items", []):
        name = app["metadata"]["name"]
        if _deleted(lambda n=name: co.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, n)):
            deleted.append(f"Application/{name}")
    for ns in core.list_namespace(label_selector=selector).items:
        name = ns.metadata.name if ns.metadata else None
        if not name:
            continue
        if _deleted(lambda n=name: core.delete_namespace(n)):
            deleted.append(f"Namespace/{name}")
    return deleted


def _deleted(delete: Any) -> bool:
    try:
        delete()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


class ExistingProvider(RealClusterRepos, Provider):
    """Argo CD in a kubeconfig context, used but never owned."""

    def __init__(self) -> None:
        self.run_id = ""
        self.git = None
        self.state: Path | None = None

    def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
        context = require_context(cfg)
        if not cfg.run_id:
            raise ConfigError(
                "the existing provider needs a run id to label what it creates (HarnessConfig.run_id)"
            )
        self.run_id = cfg.run_id
        kubectl_path = install.find_kubectl()
        # The context's credentials, copied for the run's API clients: removed again on release.
        state = state_root() / f"existing.{_UNSAFE.sub('_', context)}.{cfg.run_id}"
        self.state = state
        try:
            return self._acquire(cfg, context, kubectl_path, state)
        except BaseException:
            shutil.rmtree(self.state, ignore_errors=True)
            raise

    def _acquire(self, cfg: HarnessConfig, context: str, kubectl_path: str, state: Path) -> ClusterHandle:
        kubeconfig = context_kubeconfig(kubectl_path, context, state / "kubeconfig")
        api = api_client(kubeconfig)
        try:
            found = find_argocd(api, context)
            say(
                f"argocd-chaos: Argo CD {found.version} ({found.controller_kind}/{install.CONTROLLER}, "
                f"image {found.image}) on Kubernetes {found.kubernetes} in context {context!r}"
            )
            if cfg.argocd_version and normalise_version(cfg.argocd_version) != found.version:
                raise ConfigError(
                    f"context {context!r} runs Argo CD {found.version}, not --argocd-version "
                    f"{cfg.argocd_version}; the existing provider tests what runs there: "
                    "drop --argocd-version or pick another context."
                )
            kubectl = install.Kubectl(kubectl_path, kubeconfig)
            settings = install.ControllerSettings(tuple(cfg.controller_args), dict(cfg.argocd_cm))
            settings_hash = self._apply_settings(cfg, kubectl, api, found, settings)
            git_ns = f"{install.GIT_NAMESPACE}-{cfg.run_id}"
            self.git = install.GitServer(kubectl, namespace=git_ns)
            self.git.deploy(
                found.image,
                labels={LABEL_RUN: cfg.run_id},
                timeout=GIT_SERVER_TIMEOUT,
                list_workloads=install.workloads_lister(api, git_ns),
            )
        finally:
            api.close()
        return ClusterHandle(
            provider="existing",
            name=context,
            kubeconfig=kubeconfig,
            versions={"argocd": found.version, "kubernetes": found.kubernetes, "hook_image": HOOK_IMAGE},
            repos=self,
            owned=False,
            # A remote API server may not reach this machine at all; only the user can say it does.
            webhook_endpoint=configured_webhook_endpoint(cfg),
            settings={
                "controller_args": " ".join(settings.controller_args) or "(as deployed)",
                **{f"argocd-cm.{k}": v for k, v in settings.argocd_cm.items()},
                **({"settings_hash": settings_hash} if settings_hash else {}),
            },
        )

    def _apply_settings(
        self,
        cfg: HarnessConfig,
        kubectl: install.Kubectl,
        api: client.ApiClient,
        found: FoundArgoCD,
        settings: install.ControllerSettings,
    ) -> str | None:
        """Apply the run's controller settings, if it has any and the user allowed it."""
        if settings.empty:
            return None
        guard_global_config(
            cfg,
            f"controller flags {list(settings.controller_args)} and "
            f"argocd-cm keys {sorted(settings.argocd_cm)}",
        )
        controller = _read_workload(api, found.controller_kind)
        env_keys = install.controller_env_keys([controller])
        settings_hash = settings.hash(env_keys)
        kubectl.apply_server_side(
            [
                *install.settings_patches(settings, env_keys),
                install.controller_restart_patch(found.controller_kind, settings_hash),
            ],
            field_manager=install.SETTINGS_FIELD_MANAGER,
        )
        say(f"argocd-chaos: applied controller settings (hash {settings_hash}); waiting for the controller")
        install.wait_rolled_out(
            install.workloads_lister(api, ARGOCD_NAMESPACE),
            [(found.controller_kind, install.CONTROLLER)],
            namespace=ARGOCD_NAMESPACE,
            timeout=SETTINGS_ROLLOUT_TIMEOUT,
        )
        return settings_hash

    def release(self, handle: ClusterHandle, *, keep: bool) -> None:
        """Sweep this run's objects (unless kept); the cluster and Argo CD stay as they were."""
        try:
            self._sweep(handle, keep=keep)
        finally:
            if self.state is not None:
                shutil.rmtree(self.state, ignore_errors=True)

    def reap(self, cfg: HarnessConfig) -> None:
        if not cfg.context or not cfg.run_id:
            return
        state = state_root() / f"existing.{_UNSAFE.sub('_', cfg.context)}.{cfg.run_id}"
        try:
            if (state / "kubeconfig").is_file():
                api = api_client(state / "kubeconfig")
                try:
                    sweep(api, cfg.run_id)
                finally:
                    api.close()
        finally:
            shutil.rmtree(state, ignore_errors=True)

    def _sweep(self, handle: ClusterHandle, *, keep: bool) -> None:
        selector = f"{LABEL_RUN}={self.run_id}"
        if keep:
            say(
                f"argocd-chaos: leaving this run's objects in context {handle.name!r}; remove them with "
                f"`kubectl --context {handle.name} -n {ARGOCD_NAMESPACE} delete applications -l {selector}` "
                f"and `kubectl --context {handle.name} delete namespaces -l {selector}`"
            )
            return
        if not self.run_id:
            return
        api = handle.api_client()
        try:
            deleted = sweep(api, self.run_id)
        finally:
            api.close()
        say(f"argocd-chaos: swept {len(deleted)} objects labelled {selector} from context {handle.name!r}")


def _read_workload(api: client.ApiClient, kind: str) -> dict[str, Any]:
    apps = client.AppsV1Api(api)
    read = apps.read_namespaced_stateful_set if kind == "StatefulSet" else apps.read_namespaced_deployment
    obj = api.sanitize_for_serialization(read(install.CONTROLLER, ARGOCD_NAMESPACE))
    obj["kind"] = kind
    return dict(obj)
