"""The provider registry: `--cluster NAME` to the provider that brings such a cluster up."""

from __future__ import annotations

from harness._build.versions import normalise_version
from harness._cluster.embedded.cluster import validate_name
from harness._cluster.embedded.provider import EmbeddedProvider
from harness._cluster.existing import ExistingProvider, require_context
from harness._cluster.kind.provider import KindProvider, find_kind
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


def check_inputs(cfg: HarnessConfig) -> None:
    """Every check of the run's options that needs no network, no process and no cluster.

    Run before anything slow (a build, a boot, the module proxy), so that a typo is one usage error
    in a second instead of a setup error after minutes. Raises ConfigError naming the option.
    """
    if cfg.argocd_version is not None:
        normalise_version(cfg.argocd_version)
    if cfg.provider in ("embedded", "kind"):
        validate_name(cfg.cluster_name)
    if cfg.provider == "kind":
        if cfg.kind_path is not None:
            find_kind(cfg.kind_path)
        if cfg.argocd_manifest is not None and not cfg.argocd_manifest.is_file():
            raise ConfigError(
                f"--argocd-manifest {cfg.argocd_manifest} is not a file; pass the release's "
                "manifests/install.yaml"
            )
    if cfg.provider != "kind" and (cfg.kind_node_image or cfg.kind_local_images):
        raise ConfigError(
            "--kind-node-image and --kind-local-images are options of the kind provider; "
            f"drop them or run with --cluster kind (not {cfg.provider})"
        )
    if cfg.provider == "existing":
        require_context(cfg)
