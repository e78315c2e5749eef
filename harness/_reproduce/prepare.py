"""Everything `reproduce` checks and rewrites before it touches a cluster.

`prepare` reads the Application, the manifests (and every later revision a `commit` step names),
the steps and the hook flags, and returns a :class:`Prepared` replay: objects with their Secret
values replaced and their hooks' outcomes set, the Application as it will be created, and the list
of every rewrite. Nothing slow runs and nothing is written here, so bad input costs milliseconds.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._argocd.seed import ARGOCD_NAMESPACE
from harness._reproduce import inputs
from harness._reproduce.inputs import Application, HookPlan, Rewrite
from harness._reproduce.steps import Step, StepsFile, load_steps
from harness._scenario.fixtures import FixtureApp

IN_CLUSTER = "https://kubernetes.default.svc"
#: The project every replay's Application uses; the harness's clusters allow anything in it.
PROJECT = "default"


@dataclass
class Prepared:
    """A replay ready to run: the first revision, later revisions by path, the steps, the rewrites."""

    application: Application
    test_id: str
    manifests: FixtureApp
    revisions: dict[str, FixtureApp]
    steps: list[Step]
    rewrites: list[Rewrite]
    hook_plans: dict[str, HookPlan]
    sources: dict[str, str] = field(default_factory=dict)
    #: How long the default observe waits (steps.yaml `observe_timeout`); None: the assert timeout.
    observe_timeout: float | None = None

    @property
    def name(self) -> str:
        """The name the replay's Application and namespace get (`chaos-<id>`, as every test app's)."""
        return f"chaos-{self.test_id}"

    def application_manifest(self, repo_url: str) -> dict[str, Any]:
        """The Application to create, with the repository the replay serves; rewrites recorded once."""
        manifest = copy.deepcopy(self.application.manifest)
        spec = manifest["spec"]
        if "sources" in spec:
            spec["source"] = spec.pop("sources")[0]
        spec["source"]["repoURL"] = repo_url
        return manifest


def prepare(
    app_path: Path,
    manifests_path: Path,
    *,
    steps_path: Path | None = None,
    fail: list[str] | None = None,
    hang: list[str] | None = None,
    duration: list[str] | None = None,
    test_id: str | None = None,
) -> Prepared:
    """Read and check every input; raises ConfigError with one clear message for the first problem."""
    application = inputs.load_application(app_path)
    manifests = inputs.load_manifests(manifests_path)
    steps_file = load_steps(steps_path) if steps_path is not None else StepsFile([])
    steps = steps_file.steps
    revisions: dict[str, FixtureApp] = {}
    for step in steps:
        if step.kind == "commit":
            path = step.args["path"]
            revisions.setdefault(path, inputs.load_manifests(Path(path)))
    plans = inputs.parse_hook_flags(
        [*steps_file.fail, *(fail or [])],
        [*steps_file.hang, *(hang or [])],
        [*steps_file.duration, *(duration or [])],
    )
    known = set(inputs.hooks(manifests))
    for rev in revisions.values():
        known |= set(inputs.hooks(rev))
    tid = test_id or uuid.uuid4().hex[:6]
    name = f"chaos-{tid}"
    original_ns = application.destination_namespace
    rewrites: list[Rewrite] = (
        [
            Rewrite(
                "Application metadata",
                f"stripped: {', '.join(application.stripped)}",
                "(absent)",
                "written by the API server and the controller, not by the user",
            )
        ]
        if application.stripped
        else []
    )
    rewrites += _rewrite_application(application, name, bool(any(manifests.folders)))
    for label, fixture in [("manifests", manifests), *((f"revision {p}", r) for p, r in revisions.items())]:
        changes = inputs.redact_secrets(fixture)
        changes += inputs.move_to_namespace(fixture, original_ns, name)
        changes += inputs.apply_hook_plans(fixture, plans, known=known)
        rewrites += [Rewrite(f"{label}: {r.where}", r.before, r.after, r.why) for r in changes]
    sources = {"application": str(app_path), "manifests": str(manifests_path)}
    if steps_path is not None:
        sources["steps"] = str(steps_path)
    return Prepared(
        application, tid, manifests, revisions, steps, rewrites, plans, sources, steps_file.observe_timeout
    )


def _rewrite_application(app: Application, name: str, nested: bool) -> list[Rewrite]:
    """Rename the Application, point it at the replay's repo, namespace and project; in place."""
    m = app.manifest
    meta, spec = m["metadata"], m["spec"]
    out: list[Rewrite] = []

    def change(where: str, before: object, after: object, why: str) -> None:
        if before != after:
            out.append(Rewrite(where, "(absent)" if before in (None, "") else str(before), str(after), why))

    change("metadata.name", meta.get("name"), name, "replays never collide with each other or the incident")
    meta["name"] = name
    change(
        "metadata.namespace", meta.get("namespace"), ARGOCD_NAMESPACE, "the test cluster's Argo CD namespace"
    )
    meta["namespace"] = ARGOCD_NAMESPACE
    dest = spec.setdefault("destination", {})
    change(
        "spec.destination.namespace", dest.get("namespace"), name, "the replay deploys into its own namespace"
    )
    if dest.get("name"):
        change(
            "spec.destination.name", dest.pop("name"), "(absent)", "the test cluster is addressed by server"
        )
    change("spec.destination.server", dest.get("server"), IN_CLUSTER, "the test cluster")
    dest.update({"namespace": name, "server": IN_CLUSTER})
    change(
        "spec.project", spec.get("project"), PROJECT, "a project that allows the test cluster and repository"
    )
    spec["project"] = PROJECT
    source = spec["sources"][0] if "sources" in spec else spec["source"]
    change(
        "spec.source.repoURL",
        source.get("repoURL"),
        "(the replay's git repository)",
        "the manifests given are served from a local repository",
    )
    change(
        "spec.source.targetRevision",
        source.get("targetRevision"),
        "HEAD",
        "each revision is a commit on the replay's branch",
    )
    source["targetRevision"] = "HEAD"
    change("spec.source.path", source.get("path"), ".", "the manifests sit at the repository's top")
    source["path"] = "."
    if nested and not (source.get("directory") or {}).get("recurse"):
        out.append(
            Rewrite(
                "spec.source.directory.recurse",
                "false",
                "true",
                "the manifests folder has subfolders, read as the repo folder's would be",
            )
        )
        source.setdefault("directory", {})["recurse"] = True
    if "sources" in spec:
        out.append(Rewrite("spec.sources", "one source", "spec.source", "one source is one source"))
    return out
