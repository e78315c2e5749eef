"""Where the harness keeps builds, cluster state and reports.

Builds are expensive (tens of minutes cold) and keyed by versions, so they live in a user cache
that survives clones. Cluster state is per cluster name so that two clusters can run side by side.
Both roots can be moved with environment variables, which the harness's own tests use to stay
hermetic.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The project checkout (fixtures/, kind-config.yaml); the harness is installed editable from it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    env = os.environ.get("ARGOCD_CHAOS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "argocd-chaos"


def state_root() -> Path:
    env = os.environ.get("ARGOCD_CHAOS_STATE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "argocd-chaos" / "clusters"
