"""Argo CD on a cluster with real kubelets: the install, the controller settings, the fixture git server.

The kind provider installs the upstream `manifests/install.yaml` of the release under test; the
existing provider finds Argo CD already running. Both share what is here, so the suites see the
same Argo CD set-up on either:

* **Install.** The manifest comes from the release's Go module, fetched through the Go module
  proxy (`go mod download -json github.com/argoproj/argo-cd/v3@V`, the only network source the
  harness uses), or from a local file for air-gapped runners. It is applied server-side with
  `kubectl apply --server-side --force-conflicts`, as Argo CD's own install guide says (its CRDs
  are too large for a client-side apply's last-applied annotation), then every Deployment and
  StatefulSet in the namespace is waited on until rolled out.
* **Settings.** The harness states controller settings as the flags and `argocd-cm` keys the
  embedded cluster passes to its processes. On a real cluster the controller reads flags from
  `argocd-cmd-params-cm` through environment variables, so `settings_patches` turns the flags
  into those keys (and `argocd-cm` keys for the reconciliation timeouts, which the controller
  reads from there). They are applied with their own field manager, so re-applying the install
  never takes them back; a hash of them on the controller's pod template rolls the controller
  whenever they change, because it reads its environment only at start.
* **Fixture repos.** The embedded repo-server reads each test's git repo by `file://`. A real
  repo-server runs in a pod, so a small `git daemon` Deployment serves the repos inside the
  cluster (read-only, `git://`), and the harness pushes each commit into it through the
  Kubernetes API (`kubectl exec -i ... git receive-pack`, driven by git's `ext::` transport).
  Only the API server has to be reachable, which holds for kind on Linux, Docker Desktop and any
  existing cluster alike; no host port, gateway address or firewall rule is involved. The daemon
  runs in the Argo CD image of the release under test, which the node has pulled for the install
  anyway and which ships git with `git daemon` (Ubuntu's `git` package).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from harness._argocd.seed import ARGOCD_NAMESPACE, MANAGED_BY, PART_OF
from harness._build import versions as versions
from harness._errors import ClusterSetupError, ConfigError, HarnessError
from harness._paths import cache_root
from harness._wait import Expectation, Outcome, expect

Obj = dict[str, Any]
Say = Callable[[str], None]
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

CONTROLLER: Final = "argocd-application-controller"
INSTALL_FIELD_MANAGER: Final = "argocd-chaos-install"
SETTINGS_FIELD_MANAGER: Final = "argocd-chaos-settings"
GIT_FIELD_MANAGER: Final = "argocd-chaos"
#: On the controller's pod template: changes whenever the settings do, which rolls the controller.
SETTINGS_HASH_ANNOTATION: Final = "argocd-chaos.io/settings-hash"
ARGOCD_CM: Final = "argocd-cm"
CMD_PARAMS_CM: Final = "argocd-cmd-params-cm"
KUBECTL_TIMEOUT: Final = 300.0


# --------------------------------------------------------------------------------------------------
# kubectl


def find_kubectl(path: str | os.PathLike[str] | None = None) -> str:
    """The kubectl to run: `path` if given, else the one on PATH; never downloaded."""
    found = str(path) if path else shutil.which("kubectl")
    if not found or not os.access(found, os.X_OK):
        raise ConfigError(
            f"kubectl not found{f' at {path}' if path else ' on PATH'}: the kind and existing providers "
            "apply Argo CD and the fixture git server with it. Install kubectl "
            "(https://kubernetes.io/docs/tasks/tools/), or run with --cluster embedded, which needs neither "
            "kubectl nor Docker."
        )
    return found


@dataclass(frozen=True)
class Kubectl:
    """kubectl pinned to one kubeconfig (and context), so no call can reach another cluster."""

    path: str
    kubeconfig: Path
    context: str | None = None

    def argv(self, *args: str) -> list[str]:
        ctx = [f"--context={self.context}"] if self.context else []
        return [self.path, f"--kubeconfig={self.kubeconfig}", *ctx, *args]

    def run(self, *args: str, input: str | None = None, timeout: float = KUBECTL_TIMEOUT) -> str:
        argv = self.argv(*args)
        try:
            p = subprocess.run(
                argv, input=input, capture_output=True, text=True, check=False, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise HarnessError(f"`{_show(argv)}` did not finish within {timeout:.0f}s") from None
        if p.returncode != 0:
            raise HarnessError(f"`{_show(argv)}` failed (exit {p.returncode}): {p.stderr.strip()[-2000:]}")
        return p.stdout

    def apply_server_side(
        self,
        docs: Sequence[Mapping[str, Any]],
        *,
        field_manager: str,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> str:
        """`kubectl apply --server-side --force-conflicts` of `docs`, fed on stdin.

        `--force-conflicts` because the objects are ours to set: a field another manager set
        (say, an earlier `kubectl apply` by hand) must not stop the install.
        """
        args = ["apply", "--server-side", "--force-conflicts", f"--field-manager={field_manager}"]
        if namespace:
            args += ["-n", namespace]
        if dry_run:
            args.append("--dry-run=server")
        args += ["-f", "-"]
        return self.run(*args, input=yaml.dump_all(list(docs), Dumper=_Dumper, sort_keys=False))


def _show(argv: Sequence[str]) -> str:
    return " ".join(argv)


# --------------------------------------------------------------------------------------------------
# The install manifest


def install_manifest(version: str | None, manifest: Path | None = None) -> Path:
    """The `install.yaml` to apply: `manifest` if given, else the release's from the Go module proxy."""
    if manifest is not None:
        if not manifest.is_file():
            raise ConfigError(
                f"--argocd-manifest {manifest} is not a file; pass the release's manifests/install.yaml "
                "(from https://github.com/argoproj/argo-cd/releases or the Argo CD source)."
            )
        return manifest
    v = versions.normalise_version(version or versions.DEFAULT_ARGOCD_VERSION)
    module = f"{versions.ARGOCD_MODULE}@{v}"
    info = json.loads(versions._go_probe(["mod", "download", "-json", module]) or "{}")
    rel = Path("manifests") / "install.yaml"
    if info.get("Dir") and (Path(info["Dir"]) / rel).is_file():
        return Path(info["Dir"]) / rel
    # The module needs a newer Go than the local one: the go command then downloads the zip but
    # does not extract it. The manifest is plain data, so it is read from the zip directly.
    if info.get("Zip") and Path(info["Zip"]).is_file():
        target = cache_root() / "argocd-install" / f"{v}-install.yaml"
        if not target.is_file():
            with zipfile.ZipFile(info["Zip"]) as z:
                try:
                    data = z.read(f"{module}/{rel.as_posix()}")
                except KeyError:
                    raise ConfigError(f"{module} has no {rel}; is {v} an Argo CD release?") from None
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target
    raise ConfigError(
        f"Argo CD {v} could not be fetched from the Go module proxy ({info.get('Error', 'no module')}); "
        "pass a served release with --argocd-version, or a local install.yaml with --argocd-manifest "
        "on air-gapped runners."
    )


def load_documents(path: Path) -> list[Obj]:
    # libyaml when PyYAML has it: install.yaml is about 2 MB, a few seconds in pure Python.
    text = path.read_text(encoding="utf-8")
    return [d for d in yaml.load_all(text, Loader=_Loader) if isinstance(d, dict) and d]


def _controller(docs: Iterable[Obj]) -> Obj:
    for d in docs:
        if d.get("kind") in ("StatefulSet", "Deployment") and d.get("metadata", {}).get("name") == CONTROLLER:
            return d
    raise ConfigError(f"the install manifest has no {CONTROLLER} StatefulSet or Deployment")


def controller_image(docs: Iterable[Obj]) -> str:
    """The image of the controller: what the release runs, and what the git server reuses."""
    containers = _controller(docs)["spec"]["template"]["spec"]["containers"]
    by_name = {c.get("name"): c for c in containers}
    return str((by_name.get(CONTROLLER) or containers[0])["image"])


def image_version(image: str) -> str | None:
    """The tag of an image reference ("quay.io/argoproj/argocd:v3.6.1" -> "v3.6.1"), if it has one."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


PullPolicy = Literal["Always", "IfNotPresent", "Never"]


def install_documents(
    docs: Sequence[Obj],
    settings: ControllerSettings,
    env_keys: EnvKeys,
    pull_policy: PullPolicy | None = None,
) -> list[Obj]:
    """The install manifest as applied: settings keys left to their own manager, hash on the controller.

    Keys the settings set are removed from the manifest's ConfigMaps, so that the install's field
    manager never owns (and with --force-conflicts never overwrites) a value the harness chose.
    `pull_policy` (when given) replaces every container's and init container's `imagePullPolicy`:
    the manifest says `Always` for most, and the kubelet then pulls even an image the node has,
    which fails where no registry is reachable and the images were loaded into the node.
    """
    patches = {p["metadata"]["name"]: p.get("data", {}) for p in settings_patches(settings, env_keys)}
    out = copy.deepcopy(list(docs))
    for d in out:
        name = d.get("metadata", {}).get("name")
        if d.get("kind") == "ConfigMap" and name in patches and d.get("data"):
            for key in patches[name]:
                d["data"].pop(key, None)
    if pull_policy is not None:
        for d in out:
            spec = ((d.get("spec") or {}).get("template") or {}).get("spec") or {}
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                c["imagePullPolicy"] = pull_policy
    tmpl = _controller(out)["spec"]["template"]
    tmpl.setdefault("metadata", {}).setdefault("annotations", {})[SETTINGS_HASH_ANNOTATION] = settings.hash(
        env_keys
    )
    return out


def namespace_doc(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}


# --------------------------------------------------------------------------------------------------
# Controller settings

#: environment variable -> (ConfigMap, key), read from the controller's env in the install manifest.
EnvKeys = dict[str, tuple[str, str]]

_ENV_PREFIX: Final = "ARGOCD_APPLICATION_CONTROLLER_"
# Flags whose variable does not follow `ARGOCD_APPLICATION_CONTROLLER_<FLAG>`, as read from
# cmd/argocd-application-controller/commands/argocd_application_controller.go (v3.6.1; the unit
# tests check this table against the source whenever the module is in the Go module cache).
# "seconds": the flag counts whole seconds while the variable is a Go duration.
_FLAG_ENV: Final[dict[str, tuple[str, Literal["seconds"] | None]]] = {
    "app-resync": ("ARGOCD_RECONCILIATION_TIMEOUT", "seconds"),
    "app-hard-resync": ("ARGOCD_HARD_RECONCILIATION_TIMEOUT", "seconds"),
    "app-resync-jitter": ("ARGOCD_RECONCILIATION_JITTER", "seconds"),
    "repo-error-grace-period-seconds": ("ARGOCD_REPO_ERROR_GRACE_PERIOD_SECONDS", "seconds"),
    "application-namespaces": ("ARGOCD_APPLICATION_NAMESPACES", None),
    "sharding-method": ("ARGOCD_CONTROLLER_SHARDING_ALGORITHM", None),
    "server-side-diff-enabled": ("ARGOCD_APPLICATION_CONTROLLER_SERVER_SIDE_DIFF", None),
    "hydrator-enabled": ("ARGOCD_HYDRATOR_ENABLED", None),
    "ignore-normalizer-jq-execution-timeout-seconds": ("ARGOCD_IGNORE_NORMALIZER_JQ_TIMEOUT", None),
}


def flag_env(flag: str) -> str:
    """The environment variable the controller reads as the default of `--flag`."""
    known = _FLAG_ENV.get(flag)
    return known[0] if known else _ENV_PREFIX + flag.upper().replace("-", "_")


def flag_env_unit(flag: str) -> Literal["seconds"] | None:
    """The unit of `--flag` where its variable is a Go duration but the flag counts whole seconds."""
    known = _FLAG_ENV.get(flag)
    return known[1] if known else None


def controller_env_keys(docs: Iterable[Obj]) -> EnvKeys:
    """Which ConfigMap key feeds which controller variable, as this release's manifest wires it."""
    out: EnvKeys = {}
    for c in _controller(docs)["spec"]["template"]["spec"]["containers"]:
        for e in c.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
            if ref and ref.get("name") in (ARGOCD_CM, CMD_PARAMS_CM):
                out[str(e["name"])] = (str(ref["name"]), str(ref["key"]))
    return out


def parse_flags(args: Sequence[str], *, skip_words: bool = False) -> dict[str, str]:
    """`["--a", "1", "--b=2", "--c"]` -> `{"a": "1", "b": "2", "c": "true"}` (a bare flag is a bool).

    A word that is not a flag's value raises ConfigError, or with `skip_words` (a container's command
    and args, which start with the program's name) is passed over.
    """
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            if skip_words:
                i += 1
                continue
            raise ConfigError(
                f"controller argument {arg!r} is not a --flag; write e.g. --self-heal-timeout-seconds=5"
            )
        name, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 < len(args) and not args[i + 1].startswith("--"):
                value, i = args[i + 1], i + 1
            else:
                value = "true"
        out[name] = value
        i += 1
    return out


@dataclass(frozen=True)
class ControllerSettings:
    """Controller settings as the harness states them: controller flags and `argocd-cm` keys."""

    controller_args: tuple[str, ...] = ()
    argocd_cm: Mapping[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.controller_args and not self.argocd_cm

    def hash(self, env_keys: EnvKeys) -> str:
        data = {p["metadata"]["name"]: p.get("data", {}) for p in settings_patches(self, env_keys)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def settings_patches(
    settings: ControllerSettings, env_keys: EnvKeys, namespace: str = ARGOCD_NAMESPACE
) -> list[Obj]:
    """The `argocd-cm` and `argocd-cmd-params-cm` apply configurations for these settings.

    Both ConfigMaps are always returned, with empty data when nothing is set: applied with the
    settings' own field manager, that removes whatever an earlier run set and this one does not.
    A flag the release does not wire to a ConfigMap is an error naming the flags it does wire.
    """
    data: dict[str, dict[str, str]] = {ARGOCD_CM: dict(settings.argocd_cm), CMD_PARAMS_CM: {}}
    for flag, value in parse_flags(settings.controller_args).items():
        env = flag_env(flag)
        if env not in env_keys:
            settable = sorted(f for f in _all_flags(env_keys))
            raise ConfigError(
                f"controller flag --{flag} cannot be set on a real cluster: this Argo CD release reads no "
                f"ConfigMap key for it (variable {env}). Flags that can be set: {', '.join(settable)}."
            )
        cm, key = env_keys[env]
        known = _FLAG_ENV.get(flag)
        if known and known[1] == "seconds" and value.isdigit():
            value = f"{value}s"
        if key in data[cm] and data[cm][key] != value:
            raise ConfigError(
                f"{cm} key {key!r} is set twice, to {data[cm][key]!r} and (by --{flag}) to {value!r}; "
                "set it once"
            )
        data[cm][key] = value
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                # part-of: without it Argo CD's settings informer does not see the object.
                "labels": {"app.kubernetes.io/name": name, **PART_OF},
            },
            "data": values,
        }
        for name, values in data.items()
    ]


def _all_flags(env_keys: EnvKeys) -> Iterable[str]:
    by_env = {env: flag for flag, (env, _) in _FLAG_ENV.items()}
    for env in env_keys:
        if env in by_env:
            yield f"--{by_env[env]}"
        elif env.startswith(_ENV_PREFIX):
            yield "--" + env.removeprefix(_ENV_PREFIX).lower().replace("_", "-")


def controller_restart_patch(
    kind: str, settings_hash: str, *, name: str = CONTROLLER, namespace: str = ARGOCD_NAMESPACE
) -> Obj:
    """An apply configuration that rolls the controller when the settings hash changes."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"metadata": {"annotations": {SETTINGS_HASH_ANNOTATION: settings_hash}}}},
    }


# --------------------------------------------------------------------------------------------------
# Rollout


def rollout_status(obj: Mapping[str, Any]) -> tuple[bool | None, str]:
    """Whether a Deployment or StatefulSet is rolled out, the way `kubectl rollout status` decides.

    Returns (True, msg) when done, (False, msg) while in progress and (None, msg) when the
    rollout failed for good (a Deployment past its progress deadline).
    """
    kind = obj.get("kind", "")
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    ident = f"{kind}/{meta.get('name')}"
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    if int(st.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
        return False, f"{ident}: spec change not yet observed"
    if kind == "Deployment":
        for c in st.get("conditions") or []:
            if c.get("type") == "Progressing" and c.get("reason") == "ProgressDeadlineExceeded":
                return None, f"{ident}: progress deadline exceeded ({c.get('message', '')})"
        updated = int(st.get("updatedReplicas") or 0)
        if updated < want:
            return False, f"{ident}: {updated} of {want} replicas updated"
        if int(st.get("replicas") or 0) > updated:
            return (
                False,
                f"{ident}: {int(st.get('replicas') or 0) - updated} old replicas pending termination",
            )
        available = int(st.get("availableReplicas") or 0)
        if available < updated:
            return False, f"{ident}: {available} of {updated} updated replicas available"
        return True, f"{ident}: rolled out"
    if kind == "StatefulSet":
        ready = int(st.get("readyReplicas") or 0)
        if ready < want:
            return False, f"{ident}: {ready} of {want} replicas ready"
        strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
        if strategy == "RollingUpdate" and st.get("updateRevision") != st.get("currentRevision"):
            return False, f"{ident}: {int(st.get('updatedReplicas') or 0)} of {want} pods at the new revision"
        return True, f"{ident}: rolled out"
    raise ConfigError(f"rollout status of {ident} is not supported; only Deployment and StatefulSet")


Lister = Callable[[], list[Obj]]


def workloads_lister(api: Any, namespace: str) -> Lister:
    """Every Deployment and StatefulSet in `namespace`, as plain dicts (for `rollout_status`)."""
    from kubernetes import client

    apps = client.AppsV1Api(api)

    def list_all() -> list[Obj]:
        out: list[Obj] = []
        for kind, items in (
            ("Deployment", apps.list_namespaced_deployment(namespace).items),
            ("StatefulSet", apps.list_namespaced_stateful_set(namespace).items),
        ):
            for item in items:
                d = api.sanitize_for_serialization(item)
                d["kind"] = kind
                out.append(d)
        return out

    return list_all


def wait_rolled_out(
    list_workloads: Lister,
    expected: Iterable[tuple[str, str]],
    *,
    namespace: str,
    timeout: float,
    hint: str = "",
) -> list[str]:
    """Wait until every expected workload (kind, name) exists and is rolled out; returns their names.

    On timeout the error names each workload still rolling and what it is waiting for.
    """
    want = sorted(set(expected))

    def check() -> Outcome:
        seen = {(d["kind"], d["metadata"]["name"]): d for d in list_workloads()}
        pending: list[str] = []
        for kind, name in want:
            obj = seen.get((kind, name))
            if obj is None:
                pending.append(f"{kind}/{name}: not created")
                continue
            done, msg = rollout_status(obj)
            if done is None:
                return Outcome.failed(msg)
            if not done:
                pending.append(msg)
        if pending:
            return Outcome.pending("; ".join(pending))
        return Outcome.met(f"{len(want)} workloads rolled out")

    names = ", ".join(f"{k}/{n}" for k, n in want)
    expect(
        Expectation(f"rollout of {names} in namespace {namespace}", check),
        timeout=timeout,
        hint=hint,
    )
    return [n for _, n in want]


# --------------------------------------------------------------------------------------------------
# Install


@dataclass(frozen=True)
class InstalledArgoCD:
    version: str
    image: str
    manifest: Path
    settings_hash: str
    workloads: list[str]


def install_argocd(
    kubectl: Kubectl,
    list_workloads: Lister,
    *,
    version: str | None,
    manifest: Path | None,
    settings: ControllerSettings,
    timeout: float,
    say: Say,
    pull_policy: PullPolicy | None = None,
) -> InstalledArgoCD:
    """Install (or update to) one Argo CD release with these settings, and wait until it runs.

    Order matters: the settings go first, so that a fresh controller starts with them; then the
    install, which carries the settings hash on the controller's template and so rolls a running
    controller exactly when its settings changed.
    """
    path = install_manifest(version, manifest)
    docs = load_documents(path)
    image = controller_image(docs)
    found = image_version(image) or "unknown"
    if manifest is not None and version and versions.normalise_version(version) != found:
        raise ConfigError(
            f"--argocd-manifest {manifest} installs Argo CD {found} (image {image}), but --argocd-version "
            f"asks for {version}; drop --argocd-version or pass the matching manifest."
        )
    env_keys = controller_env_keys(docs)
    say(f"argocd-chaos: installing Argo CD {found} from {path} into namespace {ARGOCD_NAMESPACE}")
    kubectl.apply_server_side(
        [namespace_doc(ARGOCD_NAMESPACE, MANAGED_BY), *settings_patches(settings, env_keys)],
        field_manager=SETTINGS_FIELD_MANAGER,
    )
    applied = install_documents(docs, settings, env_keys, pull_policy)
    kubectl.apply_server_side(applied, field_manager=INSTALL_FIELD_MANAGER, namespace=ARGOCD_NAMESPACE)
    expected = [
        (d["kind"], d["metadata"]["name"]) for d in applied if d.get("kind") in ("Deployment", "StatefulSet")
    ]
    try:
        names = wait_rolled_out(
            list_workloads,
            expected,
            namespace=ARGOCD_NAMESPACE,
            timeout=timeout,
            hint=(
                f"`{_show(kubectl.argv('-n', ARGOCD_NAMESPACE, 'get', 'pods'))}` shows which pod is stuck; "
                f"image pulls of {image} can take minutes on a cold node."
            ),
        )
    except HarnessError as exc:
        raise ClusterSetupError("argocd", f"Argo CD {found} did not roll out: {exc}") from None
    say(f"argocd-chaos: Argo CD {found} rolled out ({', '.join(names)})")
    return InstalledArgoCD(found, image, path, settings.hash(env_keys), names)


# --------------------------------------------------------------------------------------------------
# The fixture git server

GIT_NAME: Final = "argocd-chaos-git"
GIT_NAMESPACE: Final = "argocd-chaos-git"
GIT_PORT: Final = 9418
GIT_BASE: Final = "/srv/git"
GIT_CONTAINER: Final = "git-daemon"
#: The user of the Argo CD image; emptyDir volumes are writable by it.
_ARGOCD_UID: Final = 999
_REPO_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def git_daemon_argv(base: str = GIT_BASE, port: int = GIT_PORT) -> list[str]:
    """The git daemon of the git server pod: read-only (no receive-pack), every repo under `base`."""
    return [
        "git",
        "daemon",
        "--verbose",
        "--reuseaddr",
        "--export-all",
        "--informative-errors",
        f"--base-path={base}",
        f"--port={port}",
        base,
    ]


def git_server_manifests(
    image: str, *, namespace: str = GIT_NAMESPACE, labels: Mapping[str, str] | None = None
) -> list[Obj]:
    """Namespace, Deployment and Service of the in-cluster git server.

    The pod satisfies the `restricted` Pod Security Standard (the namespace enforces it), so the
    same manifests work on clusters that enforce it. One replica with `Recreate`: the repos live in
    an emptyDir, and a second replica would not have them.
    """
    sel = {"app.kubernetes.io/name": GIT_NAME}
    common = {**sel, **MANAGED_BY, **(labels or {})}
    ns_labels = {
        **MANAGED_BY,
        **(labels or {}),
        "pod-security.kubernetes.io/enforce": "restricted",
    }
    container = {
        "name": GIT_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": git_daemon_argv(),
        "env": [{"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "git", "containerPort": GIT_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "git"}, "periodSeconds": 2},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "repos", "mountPath": GIT_BASE}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    return [
        namespace_doc(namespace, ns_labels),
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": GIT_NAME, "namespace": namespace, "labels": common},
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": sel},
                "template": {
                    "metadata": {"labels": common},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "enableServiceLinks": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": _ARGOCD_UID,
                            "runAsGroup": _ARGOCD_UID,
                            "fsGroup": _ARGOCD_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        "volumes": [{"name": "repos", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": GIT_NAME, "namespace": namespace, "labels": common},
            "spec": {
                "type": "ClusterIP",
                "selector": sel,
                "ports": [{"name": "git", "port": GIT_PORT, "targetPort": "git", "protocol": "TCP"}],
            },
        },
    ]


def repo_name(local_path: Path) -> str:
    name = local_path.name.removesuffix(".git")
    if not _REPO_NAME_RE.fullmatch(name):
        raise ConfigError(
            f"repository directory {local_path} cannot be served by the git server: its name must be "
            "letters, digits, '.', '_' and '-', starting with a letter or digit"
        )
    return name


def repo_url_for(provider: str, local_path: Path, *, namespace: str = GIT_NAMESPACE) -> str:
    """The URL the cluster's repo-server reads the fixture repo at `local_path` from.

    The embedded repo-server runs on this host and reads the working repo itself; on kind and
    existing clusters it reads the copy pushed to the in-cluster git server (`GitServer.push`),
    by the Service's cluster DNS name, which resolves in any namespace through the pod's search
    path whatever the cluster domain is.
    """
    if provider == "embedded":
        if not local_path.is_absolute():
            raise ConfigError(f"repository path {local_path} must be absolute for a file:// URL")
        return f"file://{local_path}"
    if provider in ("kind", "existing"):
        return f"git://{GIT_NAME}.{namespace}.svc/{repo_name(local_path)}.git"
    raise ConfigError(f"no repository URL scheme for provider {provider!r}; use embedded, kind or existing")


def ext_url(argv: Sequence[str]) -> str:
    """A git `ext::` URL that runs `argv` as the remote end (escaping per git-remote-ext(1))."""
    return "ext::" + " ".join(a.replace("%", "%%").replace(" ", "% ") for a in argv)


# Creates the bare repo on first push (HEAD on the pushed branch, which Argo CD's "HEAD" follows),
# then hands the connection to receive-pack. Everything but the protocol goes to stderr.
_RECEIVE = 'git init -q --bare --initial-branch="$2" "$1" >&2 && exec git receive-pack "$1"'


@dataclass
class GitServer:
    """Pushes fixture repos from this host into the in-cluster git server through the API server."""

    kubectl: Kubectl
    namespace: str = GIT_NAMESPACE
    base: str = GIT_BASE

    def url(self, local_path: Path) -> str:
        return repo_url_for("kind", local_path, namespace=self.namespace)

    def receive_argv(self, name: str, branch: str = "main") -> list[str]:
        return self.kubectl.argv(
            "exec",
            "-i",
            "-n",
            self.namespace,
            f"deploy/{GIT_NAME}",
            "-c",
            GIT_CONTAINER,
            "--",
            "sh",
            "-c",
            _RECEIVE,
            "sh",
            f"{self.base}/{name}.git",
            branch,
        )

    def push_argv(self, local_path: Path, branch: str = "main") -> list[str]:
        url = ext_url(self.receive_argv(repo_name(local_path), branch))
        return ["git", "-c", "protocol.ext.allow=always", "push", "--quiet", url, f"HEAD:refs/heads/{branch}"]

    def push(self, local_path: Path, branch: str = "main") -> None:
        """Push the working repo's HEAD to `branch` of its copy in the cluster."""
        argv = self.push_argv(local_path, branch)
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        p = subprocess.run(
            argv,
            cwd=local_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=KUBECTL_TIMEOUT,
        )
        if p.returncode != 0:
            raise HarnessError(
                f"pushing {local_path} to the in-cluster git server failed: {p.stderr.strip()[-2000:]}\n"
                f"Check the server with `{_show(self.kubectl.argv('-n', self.namespace, 'get', 'pods'))}`."
            )

    def deploy(
        self, image: str, *, labels: Mapping[str, str] | None, timeout: float, list_workloads: Lister
    ) -> None:
        """Apply the server's manifests and wait until its Deployment is rolled out."""
        self.kubectl.apply_server_side(
            git_server_manifests(image, namespace=self.namespace, labels=labels),
            field_manager=GIT_FIELD_MANAGER,
        )
        wait_rolled_out(list_workloads, [("Deployment", GIT_NAME)], namespace=self.namespace, timeout=timeout)
