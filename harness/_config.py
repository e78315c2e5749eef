"""One configuration object for a harness run, built from pytest options and environment."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness._errors import ConfigError
from harness._wait import Timeouts

Provider = Literal["embedded", "kind", "existing"]
Keep = Literal["never", "on-failure", "always"]
PROVIDERS: tuple[Provider, ...] = ("embedded", "kind", "existing")
KEEP: tuple[Keep, ...] = ("never", "on-failure", "always")


@dataclass(frozen=True)
class HarnessConfig:
    provider: Provider = "embedded"
    argocd_version: str | None = None
    keep_cluster: Keep = "never"
    cluster_name: str = "argocd-chaos-pytest"
    reports_dir: Path = Path("reports")
    context: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(f"--cluster {self.provider!r} is not one of {', '.join(PROVIDERS)}")
        if self.keep_cluster not in KEEP:
            raise ConfigError(f"--keep-cluster {self.keep_cluster!r} is not one of {', '.join(KEEP)}")
