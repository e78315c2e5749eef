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
