"""The pytest plugin: command-line options, the session cluster and per-test identity.

Registered through the `pytest11` entry point, so any pytest run in an environment where the
harness is installed gets the options and fixtures.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import cast

import pytest

from harness import __version__
from harness._chaos.controls import DriftInjector, OutcomeSwitch
from harness._cluster.endpoint import WebhookEndpoint
from harness._cluster.provider import ClusterHandle
from harness._cluster.registry import check_inputs, provider_for
from harness._config import (
    KEEP,
    PROVIDERS,
    HarnessConfig,
    Keep,
    Provider,
    check_env_choice,
    check_writable_dir,
    settings_from_options,
    timeouts_from_env,
    unknown_env_warning,
)
from harness._errors import ConfigError, HarnessError
from harness._report.claims_plugin import (
    ClaimContext,
    claim_ids,
    environment_key,
    ledger_key,
    record_outcome,
    write_environment,
)
from harness._report.ledger import Ledger
from harness._scenario import diagnostics as _diagnostics
from harness._scenario.app import AppUnderTest
from harness._signals import install_sigterm_handler

phase_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
config_key = pytest.StashKey[HarnessConfig]()
RUN_ID = uuid.uuid4().hex[:6]


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    # pytest-kind's fixture plugin owns --keep-cluster as a flag; block it when we load first.
    pluginmanager.set_blocked("pytest-kind")
    g = parser.getgroup("argocd-chaos", "Argo CD chaos harness")
    g.addoption(
        "--cluster",
        choices=PROVIDERS,
        default=os.environ.get("ARGOCD_CHAOS_CLUSTER", "embedded"),
        help="cluster provider: embedded (default, no Docker), kind, existing",
    )
    g.addoption(
        "--argocd-version",
        default=os.environ.get("ARGOCD_CHAOS_ARGOCD_VERSION") or None,
        help="Argo CD release to test, e.g. v3.6.1 (default: the pinned newest release)",
    )
    g.addoption(
        "--keep-cluster",
        choices=KEEP,
        default="never",
        help="keep the cluster after the session: never (default), on-failure, always",
    )
    g.addoption(
        "--cluster-name",
        default="argocd-chaos-pytest",
        help="cluster name; a running cluster of that name is reused and left running",
    )
    g.addoption("--context", default=None, help="kubeconfig context (existing provider)")
    g.addoption("--kind-path", default=None, help="a pre-installed kind binary (default: kind on PATH)")
    g.addoption(
        "--argocd-manifest",
        default=None,
        help="a local Argo CD install.yaml to install on kind (air-gapped runners)",
    )
    g.addoption(
        "--allow-global-config",
        action="store_true",
        default=False,
        help="let the existing provider change Argo CD settings every user of that Argo CD shares",
    )
    g.addoption(
        "--controller-arg",
        action="append",
        default=[],
        metavar="--FLAG=VALUE",
        help="an extra argocd-application-controller flag, repeatable; give it with '=', e.g. "
        "--controller-arg=--self-heal-timeout-seconds=10 (on kind and existing clusters it becomes the "
        "argocd-cmd-params-cm key the controller reads)",
    )
    g.addoption(
        "--argocd-cm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an argocd-cm entry, repeatable, e.g. --argocd-cm timeout.reconciliation=10s",
    )
    g.addoption(
        "--webhook-host",
        default=None,
        type=_webhook_host,
        metavar="IP",
        help="an IP address of this machine that the cluster's API server can reach; C11's webhook is "
        "served there (default: 127.0.0.1 on embedded, the kind network's gateway on kind, none on "
        "existing, where C11 is then skipped)",
    )
    g.addoption("--reports-dir", default="reports", help="where the ledger and reports go")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the claim (C1..C11) a suite test checks")
    try:
        cfg = _harness_config(config)
    except ConfigError as exc:
        # One usage error before anything runs, not an INTERNALERROR with the traceback around it.
        raise pytest.UsageError(str(exc)) from None
    if not hasattr(config, "workerinput"):
        warning = unknown_env_warning()
        if warning:
            print(f"argocd-chaos: warning: {warning}", file=sys.stderr, flush=True)
    config.stash[config_key] = cfg
    config.stash[ledger_key] = Ledger()
    config.stash[environment_key] = {"harness": __version__, "provider": cfg.provider}
    if threading.current_thread() is threading.main_thread() and not hasattr(config, "workerinput"):
        install_sigterm_handler()


def _harness_config(config: pytest.Config) -> HarnessConfig:
    """The run's configuration, with every input checked that can be checked without slow work."""
    check_env_choice("ARGOCD_CHAOS_CLUSTER", config.getoption("--cluster"), PROVIDERS, "--cluster")
    controller_args, argocd_cm = settings_from_options(
        config.getoption("--controller-arg"), config.getoption("--argocd-cm")
    )
    cfg = HarnessConfig(
        provider=cast(Provider, config.getoption("--cluster")),
        argocd_version=config.getoption("--argocd-version"),
        keep_cluster=cast(Keep, config.getoption("--keep-cluster")),
        cluster_name=config.getoption("--cluster-name"),
        reports_dir=Path(config.getoption("--reports-dir")),
        context=config.getoption("--context"),
        timeouts=timeouts_from_env(),
        kind_path=_path_option(config, "--kind-path"),
        argocd_manifest=_path_option(config, "--argocd-manifest"),
        allow_global_config=bool(config.getoption("--allow-global-config")),
        webhook_host=config.getoption("--webhook-host"),
        run_id=RUN_ID,
        controller_args=controller_args,
        argocd_cm=argocd_cm,
    )
    if not config.option.help and not config.option.collectonly:
        check_writable_dir(cfg.reports_dir, "--reports-dir")
        check_inputs(cfg)
    return cfg


def _webhook_host(value: str) -> str:
    """Parse --webhook-host, with one clear usage error for an address the webhook could not be served on."""
    try:
        WebhookEndpoint(host=value, bind=value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value) if value else None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    rep: pytest.TestReport = yield
    item.stash.setdefault(phase_report_key, {})[rep.when] = rep
    record_outcome(item, rep)
    return rep


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the ledger whenever claim tests were collected, and the Allure environment."""
    config = session.config
    if config_key not in config.stash:
        return
    cfg = config.stash[config_key]
    env = config.stash[environment_key]
    if not config.option.collectonly and any(claim_ids(i) for i in session.items):
        json_path, md_path = config.stash[ledger_key].write(cfg.reports_dir, env.get("argocd", "unknown"))
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(f"argocd-chaos: claims ledger written to {json_path} and {md_path}")
    alluredir = config.getoption("allure_report_dir", None)
    if alluredir:
        write_environment(Path(alluredir), env)


@pytest.fixture
def claim(request: pytest.FixtureRequest) -> ClaimContext:
    """Record checks and evidence for the claim named by the test's `claim` marker."""
    ids = claim_ids(request.node)
    if len(ids) != 1:
        raise pytest.UsageError(f"{request.node.nodeid}: the `claim` fixture needs exactly one claim marker")
    return ClaimContext(ids[0], request.node.nodeid, request.config.stash[ledger_key].recorder)


@pytest.fixture(scope="session")
def chaos_config(pytestconfig: pytest.Config) -> HarnessConfig:
    """The run's one configuration object."""
    return pytestconfig.stash[config_key]


@pytest.fixture(scope="session")
def chaos_cluster(request: pytest.FixtureRequest, chaos_config: HarnessConfig) -> Iterator[ClusterHandle]:
    """The cluster for the whole session, torn down per --keep-cluster, also after Ctrl-C."""
    try:
        provider = provider_for(chaos_config)
        handle = provider.acquire(chaos_config)
    except HarnessError as exc:
        # `from None`: the report is this one line, not also the HarnessError it repeats.
        raise pytest.fail.Exception(f"cluster setup failed: {exc}", pytrace=False) from None
    env = request.config.stash[environment_key]
    env.update({f"version.{k}": v for k, v in handle.versions.items()})
    env["argocd"] = handle.versions.get("argocd", "unknown")
    env.update({f"setting.{k}": v for k, v in handle.settings.items()})
    if handle.boot_seconds is not None:
        env["cluster.boot_seconds"] = f"{handle.boot_seconds:.1f}"
    env["python.kubernetes"] = _dist_version("kubernetes")
    try:
        yield handle
    finally:
        failed = request.session.testsfailed > 0 or bool(getattr(request.session, "shouldstop", False))
        keep = chaos_config.keep_cluster == "always" or (chaos_config.keep_cluster == "on-failure" and failed)
        export_logs = getattr(provider, "export_logs", None)  # kind: `kind export logs` into the reports
        if failed and export_logs is not None:
            export_logs(chaos_config.reports_dir / "kind-logs")
        provider.release(handle, keep=keep)


@pytest.fixture
def test_id() -> str:
    """A short random id that names everything a test creates, so tests never collide."""
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="session")
def run_id() -> str:
    return RUN_ID


@pytest.fixture(scope="session")
def repo_root() -> Iterator[Path]:
    """Git repositories of this session's fixture apps; removed when the session ends."""
    d = Path(tempfile.mkdtemp(prefix=f"argocd-chaos-repos-{RUN_ID}-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def app_under_test(
    request: pytest.FixtureRequest,
    chaos_cluster: ClusterHandle,
    chaos_config: HarnessConfig,
    test_id: str,
    run_id: str,
    repo_root: Path,
) -> Iterator[AppUnderTest]:
    """A fresh app (repo, namespace, Application) for one test; diagnostics on failure, then deleted."""
    api = chaos_cluster.api_client()
    app = AppUnderTest(
        api,
        test_id=test_id,
        run_id=run_id,
        repo_root=repo_root,
        timeouts=chaos_config.timeouts,
        log_files=chaos_cluster.log_files,
        repos=chaos_cluster.repos,
    )
    try:
        yield app
    finally:
        for cid in claim_ids(request.node):
            recorder = request.config.stash[ledger_key].recorder
            recorder.evidence(
                cid, "controller_wait_seconds", round(app.wait_seconds, 1), test=request.node.nodeid
            )
        reports = request.node.stash.get(phase_report_key, {})
        if any(r.failed for r in reports.values()):
            _diagnostics.attach(request.node, _diagnostics.collect(app))
        app.cleanup()
        api.close()


def _dist_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@pytest.fixture
def outcome_switch(
    request: pytest.FixtureRequest, chaos_cluster: ClusterHandle, test_id: str
) -> Iterator[Callable[[str], OutcomeSwitch]]:
    """Make outcome switches for this test; every one is removed at teardown, pass or fail.

    On the embedded cluster a switch is a KWOK Stage; with real kubelets it is a ConfigMap in the
    namespace of the test's app, which the hook's command reads when it starts.
    """
    api = chaos_cluster.api_client()
    made: list[OutcomeSwitch] = []
    namespace: str | None = None
    if chaos_cluster.repos is not None:
        app: AppUnderTest = request.getfixturevalue("app_under_test")
        app.ensure_namespace()
        namespace = app.namespace

    def make(name: str) -> OutcomeSwitch:
        sw = OutcomeSwitch(api, f"{name}-{test_id}", real_pods_namespace=namespace)
        made.append(sw)
        return sw

    try:
        yield make
    finally:
        for sw in made:
            sw.remove()
        api.close()


@pytest.fixture
def webhook_endpoint(chaos_cluster: ClusterHandle) -> WebhookEndpoint:
    """Where a webhook served by the tests is reachable from this cluster's API server."""
    if chaos_cluster.webhook_endpoint is None:
        pytest.skip(
            f"the {chaos_cluster.provider} cluster's API server may not reach this machine, so a webhook "
            "served here cannot be used: pass --webhook-host with an IP address of this machine it reaches"
        )
    return chaos_cluster.webhook_endpoint


@pytest.fixture
def drift(app_under_test: AppUnderTest) -> DriftInjector:
    """Edit the app's live objects by hand, as a person with kubectl would."""
    return DriftInjector(app_under_test.api, app_under_test.namespace)
