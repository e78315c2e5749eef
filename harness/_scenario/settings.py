"""Change `argocd-cm` for one test, wait until the controller has taken it in, restore it after.

The controller reads `argocd-cm` through an informer; for some keys it only tells its live-state
cache (which logs "live state cache invalidated", argo-cd `controller/cache/cache.go`), others it
reads only when it starts (e.g. `timeout.reconciliation`). On Argo CD v3.6.1 on the embedded cluster
that log line did not appear within 30 s of a Lua health override for Jobs, so there is no signal
to wait for that covers every key. The one proof that covers them all is a controller that started
after the change: `set` and `restore` patch `argocd-cm` and then restart the embedded cluster's
controller process, waiting until it is ready again (about a second or two here).

Such a change is seen by every app on the cluster, so a test that uses it must be marked
`@pytest.mark.exclusive` (the `argocd_settings` fixture refuses otherwise). Other providers are not
supported yet (a ConfigError says so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import allure
from kubernetes import client

from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._cluster.embedded.cluster import EmbeddedCluster
from harness._cluster.provider import ClusterHandle
from harness._errors import ConfigError, HarnessError

ARGOCD_CM = "argocd-cm"


class ArgoCDSettings:
    """`argocd-cm` entries changed for the current test; `restore()` puts the old values back."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        restart_controller: Callable[[], None] | None,
        namespace: str = ARGOCD_NAMESPACE,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self._restart = restart_controller
        self.namespace = namespace
        #: The values before the first change, None for keys that did not exist.
        self.original: dict[str, str | None] = {}

    def data(self) -> dict[str, str]:
        cm = self.core.read_namespaced_config_map(ARGOCD_CM, self.namespace)
        return dict(cm.data or {})

    def set(self, entries: Mapping[str, str | None]) -> None:
        """Set (or with None, remove) `argocd-cm` entries; returns once a controller that read them runs.

        Raises `ConfigError` for bad entries and where the controller cannot be restarted.
        """
        bad = {
            k: v
            for k, v in entries.items()
            if not isinstance(k, str) or not (v is None or isinstance(v, str))
        }
        if not entries or bad:
            raise ConfigError(
                f"argocd-cm entries must be a non-empty mapping of str to str or None; got {bad or entries!r}"
            )
        if self._restart is None:
            raise ConfigError(
                "per-test argocd-cm changes restart the controller, which only the embedded cluster can "
                "do here; use --argocd-cm KEY=VALUE for the whole session"
            )
        current = self.data()
        for key in entries:
            self.original.setdefault(key, current.get(key))
        with allure.step(f"argocd-cm: set {sorted(entries)}"):
            self._apply(entries)

    def restore(self) -> None:
        """Put back every entry this object changed (removing the ones that did not exist)."""
        if not self.original:
            return
        entries, self.original = dict(self.original), {}
        with allure.step("argocd-cm: restore"):
            self._apply(entries)

    def _apply(self, entries: Mapping[str, str | None]) -> None:
        # A strategic merge patch with null removes a key, a string sets it.
        self.core.patch_namespaced_config_map(ARGOCD_CM, self.namespace, {"data": dict(entries)})
        assert self._restart is not None
        self._restart()


def settings_for(handle: ClusterHandle, api: client.ApiClient) -> ArgoCDSettings:
    """An `ArgoCDSettings` for a cluster handle: a controller restart on embedded, none elsewhere."""
    restart: Callable[[], None] | None = None
    if handle.provider == "embedded":

        def restart_embedded() -> None:
            cluster = EmbeddedCluster.attach(handle.name)
            if cluster is None:
                raise HarnessError(f"embedded cluster {handle.name} is not running")
            cluster.restart("argocd-application-controller")

        restart = restart_embedded
    return ArgoCDSettings(api, restart_controller=restart)
