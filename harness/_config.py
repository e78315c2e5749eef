"""One configuration object for a harness run, built from pytest options and environment."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from harness._errors import ConfigError
from harness._wait import Timeouts

Provider = Literal["embedded", "kind", "existing"]
Keep = Literal["never", "on-failure", "always"]
PROVIDERS: tuple[Provider, ...] = ("embedded", "kind", "existing")
KEEP: tuple[Keep, ...] = ("never", "on-failure", "always")


ENV_PREFIX = "ARGOCD_CHAOS_"

#: Every environment variable the harness reads; a variable with the prefix that is not here is
#: almost always a typo, which would otherwise be ignored without a word. Add new ones here.
KNOWN_ENV: tuple[str, ...] = (
    "ARGOCD_CHAOS_ARGOCD_SOURCE",  # default of --argocd-source (plugin)
    "ARGOCD_CHAOS_ARGOCD_VERSION",  # default of --argocd-version (plugin)
    "ARGOCD_CHAOS_CACHE",  # build cache root (_paths)
    "ARGOCD_CHAOS_CLUSTER",  # default of --cluster (plugin)
    "ARGOCD_CHAOS_STATE",  # cluster state root (_paths)
    *(Timeouts.env_var(f.name) for f in fields(Timeouts)),
)


def unknown_env_warning(environ: Mapping[str, str] | None = None) -> str | None:
    """A one-paragraph warning naming every unknown ARGOCD_CHAOS_* variable, or None if all are known."""
    env = os.environ if environ is None else environ
    unknown = sorted(k for k in env if k.startswith(ENV_PREFIX) and k not in KNOWN_ENV)
    if not unknown:
        return None
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, KNOWN_ENV, n=1)
        parts.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return (
        f"ignoring unknown environment variable{'s' if len(unknown) > 1 else ''} {', '.join(parts)}; "
        f"the harness reads {', '.join(KNOWN_ENV)}"
    )


def timeouts_from_env(environ: Mapping[str, str] | None = None) -> Timeouts:
    """`Timeouts.from_env`, with a bad value as the ConfigError it is (bad input, not a bug)."""
    try:
        return Timeouts.from_env(environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_env_choice(var: str, value: str | None, choices: tuple[str, ...], option: str) -> None:
    """An option whose default comes from `var`: name the variable when its value is not a choice.

    argparse checks `choices` only for values given on the command line, never for defaults.
    """
    if value is not None and value not in choices and os.environ.get(var) == value:
        raise ConfigError(
            f"{var}={value!r} (the default of {option}) is not one of {', '.join(choices)}; "
            "fix or unset the variable"
        )


def check_writable_dir(path: Path, option: str) -> None:
    """Raise ConfigError unless `path` is, or can be created as, a writable directory.

    Nothing is created: the nearest existing ancestor is checked instead, so a run that writes no
    report leaves no directory behind. Called before any cluster boots, so a typo costs seconds,
    not a whole suite run followed by a failed write.
    """
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(
            f"{option} {path} cannot be created: {probe} exists and is not a directory; "
            "pass a directory you can write to"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path} is not writable ({probe} is read-only for this user)")


def parse_setting(entry: str) -> tuple[str, str]:
    """One `KEY=VALUE` argocd-cm entry, as --argocd-cm takes it; the value may contain '='."""
    key, sep, value = entry.partition("=")
    if not sep or not key.strip() or key != key.strip():
        raise ConfigError(
            f"argocd-cm entry {entry!r} must be KEY=VALUE with a non-empty key, "
            "e.g. --argocd-cm timeout.reconciliation=10s"
        )
    return key, value


def settings_from_options(
    controller_args: list[str] | None, argocd_cm: list[str] | None
) -> tuple[tuple[str, ...], dict[str, str]]:
    """Controller flags and argocd-cm data from repeated --controller-arg and --argocd-cm options."""
    for arg in controller_args or []:
        if not arg.startswith("--"):
            raise ConfigError(
                f"controller argument {arg!r} must be a flag starting with '--', given with '=', "
                "e.g. --controller-arg=--self-heal-timeout-seconds=10"
            )
    cm: dict[str, str] = {}
    for entry in argocd_cm or []:
        key, value = parse_setting(entry)
        if key in cm and cm[key] != value:
            raise ConfigError(
                f"argocd-cm key {key!r} is given twice, as {cm[key]!r} and {value!r}; give it once"
            )
        cm[key] = value
    return tuple(controller_args or ()), cm


@dataclass(frozen=True)
class HarnessConfig:
    provider: Provider = "embedded"
    argocd_version: str | None = None
    keep_cluster: Keep = "never"
    cluster_name: str = "argocd-chaos-pytest"
    reports_dir: Path = Path("reports")
    context: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    #: A pre-installed kind binary (kind provider); None means `kind` on PATH.
    kind_path: Path | None = None
    #: The kind node image (kind provider); None means the pinned upstream one, or the local one.
    kind_node_image: str | None = None
    #: Run kind on the images `argocd-chaos images build` made (no registry needed).
    kind_local_images: bool = False
    #: A local Argo CD install.yaml (kind provider, air-gapped runners); None means the release's.
    argocd_manifest: Path | None = None
    #: Let the existing provider change Argo CD settings that every user of that Argo CD shares.
    allow_global_config: bool = False
    #: Labels everything the run creates; the existing provider sweeps by it.
    run_id: str = ""
    #: Controller flags and argocd-cm keys the run needs (applied the same way on every provider).
    controller_args: tuple[str, ...] = ()
    #: Where tests serve webhooks (an IP of this machine the API server reaches); None: the provider's.
    webhook_host: str | None = None
    argocd_cm: Mapping[str, str] = field(default_factory=dict)
    #: A git checkout of argo-cd to build and test instead of a release (embedded provider only).
    argocd_source: Path | None = None

    def __post_init__(self) -> None:
        if self.provider not in PROVIDERS:
            raise ConfigError(f"--cluster {self.provider!r} is not one of {', '.join(PROVIDERS)}")
        if self.keep_cluster not in KEEP:
            raise ConfigError(f"--keep-cluster {self.keep_cluster!r} is not one of {', '.join(KEEP)}")
        if self.argocd_source is not None:
            if self.provider != "embedded":
                raise ConfigError(
                    f"--argocd-source builds Argo CD for the embedded cluster only, not --cluster "
                    f"{self.provider}; use --cluster embedded, or install your build on that cluster yourself"
                )
            if self.argocd_version:
                raise ConfigError(
                    "pass --argocd-version or --argocd-source, not both: a source build takes its release "
                    "name from the checkout"
                )
