"""The flags a controller running in a pod was given, read from its workload on the cluster.

On the embedded cluster the harness runs the controller binary itself, and
`harness._argocd.controller_flags.flag_defaults` reads its `--help`. On kind and existing clusters no
binary is at hand: there a flag's value is the container's `--flag` argument if it has one, else the
environment variable the release reads as the flag's default (`argocd_install.flag_env`), given
either as a literal or from a ConfigMap key (`argocd-cm`, `argocd-cmd-params-cm`; install.yaml marks
these optional). A flag set by neither keeps the binary's built-in default, which is not visible
from outside: it is left out, and the caller supplies the release's default.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._cluster import argocd_install as install
from harness._cluster.embedded.kwok_stages import go_duration_ns

Obj = dict[str, Any]
#: (ConfigMap name) -> its data, or None when the ConfigMap does not exist.
ConfigMapReader = Callable[[str], Mapping[str, str] | None]


def _seconds(duration: str) -> str:
    """A Go duration as whole seconds, the unit of the `seconds` flags ("3m" -> "180")."""
    ns = go_duration_ns(duration.strip())
    whole, frac = divmod(ns, 1_000_000_000)
    return str(whole) if not frac else str(ns / 1e9)


def _container(workload: Obj) -> Obj:
    containers = workload["spec"]["template"]["spec"]["containers"]
    by_name = {c.get("name"): c for c in containers}
    return dict(by_name.get(install.CONTROLLER) or containers[0])


def controller_flag_values(
    workload: Obj, flags: Iterable[str], read_config_map: ConfigMapReader
) -> dict[str, str]:
    """`flag -> value` for the `flags` the controller `workload` (StatefulSet or Deployment) sets.

    Values are as the flag takes them: the reconciliation timeouts in whole seconds even where the
    variable holds a Go duration ("180s"). Flags set neither by an argument nor by a variable that
    resolves to a value are absent. Raises `StageConfigError` for a duration Go could not parse
    either (the controller would fall back to its default and log it; the harness will not guess).
    """
    container = _container(workload)
    wanted = list(flags)
    args: list[str] = [str(a) for a in (container.get("command") or [])[1:]]
    args += [str(a) for a in container.get("args") or []]
    given = install.parse_flags(args, skip_words=True)
    env = {str(e.get("name")): e for e in container.get("env") or []}
    cms: dict[str, Mapping[str, str] | None] = {}
    out: dict[str, str] = {}
    for flag in wanted:
        if flag in given:
            out[flag] = given[flag]
            continue
        var = env.get(install.flag_env(flag))
        if var is None:
            continue
        value: str | None = None
        if "value" in var:
            value = str(var["value"])
        else:
            ref = (var.get("valueFrom") or {}).get("configMapKeyRef") or {}
            name, key = ref.get("name"), ref.get("key")
            if name and key:
                if name not in cms:
                    cms[name] = read_config_map(str(name))
                data = cms[name] or {}
                value = data.get(str(key))
        if value is None or value == "":
            continue
        out[flag] = _seconds(value) if install.flag_env_unit(flag) == "seconds" else value
    return out


def live_controller_flags(
    api: client.ApiClient, flags: Iterable[str], namespace: str = ARGOCD_NAMESPACE
) -> dict[str, str]:
    """`controller_flag_values` of the controller running in `namespace` (StatefulSet, else Deployment).

    Raises `kubernetes.client.exceptions.ApiException` when neither workload can be read.
    """
    apps = client.AppsV1Api(api)
    core = client.CoreV1Api(api)
    workload: Any
    try:
        workload = apps.read_namespaced_stateful_set(install.CONTROLLER, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        workload = apps.read_namespaced_deployment(install.CONTROLLER, namespace)

    def read_config_map(name: str) -> Mapping[str, str] | None:
        try:
            return dict(core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    return controller_flag_values(api.sanitize_for_serialization(workload), flags, read_config_map)
