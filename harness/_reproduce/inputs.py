"""The user's files, read, checked and rewritten before anything slow happens.

`load_application` takes what `kubectl get application NAME -o yaml` prints and keeps everything that
shapes the controller's behaviour (sync policy, retry, sync options, ignoreDifferences, managed
namespace metadata); `load_manifests` takes a file, a folder or a multi-document stream. Every
change made to either is recorded as a :class:`Rewrite`, so the report says what differs from the
incident. Secret values are replaced as soon as they are read: they never reach the git repository
the replay commits, nor a report.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._scenario.fixtures import FixtureApp, read_yaml_documents

Obj = dict[str, Any]

HOOK = "argocd.argoproj.io/hook"
HELM_HOOK = "helm.sh/hook"
#: Written in place of every Secret value: names and keys stay, values never leave the reader.
SECRET_PLACEHOLDER = "redacted-by-argocd-chaos"

#: Metadata the API server writes; a replay creates a new object, so these go.
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
#: Annotations about one object's past, not about how it is synced.
_PAST_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "argocd.argoproj.io/refresh")
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
#: Kinds whose pods KWOK plays out from the outcome annotations (see `FixtureApp.with_hook_outcome`).
POD_KINDS = ("Job", "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "CronJob")


@dataclass(frozen=True)
class Rewrite:
    """One change made to the user's input: where, what it was, what it became, and why."""

    where: str
    before: str
    after: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"where": self.where, "before": self.before, "after": self.after, "why": self.why}


@dataclass
class Application:
    """The user's Application with server-written fields stripped (`manifest`), before rewriting."""

    manifest: Obj
    source_file: Path
    stripped: list[str] = field(default_factory=list)
    #: The name the user gave it (the manifest is renamed for the replay).
    manifest_name: str = ""

    def __post_init__(self) -> None:
        self.manifest_name = self.manifest_name or str(self.manifest["metadata"]["name"])

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def spec(self) -> Obj:
        spec: Obj = self.manifest["spec"]
        return spec

    @property
    def automated(self) -> bool:
        return bool((self.spec.get("syncPolicy") or {}).get("automated"))

    @property
    def destination_namespace(self) -> str:
        return str((self.spec.get("destination") or {}).get("namespace") or "")


def _expand_lists(docs: list[tuple[int, int, object]]) -> list[tuple[int, int, object]]:
    """`kind: List` (what `kubectl get -o yaml` prints for several objects) becomes its items."""
    out: list[tuple[int, int, object]] = []
    for number, line, doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            out.extend((number, line, item) for item in doc["items"])
        else:
            out.append((number, line, doc))
    return out


def load_application(path: Path) -> Application:
    """The one Application in `path`, stripped of what the API server wrote.

    Raises ConfigError when the file is missing or not YAML, holds no or several objects, holds
    something other than an argoproj.io Application, or uses a source this replay cannot serve
    (Helm, Kustomize, plugins, several sources).
    """
    if not path.is_file():
        raise ConfigError(
            f"--app {path}: no such file; give the Application as "
            "`kubectl get application NAME -o yaml` prints it"
        )
    docs = _expand_lists(read_yaml_documents(path, "--app"))
    if len(docs) != 1:
        raise ConfigError(
            f"--app {path} holds {len(docs)} objects; it must hold exactly one Application "
            "(`kubectl get application NAME -o yaml > application.yaml`)"
        )
    _, line, doc = docs[0]
    if not isinstance(doc, dict):
        raise ConfigError(
            f"--app {path}: the document at line {line} is not a mapping, so not an Application"
        )
    kind, api_version = doc.get("kind"), str(doc.get("apiVersion", ""))
    if kind != "Application" or not api_version.startswith("argoproj.io/"):
        raise ConfigError(
            f"--app {path} is not an Argo CD Application: it has kind {kind!r}, apiVersion {api_version!r} "
            "(expected kind Application, apiVersion argoproj.io/v1alpha1)"
        )
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        raise ConfigError(f"--app {path}: the Application has no metadata.name")
    if not isinstance(doc.get("spec"), dict):
        raise ConfigError(f"--app {path}: the Application {meta['name']} has no spec")
    manifest = copy.deepcopy(doc)
    stripped: list[str] = []
    for key in ("status", "operation"):
        if manifest.pop(key, None) is not None:
            stripped.append(key)
    meta = manifest["metadata"]
    for key in _SERVER_METADATA:
        if meta.pop(key, None) is not None:
            stripped.append(f"metadata.{key}")
    annotations = meta.get("annotations") or {}
    for key in _PAST_ANNOTATIONS:
        if annotations.pop(key, None) is not None:
            stripped.append(f"metadata.annotations[{key}]")
    app = Application(manifest, path, stripped)
    _check_source(app)
    return app


def _check_source(app: Application) -> None:
    spec = app.spec
    sources = spec.get("sources")
    if sources is not None:
        if not isinstance(sources, list) or len(sources) != 1:
            raise ConfigError(
                f"--app {app.source_file}: Application {app.name} has {len(sources or [])} sources; the "
                "replay serves one folder of manifests, so give an Application with one source"
            )
    source = (sources or [spec.get("source")])[0]
    if not isinstance(source, dict):
        raise ConfigError(f"--app {app.source_file}: Application {app.name} has no spec.source")
    for tool in ("helm", "kustomize", "plugin", "chart"):
        if source.get(tool):
            raise ConfigError(
                f"--app {app.source_file}: Application {app.name} renders its source with {tool}; the replay "
                "takes rendered manifests: run `argocd app manifests NAME > manifests.yaml` and give that "
                "with --manifests (Helm and Kustomize sources are not supported yet)"
            )


def load_manifests(path: Path) -> FixtureApp:
    """The Kubernetes objects in `path`: a file, a folder (read recursively) or `-` is not taken.

    Folders keep their layout (the replay's repository has the same subfolders). Raises
    ConfigError naming the file and document for anything that is not an object with apiVersion,
    kind and a name.
    """
    if not path.exists():
        raise ConfigError(f"--manifests {path}: no such file or folder")
    if path.is_dir():
        files = sorted(
            (p for p in path.rglob("*") if p.is_file() and p.suffix in _MANIFEST_SUFFIXES),
            key=lambda p: (len(p.relative_to(path).parts), str(p)),
        )
        if not files:
            raise ConfigError(f"--manifests {path}: the folder has no .yaml, .yml or .json file")
    else:
        files = [path]
    docs: list[Obj] = []
    folders: list[str] = []
    for f in files:
        rel = f.parent.relative_to(path).as_posix() if path.is_dir() else "."
        for number, line, doc in _expand_lists(read_yaml_documents(f, "manifest file")):
            docs.append(_checked(f, number, line, doc))
            folders.append("" if rel == "." else rel)
    if not docs:
        raise ConfigError(f"--manifests {path} holds no Kubernetes object")
    return FixtureApp(path.name or "manifests", docs, folders)


def _checked(path: Path, number: int, line: int, doc: object) -> Obj:
    where = f"manifest file {path}: document {number} (line {line})"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} is not a mapping, so not a Kubernetes object")
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise ConfigError(f"{where} has no `{key}`: every object needs apiVersion, kind and a name")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        raise ConfigError(f"{where} ({doc['kind']}) has no metadata.name or metadata.generateName")
    return doc


# -- hooks ---------------------------------------------------------------------------------------------
def hook_types(doc: Obj) -> str:
    """The hook annotation of an object ("" for none); Argo CD also runs Helm hooks as hooks."""
    ann = (doc.get("metadata") or {}).get("annotations") or {}
    return str(ann.get(HOOK) or ann.get(HELM_HOOK) or "")


def hook_name(doc: Obj) -> str:
    """The name a flag uses for a hook: its name, or its generateName without the trailing '-'."""
    meta = doc.get("metadata") or {}
    return str(meta.get("name") or str(meta.get("generateName", "")).rstrip("-"))


def hooks(manifests: FixtureApp) -> dict[str, Obj]:
    """`name -> object` of every hook in the manifests."""
    return {hook_name(d): d for d in manifests.docs if hook_types(d)}


@dataclass(frozen=True)
class HookPlan:
    """How one hook's pods end in the replay (the --fail, --hang and --duration flags)."""

    outcome: str = "succeed"  # succeed | fail | hang
    exit_code: int | None = None
    duration: str | None = None


def parse_hook_flags(fail: list[str], hang: list[str], duration: list[str]) -> dict[str, HookPlan]:
    """`HOOK[=EXIT_CODE]`, `HOOK` and `HOOK=5s` flags as one plan per hook (names not yet checked)."""
    plans: dict[str, HookPlan] = {}

    def merge(name: str, **change: Any) -> None:
        if not name:
            raise ConfigError("a hook flag needs a hook name, e.g. --fail migrate=3")
        old = plans.get(name, HookPlan())
        if "outcome" in change and old.outcome != "succeed" and old.outcome != change["outcome"]:
            raise ConfigError(
                f"hook {name!r} is given both --{old.outcome} and --{change['outcome']}; give one"
            )
        plans[name] = HookPlan(**{**old.__dict__, **change})

    for entry in fail:
        name, sep, code = entry.partition("=")
        exit_code: int | None = None
        if sep:
            try:
                exit_code = int(code)
            except ValueError:
                raise ConfigError(
                    f"--fail {entry}: the exit code {code!r} is not a number (e.g. --fail migrate=3)"
                ) from None
            if not 1 <= exit_code <= 255:
                raise ConfigError(f"--fail {entry}: a failing exit code is 1 to 255, got {exit_code}")
        merge(name, outcome="fail", exit_code=exit_code)
    for name in hang:
        merge(name, outcome="hang")
    for entry in duration:
        name, sep, value = entry.partition("=")
        if not sep:
            raise ConfigError(f"--duration {entry}: give HOOK=DURATION, e.g. --duration migrate=5s")
        stages.go_duration_ns(value)  # a typo in a duration would otherwise make a slow hook instant
        merge(name, duration=value)
    for name, plan in plans.items():
        if plan.outcome == "hang" and plan.duration is not None:
            raise ConfigError(f"hook {name!r}: --hang runs until deleted, so it takes no --duration")
    return plans


def apply_hook_plans(manifests: FixtureApp, plans: dict[str, HookPlan], *, known: set[str]) -> list[Rewrite]:
    """Set the outcome annotations of every hook: as the flags say, else succeed.

    `known` are the hooks of every revision the replay commits, so a flag about a hook that only a
    later revision has is not an error. Raises ConfigError for a flag naming no hook (listing the
    hooks found) or a hook whose kind has no pods.
    """
    unknown = sorted(set(plans) - known)
    if unknown:
        raise ConfigError(
            f"no hook named {', '.join(repr(u) for u in unknown)} in the manifests; the hooks found are: "
            f"{', '.join(sorted(known)) or 'none'} (a hook is named by its name or its generateName prefix)"
        )
    rewrites: list[Rewrite] = []
    for name, doc in hooks(manifests).items():
        kind = str(doc["kind"])
        plan = plans.get(name)
        if kind not in POD_KINDS:
            if plan is not None:
                raise ConfigError(
                    f"hook {kind}/{name} has no pods, so --fail/--hang/--duration cannot apply to it; "
                    f"they apply to {', '.join(POD_KINDS)}"
                )
            continue
        plan = plan or HookPlan()
        if plan.outcome == "hang":
            manifests.with_hook_outcome(name, "hang", kind=kind)
        elif plan.outcome == "fail":
            manifests.with_hook_outcome(
                name, "fail", exit_code=plan.exit_code, duration=plan.duration, kind=kind
            )
        else:
            manifests.with_hook_outcome(name, "succeed", duration=plan.duration, kind=kind)
        said = {"hang": "runs until deleted", "fail": f"fails (exit code {plan.exit_code or 1})"}.get(
            plan.outcome, "succeeds"
        )
        if plan.duration:
            said += f" after {plan.duration}"
        rewrites.append(
            Rewrite(
                f"{kind}/{name} pod template",
                "its containers' real command",
                said,
                "no container runs in the replay: the pod's outcome is played out from annotations",
            )
        )
    return rewrites


# -- secrets and namespaces ----------------------------------------------------------------------------
def redact_secrets(manifests: FixtureApp) -> list[Rewrite]:
    """Replace every Secret value in place, keeping names and keys; before anything is written."""
    rewrites: list[Rewrite] = []
    encoded = base64.b64encode(SECRET_PLACEHOLDER.encode()).decode()
    for doc in manifests.docs:
        if doc.get("kind") != "Secret":
            continue
        keys: list[str] = []
        for field_name, value in (("data", encoded), ("stringData", SECRET_PLACEHOLDER)):
            data = doc.get(field_name)
            if isinstance(data, dict):
                for key in data:
                    data[key] = value
                    keys.append(key)
        ann = (doc.get("metadata") or {}).get("annotations") or {}
        ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if keys:
            rewrites.append(
                Rewrite(
                    f"Secret/{hook_name(doc)}",
                    f"values of {', '.join(sorted(keys))}",
                    SECRET_PLACEHOLDER,
                    "Secret values never reach disk or a report; names and keys are kept",
                )
            )
    return rewrites


def move_to_namespace(manifests: FixtureApp, original: str, namespace: str) -> list[Rewrite]:
    """Objects that name a namespace go to the replay's; a Namespace named as the destination is renamed."""
    rewrites: list[Rewrite] = []
    for doc in manifests.docs:
        meta = doc.setdefault("metadata", {})
        ident = f"{doc['kind']}/{hook_name(doc)}"
        if doc["kind"] == "Namespace":
            if original and meta.get("name") == original:
                meta["name"] = namespace
                rewrites.append(
                    Rewrite(ident, original, namespace, "the destination namespace is the replay's")
                )
            continue
        ns = meta.get("namespace")
        if ns and ns != namespace:
            meta["namespace"] = namespace
            rewrites.append(
                Rewrite(
                    f"{ident} metadata.namespace",
                    str(ns),
                    namespace,
                    "every namespaced object goes to the replay's namespace",
                )
            )
    return rewrites
