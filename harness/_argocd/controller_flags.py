"""The application controller's flag defaults, read from the binary under test.

Timing claims depend on these defaults, and they change between releases; reading them from the
binary's own help text records what was really in effect instead of what a document says.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

_FLAG = re.compile(r"^\s+--(?P<name>[a-z0-9-]+)\s+(?P<type>\w+)?\s+.*?\(default (?P<default>[^)]*)\)", re.M)


def flag_defaults(bin_dir: Path, prefix: str = "") -> dict[str, str]:
    out = subprocess.run(
        [str(bin_dir / "argocd-application-controller"), "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    ).stdout
    return {m["name"]: m["default"].strip('"') for m in _FLAG.finditer(out) if m["name"].startswith(prefix)}


def self_heal_backoff_s(flags: dict[str, str], attempts: int) -> float:
    """The least wait (seconds) before a self-heal sync, after `attempts` earlier heals in a row.

    `flags` is `flag_defaults(bin_dir, "self-heal")`. The controller counts the wait from the
    previous operation's `finishedAt` and steps a `wait.Backoff` (initial
    `--self-heal-backoff-timeout-seconds`, times `--self-heal-backoff-factor`, at most
    `--self-heal-backoff-cap-seconds`) once per earlier attempt; no earlier attempt means no wait
    (read from `selfHealRemainingBackoff` in Argo CD's controller/appcontroller.go, v3.6.1).
    Without backoff flags (older releases) the wait is the fixed `--self-heal-timeout-seconds`.

    Raises KeyError when neither set of flags is present.
    """
    if "self-heal-backoff-timeout-seconds" not in flags:
        return float(flags["self-heal-timeout-seconds"])
    if attempts <= 0:
        return 0.0
    initial = float(flags["self-heal-backoff-timeout-seconds"])
    factor = float(flags.get("self-heal-backoff-factor", "1"))
    cap = float(flags.get("self-heal-backoff-cap-seconds", "0")) or float("inf")
    return min(initial * factor ** (attempts - 1), cap)
