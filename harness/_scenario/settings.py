"""Change `argocd-cm` for one test, wait until the controller has taken it in, restore it after.

The controller reads `argocd-cm` through an informer and tells its subscribers of every change
(`util/settings/settings.go`); the live-state cache compares its settings (resource overrides such
as Lua health checks and customisations, exclusions and inclusions, tracking method, instance label,
ignore-resource-updates) and, when they changed, logs "invalidating live state cache" and then
"live state cache invalidated" (`controller/cache/cache.go`, `watchSettings` and `invalidate`). That
second line, written after the change, is the proof this module waits for. Keys the controller reads
only when it starts (e.g. `timeout.reconciliation`, which the install manifests pass as an
environment variable) need `restart_controller=True`, which restarts the embedded cluster's
controller process and waits for it to be ready.

Such a change is seen by every app on the cluster, so a test that uses it must be marked
`@pytest.mark.exclusive` (the `argocd_settings` fixture refuses otherwise).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import allure
from kubernetes import client

from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._cluster.embedded.cluster import EmbeddedCluster
from harness._cluster.provider import ClusterHandle
from harness._errors import ConfigError, HarnessError
from harness._wait import Expectation, Outcome, Timeouts, expect

ARGOCD_CM = "argocd-cm"
#: The controller log line that ends a settings-driven cache invalidation.
INVALIDATED = "live state cache invalidated"
#: `argocd-cm` keys the controller's live-state cache compares (loadCacheSettings in
#: argo-cd `controller/cache/cache.go`): a change to one of them is taken in without a restart.
LIVE_KEY_PREFIXES = (
    "resource.customizations",
    "resource.exclusions",
    "resource.inclusions",
    "resource.ignoreResourceUpdatesEnabled",
    "application.resourceTrackingMethod",
    "application.instanceLabelKey",
    "installationID",
)


class ArgoCDSettings:
    """`argocd-cm` entries changed for the current test; `restore()` puts the old values back."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        controller_log: Path | None,
        timeouts: Timeouts,
        restart_controller: Callable[[], None] | None = None,
        namespace: str = ARGOCD_NAMESPACE,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.controller_log = controller_log
        self.timeouts = timeouts
        self._restart = restart_controller
        self.namespace = namespace
        #: The values before the first change, None for keys that did not exist.
        self.original: dict[str, str | None] = {}

    def data(self) -> dict[str, str]:
        cm = self.core.read_namespaced_config_map(ARGOCD_CM, self.namespace)
        return dict(cm.data or {})

    def set(
        self,
        entries: Mapping[str, str | None],
        *,
        restart_controller: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Set (or with None, remove) `argocd-cm` entries and wait until the controller took them in.

        Raises `ConfigError` for an entry the controller reads only at start unless
        `restart_controller=True`, and when no controller log or restart is available to prove it.
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
        static = sorted(k for k in entries if not k.startswith(LIVE_KEY_PREFIXES))
        if static and not restart_controller:
            raise ConfigError(
                f"the controller reads {static} only when it starts; pass restart_controller=True "
                f"(live keys start with {', '.join(LIVE_KEY_PREFIXES)})"
            )
        if restart_controller and self._restart is None:
            raise ConfigError(
                "restarting the controller needs the embedded cluster; use --argocd-cm for the session"
            )
        if not restart_controller and self.controller_log is None:
            raise ConfigError(
                "confirming a settings change needs the controller's log file (embedded cluster)"
            )
        current = self.data()
        for key in entries:
            self.original.setdefault(key, current.get(key))
        with allure.step(f"argocd-cm: set {sorted(entries)}"):
            self._apply(entries, restart_controller=restart_controller, timeout=timeout)

    def restore(self) -> None:
        """Put back every entry this object changed (removing the ones that did not exist)."""
        if not self.original:
            return
        entries, self.original = dict(self.original), {}
        restart = any(not k.startswith(LIVE_KEY_PREFIXES) for k in entries)
        with allure.step("argocd-cm: restore"):
            self._apply(entries, restart_controller=restart and self._restart is not None, timeout=None)

    def _apply(
        self, entries: Mapping[str, str | None], *, restart_controller: bool, timeout: float | None
    ) -> None:
        offset = _size(self.controller_log)
        # A strategic merge patch with null removes a key, a string sets it.
        self.core.patch_namespaced_config_map(ARGOCD_CM, self.namespace, {"data": dict(entries)})
        if restart_controller and self._restart is not None:
            self._restart()
            return
        if self.controller_log is not None:
            expect(
                _log_line_after(self.controller_log, offset, INVALIDATED),
                timeout=timeout or self.timeouts.apply,
                hint="the change may not differ from what the controller had, or names no cache setting",
            )


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _log_line_after(path: Path, offset: int, needle: str) -> Expectation:
    started = time.monotonic()

    def check() -> Outcome:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        found = needle in text
        return Outcome.simple(
            found,
            f"{needle!r} {'found' if found else 'not yet'} in {path.name} "
            f"({len(text)} new bytes, {time.monotonic() - started:.1f}s)",
        )

    return Expectation(f"the controller logs {needle!r} after the argocd-cm change", check)


def settings_for(handle: ClusterHandle, api: client.ApiClient, timeouts: Timeouts) -> ArgoCDSettings:
    """An `ArgoCDSettings` for a cluster handle: its controller log, and a restart on embedded."""
    restart: Callable[[], None] | None = None
    if handle.provider == "embedded":

        def restart_embedded() -> None:
            cluster = EmbeddedCluster.attach(handle.name)
            if cluster is None:
                raise HarnessError(f"embedded cluster {handle.name} is not running")
            cluster.restart("argocd-application-controller")

        restart = restart_embedded
    return ArgoCDSettings(
        api,
        controller_log=handle.log_files.get("argocd-application-controller"),
        timeouts=timeouts,
        restart_controller=restart,
    )
