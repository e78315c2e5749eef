"""The provider registry: `--cluster NAME` to the provider that brings such a cluster up."""

from __future__ import annotations

from harness._cluster.embedded.provider import EmbeddedProvider
from harness._cluster.existing import ExistingProvider
from harness._cluster.kind.provider import KindProvider
from harness._cluster.provider import Provider
from harness._config import HarnessConfig
from harness._errors import ConfigError


def provider_for(cfg: HarnessConfig) -> Provider:
    if cfg.provider == "embedded":
        return EmbeddedProvider()
    if cfg.provider == "kind":
        return KindProvider()
    if cfg.provider == "existing":
        return ExistingProvider()
    raise ConfigError(
        f"the {cfg.provider} provider is not part of this version of argocd-chaos yet; "
        "run with --cluster embedded (the default)."
    )
