"""Run a prepared replay on a cluster and record what the controller did.

The default steps come first: create the Application, sync it (or let its automated sync run),
observe until the operation ends. Then the steps of `steps.yaml`, in order. Waiting on the
controller never fails the replay: an operation that does not end, or an Application that is not
gone, is recorded as observed ("still Running after 120 s"), because that is often the incident.
Only expectations decide the exit code.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness import _kube
from harness._argocd.observe import AppStatus, LiveState, OperationState
from harness._chaos.controls import ChaosError, DriftInjector
from harness._cluster.embedded.cluster import EmbeddedCluster
from harness._cluster.provider import ClusterHandle
from harness._errors import ConfigError, HarnessError
from harness._reproduce import inputs
from harness._reproduce.prepare import Prepared
from harness._reproduce.steps import Step
from harness._scenario import diagnostics
from harness._scenario.app import AppUnderTest
from harness._scenario.timeline import Timeline
from harness._wait import Expectation, ExpectationTimeout, Outcome, Timeouts, expect


@dataclass
class StepResult:
    """What one step did: `status` is "done", "observed" (a wait that ran out) or "error"."""

    number: int
    description: str
    status: str
    detail: str
    t: float

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "description": self.description,
            "status": self.status,
            "detail": self.detail,
            "t": round(self.t, 2),
        }


@dataclass
class ExpectationResult:
    step: int
    expectation: str
    held: bool
    observed: str

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "expectation": self.expectation,
            "held": self.held,
            "observed": self.observed,
        }


@dataclass
class ReplayResult:
    """Everything the report is made of (see `harness._reproduce.report`)."""

    prepared: Prepared
    versions: dict[str, str]
    provider: str
    application: dict[str, Any]
    steps: list[StepResult] = field(default_factory=list)
    expectations: list[ExpectationResult] = field(default_factory=list)
    operations: list[OperationState] = field(default_factory=list)
    timeline: dict[str, Any] = field(default_factory=dict)
    self_heals: list[dict[str, Any]] = field(default_factory=list)
    deletions: list[dict[str, Any]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    final_objects: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def held(self) -> bool:
        return all(e.held for e in self.expectations)


def replay(
    handle: ClusterHandle, prepared: Prepared, *, timeouts: Timeouts, run_id: str, say: Callable[[str], None]
) -> ReplayResult:
    """Replay on the cluster; everything the replay created is removed before this returns.

    Raises ConfigError when the API server rejects a manifest (checked by a server-side dry run
    before anything is committed or created), HarnessError for a step that cannot be carried out.
    """
    started = time.monotonic()
    api = handle.api_client()
    repo_root = Path(tempfile.mkdtemp(prefix=f"argocd-chaos-reproduce-{prepared.test_id}-"))
    app = AppUnderTest(
        api,
        test_id=prepared.test_id,
        run_id=run_id,
        repo_root=repo_root,
        timeouts=timeouts,
        log_files=handle.log_files,
        repos=handle.repos,
    )
    result: ReplayResult | None = None
    timeline: Timeline | None = None
    try:
        app.ensure_namespace()
        rejected = dry_run(api, [prepared.manifests, *prepared.revisions.values()], app.namespace)
        if rejected:
            raise ConfigError("the API server rejects the manifests: " + "; ".join(rejected))
        app.commit(prepared.manifests, "revision 1: the manifests given")
        manifest = prepared.application_manifest(app.repo_url)
        result = ReplayResult(prepared, dict(handle.versions), handle.provider, manifest)
        timeline = Timeline(api, app.name, app.namespace)
        timeline.start()
        runner = _Runner(app, handle, prepared, result, timeouts, say, started, timeline)
        runner.run(manifest)
        timeline.stop()
        runner.finish(timeline)
        result.diagnostics = diagnostics.collect(app)
    finally:
        if timeline is not None:
            timeline.stop()
        try:
            app.cleanup()
            # The Application's finalizer has the controller delete what it deployed: "nothing left
            # behind" means waiting for that, not only asking for it.
            expect(app.gone(), timeout=timeouts.cleanup)
        except ExpectationTimeout as exc:
            say(f"argocd-chaos: warning: the replay's Application is not gone yet: {exc.last_observed}")
        finally:
            api.close()
            shutil.rmtree(repo_root, ignore_errors=True)
    result.seconds = time.monotonic() - started
    return result


def dry_run(api: client.ApiClient, revisions: list[Any], namespace: str) -> list[str]:
    """What the API server says about each object, created with dryRun=All in `namespace`.

    A kind the server does not serve is a rejection too, unless a CustomResourceDefinition in the
    manifests defines it (it exists only once Argo CD applied the CRD).
    """
    problems: list[str] = []
    defined = {
        (
            str((d.get("spec") or {}).get("group") or ""),
            str((((d.get("spec") or {}).get("names")) or {}).get("kind")),
        )
        for rev in revisions
        for d in rev.docs
        if d.get("kind") == "CustomResourceDefinition"
    }
    discovered: dict[str, dict[str, _kube.ApiResource]] = {}
    seen: set[tuple[str, str, str]] = set()
    for rev in revisions:
        for doc in rev.docs:
            api_version, kind = str(doc["apiVersion"]), str(doc["kind"])
            ident = f"{kind}/{inputs.hook_name(doc)}"
            if (api_version, kind, ident) in seen:
                continue
            seen.add((api_version, kind, ident))
            group = api_version.split("/")[0] if "/" in api_version else ""
            if (group, kind) in defined:
                continue
            if api_version not in discovered:
                try:
                    discovered[api_version] = _kube.discover(api, api_version)
                except ApiException:
                    discovered[api_version] = {}
            res = discovered[api_version].get(kind)
            if res is None:
                problems.append(f"{ident}: the API server does not serve {kind} in {api_version}")
                continue
            message = _create_dry_run(api, res, doc, namespace)
            if message:
                problems.append(f"{ident}: {message}")
    return problems


def _create_dry_run(
    api: client.ApiClient, res: _kube.ApiResource, doc: dict[str, Any], namespace: str
) -> str:
    base = "/api/v1" if res.api_version == "v1" else f"/apis/{res.api_version}"
    path = f"{base}/namespaces/{namespace}/{res.plural}" if res.namespaced else f"{base}/{res.plural}"
    body = json.loads(json.dumps(doc))
    if res.namespaced:
        body.setdefault("metadata", {})["namespace"] = namespace
    method, url, headers, payload, _ = api.param_serialize(
        "POST",
        path,
        query_params=[("dryRun", "All")],
        body=body,
        header_params={"Accept": "application/json", "Content-Type": "application/json"},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(method, url, header_params=headers, body=payload)
    resp.read()
    if 200 <= resp.status < 300 or resp.status == 409:  # 409: it exists (a cluster-scoped object)
        return ""
    try:
        return str(json.loads(resp.data or b"{}").get("message") or resp.reason)
    except ValueError:
        return str(resp.reason)


class _Runner:
    def __init__(
        self,
        app: AppUnderTest,
        handle: ClusterHandle,
        prepared: Prepared,
        result: ReplayResult,
        timeouts: Timeouts,
        say: Callable[[str], None],
        started: float,
        timeline: Timeline,
    ) -> None:
        self.timeline = timeline
        self.app = app
        self.handle = handle
        self.prepared = prepared
        self.result = result
        self.timeouts = timeouts
        self.say = say
        self.started = started
        self.drift = DriftInjector(app.api, app.namespace)
        self.revision = 1
        self.deleted = False

    def record(self, number: int, description: str, status: str, detail: str) -> None:
        self.say(f"  [{number}] {description}: {status}: {detail}")
        self.result.steps.append(
            StepResult(number, description, status, detail, time.monotonic() - self.started)
        )

    # -- the steps ---------------------------------------------------------------------------------
    def run(self, manifest: dict[str, Any]) -> None:
        automated = self.prepared.application.automated
        try:
            self.app.create_application(manifest)
        except ApiException as exc:
            # The Application's own schema (the CRD) is checked by the API server only.
            raise ConfigError(f"the API server rejects the Application: {_api_message(exc)}") from None
        self.record(0, "create the Application", "done", f"{self.app.name} in namespace {self.app.namespace}")
        first = self.prepared.observe_timeout or self.timeouts.assert_
        if automated:
            self.observe(0, "observe the automated sync", first, after="")
        else:
            req = self.app.sync()
            self.record(0, "sync", "done", f"requested a sync of {req.revision[:10]}")
            self.observe(0, "observe the sync", first, after=req)
        for step in self.prepared.steps:
            try:
                getattr(self, f"step_{step.kind}")(step)
            except (ChaosError, HarnessError) as exc:
                if isinstance(exc, ConfigError):
                    raise
                self.record(step.number, step.describe(), "error", str(exc))
            except ApiException as exc:
                self.record(step.number, step.describe(), "error", f"HTTP {exc.status}: {_api_message(exc)}")

    def observe(self, number: int, description: str, timeout: float, *, after: Any = None) -> None:
        try:
            op = self.app.wait_ended(timeout, after=after)
        except ExpectationTimeout as exc:
            self.record(
                number,
                description,
                "observed",
                f"no operation ended within {timeout:g} s: {exc.last_observed}",
            )
            return
        self.record(number, description, "done", op.excerpt())

    def latest(self) -> OperationState | None:
        ops = self.app.operations()
        return ops[-1] if ops else None

    def step_commit(self, step: Step) -> None:
        self.revision += 1
        fixture = self.prepared.revisions[step.args["path"]]
        before = self.latest()
        sha = self.app.commit(fixture, f"revision {self.revision}: {step.args['path']}")
        self.app.refresh()
        self.record(step.number, step.describe(), "done", f"revision {self.revision} committed as {sha[:10]}")
        if self.prepared.application.automated:
            self.observe(
                step.number,
                "observe the automated sync of the new revision",
                step.args.get("timeout", self.timeouts.assert_),
                after=before if before is not None and before.seq > 0 else "",
            )

    def step_sync(self, step: Step) -> None:
        req = self.app.sync(
            prune=step.args.get("prune", False),
            force=step.args.get("force", False),
            sync_options=step.args.get("sync_options"),
        )
        self.record(step.number, step.describe(), "done", f"requested a sync of {req.revision[:10]}")
        self.observe(
            step.number, "observe the sync", step.args.get("timeout", self.timeouts.assert_), after=req
        )

    def step_observe(self, step: Step) -> None:
        self.observe(step.number, step.describe(), step.args.get("timeout", self.timeouts.assert_), after="")

    def step_drift(self, step: Step) -> None:
        self.drift.patch(step.args["kind"], step.args["name"], step.args["patch"])
        self.record(step.number, step.describe(), "done", f"patched {step.args['kind']}/{step.args['name']}")

    def step_wait(self, step: Step) -> None:
        # The pause is the scenario (e.g. "the controller has had 30 s to heal"), not a wait for a state.
        time.sleep(step.args["seconds"])
        self.record(step.number, step.describe(), "done", f"waited {step.args['seconds']:g} s")

    def step_delete(self, step: Step) -> None:
        wait = step.args.get("wait", self.timeouts.delete)
        t0 = time.monotonic()
        self.app.delete(step.args["cascade"])
        self.deleted = True
        entry: dict[str, Any] = {"step": step.number, "cascade": step.args["cascade"], "waited_s": wait}
        try:
            expect(self.app.gone(), timeout=wait)
        except ExpectationTimeout as exc:
            entry.update(gone=False, blocked_by=exc.last_observed)
            self.record(
                step.number, step.describe(), "observed", f"still there after {wait:g} s: {exc.last_observed}"
            )
        else:
            entry.update(gone=True, seconds=round(time.monotonic() - t0, 1))
            self.record(step.number, step.describe(), "done", f"gone after {entry['seconds']} s")
        self.result.deletions.append(entry)

    def step_chaos(self, step: Step) -> None:
        if self.handle.provider != "embedded":
            raise ChaosError(
                f"component chaos needs the embedded cluster; this one is {self.handle.provider}"
            )
        cluster = EmbeddedCluster.attach(self.handle.name)
        if cluster is None:
            raise ChaosError(f"embedded cluster {self.handle.name} is not running")
        getattr(cluster, step.args["action"])(step.args["component"])
        self.record(step.number, step.describe(), "done", f"{step.args['action']} {step.args['component']}")

    def step_expect(self, step: Step) -> None:
        within = step.args.get("within")
        for key, want in step.args.items():
            if key == "within":
                continue
            description, check = self.expectation(key, want)
            observed = ""
            held = False
            if within:
                exp = Expectation(description, _as_outcome(check))
                try:
                    observed = expect(exp, timeout=within).message
                    held = True
                except ExpectationTimeout as exc:
                    observed = f"not within {within:g} s: {exc.last_observed}"
            else:
                held, observed = check()
            self.result.expectations.append(ExpectationResult(step.number, description, held, observed))
            self.record(step.number, f"expect {description}", "held" if held else "NOT HELD", observed)

    # -- expectations ------------------------------------------------------------------------------
    def expectation(self, key: str, want: Any) -> tuple[str, Callable[[], tuple[bool, str]]]:
        app = self.app

        def op_check(test: Callable[[OperationState], bool]) -> Callable[[], tuple[bool, str]]:
            def check() -> tuple[bool, str]:
                op = self.latest()
                if op is None:
                    return False, "no operation seen"
                return test(op), op.excerpt()

            return check

        def status() -> AppStatus | None:
            return app.status_or_none()

        if key == "operation_phase":
            return f"the latest operation's phase is {want}", op_check(lambda op: op.phase == want)
        if key == "message_contains":
            return f"the latest operation's message contains {want!r}", op_check(
                lambda op: want in op.message
            )
        if key == "retry_count_at_least":
            return f"the latest operation retried at least {want} times", op_check(
                lambda op: op.retry_count >= want
            )
        if key in ("operations_at_least", "operations_at_most"):

            def count() -> tuple[bool, str]:
                n = len(app.operations())
                return (n >= want if key.endswith("least") else n <= want), f"{n} operations seen"

            return f"{'at least' if key.endswith('least') else 'at most'} {want} operations", count
        if key == "hook":
            name, phase = want["name"], want["phase"]

            def hook_check() -> tuple[bool, str]:
                op = self.latest()
                found = [
                    r for r in (op.hooks() if op else []) if r.name == name or r.name.startswith(f"{name}-")
                ]
                seen = (
                    ", ".join(f"{r.name} {r.hook_type} {r.hook_phase or r.status}" for r in found)
                    or "not in the results"
                )
                if phase == "absent":
                    return not found, seen
                return any(r.hook_phase == phase for r in found), seen

            return f"hook {name} is {phase} in the latest operation", hook_check
        if key == "object":
            kind, name, present = want["kind"], want["name"], want["present"]

            def object_check() -> tuple[bool, str]:
                live: LiveState = app.live()
                found = [
                    o
                    for o in live.objects
                    if o.kind == kind and (o.name == name or o.name.startswith(f"{name}-"))
                ]
                seen = ", ".join(_describe_object(o) for o in found) or "none"
                return bool(found) == present, f"found: {seen}"

            return f"{kind}/{name} is {'present' if present else 'absent'}", object_check
        if key == "app":

            def app_check() -> tuple[bool, str]:
                st = status()
                now = "absent" if st is None else ("deleting" if st.deleting else "present")
                ok = now == want or (want == "present" and now == "deleting")
                detail = now if st is None else f"{now}; finalizers {list(st.finalizers)}"
                return ok, detail

            return f"the Application is {want}", app_check
        if key in ("sync", "health"):

            def field_check() -> tuple[bool, str]:
                st = status()
                if st is None:
                    return False, "the Application is gone"
                value = st.sync if key == "sync" else st.health
                return value == want, f"sync={st.sync} health={st.health}"

            return f"the Application's {key} status is {want}", field_check
        if key == "job_runs":
            name = want["name"]
            low, high = want.get("at_least", 0), want.get("at_most")

            def runs_check() -> tuple[bool, str]:
                runs = [
                    j for j in self.timeline.job_runs() if j.name == name or j.name.startswith(f"{name}-")
                ]
                ok = len(runs) >= low and (high is None or len(runs) <= high)
                return ok, f"{len(runs)} Jobs seen: {', '.join(j.name for j in runs) or 'none'}"

            bounds = " and ".join(
                b
                for b in (
                    f"at least {low}" if "at_least" in want else "",
                    f"at most {high}" if high is not None else "",
                )
                if b
            )
            return f"{bounds} runs of Job {name}", runs_check
        if key == "condition":
            ctype, text, present = want["type"], want.get("message_contains", ""), want["present"]

            def condition_check() -> tuple[bool, str]:
                st = status()
                msg = st.condition(ctype) if st is not None else None
                has = msg is not None and text in msg
                return has == present, f"{ctype}: {msg!r}"

            what = f"condition {ctype}" + (f" mentioning {text!r}" if text else "")
            return f"{what} is {'present' if present else 'absent'}", condition_check
        raise ConfigError(f"unknown expectation {key!r}")  # load_steps refuses it before

    # -- the end -----------------------------------------------------------------------------------
    def finish(self, timeline: Timeline) -> None:
        app, result = self.app, self.result
        result.operations = app.operations()
        result.timeline = timeline.summary()
        result.self_heals = [
            {
                "operation": o.seq,
                "attempts": o.self_heal_attempts,
                "phase": o.phase,
                "started_at": o.started_at,
            }
            for o in timeline.operations()
            if o.self_heal_attempts > 0
        ]
        try:
            result.events = app.events()
        except ApiException as exc:
            result.events = [f"(events unreadable: HTTP {exc.status})"]
        st = app.status_or_none()
        op = st.operation if st else None
        result.final = {
            "application": "absent" if st is None else ("deleting" if st.deleting else "present"),
            "sync": st.sync if st else "",
            "health": st.health if st else "",
            "operation_phase": op.phase if op else "",
            "operation_message": op.message if op else "",
            "finalizers": list(st.finalizers) if st else [],
            "conditions": [
                {"type": c.get("type"), "message": c.get("message")} for c in (st.conditions if st else ())
            ],
        }
        try:
            result.final_objects = [
                {
                    "kind": o.kind,
                    "name": o.name,
                    "hook": o.hook,
                    "status": o.status or o.phase,
                    "deleting": o.deleting,
                    "keys": list(o.keys),
                }
                for o in app.live().objects
                if o.kind != "Event"
            ]
        except ApiException as exc:
            result.final_objects = [{"error": f"live objects unreadable: HTTP {exc.status}"}]


def _describe_object(o: Any) -> str:
    deleting = " (deleting)" if o.deleting else ""
    return f"{o.kind}/{o.name}{deleting} {o.status or o.phase}".rstrip()


def _as_outcome(check: Callable[[], tuple[bool, str]]) -> Callable[[], Outcome]:
    def outcome() -> Outcome:
        held, observed = check()
        return Outcome.simple(held, observed)

    return outcome


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)
