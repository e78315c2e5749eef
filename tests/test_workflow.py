"""The nightly workflow, read as data: what it runs, caches, uploads and cleans up.

Offline and fast; actionlint (`tools/actionlint.sh`) checks the syntax and expressions, these
tests check that the workflow does what the project needs and stays in step with the harness pins.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness._build.versions import DEFAULT_ARGOCD_VERSION, NEWER_TOOLCHAIN
from harness._cluster.kind.provider import KIND_VERSION
from harness._paths import cache_root

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"

KIND_VERSIONS = ["v3.6.1", "v3.5.7"]
KIND_BINARY_VERSION = KIND_VERSION  # the workflow builds the kind the provider pins
REPORT_PATHS = {
    "reports/allure-results",
    "reports/junit.xml",
    "reports/claims.json",
    "reports/claims.md",
    "reports/claims.html",
}
# Actions pinned by major tag, and only these.
ALLOWED_ACTIONS = {
    "actions/checkout": "v4",
    "actions/setup-go": "v5",
    "actions/setup-python": "v5",
    "actions/cache": "v4",
    "actions/cache/restore": "v4",
    "actions/cache/save": "v4",
    "actions/upload-artifact": "v4",
    "actions/download-artifact": "v4",
}

Step = dict[str, Any]
Job = dict[str, Any]


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def kind_job(workflow: dict[Any, Any]) -> Job:
    return workflow["jobs"]["kind"]


@pytest.fixture(scope="module")
def embedded_job(workflow: dict[Any, Any]) -> Job:
    return workflow["jobs"]["embedded"]


def _steps(job: Job) -> list[Step]:
    return list(job["steps"])


def _uses(step: Step) -> str:
    return str(step.get("uses", "")).split("@")[0]


def _index(job: Job, pred: Any, what: str) -> int:
    found = [i for i, s in enumerate(_steps(job)) if pred(s)]
    assert found, f"no step that {what}"
    return found[0]


def _run_commands(step: Step) -> list[list[str]]:
    """The run block's commands, one token list per line (continuations joined)."""
    text = str(step.get("run", "")).replace("\\\n", " ")
    # `${{ matrix.argocd }}` is one word to the shell once Actions has substituted it.
    text = re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: "${{" + m[1].replace(" ", "") + "}}", text)
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


def _env(workflow: dict[Any, Any], job: Job, step: Step) -> dict[str, str]:
    return {**workflow.get("env", {}), **job.get("env", {}), **step.get("env", {})}


def _resolve(value: str, env: dict[str, str]) -> str:
    """Expand `$VAR`, `${VAR}` and `${{ env.VAR }}` from the workflow/job/step env."""
    value = re.sub(r"\$\{\{\s*env\.(\w+)\s*\}\}", lambda m: str(env.get(m[1], m[0])), value)
    return re.sub(r"\$\{?(\w+)\}?", lambda m: str(env.get(m[1], m[0])), value)


def _make_chaos_calls(workflow: dict[Any, Any], job: Job) -> list[tuple[int, dict[str, str]]]:
    """Each `make chaos` call in the job: (step index, its VAR=value arguments, env resolved)."""
    calls = []
    for i, step in enumerate(_steps(job)):
        env = _env(workflow, job, step)
        for cmd in _run_commands(step):
            if cmd[:2] == ["make", "chaos"]:
                args = dict(a.split("=", 1) for a in cmd[2:] if "=" in a)
                calls.append((i, {k: _resolve(v, env) for k, v in args.items()}))
    return calls


def _normalise_matrix_ref(value: str) -> str:
    return re.sub(r"\$\{\{\s*matrix\.(\w+)\s*\}\}", r"${{ matrix.\1 }}", value)


# --- triggers and global settings -------------------------------------------------------------


def test_runs_nightly_and_on_demand(workflow: dict[Any, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1: the bare key `on` parses as the boolean True
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    (entry,) = triggers["schedule"]
    minute, hour, dom, month, dow = entry["cron"].split()
    assert (dom, month, dow) == ("*", "*", "*"), "the schedule runs once every day"
    assert minute.isdigit()
    assert hour.isdigit()


def test_go_toolchain_is_the_one_the_harness_and_makefile_use(workflow: dict[Any, Any]) -> None:
    assert workflow["env"]["GOTOOLCHAIN"] == NEWER_TOOLCHAIN == "go1.27.3"
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"^export GOTOOLCHAIN \?= {re.escape(NEWER_TOOLCHAIN)}$", makefile, re.M)


def test_no_job_overrides_gotoolchain(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        assert "GOTOOLCHAIN" not in job.get("env", {}), name
        for step in _steps(job):
            assert "GOTOOLCHAIN" not in step.get("env", {}), (name, step.get("name"))


def test_read_only_token(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}


def test_actions_are_pinned_by_major_tag(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        for step in _steps(job):
            if "uses" not in step:
                continue
            action, _, ref = step["uses"].partition("@")
            assert action in ALLOWED_ACTIONS, (name, step["uses"])
            assert ref == ALLOWED_ACTIONS[action], (name, step["uses"])


def test_every_job_has_a_timeout_and_a_pinned_runner(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name
        assert 0 < job["timeout-minutes"] <= 360, name
        assert re.fullmatch(r"ubuntu-\d\d\.\d\d", job["runs-on"]), name


def _runs_go_or_make(step: Step) -> bool:
    return bool(re.search(r"^\s*(go|make) ", str(step.get("run", "")), re.M))


def test_go_is_set_up_and_checked_before_it_is_used(workflow: dict[Any, Any]) -> None:
    for name, job in workflow["jobs"].items():
        if not any(_runs_go_or_make(s) for s in _steps(job)):
            continue  # the compare job reads ledgers with Python only
        setup = _index(job, lambda s: _uses(s) == "actions/setup-go", "sets up Go")
        assert _steps(job)[setup]["with"]["cache"] is False, f"{name}: no go.sum to key setup-go's cache"
        check = _index(job, lambda s: "go env GOVERSION" in str(s.get("run", "")), "checks the toolchain")
        first_go = _index(job, _runs_go_or_make, "runs go or make")
        assert setup < check <= first_go, name


# --- the kind matrix ------------------------------------------------------------------------------


def test_kind_matrix_is_the_two_newest_minors(kind_job: Job) -> None:
    matrix = kind_job["strategy"]["matrix"]
    assert set(matrix) == {"argocd"}
    assert matrix["argocd"] == KIND_VERSIONS
    assert matrix["argocd"][0] == DEFAULT_ARGOCD_VERSION, "the newest release is the harness default"
    minors = [tuple(int(x) for x in v.lstrip("v").split(".")[:2]) for v in matrix["argocd"]]
    assert minors[0][0] == minors[1][0], "same major"
    assert minors[0][1] == minors[1][1] + 1, "adjacent minors, newest first"
    assert kind_job["strategy"]["fail-fast"] is False, "one release failing must not cancel the other"


def test_kind_job_runs_make_chaos_on_kind_at_the_matrix_version(
    workflow: dict[Any, Any], kind_job: Job
) -> None:
    calls = _make_chaos_calls(workflow, kind_job)
    assert len(calls) == 1
    _, args = calls[0]
    assert args["CLUSTER"] == "kind"
    assert _normalise_matrix_ref(args["ARGOCD_VERSION"]) == "${{ matrix.argocd }}"


def test_kind_is_installed_with_go_install(workflow: dict[Any, Any], kind_job: Job) -> None:
    i = _index(kind_job, lambda s: "sigs.k8s.io/kind@" in str(s.get("run", "")), "installs kind")
    step = _steps(kind_job)[i]
    installs = [c for c in _run_commands(step) if "install" in c and c[c.index("install") - 1] == "go"]
    (cmd,) = installs
    assert _resolve(cmd[-1], _env(workflow, kind_job, step)) == f"sigs.k8s.io/kind@{KIND_BINARY_VERSION}"
    chaos_step = _make_chaos_calls(workflow, kind_job)[0][0]
    assert i < chaos_step


def test_kind_logs_are_exported_on_failure_and_uploaded(kind_job: Job) -> None:
    i = _index(kind_job, lambda s: "kind export logs" in str(s.get("run", "")), "exports kind logs")
    assert _steps(kind_job)[i]["if"] == "failure()"
    assert "reports/kind-logs" in _steps(kind_job)[i]["run"]
    upload = _index(kind_job, lambda s: _uses(s) == "actions/upload-artifact", "uploads")
    assert i < upload
    assert "reports/kind-logs" in _artifact_paths(_steps(kind_job)[upload])


def test_kind_clusters_are_deleted_at_the_end(kind_job: Job) -> None:
    last = _steps(kind_job)[-1]
    assert last["if"] == "always()"
    assert "kind delete cluster" in last["run"]


# --- the embedded job -----------------------------------------------------------------------------


def test_embedded_job_runs_make_chaos_on_the_default_cluster(
    workflow: dict[Any, Any], embedded_job: Job
) -> None:
    calls = _make_chaos_calls(workflow, embedded_job)
    assert len(calls) == 1
    _, args = calls[0]
    assert args.get("CLUSTER", "embedded") == "embedded"
    assert _normalise_matrix_ref(args["ARGOCD_VERSION"]) == "${{ matrix.argocd }}"
    assert embedded_job["strategy"]["matrix"]["argocd"] == [DEFAULT_ARGOCD_VERSION]


def _cache_steps(job: Job, kind: str) -> list[tuple[int, Step]]:
    return [(i, s) for i, s in enumerate(_steps(job)) if _uses(s) == f"actions/cache/{kind}"]


def _paths(step: Step) -> set[str]:
    return {p.strip() for p in str(step["with"]["path"]).splitlines() if p.strip()}


def test_embedded_job_restores_the_build_and_go_caches(embedded_job: Job) -> None:
    restores = _cache_steps(embedded_job, "restore")
    cached = set().union(*(_paths(s) for _, s in restores))
    assert {"~/.cache/argocd-chaos", "~/go/pkg/mod", "~/.cache/go-build"} <= cached
    for _, step in restores:
        key = step["with"]["key"]
        assert "matrix.argocd" in key
        assert "hashFiles('harness/_build/**')" in key
    assert (ROOT / "harness" / "_build" / "binaries.py").is_file()
    assert (ROOT / "harness" / "_build" / "versions.py").is_file()


def test_the_build_cache_matches_the_harness_cache_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARGOCD_CHAOS_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == Path.home() / ".cache" / "argocd-chaos"


def test_the_build_cache_is_restored_by_exact_key_only(embedded_job: Job) -> None:
    # A complete build in the cache is reused as is, so one made by older build scripts must not
    # be restored; the content-addressed Go caches may come from an older key.
    for _, step in _cache_steps(embedded_job, "restore"):
        if "~/.cache/argocd-chaos" in _paths(step):
            assert "restore-keys" not in step["with"]


def test_every_restored_cache_is_saved_before_the_suites_run(
    workflow: dict[Any, Any], embedded_job: Job
) -> None:
    chaos_step = _make_chaos_calls(workflow, embedded_job)[0][0]
    build_step = _index(embedded_job, lambda s: "make build" in str(s.get("run", "")), "builds")
    saves = _cache_steps(embedded_job, "save")
    for _, restore in _cache_steps(embedded_job, "restore"):
        matching = [(i, s) for i, s in saves if _paths(s) == _paths(restore)]
        assert len(matching) == 1, _paths(restore)
        i, save = matching[0]
        assert save["with"]["key"] == f"${{{{ steps.{restore['id']}.outputs.cache-primary-key }}}}"
        assert "cache-hit != 'true'" in save["if"]
        assert build_step < i < chaos_step, "saved after the build, so failing suites keep it"


def test_embedded_cluster_is_brought_down_at_the_end(embedded_job: Job) -> None:
    last = _steps(embedded_job)[-1]
    assert last["if"] == "always()"
    assert "argocd-chaos cluster down" in last["run"]
    assert '--name "$CHAOS_CLUSTER_NAME"' in last["run"]
    _, args = _make_chaos_calls({}, embedded_job)[0]
    assert args["PYTEST_ARGS"] == f"--cluster-name {embedded_job['env']['CHAOS_CLUSTER_NAME']}"


# --- reports, summary -----------------------------------------------------------------------------


def _artifact_paths(step: Step) -> set[str]:
    return _paths(step)


@pytest.mark.parametrize("job_name", ["kind", "embedded"])
def test_reports_are_uploaded_even_when_the_suites_fail(workflow: dict[Any, Any], job_name: str) -> None:
    job = workflow["jobs"][job_name]
    i = _index(job, lambda s: _uses(s) == "actions/upload-artifact", "uploads the reports")
    step = _steps(job)[i]
    assert step["if"] == "always()"
    assert REPORT_PATHS <= _artifact_paths(step)
    assert "matrix.argocd" in step["with"]["name"], "artifact names are unique across the matrix"
    assert i > _make_chaos_calls(workflow, job)[0][0]


@pytest.mark.parametrize("job_name", ["kind", "embedded"])
def test_ledger_goes_into_the_job_summary(workflow: dict[Any, Any], job_name: str) -> None:
    job = workflow["jobs"][job_name]
    i = _index(job, lambda s: "GITHUB_STEP_SUMMARY" in str(s.get("run", "")), "writes the summary")
    step = _steps(job)[i]
    assert step["if"] == "always()"
    assert "cat reports/claims.md" in step["run"]
    assert i > _make_chaos_calls(workflow, job)[0][0]


@pytest.mark.parametrize("job_name", ["kind", "embedded"])
def test_cleanup_is_the_last_step_and_always_runs(workflow: dict[Any, Any], job_name: str) -> None:
    job = workflow["jobs"][job_name]
    last = _steps(job)[-1]
    assert last["if"] == "always()"
    assert "run" in last
    assert "Clean up" in last["name"]


# --- comparing the ledgers ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compare_job(workflow: dict[Any, Any]) -> Job:
    return workflow["jobs"]["compare"]


def test_compare_job_runs_after_both_suites_even_when_they_fail(compare_job: Job) -> None:
    assert set(compare_job["needs"]) == {"kind", "embedded"}
    assert compare_job["if"] == "always()"


def test_compare_job_compares_the_uploaded_ledgers_of_the_matrix(
    workflow: dict[Any, Any], compare_job: Job, kind_job: Job, embedded_job: Job
) -> None:
    download = _steps(compare_job)[
        _index(compare_job, lambda s: _uses(s) == "actions/download-artifact", "downloads")
    ]
    assert download["with"] == {"pattern": "chaos-*", "path": "ledgers"}
    run = _steps(compare_job)[
        _index(compare_job, lambda s: "--compare" in str(s.get("run", "")), "compares")
    ]["run"]
    assert "GITHUB_STEP_SUMMARY" in run
    compared = re.findall(r'compare "[^"]+" (\S+) (\S+)', run)
    newest, previous = kind_job["strategy"]["matrix"]["argocd"]
    (embedded,) = embedded_job["strategy"]["matrix"]["argocd"]
    assert compared == [
        (f"ledgers/chaos-kind-{previous}", f"ledgers/chaos-kind-{newest}"),
        (f"ledgers/chaos-embedded-{embedded}", f"ledgers/chaos-kind-{newest}"),
    ]
    # The directories are the artifact names the suite jobs upload.
    assert _normalise_matrix_ref(_steps(kind_job)[-2]["with"]["name"]) == "chaos-kind-${{ matrix.argocd }}"
    assert "fail-on-change" not in run  # the nightly run records behaviour; it does not gate on it
