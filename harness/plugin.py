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
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from harness import __version__
from harness._chaos.controls import DriftInjector, OutcomeSwitch
from harness._cluster import session as _session
from harness._cluster.access import cluster_access
from harness._cluster.endpoint import WebhookEndpoint
from harness._cluster.provider import ClusterHandle
from harness._cluster.registry import check_inputs
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
    finish_allure,
    ledger_key,
    record_outcome,
    report_to_allure,
    start_allure,
    write_environment,
)
from harness._report.html import refresh_claims_page
from harness._report.ledger import Ledger
from harness._scenario import diagnostics as _diagnostics
from harness._scenario import schedule
from harness._scenario.app import AppUnderTest
from harness._scenario.settings import ArgoCDSettings, settings_for
from harness._signals import install_sigterm_handler

phase_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()
config_key = pytest.StashKey[HarnessConfig]()
session_key = pytest.StashKey[_session.SessionIdentity]()
#: This process's run id; pytest-xdist workers take their controller's instead (`workerinput`).
RUN_ID = uuid.uuid4().hex[:6]
_XDIST_RUN_ID = "argocd_chaos_run_id"
_XDIST_OWNER = "argocd_chaos_owner_pid"
_XDIST_OUTPUT = "argocd_chaos"


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
        "--argocd-source",
        default=os.environ.get("ARGOCD_CHAOS_ARGOCD_SOURCE") or None,
        metavar="DIR",
        help="a git checkout of argo-cd (release tag, fork, pull-request branch) to build and test on "
        "the embedded cluster instead of a release; its release name and Kubernetes version come "
        "from the checkout",
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
        "--kind-node-image",
        default=None,
        help="the kind node image, by tag or id (default: the pinned kindest/node, or with "
        "--kind-local-images the one `argocd-chaos images build` made); a digest-pinned reference "
        "never matches a locally built image, so kind would try to pull it",
    )
    g.addoption(
        "--kind-local-images",
        action="store_true",
        default=False,
        help="kind on the local images of `argocd-chaos images build` (for machines with no registry): "
        "its node image and kind binary, Argo CD's images loaded into the node and installed with "
        "imagePullPolicy IfNotPresent",
    )
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


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config: pytest.Config) -> bool:
    """The pytest-xdist controller: it runs no tests, the workers do."""
    return config.pluginmanager.hasplugin("dsession")


_process_session: _session.SessionIdentity | None = None


def _session_identity(config: pytest.Config) -> _session.SessionIdentity:
    """The session's identity; a pytest run inside this process (pytester) belongs to the same one.

    An inner session then attaches to the cluster the outer one holds instead of taking it over.
    """
    global _process_session
    if _is_worker(config):
        winput = cast(dict[str, object], config.workerinput)  # type: ignore[attr-defined]
        _process_session = _session.SessionIdentity(
            str(winput[_XDIST_RUN_ID]), int(str(winput[_XDIST_OWNER]))
        )
    elif _process_session is None:
        _process_session = _session.SessionIdentity(RUN_ID, os.getpid())
    return _process_session


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "claim(id): the claim (C1..C14) a suite test checks")
    config.addinivalue_line(
        "markers",
        "exclusive(reason): the test changes the cluster for every scenario (restarts a component, "
        "changes argocd-cm or controller flags), so it runs alone on the cluster",
    )
    config.stash[session_key] = session = _session_identity(config)
    try:
        cfg = _harness_config(config, session.run_id)
    except ConfigError as exc:
        # One usage error before anything runs, not an INTERNALERROR with the traceback around it.
        raise pytest.UsageError(str(exc)) from None
    if not _is_worker(config):
        warning = unknown_env_warning()
        if warning:
            print(f"argocd-chaos: warning: {warning}", file=sys.stderr, flush=True)
    if cfg.provider != "embedded" and (_is_controller(config) or _is_worker(config)):
        raise pytest.UsageError(
            f"parallel runs (-n / JOBS) share one embedded cluster; the {cfg.provider} provider runs the "
            "suites serially: use JOBS=1 (or leave out -n)"
        )
    config.stash[config_key] = cfg
    config.stash[ledger_key] = Ledger()
    start_allure(config, cfg.reports_dir)
    config.stash[environment_key] = {"harness": __version__, "provider": cfg.provider}
    if not _is_worker(config):
        config.pluginmanager.register(_RunFigures(config), "argocd-chaos-run-figures")
    if threading.current_thread() is threading.main_thread():
        install_sigterm_handler()


def _harness_config(config: pytest.Config, run_id: str) -> HarnessConfig:
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
        kind_node_image=config.getoption("--kind-node-image"),
        kind_local_images=bool(config.getoption("--kind-local-images")),
        allow_global_config=bool(config.getoption("--allow-global-config")),
        webhook_host=config.getoption("--webhook-host"),
        run_id=run_id,
        controller_args=controller_args,
        argocd_cm=argocd_cm,
        argocd_source=_path_option(config, "--argocd-source"),
    )
    if not config.option.help and not config.option.collectonly:
        check_writable_dir(cfg.reports_dir, "--reports-dir")
        check_inputs(cfg)
    return cfg


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist controller: every worker joins this session (its run id and owner process)."""
    session = node.config.stash[session_key]
    node.workerinput[_XDIST_RUN_ID] = session.run_id
    node.workerinput[_XDIST_OWNER] = session.owner_pid


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist controller: take in what a worker recorded (ledger, report environment)."""
    output = getattr(node, "workeroutput", {}).get(_XDIST_OUTPUT)
    if not output:
        return
    config = node.config
    config.stash[ledger_key].merge(output["ledger"])
    config.stash[environment_key].update(output["environment"])


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
    report_to_allure(item, rep)
    return rep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Longest first, the quickest behind them, exclusive ones last (`harness._scenario.schedule`)."""
    items[:] = schedule.order(items, schedule.load(), schedule.workers_from_env())


class _RunFigures:
    """The run's own timing: test durations for the next run's order, and the figures at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.durations: dict[str, float] = {}
        self.called: set[str] = set()
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call":
            self.called.add(report.nodeid)

    def finished_durations(self) -> dict[str, float]:
        """Seconds per node id of the tests whose call phase ended.

        A test cut short by Ctrl-C or SIGTERM has reported its setup only; its few seconds would make
        the next run start it late.
        """
        return {k: v for k, v in self.durations.items() if k in self.called}

    def figures(self) -> list[schedule.ScenarioFigure]:
        ledger = self.config.stash[ledger_key]
        found: dict[str, schedule.ScenarioFigure] = {}
        for cid in ledger.claim_ids():
            for test, facts in ledger.recorder.evidence_for(cid).items():
                wall = facts.get("scenario_seconds")
                wait = facts.get("controller_wait_seconds")
                if isinstance(wall, int | float):
                    found[test] = schedule.ScenarioFigure(
                        test, float(wall), float(wait) if isinstance(wait, int | float) else 0.0
                    )
        return list(found.values())

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        boot = self.config.stash.get(environment_key, {}).get("cluster.boot_seconds")
        lines = schedule.format_figures(
            self.figures(), time.monotonic() - self.started, float(boot) if boot is not None else None
        )
        if lines:
            terminalreporter.section("argocd-chaos: time per scenario")
            for line in lines:
                terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Release the session's cluster (xdist controller), write the ledger, the claims page, the Allure extras.

    The ledger (and the page made from it) is written only when a claim test observed something: a
    run that ran no scenario (a setup error, everything deselected) leaves the previous ones as they were.
    """
    config = session.config
    if config_key not in config.stash:
        return
    cfg = config.stash[config_key]
    env = config.stash[environment_key]
    ledger = config.stash[ledger_key]
    if _is_worker(config):
        cast(dict[str, object], config.workeroutput)[_XDIST_OUTPUT] = {  # type: ignore[attr-defined]
            "ledger": ledger.export(),
            "environment": env,
        }
        return
    if _is_controller(config):
        failed = session.testsfailed > 0 or bool(session.shouldstop)
        _session.release(cfg, config.stash[session_key], None, keep=_keep(cfg, failed=failed))
    tr = config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str, **markup: bool) -> None:
        if tr is not None:
            tr.write_line(line, **markup)

    md_path: Path | None = None
    page: Path | None = None
    if not config.option.collectonly and ledger.observed_anything():
        json_path, md_path = ledger.write(cfg.reports_dir, env.get("argocd", "unknown"))
        say(f"argocd-chaos: claims ledger written to {json_path} and {md_path}")
        # The ledger is written; a page that cannot be made must not hide it, but must be seen.
        page = refresh_claims_page(cfg.reports_dir, lambda line: say(line, yellow="warning:" in line))
    elif any(claim_ids(i) for i in session.items):
        say(f"argocd-chaos: no claim test ran; the ledger in {cfg.reports_dir} is left as it was")
    figures = config.pluginmanager.get_plugin("argocd-chaos-run-figures")
    if isinstance(figures, _RunFigures) and not config.option.collectonly:
        schedule.save(figures.finished_durations())
    alluredir = config.getoption("allure_report_dir", None)
    if alluredir:
        write_environment(Path(alluredir), env)
    finish_allure(config, md_path, page)


def _keep(cfg: HarnessConfig, *, failed: bool) -> bool:
    return cfg.keep_cluster == "always" or (cfg.keep_cluster == "on-failure" and failed)


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
    """The cluster for the whole session, torn down per --keep-cluster, also after Ctrl-C.

    One cluster per session, whatever the number of pytest-xdist workers: the first that needs it
    boots it, the others attach; the session's owner releases it at the end, and a reaper does if the
    session dies first (`harness._cluster.session`).
    """
    config = request.config
    session = config.stash[session_key]
    shared = _is_worker(config)
    try:
        acquired = _session.acquire(chaos_config, session, shared=shared)
    except _session.SetupFailedElsewhere as exc:
        # Another worker hit the setup error and reported it; repeating it per test hides nothing new.
        request.session.shouldstop = "cluster setup failed"
        pytest.skip(f"not run: {exc}")
    except HarnessError as exc:
        # Reported once: the session stops after this test instead of repeating the error per test.
        request.session.shouldstop = "cluster setup failed"
        raise pytest.fail.Exception(f"cluster setup failed: {exc}", pytrace=False) from None
    handle = acquired.handle
    env = config.stash[environment_key]
    env.update({f"version.{k}": v for k, v in handle.versions.items()})
    env["argocd"] = handle.versions.get("argocd", "unknown")
    env.update({f"setting.{k}": v for k, v in handle.settings.items()})
    if handle.boot_seconds is not None:
        env["cluster.boot_seconds"] = f"{handle.boot_seconds:.1f}"
    env["python.kubernetes"] = _dist_version("kubernetes")
    try:
        yield handle
    finally:
        # Only the process that booted it releases it, and only outside pytest-xdist (there the
        # controller does, once every worker is done); a session that attached leaves it alone.
        if acquired.provider is not None and not shared:
            failed = request.session.testsfailed > 0 or bool(getattr(request.session, "shouldstop", False))
            export_logs = getattr(acquired.provider, "export_logs", None)  # kind: `kind export logs`
            if failed and export_logs is not None:
                export_logs(chaos_config.reports_dir / "kind-logs")
            _session.release(chaos_config, session, acquired, keep=_keep(chaos_config, failed=failed))


@pytest.fixture(autouse=True)
def _cluster_access(request: pytest.FixtureRequest) -> Iterator[None]:
    """Scenarios share the cluster; a test marked `exclusive` has it alone (`harness._cluster.access`)."""
    if "chaos_cluster" not in request.fixturenames:
        yield
        return
    handle: ClusterHandle = request.getfixturevalue("chaos_cluster")
    exclusive = request.node.get_closest_marker("exclusive") is not None
    with cluster_access(handle.name, exclusive=exclusive):
        yield


@pytest.fixture
def argocd_settings(
    request: pytest.FixtureRequest, chaos_cluster: ClusterHandle, chaos_config: HarnessConfig
) -> Iterator[ArgoCDSettings]:
    """Change `argocd-cm` for this test only (`ArgoCDSettings.set`); restored at teardown.

    Every app on the cluster sees the change, so the test must be marked `exclusive`.
    """
    if request.node.get_closest_marker("exclusive") is None:
        raise pytest.UsageError(
            f"{request.node.nodeid}: argocd_settings changes argocd-cm for every app on the cluster; "
            'mark the test @pytest.mark.exclusive("changes argocd-cm")'
        )
    api = chaos_cluster.api_client()
    settings = settings_for(chaos_cluster, api)
    try:
        yield settings
    finally:
        try:
            settings.restore()
        finally:
            api.close()


@pytest.fixture
def test_id() -> str:
    """A short random id that names everything a test creates, so tests never collide."""
    return uuid.uuid4().hex[:6]


@pytest.fixture(scope="session")
def run_id(pytestconfig: pytest.Config) -> str:
    return pytestconfig.stash[session_key].run_id


@pytest.fixture(scope="session")
def repo_root(pytestconfig: pytest.Config, chaos_cluster: ClusterHandle, run_id: str) -> Iterator[Path]:
    """Git repositories of this session's fixture apps; removed when the session ends.

    Registered with the session's lease, so the reaper removes it too if the session is killed.
    """
    d = Path(tempfile.mkdtemp(prefix=f"argocd-chaos-repos-{run_id}-"))
    _session.add_temp_dir(chaos_cluster.name, pytestconfig.stash[session_key], d)
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
    started = time.monotonic()
    try:
        yield app
    finally:
        for cid in claim_ids(request.node):
            recorder = request.config.stash[ledger_key].recorder
            recorder.evidence(
                cid, "controller_wait_seconds", round(app.wait_seconds, 1), test=request.node.nodeid
            )
            recorder.evidence(
                cid, "scenario_seconds", round(time.monotonic() - started, 1), test=request.node.nodeid
            )
            if app.pickup_refreshes:  # the controller missed a sync request (see PICKUP_GRACE_SECONDS)
                node = request.node.nodeid
                recorder.evidence(cid, "sync_pickup_refreshes", app.pickup_refreshes, test=node)
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
