"""Bad input, as a hostile user would give it, through the real `argocd-chaos` command and real pytest runs.

One table: every row is a command line, an environment and files on disk that are wrong in one way.
Each must end in one clear error (the message once, nothing else failing), a non-zero exit, no
Python traceback, and nothing left behind: no new file or directory in the cache, state, temporary
or working directories, and no process of the run still alive. Every row fails before anything slow
starts (a build, a boot), so the table is light; as a safety net the runs get a PATH without Go and
an empty build cache, so a row that reached the build step would fail fast on "Go is not installed"
instead of compiling, and show up here with the wrong message.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness._report.ledger import Ledger

#: A claim test the suites would have: enough for a pytest run to want to write the ledger.
CLAIM_TEST = """
import pytest

@pytest.mark.claim("C1")
def test_claim(claim):
    claim.check("holds", claimed=1, observed=1)
"""

CLUSTER_TEST = """
def test_needs_the_cluster(chaos_cluster):
    pass
"""

#: pytest-kind's fixture plugin clashes with ours; the project's addopts keep it out, the inner runs too.
PYTEST = (sys.executable, "-m", "pytest", "-p", "no:pytest-kind", "-p", "no:cacheprovider", "-q")
CLI = (sys.executable, "-m", "harness._cli")


@dataclass(frozen=True)
class Dirs:
    work: Path
    cache: Path
    state: Path
    tmp: Path


Setup = Callable[[Dirs], None]


@dataclass(frozen=True)
class Case:
    argv: tuple[str, ...]
    message: str
    code: int
    env: dict[str, str] = field(default_factory=dict)
    setup: Setup | None = None
    #: Files in the cache a run that got as far as running a test keeps on purpose (relative paths).
    keeps: tuple[str, ...] = ()


def _ledger(path: Path, entries: object) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "claims.json").write_text(json.dumps(entries))


def _good_ledger(version: str) -> list[dict[str, object]]:
    led = Ledger()
    led.recorder.check("C1", "holds", claimed=1, observed=1, test="suites/t.py::test_c1")
    led.record_test("C1", "suites/t.py::test_c1", "passed")
    return led.entries(version)


def _bad_checks(value: object) -> Setup:
    def setup(d: Dirs) -> None:
        entries = _good_ledger("v3.6.1")
        entries[0]["checks"] = value
        _ledger(d.work / "bad", entries)
        _ledger(d.work / "good", _good_ledger("v3.6.0"))

    return setup


def _not_run_ledgers(d: Dirs) -> None:
    _ledger(d.work / "old", Ledger().entries("v3.6.0"))
    _ledger(d.work / "new", Ledger().entries("v3.6.1"))


def _state_file(content: str) -> Setup:
    def setup(d: Dirs) -> None:
        (d.state / "x" / "logs").mkdir(parents=True)
        (d.state / "x" / "cluster.json").write_text(content)

    return setup


#: A run that ran a test records its duration for the next run's order (harness._scenario.schedule).
DURATIONS = ("test-durations.json",)

#: A test that loads the fixture app in ./fx/broken, as a suite loads one of fixtures/.
FIXTURE_TEST = """
from pathlib import Path

from harness import FixtureApp


def test_load_the_fixture():
    FixtureApp.load("broken", Path("fx"))
"""


def _test_file(text: str) -> Setup:
    def setup(d: Dirs) -> None:
        (d.work / "test_inner.py").write_text(text)

    return setup


def _fixture_case(text: str, problem: str) -> Case:
    """A pytest run of FIXTURE_TEST over ./fx/broken, whose second file holds `text`.

    `-rN`: no short summary, which would repeat the failing test's message.
    """

    def setup(d: Dirs) -> None:
        app = d.work / "fx" / "broken"
        app.mkdir(parents=True)
        (app / "01-ok.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n")
        (app / "02-bad.yaml").write_text(text)
        _test_file(FIXTURE_TEST)(d)

    message = f"ConfigError: fixture file fx/broken/02-bad.yaml: {problem}"
    return Case(("pytest", "-rN"), message, 1, keeps=DURATIONS, setup=setup)


CASES: dict[str, Case] = {
    # -- ledgers (item 5, and the gate with nothing to compare) --
    "claims-checks-is-a-string": Case(
        ("claims", "--reports", "bad"),
        "argocd-chaos: error: bad/claims.json is not a claims ledger: claim C1 (entry 1): field `checks`: "
        'Input should be a valid list (got a string "abc")',
        1,
        setup=_bad_checks("abc"),
    ),
    "compare-old-side-checks-is-a-number": Case(
        ("claims", "--reports", "good", "--compare", "bad", "--fail-on-change"),
        "argocd-chaos: error: bad/claims.json is not a claims ledger: claim C1 (entry 1): field `checks`: "
        "Input should be a valid list (got a number 5)",
        1,
        setup=_bad_checks(5),
    ),
    "compare-new-side-checks-is-a-string": Case(
        ("claims", "--reports", "bad", "--compare", "good"),
        "argocd-chaos: error: bad/claims.json is not a claims ledger: claim C1 (entry 1): field `checks`:",
        1,
        setup=_bad_checks("abc"),
    ),
    "gate-with-nothing-to-compare": Case(
        ("claims", "--reports", "new", "--compare", "old", "--fail-on-change"),
        "argocd-chaos: error: --fail-on-change: nothing to compare, no claim ran in both old and new",
        1,
        setup=_not_run_ledgers,
    ),
    # -- fixture files (item 4): the test fails with one error naming the file and the document --
    "fixture-invalid-yaml": _fixture_case(
        "apiVersion: v1\nkind: [ConfigMap\n", "document 1 is not valid YAML"
    ),
    "fixture-hook-without-kind": _fixture_case(
        "apiVersion: batch/v1\nmetadata:\n  name: hook\n", "document 1 (line 1) has no `kind`"
    ),
    "fixture-document-is-a-list": _fixture_case("- a\n- b\n", "document 1 (line 1) is a list"),
    # -- state on disk (item 7) --
    "status-of-a-corrupt-state-file": Case(
        ("cluster", "status", "--name", "x"),
        "/x/cluster.json is not valid JSON (Invalid JSON: EOF while parsing an object",
        1,
        setup=_state_file('{"components": {'),
    ),
    "status-of-an-empty-state-file": Case(
        ("cluster", "status", "--name", "x"),
        "/x/cluster.json is empty; none of its processes runs",
        1,
        setup=_state_file(""),
    ),
    "status-of-an-older-state-file": Case(
        ("cluster", "status", "--name", "x"),
        "/x/cluster.json is not a state file this version can read: field `build_root`: Field required",
        1,
        setup=_state_file('{"components": {}, "ports": {}}'),
    ),
    "kill-in-a-cluster-with-a-corrupt-state-file": Case(
        ("cluster", "kill", "etcd", "--name", "x"),
        "/x/cluster.json is not valid JSON",
        1,
        setup=_state_file("{"),
    ),
    # -- order of checks (item 10) --
    "api-port-out-of-range": Case(
        ("cluster", "up", "--name", "x", "--api-port", "70000"),
        "argocd-chaos cluster up: error: argument --api-port: port 70000 is out of range 1-65535",
        2,
    ),
    "api-port-not-a-number": Case(
        ("cluster", "up", "--name", "x", "--api-port", "http"),
        "argocd-chaos cluster up: error: argument --api-port: 'http' is not a port number",
        2,
    ),
    "api-port-taken": Case(
        ("cluster", "up", "--name", "x", "--api-port", "{taken}"),
        "argocd-chaos: error: kube-apiserver port {taken} on 127.0.0.1 is already in use",
        2,
    ),
    "up-with-a-bad-version": Case(
        ("cluster", "up", "--name", "x", "--argocd-version", "banana"),
        "argocd-chaos: error: Argo CD version 'banana' is not a release tag like v3.6.1",
        2,
    ),
    "up-with-a-bad-name": Case(
        ("cluster", "up", "--name", "Bad_Name"),
        "argocd-chaos: error: cluster name 'Bad_Name' is not valid: use 1-40 lower-case letters",
        2,
    ),
    "up-with-a-bad-name-and-a-bad-port": Case(
        ("cluster", "up", "--name", "Bad_Name", "--api-port", "70000"),
        "argocd-chaos cluster up: error: argument --api-port: port 70000 is out of range",
        2,
    ),
    # -- environment (item 9) --
    "cli-timeout-is-not-a-number": Case(
        ("cluster", "status", "--name", "x"),
        "argocd-chaos: error: ARGOCD_CHAOS_TIMEOUT_ASSERT='banana' is not a number of seconds",
        2,
        env={"ARGOCD_CHAOS_TIMEOUT_ASSERT": "banana"},
    ),
    "pytest-timeout-is-not-a-number": Case(
        ("pytest",),
        "ERROR: ARGOCD_CHAOS_TIMEOUT_ASSERT='banana' is not a number of seconds",
        4,
        env={"ARGOCD_CHAOS_TIMEOUT_ASSERT": "banana"},
        setup=_test_file(CLAIM_TEST),
    ),
    "pytest-timeout-is-negative": Case(
        ("pytest",),
        "ERROR: ARGOCD_CHAOS_TIMEOUT_CHAOS must be a positive, finite number of seconds, got -1.0",
        4,
        env={"ARGOCD_CHAOS_TIMEOUT_CHAOS": "-1"},
        setup=_test_file(CLAIM_TEST),
    ),
    "pytest-cluster-from-the-environment": Case(
        ("pytest",),
        "ERROR: ARGOCD_CHAOS_CLUSTER='banana' (the default of --cluster) is not one of embedded, kind, "
        "existing",
        4,
        env={"ARGOCD_CHAOS_CLUSTER": "banana"},
        setup=_test_file(CLAIM_TEST),
    ),
    # -- reports directory (item 8) --
    "pytest-reports-dir-under-a-file": Case(
        ("pytest", "--reports-dir", "/dev/null/reports"),
        "ERROR: --reports-dir /dev/null/reports cannot be created: /dev/null exists and is not a directory",
        4,
        setup=_test_file(CLAIM_TEST),
    ),
    # -- options checked before the session starts anything (item 10) --
    "pytest-bad-version": Case(
        ("pytest", "--argocd-version", "banana"),
        "ERROR: Argo CD version 'banana' is not a release tag like v3.6.1",
        4,
        setup=_test_file(CLUSTER_TEST),
    ),
    "pytest-bad-cluster-name": Case(
        ("pytest", "--cluster-name", "Bad_Name"),
        "ERROR: cluster name 'Bad_Name' is not valid",
        4,
        setup=_test_file(CLUSTER_TEST),
    ),
    "pytest-existing-without-context": Case(
        ("pytest", "--cluster", "existing"),
        "ERROR: --cluster existing needs --context NAME",
        4,
        setup=_test_file(CLUSTER_TEST),
    ),
    "pytest-kind-path-missing": Case(
        ("pytest", "--cluster", "kind", "--kind-path", "/nonexistent/kind"),
        "ERROR: --kind-path /nonexistent/kind is not an executable file",
        4,
        setup=_test_file(CLUSTER_TEST),
    ),
    "pytest-argocd-manifest-missing": Case(
        (
            "pytest",
            "--cluster",
            "kind",
            "--kind-path",
            sys.executable,
            "--argocd-manifest",
            "/nonexistent.yaml",
        ),
        "ERROR: --argocd-manifest /nonexistent.yaml is not a file",
        4,
        setup=_test_file(CLUSTER_TEST),
    ),
}


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    d = Dirs(tmp_path / "work", tmp_path / "cache", tmp_path / "state", tmp_path / "tmp")
    for p in (d.work, d.cache, d.state, d.tmp):
        p.mkdir()
    return d


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def _path_without_go() -> str:
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and not (Path(e) / "go").exists())


def _tree(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*")}


def _session_processes(sid: int) -> list[int]:
    """Processes still in the session the run was started in (every child it started, unless it escaped)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


def run_case(case: Case, dirs: Dirs, taken: int) -> subprocess.CompletedProcess[str]:
    if case.setup is not None:
        case.setup(dirs)
    before = _tree(dirs.work, dirs.cache, dirs.state, dirs.tmp)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_CHAOS_", "PYTEST_"))},
        "ARGOCD_CHAOS_CACHE": str(dirs.cache),
        "ARGOCD_CHAOS_STATE": str(dirs.state),
        "TMPDIR": str(dirs.tmp),
        "PATH": _path_without_go(),
        **case.env,
    }
    program = PYTEST if case.argv[0] == "pytest" else CLI
    args = case.argv[1:] if case.argv[0] == "pytest" else case.argv
    argv = [*program, *(a.replace("{taken}", str(taken)) for a in args)]
    p = subprocess.Popen(
        argv,
        cwd=dirs.work,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = p.communicate(timeout=120)
    left = _session_processes(p.pid)
    assert left == [], f"processes of the run still alive: {left}"
    kept = {dirs.cache / k for k in case.keeps}
    assert _tree(dirs.work, dirs.cache, dirs.state, dirs.tmp) - kept == before, "the run left files behind"
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_error_and_leaves_nothing_behind(
    name: str, dirs: Dirs, taken_port: int
) -> None:
    case = CASES[name]

    result = run_case(case, dirs, taken_port)

    output = result.stdout + result.stderr
    message = case.message.replace("{taken}", str(taken_port))
    assert result.returncode == case.code, output
    assert output.count(message) == 1, output
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    assert "Go is not installed" not in output  # nothing got as far as the build step
