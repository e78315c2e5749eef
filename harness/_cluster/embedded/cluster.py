"""The embedded cluster: a real control plane and the real Argo CD controller as local processes.

Everything listens on 127.0.0.1 on ports chosen at start and keeps its state (certificates, etcd
data, logs, repo-server scratch space) under one directory per cluster name, so removing that
directory after the processes are gone leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired

import pydantic
from kubernetes import client
from typing_extensions import TypedDict  # pydantic needs this TypedDict on Python < 3.12

from harness._argocd import seed as _seed
from harness._argocd.canary import Canary
from harness._build.binaries import Build
from harness._build.versions import BuildVersions
from harness._cluster.embedded import kwok_stages as _kwok_stages
from harness._cluster.embedded import pki as _pki
from harness._cluster.embedded import probes as _probes
from harness._cluster.embedded import process as proc
from harness._cluster.embedded.parallel import run_concurrently
from harness._cluster.embedded.ports import free_ports, require_free
from harness._cluster.lease import name_lock
from harness._errors import ClusterSetupError, ConfigError, HarnessError
from harness._kube import api_client, apply, apply_all, dynamic_client
from harness._paths import state_root
from harness._wait import Expectation, Outcome, expect

COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "redis",
    "argocd-repo-server",
    "argocd-application-controller",
)
#: How long a second `up` of the same name waits for the first to finish booting.
BOOT_LOCK_TIMEOUT = 300.0
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_PORT_NAMES = (
    "etcd",
    "etcd_peer",
    "api",
    "kcm",
    "scheduler",
    "redis",
    "repo",
    "repo_metrics",
    "ctrl_metrics",
)

Say = Callable[[str], None]


def validate_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ConfigError(
            f"cluster name {name!r} is not valid: use 1-40 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit."
        )
    return name


class StateFileError(HarnessError):
    """A cluster's `cluster.json` cannot be used (corrupt, empty, or written by an older version).

    `running` lists the processes still writing into the cluster's state directory, so the caller
    can tell stale state (safe to remove) from a cluster that still runs without a usable record.
    """

    def __init__(self, name: str, path: Path, problem: str, running: list[proc.ProcessRecord]) -> None:
        self.name = name
        self.path = path
        self.problem = problem
        self.running = running
        pids = ", ".join(f"{r.name} pid {r.pid}" for r in running)
        alive = (
            f"; {len(running)} of its processes still run ({pids})"
            if running
            else "; none of its processes runs"
        )
        super().__init__(
            f"cluster {name!r}: its state file {path} {problem}{alive}. "
            f"`argocd-chaos cluster down --name {name}` stops what it finds and removes {path.parent}"
        )


class PausedComponent:
    """One component frozen by `EmbeddedCluster.pause`; resumed by a timer, `resume()` or `with` exit.

    `paused_at` and `resumed_at` are `time.monotonic()` readings; `resumed_at` is None while paused.
    """

    def __init__(self, record: proc.ProcessRecord, seconds: float | None) -> None:
        self.component = record.name
        self.seconds = seconds
        self._record = record
        self._lock = threading.Lock()
        self.resumed_at: float | None = None
        proc.pause(record)
        self.paused_at = time.monotonic()
        self._timer: threading.Timer | None = None
        if seconds is not None:
            # The pause is the scenario: a timer, not a wait for a condition.
            self._timer = threading.Timer(seconds, self.resume)
            self._timer.daemon = True
            self._timer.start()

    @property
    def paused(self) -> bool:
        return self.resumed_at is None

    def resume(self) -> None:
        """Let the component run again now (idempotent); records `resumed_at`."""
        with self._lock:
            if self.resumed_at is not None:
                return
            proc.resume(self._record)
            self.resumed_at = time.monotonic()
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()

    def wait(self, timeout: float | None = None) -> None:
        """Block until a timed pause has ended (its timer resumed the component)."""
        if self._timer is not None:
            self._timer.join(timeout)

    def __enter__(self) -> PausedComponent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.resume()


class _StateShape(TypedDict):
    """What `_save` writes and `attach` needs; `options` is absent in files of older versions."""

    components: dict[str, proc.ProcessRecord]
    build_root: str
    versions: BuildVersions
    ports: dict[str, int]
    options: NotRequired[dict[str, Any]]
    booted: NotRequired[bool]


_STATE_SHAPE = pydantic.TypeAdapter(_StateShape)


def read_state(name: str, path: Path) -> _StateShape:
    """Parse and check a cluster.json; raise StateFileError naming the file and the field."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StateFileError(name, path, f"cannot be read ({exc.strerror})", _found(path.parent)) from None
    if not raw.strip():
        raise StateFileError(name, path, "is empty", _found(path.parent))
    try:
        # JSON mode: strict types, and the dataclasses are built from JSON objects.
        return _STATE_SHAPE.validate_json(raw, strict=True)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        where = f"field `{field}`: " if field else ""
        problem = (
            f"is not valid JSON ({err['msg']})"
            if err["type"] == "json_invalid"
            else f"is not a state file this version can read: {where}{err['msg']}"
        )
        raise StateFileError(name, path, problem, _found(path.parent)) from None


def _found(state_dir: Path) -> list[proc.ProcessRecord]:
    return proc.writing_into(state_dir / "logs") if state_dir.is_dir() else []


@dataclass
class EmbeddedOptions:
    """What a user may choose for an embedded cluster; everything else is derived."""

    name: str = "argocd-chaos"
    api_port: int | None = None
    nodes: int = 1
    #: Extra flags for argocd-application-controller (recorded in the report environment).
    controller_args: list[str] = field(default_factory=list)
    #: Extra `argocd-cm` data, e.g. {"timeout.reconciliation": "10s"}.
    argocd_cm: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    #: Stop the processes but keep state and logs when `up` fails (for debugging a boot).
    keep_on_failure: bool = False


class EmbeddedCluster:
    """One embedded cluster, owned by whoever called `up`, or attached to by name later."""

    def __init__(self, name: str, build: Build, state_dir: Path | None = None) -> None:
        self.name = validate_name(name)
        self.build = build
        self.state_dir = state_dir or state_root() / name
        self.records: dict[str, proc.ProcessRecord] = {}
        self.ports: dict[str, int] = {}
        self.options = EmbeddedOptions(name=name)
        self.timings: dict[str, float] = {}
        self._popen: dict[str, subprocess.Popen[bytes]] = {}
        self._launched_at: dict[str, float] = {}
        self.pki = _pki_paths(self.state_dir)
        #: True once `up` finished: only then does the cluster count as running for others.
        self.booted = False

    # -- paths -----------------------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / "kubeconfig"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "cluster.json"

    @property
    def versions(self) -> BuildVersions:
        return self.build.versions

    def log(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    # -- attach ----------------------------------------------------------------------------------------
    @classmethod
    def attach(cls, name: str) -> EmbeddedCluster | None:
        """The cluster of that name as its state file records it, or None if it has no state file.

        Raises StateFileError when the file is there but cannot be used; `remove` cleans up then.
        """
        sd = state_root() / validate_name(name)
        if not (sd / "cluster.json").exists():
            return None
        state = read_state(name, sd / "cluster.json")
        c = cls(name, Build(Path(state["build_root"]), state["versions"]), sd)
        c.records = dict(state["components"])
        c.ports = dict(state["ports"])
        # Options a newer or older version wrote and this one does not know are left out.
        known = {f.name for f in dataclasses.fields(EmbeddedOptions)}
        c.options = EmbeddedOptions(**{k: v for k, v in state.get("options", {}).items() if k in known})
        # State written before the flag existed belongs to clusters that finished booting.
        c.booted = state.get("booted", True)
        return c

    @classmethod
    def remove(cls, name: str) -> bool:
        """Stop every process of cluster `name` and remove its state directory, whatever state it is in.

        Works from a readable state file, an unreadable one, or none (the processes are also found
        by the log files they write into). Returns whether there was anything to remove; raises
        HarnessError if the directory could not be removed.
        """
        sd = state_root() / validate_name(name)
        if not sd.exists():
            return False
        try:
            cluster = cls.attach(name)
        except StateFileError:
            cluster = None
        if cluster is None:  # no usable record: stop what writes into the logs, then remove the dir
            cluster = cls(name, Build(sd, BuildVersions("", "", "", "")), sd)
        cluster.down()
        if sd.exists():
            raise HarnessError(f"cluster {name!r}: its processes are stopped, but {sd} could not be removed")
        return True

    def running(self) -> dict[str, bool]:
        return {n: r.alive() for n, r in self.records.items()}

    # -- lifecycle -------------------------------------------------------------------------------------
    def up(self, options: EmbeddedOptions | None = None, say: Say | None = None) -> EmbeddedCluster:
        """Start every component in order; on any failure or interrupt, stop what was started."""
        self.options = options or self.options
        out = say or (lambda _m: None)
        if self.options.api_port is not None:
            require_free(self.options.api_port, "kube-apiserver")
        # One boot per name at a time: a second `up` waits, then finds the cluster running.
        with name_lock(self.name, timeout=BOOT_LOCK_TIMEOUT, what="booted", purpose="boot"):
            self._up_locked(out)
        return self

    def _up_locked(self, out: Say) -> None:
        existing = self._previous_state(out)
        if existing and any(existing.running().values()):
            raise ConfigError(
                f"cluster {self.name!r} is already running ({self.state_dir}); reuse it, stop it with "
                f"`argocd-chaos cluster down --name {self.name}`, or pick another --name."
            )
        if existing:
            out(f"removing stale state of cluster {self.name!r} at {self.state_dir}")
            existing.down()
        self._check_runtime_deps()
        t0 = time.monotonic()
        try:
            self._prepare()
            self._boot(out)
        except BaseException as exc:
            if self.options.keep_on_failure and not isinstance(exc, KeyboardInterrupt):
                self._stop_processes()
                out(f"kept the failed cluster's state and logs for inspection: {self.state_dir}")
            else:
                self.down()
            raise
        self.timings["total"] = time.monotonic() - t0
        self.booted = True
        self._save()
        out(f"cluster {self.name!r} is up in {self.timings['total']:.1f}s")

    def _previous_state(self, out: Say) -> EmbeddedCluster | None:
        """What an earlier cluster of this name left; unreadable state whose processes are gone is removed."""
        if not (self.state_dir / "cluster.json").exists():
            return None
        try:
            return EmbeddedCluster.attach(self.name)
        except StateFileError as exc:
            if exc.running:
                raise ConfigError(str(exc)) from None
            out(f"removing unreadable state of cluster {self.name!r} at {self.state_dir} ({exc.problem})")
            EmbeddedCluster.remove(self.name)
            return None

    def down(self) -> None:
        """Stop every process (reverse start order) and remove the state directory."""
        self._stop_processes()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def _stop_processes(self) -> None:
        # The state file is the truth: a component restarted through another handle (a chaos test
        # attaching by name, the CLI) has a new pid that only the file knows. Processes writing into
        # the log directory count too: the file may be unreadable, or lag behind a start.
        known = {(r.pid, r.start_ticks): r for r in self.records.values()}
        if self.state_file.is_file():
            try:
                on_disk = read_state(self.name, self.state_file)["components"]
            except StateFileError:
                on_disk = {}
            known.update({(r.pid, r.start_ticks): r for r in on_disk.values()})
        known.update({(r.pid, r.start_ticks): r for r in _found(self.state_dir)})
        order = {n: i for i, n in enumerate(COMPONENTS)}
        for rec in sorted(known.values(), key=lambda r: order.get(r.name, -1), reverse=True):
            proc.terminate(rec)
        for p in self._popen.values():
            if p.poll() is None:
                p.kill()
            p.wait(timeout=5)
        self._popen.clear()
        self.records.clear()

    # -- chaos controls --------------------------------------------------------------------------------
    def stop(self, component: str) -> None:
        proc.terminate(self._record(component))

    def kill(self, component: str) -> None:
        proc.kill(self._record(component))

    def start(self, component: str) -> None:
        """Start a stopped component again with its original command line, then wait until it is ready."""
        rec = self._record(component)
        if rec.alive():
            return
        p, new = proc.start(component, rec.argv, log_dir=self.log_dir, env=rec.env)
        self._popen[component] = p
        self.records[component] = new
        proc.wait_ready(new, self._probe(component), timeout=self.options.ready_timeout, proc=p)
        self._save()

    def restart(self, component: str) -> None:
        self.stop(component)
        self.start(component)

    def pause(self, component: str, seconds: float | None = None) -> PausedComponent:
        """Freeze a component (SIGSTOP of its process group) and let it run again after `seconds`.

        A paused component keeps its sockets and its state: peers see it slow, not gone (a lagging
        controller, a repo-server stuck in a render). `seconds` None pauses until `resume()`; the
        returned `PausedComponent` resumes it early, and as a context manager on exit. Stopping or
        tearing down the cluster resumes it first. Raises ConfigError for an unknown component or a
        negative time, HarnessError when the component is not running.
        """
        if seconds is not None and not seconds >= 0:
            raise ConfigError(f"pause seconds must be a number >= 0, got {seconds!r}")
        return PausedComponent(self._record(component), seconds)

    def _record(self, component: str) -> proc.ProcessRecord:
        if component not in self.records:
            raise ConfigError(f"unknown component {component!r}; components: {', '.join(COMPONENTS)}")
        return self.records[component]

    # -- steps -----------------------------------------------------------------------------------------
    def _check_runtime_deps(self) -> None:
        missing = [b for b in ("redis-server", "git") if not shutil.which(b)]
        if missing:
            raise ClusterSetupError(
                missing[0],
                f"{' and '.join(missing)} not found on PATH; install with "
                f"`sudo apt-get install -y {' '.join(missing)}` (or run `make deps` as root).",
            )
        for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "argocd"):
            if not os.access(self.build.binary(b), os.X_OK):
                raise ClusterSetupError(
                    b, f"binary {self.build.binary(b)} is missing; run `argocd-chaos build`"
                )

    def _prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        for d in (
            "logs",
            "etcd",
            "tmp",
            "home",
            "argocd/tls",
            "argocd/ssh",
            "argocd/gpg/keys",
            "argocd/gpg/source",
        ):
            (self.state_dir / d).mkdir(parents=True, exist_ok=True)
        ports = free_ports(len(_PORT_NAMES))
        self.ports = dict(zip(_PORT_NAMES, ports, strict=True))
        if self.options.api_port is not None:
            self.ports["api"] = self.options.api_port
        self.pki = _pki.generate_pki(self.state_dir / "pki")
        _pki.write_kubeconfig(
            self.kubeconfig,
            server=f"https://127.0.0.1:{self.ports['api']}",
            pki=self.pki,
            cluster_name=self.name,
        )
        self._save()

    def _launch(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        p, rec = proc.start(name, argv, log_dir=self.log_dir, env=env)
        self._popen[name] = p
        self.records[name] = rec
        self._launched_at[name] = time.monotonic()
        self._save()

    def _ready(self, names: Iterable[str], out: Say) -> None:
        """Wait for the named components side by side; the first failure stops the other waits.

        Each component's timing is from its launch to its probe's first success, so components
        started early report their whole start-up, not only the part after the previous wait.
        """

        def waiter(name: str) -> Callable[[threading.Event], None]:
            def wait(cancel: threading.Event) -> None:
                proc.wait_ready(
                    self.records[name],
                    self._probe(name),
                    timeout=self.options.ready_timeout,
                    proc=self._popen.get(name),
                    cancel=cancel,
                )
                took = time.monotonic() - self._launched_at.get(name, time.monotonic())
                self.timings[name] = took
                out(f"  {name} ready ({took:.1f}s after start) log: {self.log(name)}")

            return wait

        run_concurrently({name: waiter(name) for name in names})

    def _boot(self, out: Say) -> None:
        """Start every component as soon as what it needs is there, and wait only where needed.

        Needs: kube-apiserver needs etcd; the repo-server needs redis; kcm, the scheduler and
        seeding need the API server; KWOK needs the Stage CRD and our stages (it plays out the stages on
        its first list of nodes); the controller needs the CRDs, the config objects and the
        repo-server; the canary needs the controller. Work that needs no cluster (reading the
        manifests, the canary's git repo) is done while the API server starts.
        """
        self._launch_etcd()
        self._launch_redis()
        self._ready(["etcd", "redis"], out)
        self._launch_apiserver()
        # The repo-server needs only redis; started now, its few seconds of start-up under load
        # are over before the controller needs it.
        self._launch_repo_server()
        t0 = time.monotonic()
        objs = self._seed_objects()
        canary = Canary.prepare(self.state_dir / "repos")
        self.timings["manifests-and-canary-repo"] = time.monotonic() - t0
        self._ready(["kube-apiserver"], out)
        self._launch_controller_manager()
        self._launch_scheduler()
        self._seed(objs, out)
        self._launch_kwok()
        # The first request for Applications makes the API server build what it needs to serve
        # the large Application CRD: about 2 s of a boot here, whoever asks first.
        canary.create(self.kubeconfig)
        self._ready(["argocd-repo-server"], out)
        self._launch_application_controller()
        self._ready(
            ["kube-controller-manager", "kube-scheduler", "kwok", "argocd-application-controller"], out
        )
        self._wait_reconciling(canary, out)

    def _launch_etcd(self) -> None:
        b, p, s = self.build.binary, self.ports, self.state_dir
        self._launch(
            "etcd",
            [
                str(b("etcd")),
                "--name=node0",
                f"--data-dir={s / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd_peer']}",
                f"--initial-cluster=node0=http://127.0.0.1:{p['etcd_peer']}",
                "--listen-metrics-urls=",
                "--auto-compaction-retention=1",
                "--quota-backend-bytes=8589934592",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
        )

    def _launch_apiserver(self) -> None:
        b, p, s = self.build.binary, self.ports, self.state_dir
        pki = self.pki
        self._launch(
            "kube-apiserver",
            [
                str(b("kube-apiserver")),
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['api']}",
                "--advertise-address=127.0.0.1",
                "--endpoint-reconciler-type=none",
                f"--tls-cert-file={pki.serving_crt}",
                f"--tls-private-key-file={pki.serving_key}",
                f"--cert-dir={s / 'pki'}",
                f"--client-ca-file={pki.ca_crt}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--max-requests-inflight=0",
                "--max-mutating-requests-inflight=0",
                "--profiling=false",
            ],
        )

    def _seed_objects(self) -> _SeedPlan:
        """Everything seeding applies, read from the build's manifests; needs no cluster."""
        install = _seed.install_objects(self.build.install_yaml)
        config = _seed.place_config(install.config)
        for obj in config:
            if obj["metadata"]["name"] == "argocd-cm" and self.options.argocd_cm:
                obj.setdefault("data", {}).update(self.options.argocd_cm)
        return _SeedPlan(
            crds=[*install.crds, _seed.stage_crd(self.build.stage_crd)],
            plain=[
                *config,
                *(_seed.fake_node(f"kwok-node-{i}") for i in range(self.options.nodes)),
            ],
            custom=[_seed.default_project(), *_kwok_stages.default_stages()],
        )

    def _seed(self, plan: _SeedPlan, out: Say) -> None:
        """Apply the CRDs, then the built-in objects while the CRDs become Established.

        The custom resources (AppProject, Stages) follow once the API server serves their kinds.
        """
        t0 = time.monotonic()
        api = api_client(self.kubeconfig)
        try:
            dyn = dynamic_client(api, self.state_dir / "discovery.json")
            apply(dyn, _seed.namespace(_seed.ARGOCD_NAMESPACE))
            apply_all(dyn, plan.crds)
            self.timings["seed-crds-applied"] = time.monotonic() - t0
            apply_all(dyn, plan.plain)
            expect(
                Expectation(
                    "Argo CD and KWOK CRDs Established and their kinds served",
                    lambda: crds_served(api, plan.crds),
                ),
                timeout=self.options.ready_timeout,
                max_interval=0.1,
            )
            self.timings["seed-crds-served"] = time.monotonic() - t0
            dyn = dynamic_client(api, self.state_dir / "discovery-crds.json")  # discovery with the new CRDs
            apply_all(dyn, plan.custom)
        finally:
            api.close()
        self.timings["seed"] = time.monotonic() - t0
        out(f"  seeded CRDs, Argo CD config, default AppProject, KWOK stages ({self.timings['seed']:.1f}s)")

    def _component_common_args(self) -> list[str]:
        kc = str(self.kubeconfig)
        return [
            "--leader-elect=false",
            f"--kubeconfig={kc}",
            "--bind-address=127.0.0.1",
            "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
        ]

    def _launch_controller_manager(self) -> None:
        b, p = self.build.binary, self.ports
        self._launch(
            "kube-controller-manager",
            [
                str(b("kube-controller-manager")),
                *self._component_common_args(),
                f"--secure-port={p['kcm']}",
                f"--root-ca-file={self.pki.ca_crt}",
                f"--service-account-private-key-file={self.pki.sa_key}",
                "--use-service-account-credentials=false",
                "--kube-api-qps=500",
                "--kube-api-burst=1000",
                f"--cert-dir={self.state_dir / 'pki' / 'kcm'}",
            ],
        )

    def _launch_scheduler(self) -> None:
        b, p = self.build.binary, self.ports
        self._launch(
            "kube-scheduler",
            [
                str(b("kube-scheduler")),
                *self._component_common_args(),
                f"--secure-port={p['scheduler']}",
                f"--cert-dir={self.state_dir / 'pki' / 'scheduler'}",
            ],
        )

    def _launch_kwok(self) -> None:
        b, kc = self.build.binary, str(self.kubeconfig)
        self._launch(
            "kwok",
            [
                str(b("kwok")),
                f"--kubeconfig={kc}",
                "--manage-all-nodes=true",
                "--enable-crds=Stage",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.255.0.1",
            ],
            env={"HOME": str(self.state_dir / "home")},
        )

    def _launch_redis(self) -> None:
        p = self.ports
        self._launch(
            "redis",
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(p["redis"]),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.state_dir / "tmp"),
            ],
        )

    def _argocd_env(self) -> dict[str, str]:
        s = self.state_dir
        return {
            "ARGOCD_FAKE_IN_CLUSTER": "true",
            "KUBECONFIG": str(self.kubeconfig),
            "ARGOCD_GPG_ENABLED": "false",
            "ARGOCD_TLS_DATA_PATH": str(s / "argocd" / "tls"),
            "ARGOCD_SSH_DATA_PATH": str(s / "argocd" / "ssh"),
            "ARGOCD_GNUPGHOME": str(s / "argocd" / "gpg" / "keys"),
            "ARGOCD_GPG_DATA_PATH": str(s / "argocd" / "gpg" / "source"),
            "HOME": str(s / "home"),
            "TMPDIR": str(s / "tmp"),
            "HOSTNAME": "argocd-chaos-controller-0",
            # helm and kustomize of the release come right after its own binaries, before the
            # host's PATH: a chart renders with the tool version the release's image ships.
            "PATH": ":".join(
                [
                    str(self.build.bin),
                    *map(str, self.build.tool_dirs),
                    os.environ.get("PATH", "/usr/bin:/bin"),
                ]
            ),
        }

    def _launch_repo_server(self) -> None:
        b, p = self.build.binary, self.ports
        self._launch(
            "argocd-repo-server",
            [
                str(b("argocd-repo-server")),
                "--port",
                str(p["repo"]),
                "--address",
                "127.0.0.1",
                "--metrics-port",
                str(p["repo_metrics"]),
                "--metrics-address",
                "127.0.0.1",
                "--redis",
                f"127.0.0.1:{p['redis']}",
                "--disable-tls",
                # No client CA: only releases that have the flag (v3.6 on) are told so.
                *_if_supported(b("argocd-repo-server"), "--client-ca-path="),
                "--logformat",
                "json",
            ],
            env=self._argocd_env(),
        )

    def _launch_application_controller(self) -> None:
        b, p, kc = self.build.binary, self.ports, str(self.kubeconfig)
        self._launch(
            "argocd-application-controller",
            [
                str(b("argocd-application-controller")),
                "--kubeconfig",
                kc,
                "--namespace",
                _seed.ARGOCD_NAMESPACE,
                "--redis",
                f"127.0.0.1:{p['redis']}",
                "--repo-server",
                f"127.0.0.1:{p['repo']}",
                "--repo-server-plaintext",
                "--metrics-port",
                str(p["ctrl_metrics"]),
                "--logformat",
                "json",
                *self.options.controller_args,
            ],
            env=self._argocd_env(),
        )

    def _wait_reconciling(self, canary: Canary, out: Say) -> None:
        """Prove the controller reconciles: the canary app must be reconciled from its git repo.

        The app was created before the controller started, so its first list already holds it.
        """
        t0 = time.monotonic()
        canary.wait(
            self.kubeconfig,
            timeout=self.options.ready_timeout,
            hint=f"see {self.log('argocd-application-controller')}",
            max_interval=0.25,
        )
        self.timings["controller-reconciling"] = time.monotonic() - t0
        out(f"  argocd-application-controller reconciling ({self.timings['controller-reconciling']:.1f}s)")

    # -- probes ----------------------------------------------------------------------------------------
    def _probe(self, name: str) -> proc.Probe:
        p = self.ports
        if name == "etcd":
            return _probes.http_ok(f"http://127.0.0.1:{p['etcd']}/health", expect='"health":"true"')
        if name == "kube-apiserver":
            pki = _pki_paths(self.state_dir)
            tls = _probes.client_tls(pki.ca_crt, pki.admin_crt, pki.admin_key)
            return _probes.http_ok(f"https://127.0.0.1:{p['api']}/readyz", expect="ok", ssl_context=tls)
        if name in ("kube-controller-manager", "kube-scheduler"):
            port = p["kcm"] if name == "kube-controller-manager" else p["scheduler"]
            return _probes.http_ok(
                f"https://127.0.0.1:{port}/healthz", expect="ok", ssl_context=_probes.insecure_tls()
            )
        if name == "kwok":
            return self._node_ready_probe()
        if name == "redis":
            return _probes.redis_ping(p["redis"])
        if name == "argocd-repo-server":
            return _probes.http_ok(f"http://127.0.0.1:{p['repo_metrics']}/healthz")
        if name == "argocd-application-controller":
            return _probes.http_ok(f"http://127.0.0.1:{p['ctrl_metrics']}/healthz")
        raise ConfigError(f"unknown component {name!r}")

    def _node_ready_probe(self) -> proc.Probe:
        def probe() -> tuple[bool, str]:
            api = api_client(self.kubeconfig)
            try:
                from kubernetes import client

                nodes = client.CoreV1Api(api).list_node(label_selector="type=kwok").items
                seen = {n.metadata.name if n.metadata else "?": _ready_status(n) for n in nodes}
                return bool(seen) and all(v == "True" for v in seen.values()), f"node Ready: {seen}"
            finally:
                api.close()

        return probe

    def _save(self) -> None:
        extra = {
            "name": self.name,
            "build_root": str(self.build.root),
            "versions": json.loads(self.build.versions.to_json()),
            "ports": self.ports,
            "kubeconfig": str(self.kubeconfig),
            "options": self.options.__dict__,
            "timings": self.timings,
            "owner_pid": os.getpid(),
            "booted": self.booted,
        }
        if self.state_dir.is_dir():
            proc.save_records(self.state_file, self.records, extra)


@dataclass(frozen=True)
class _SeedPlan:
    """What seeding applies: CRDs first, then built-in kinds, then the custom resources."""

    crds: list[dict[str, Any]]
    plain: list[dict[str, Any]]
    custom: list[dict[str, Any]]


def _pki_paths(state_dir: Path) -> _pki.ClusterPKI:
    d = state_dir / "pki"
    return _pki.ClusterPKI(
        d,
        d / "ca.crt",
        d / "ca.key",
        d / "apiserver.crt",
        d / "apiserver.key",
        d / "admin.crt",
        d / "admin.key",
        d / "sa.key",
        d / "sa.pub",
    )


def _ready_status(node: Any) -> str:
    for c in node.status.conditions or []:
        if c.type == "Ready":
            return str(c.status)
    return "Unknown"


def crds_served(api: Any, crds: list[dict[str, Any]]) -> Outcome:
    """Met when every CRD is Established and API discovery lists its plural for every served version.

    Read as raw JSON: the CRDs are large (Argo CD's are hundreds of kB), and the client's model
    objects would cost more to build than the request itself.
    """
    ext = client.ApiextensionsV1Api(api)
    pending: list[str] = []
    for crd in crds:
        name = crd["metadata"]["name"]
        raw: Any = ext.read_custom_resource_definition(name, _preload_content=False)  # urllib3 response
        live = json.loads(raw.data)
        conds = {c["type"]: c["status"] for c in (live.get("status") or {}).get("conditions") or []}
        if conds.get("Established") != "True":
            pending.append(f"{name} not Established")
            continue
        plural, group = crd["spec"]["names"]["plural"], crd["spec"]["group"]
        for version in (v["name"] for v in crd["spec"]["versions"] if v.get("served", True)):
            found = client.CustomObjectsApi(api).get_api_resources(group, version)
            if plural not in {r.name for r in found.resources or []}:
                pending.append(f"{plural} not yet in /apis/{group}/{version}")
    return Outcome.simple(not pending, "; ".join(pending) or "all Established and served")


def _if_supported(binary: Path, flag: str) -> list[str]:
    """`[flag]` when the binary lists it in its `--help`, else `[]`.

    Flags come and go between Argo CD releases (the repo-server's `--client-ca-path` is not in
    v2.12 to v3.5), so they are read from the release that runs, not assumed from the newest one.
    """
    name = flag.split("=", 1)[0]
    proc_ = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60, check=False)
    if proc_.returncode != 0:
        raise ClusterSetupError(binary.name, f"`{binary.name} --help` failed", proc_.stderr[-2000:])
    return [flag] if re.search(rf"(^|\s){re.escape(name)}[\s=]", proc_.stdout) else []
