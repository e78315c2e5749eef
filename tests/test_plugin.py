"""The pytest plugin, exercised through inner pytest runs (pytester)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness._cluster.session
from harness._cluster.provider import ClusterHandle, Provider
from harness._config import HarnessConfig

pytest_plugins = ["pytester"]

# The inner runs have no pyproject of ours, so they do what our addopts do: pytest-kind's fixture
# plugin owns a --keep-cluster flag of its own and is kept out.
BASE_ARGS = ("-p", "no:pytest-kind", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _no_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ARGOCD_CHAOS_CLUSTER", "ARGOCD_CHAOS_ARGOCD_VERSION"):
        monkeypatch.delenv(var, raising=False)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*BASE_ARGS, *args)


def test_help_lists_the_options(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "Argo CD chaos harness:",
            "*--cluster={embedded,kind,existing}*",
            "*cluster provider: embedded (default, no Docker), kind,*",
            "*--argocd-version=ARGOCD_VERSION*",
            "*--keep-cluster={never,on-failure,always}*",
            "*--cluster-name=CLUSTER_NAME*",
            "*--context=CONTEXT*",
            "*--reports-dir=REPORTS_DIR*",
        ]
    )


@pytest.mark.parametrize(("option", "value"), [("--cluster", "docker"), ("--keep-cluster", "sometimes")])
def test_unknown_choice_is_a_usage_error(pytester: pytest.Pytester, option: str, value: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*argument {option}: invalid choice: '{value}'*"])
    result.stdout.no_fnmatch_line("*test_nothing*PASSED*")


@pytest.mark.parametrize("value", ["0.0.0.0", "not an address", "host.docker.internal"])
def test_bad_webhook_host_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, "--webhook-host", value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --webhook-host: *"])
    result.stdout.no_fnmatch_line("*test_nothing*PASSED*")


def test_webhook_endpoint_fixture_skips_with_the_reason_when_the_provider_has_none(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoWebhook(Provider):
        def acquire(self, cfg: HarnessConfig) -> ClusterHandle:
            return ClusterHandle(
                "existing", "ctx", Path("/nonexistent"), {}, owned=False, webhook_endpoint=None
            )

        def release(self, handle: ClusterHandle, *, keep: bool) -> None:
            pass

    monkeypatch.setattr(harness._cluster.session, "provider_for", lambda cfg: NoWebhook())
    pytester.makepyfile("def test_hook(webhook_endpoint):\n    assert False\n")
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*existing cluster's API server may not reach this machine*--webhook-host*"])


def test_webhook_host_reaches_the_config(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_c(chaos_config):\n    assert chaos_config.webhook_host == '10.9.8.7'\n")
    run(pytester, "--webhook-host", "10.9.8.7").assert_outcomes(passed=1)


def test_controller_settings_reach_the_config(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "def test_c(chaos_config):\n"
        "    assert chaos_config.controller_args == ('--self-heal-timeout-seconds=10', '--x')\n"
        "    assert dict(chaos_config.argocd_cm) == {'timeout.reconciliation': '10s', 'a': 'b=c'}\n"
    )
    result = run(
        pytester, "--controller-arg=--self-heal-timeout-seconds=10", "--controller-arg=--x",
        "--argocd-cm", "timeout.reconciliation=10s", "--argocd-cm", "a=b=c",
    )  # fmt: skip
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--argocd-cm", "novalue"], "*argocd-cm entry 'novalue' must be KEY=VALUE*"),
        (["--argocd-cm", "=v"], "*argocd-cm entry '=v' must be KEY=VALUE*"),
        (["--argocd-cm", "k=1", "--argocd-cm", "k=2"], "*argocd-cm key 'k' is given twice*"),
        (["--controller-arg", "self-heal"], "*controller argument 'self-heal' must be a flag*"),
    ],
)
def test_bad_controller_settings_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


CONFIG_TEST = """
def test_config(chaos_config):
    import json, os
    with open(os.environ["CHAOS_OUT"], "w") as f:
        json.dump(
            {
                "provider": chaos_config.provider,
                "argocd_version": chaos_config.argocd_version,
                "keep_cluster": chaos_config.keep_cluster,
                "cluster_name": chaos_config.cluster_name,
                "reports_dir": str(chaos_config.reports_dir),
                "context": chaos_config.context,
            },
            f,
        )
"""


def _config_seen(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> dict[str, str]:
    out = pytester.path / "seen.json"
    monkeypatch.setenv("CHAOS_OUT", str(out))
    pytester.makepyfile(CONFIG_TEST)
    run(pytester, *args).assert_outcomes(passed=1)
    seen: dict[str, str] = json.loads(out.read_text())
    return seen


@pytest.mark.parametrize("keep", ["never", "on-failure", "always"])
def test_chaos_config_sees_the_options(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, keep: str
) -> None:
    seen = _config_seen(
        pytester,
        monkeypatch,
        "--cluster=existing",
        "--argocd-version=v3.5.7",
        f"--keep-cluster={keep}",
        "--cluster-name=mine",
        "--context=kind-x",
        "--reports-dir=out/reports",
    )
    assert seen == {
        "provider": "existing",
        "argocd_version": "v3.5.7",
        "keep_cluster": keep,
        "cluster_name": "mine",
        "reports_dir": "out/reports",
        "context": "kind-x",
    }


def test_chaos_config_defaults(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _config_seen(pytester, monkeypatch) == {
        "provider": "embedded",
        "argocd_version": None,
        "keep_cluster": "never",
        "cluster_name": "argocd-chaos-pytest",
        "reports_dir": "reports",
        "context": None,
    }


def test_chaos_config_defaults_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_CLUSTER", "kind")
    monkeypatch.setenv("ARGOCD_CHAOS_ARGOCD_VERSION", "v3.6.0")
    seen = _config_seen(pytester, monkeypatch)
    assert (seen["provider"], seen["argocd_version"]) == ("kind", "v3.6.0")
    # The command line still wins over the environment.
    assert _config_seen(pytester, monkeypatch, "--cluster=embedded")["provider"] == "embedded"


def test_chaos_cluster_with_an_unavailable_provider_is_one_clear_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A setup error that no up-front check can find: kubectl is looked up when the cluster is acquired.
    monkeypatch.setenv("PATH", str(tmp_path))
    pytester.makepyfile(
        """
        def test_one(chaos_cluster):
            pass

        def test_two(chaos_cluster):
            pass
        """
    )
    result = run(pytester, "--cluster", "existing", "--context", "staging")

    # Reported once, and the session ends there: not once per test.
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_one*",
            "cluster setup failed: kubectl not found on PATH*",
            "*Interrupted: cluster setup failed*",
        ]
    )
    assert "test_two" not in result.stdout.str()
    text = result.stdout.str()
    assert "Traceback" not in text
    assert "During handling of the above exception" not in text
    assert "provider_for(" not in text  # no source lines of the harness in the report


def test_a_setup_error_leaves_the_last_good_ledger_as_it_was(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A run that fails to get its cluster observed nothing: the previous run's ledger and page stay."""
    reports = pytester.path / "reports"
    reports.mkdir()
    good = Path(__file__).parent / "report" / "data" / "claims-page" / "claims.json"
    (reports / "claims.json").write_bytes(good.read_bytes())
    (reports / "claims.md").write_text("the last good ledger\n")
    before = {p.name: p.read_bytes() for p in reports.iterdir()}
    monkeypatch.setenv("PATH", str(tmp_path))  # kubectl missing: found only when the cluster is acquired
    pytester.makepyfile(
        """
        import pytest


        @pytest.mark.claim("C1")
        def test_one(chaos_cluster, claim):
            claim.check("never reached", claimed=1, observed=1)

        @pytest.mark.claim("C2")
        def test_two(chaos_cluster, claim):
            claim.check("never reached", claimed=1, observed=1)
        """
    )
    result = run(pytester, "--cluster", "existing", "--context", "staging", "--reports-dir", str(reports))

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["argocd-chaos: no claim test ran; the ledger in * is left as it was"])
    assert {p.name: p.read_bytes() for p in reports.iterdir()} == before


# -- environment and reports directory (issue 10, items 8 and 9) -------------------------------------


def test_a_misspelt_variable_is_a_warning_naming_the_known_ones(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_TIMEOUT_ASSRT", "5")
    pytester.makepyfile("def test_nothing(): pass")

    result = run(pytester)

    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(
        [
            "argocd-chaos: warning: ignoring unknown environment variable ARGOCD_CHAOS_TIMEOUT_ASSRT "
            "(did you mean ARGOCD_CHAOS_TIMEOUT_ASSERT?); the harness reads ARGOCD_CHAOS_ARGOCD_SOURCE, "
            "ARGOCD_CHAOS_ARGOCD_VERSION, ARGOCD_CHAOS_CACHE, ARGOCD_CHAOS_CLUSTER, "
            "*ARGOCD_CHAOS_TIMEOUT_CHAOS"
        ]
    )


def test_known_variables_give_no_warning(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_TIMEOUT_ASSERT", "5")
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert "warning" not in result.stderr.str()


def test_the_cli_warns_about_a_misspelt_variable_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness._cli import main

    monkeypatch.setenv("ARGOCD_CHAOS_STATES", "/tmp")
    assert main(["cluster", "status", "--name", "nope"]) == 3
    assert capsys.readouterr().err.startswith(
        "argocd-chaos: warning: ignoring unknown environment variable ARGOCD_CHAOS_STATES "
        "(did you mean ARGOCD_CHAOS_STATE?)"
    )


def test_a_reports_dir_that_does_not_exist_yet_is_fine_and_not_created_early(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = run(pytester, "--reports-dir", "out/reports")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "out").exists()  # checked through its nearest existing parent


def test_a_reports_dir_that_is_a_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    (pytester.path / "reports").write_text("not a directory")
    result = run(pytester, "--reports-dir", "reports")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --reports-dir reports cannot be created: */reports exists and is not a directory*"]
    )
    result.stdout.no_fnmatch_line("*test_nothing*")


def test_durations_of_a_test_cut_short_are_not_kept_for_the_next_order() -> None:
    """A test interrupted in its call phase (Ctrl-C, SIGTERM) reported only its setup: keeping those
    seconds would make the next run start the longest scenario late."""
    from types import SimpleNamespace

    from harness.plugin import _RunFigures

    figures = _RunFigures(SimpleNamespace())  # type: ignore[arg-type]
    for nodeid, when, seconds in [
        ("suites/a.py::finished", "setup", 1.0),
        ("suites/a.py::finished", "call", 300.0),
        ("suites/a.py::finished", "teardown", 0.5),
        ("suites/a.py::interrupted", "setup", 2.0),
    ]:
        figures.pytest_runtest_logreport(SimpleNamespace(nodeid=nodeid, when=when, duration=seconds))  # type: ignore[arg-type]
    assert figures.finished_durations() == {"suites/a.py::finished": 301.5}
