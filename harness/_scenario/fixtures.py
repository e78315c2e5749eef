"""Fixture apps: folders of plain manifests under `fixtures/`, loaded and varied per test.

The manifests stay readable on their own (hook annotations, sync waves and the KWOK outcome
annotations are all in the YAML); a test only changes what its scenario is about, through small
typed edits that fail loudly when they do not find what they were meant to change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import yaml

from harness._argocd.observe import REVISION_ANNOTATION
from harness._cluster.embedded import kwok_stages as stages
from harness._errors import ConfigError
from harness._paths import PROJECT_ROOT

FIXTURES_DIR = PROJECT_ROOT / "fixtures"
HOOK = "argocd.argoproj.io/hook"
HOOK_DELETE_POLICY = "argocd.argoproj.io/hook-delete-policy"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

Obj = dict[str, Any]


#: A duration that outlives any test: a pod with it runs until it is deleted ("hangs").
HANG = "87600h"


class OutcomeAnnotations:
    """The pod annotations KWOK plays a hook pod out from (README, "Hook outcomes"), by name.

    `OUTCOME` takes "succeed" or "fail"; `EXIT_CODE` the exit code of a failing pod; `DURATION` and
    `START_DELAY` Go durations; `SWITCH` an outcome switch's name; `HANG` is the duration that makes a
    pod run until deleted; `TERMINATION_GRACE` (Go duration) how long a deleted pod stays Terminating
    (embedded cluster). `FixtureApp.with_hook_outcome` and `with_termination_grace` write them; use
    these names to read them.
    """

    OUTCOME = stages.OUTCOME
    EXIT_CODE = stages.EXIT_CODE
    DURATION = stages.DURATION
    START_DELAY = stages.START_DELAY
    SWITCH = stages.SWITCH
    HANG = HANG
    TERMINATION_GRACE = stages.TERMINATION_GRACE


_POD_KINDS = ("Job", "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "CronJob")
#: File names that make Argo CD's repo-server render a folder with kustomize (argo-cd
#: `util/kustomize/kustomize.go`, `KustomizationNames`), and helm's chart file.
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CHART_FILE = "Chart.yaml"
VALUES_FILE = "values.yaml"

SourceType = Literal["Directory", "Helm", "Kustomize"]


@dataclass
class FixtureApp:
    """The manifests of one fixture app, as one revision of its git repository.

    `folders[i]` is the folder (relative, "" for the top) `docs[i]` lives in, so nested fixture
    folders (`fixtures/<name>/hooks/*.yaml`) are committed with the same layout.

    A folder holding a `Chart.yaml` (a Helm chart) or a kustomization is a *source tree*: its files
    are kept as text in `raw` (relative path -> content) and committed unchanged, because templates
    are not YAML and a kustomization names its files; the repo-server renders them with the helm or
    kustomize its release ships (see `source_type`). `docs` is empty then; `with_values` and
    `with_file` edit such a tree.
    """

    name: str
    docs: list[Obj]
    folders: list[str] = field(default_factory=list)
    raw: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.folders) < len(self.docs):
            self.folders = [*self.folders, *[""] * (len(self.docs) - len(self.folders))]

    @classmethod
    def load(cls, name: str, root: Path | None = None) -> FixtureApp:
        d = (root or FIXTURES_DIR) / name
        if not d.is_dir():
            known = sorted(p.name for p in (root or FIXTURES_DIR).iterdir() if p.is_dir())
            raise ConfigError(f"no fixture app {name!r} in {d.parent}; known: {', '.join(known)}")
        if any((d / f).is_file() for f in (CHART_FILE, *KUSTOMIZATION_NAMES)):
            return cls(name, [], [], _read_tree(d))
        docs: list[Obj] = []
        folders: list[str] = []
        # Top-level files first, then each subfolder, all in name order.
        for f in sorted(d.rglob("*.yaml"), key=lambda p: (len(p.relative_to(d).parts), str(p))):
            rel = f.parent.relative_to(d).as_posix()
            for x in load_manifests(f):
                docs.append(x)
                folders.append("" if rel == "." else rel)
        return cls(name, docs, folders)

    def copy(self) -> FixtureApp:
        return FixtureApp(self.name, copy.deepcopy(self.docs), list(self.folders), dict(self.raw))

    # -- Helm charts and kustomizations ------------------------------------------------------------------
    @property
    def source_type(self) -> SourceType:
        """How Argo CD renders this fixture: "Helm", "Kustomize" or "Directory".

        A `Chart.yaml` at the top makes it a chart, a kustomization file a kustomization, else plain
        manifests: what the repo-server decides for a source with no explicit type (argo-cd
        `util/app/discovery/discovery.go`, `AppType`).
        """
        if CHART_FILE in self.raw:
            return "Helm"
        if any(n in self.raw for n in KUSTOMIZATION_NAMES):
            return "Kustomize"
        return "Directory"

    def with_file(self, path: str, text: str) -> Self:
        """Add or replace one file of a source tree (`templates/job.yaml`, `kustomization.yaml`)."""
        rel = Path(path)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ConfigError(
                f"a fixture file path must be relative and stay inside the fixture; got {path!r}"
            )
        self.raw[rel.as_posix()] = text
        return self

    def with_values(self, **values: Any) -> Self:
        """Merge values into a chart's `values.yaml` (nested dicts are merged key by key).

        Raises ConfigError for a fixture that is not a Helm chart.
        """
        if self.source_type != "Helm":
            raise ConfigError(
                f"fixture {self.name!r} is not a Helm chart (no {CHART_FILE}); with_values needs one"
            )
        current = yaml.safe_load(self.raw.get(VALUES_FILE, "")) or {}
        if not isinstance(current, dict):
            raise ConfigError(f"fixture {self.name!r}: {VALUES_FILE} is not a mapping")
        _merge(current, values)
        self.raw[VALUES_FILE] = yaml.dump(current, Dumper=_QuotingDumper, sort_keys=False)
        return self

    def values(self) -> dict[str, Any]:
        """A chart's values as committed (`values.yaml` parsed); {} for other fixtures."""
        got = yaml.safe_load(self.raw.get(VALUES_FILE, "")) if self.source_type == "Helm" else None
        return got if isinstance(got, dict) else {}

    # -- any kind ---------------------------------------------------------------------------------------
    def with_object(self, doc: Obj, folder: str = "") -> Self:
        """Add an object of any kind (validated: apiVersion, kind and a name are required)."""
        meta = doc.get("metadata") or {}
        if (
            not doc.get("apiVersion")
            or not doc.get("kind")
            or not (meta.get("name") or meta.get("generateName"))
        ):
            raise ConfigError(
                f"an object needs apiVersion, kind and metadata.name (or generateName); got {doc!r}"
            )
        self.docs.append(copy.deepcopy(doc))
        self.folders.append(folder.strip("/"))
        return self

    def without(self, kind: str, name: str) -> Self:
        """Remove an object (a later revision that no longer has it: prune material)."""
        target = self.find(kind, name)
        i = next(i for i, d in enumerate(self.docs) if d is target)
        del self.docs[i]
        del self.folders[i]
        return self

    def edit(self, kind: str, name: str, change: Callable[[Obj], object]) -> Self:
        """Change an object of any kind in place: `change(doc)` edits the manifest dict."""
        change(self.find(kind, name))
        return self

    def with_hook(self, kind: str, name: str, hook: str | None, *, delete_policy: str | None = None) -> Self:
        """Make any object a hook of type `hook` (e.g. "PostDelete", "Skip"), or no hook with None."""
        self.with_annotation(kind, name, HOOK, hook)
        if delete_policy is not None or hook is None:
            self.with_annotation(kind, name, HOOK_DELETE_POLICY, delete_policy)
        return self

    def with_labels(self, kind: str, name: str, **labels: str) -> Self:
        self.find(kind, name).setdefault("metadata", {}).setdefault("labels", {}).update(labels)
        return self

    def find(self, kind: str, name: str) -> Obj:
        for d in self.docs:
            meta = d.get("metadata", {})
            generate = str(meta.get("generateName", ""))
            if d.get("kind") == kind and name in (meta.get("name"), generate, generate.rstrip("-")):
                return d
        have = [f"{d.get('kind')}/{_ident(d)}" for d in self.docs]
        raise ConfigError(f"fixture {self.name!r} has no {kind}/{name}; it has {', '.join(have)}")

    def with_hook_outcome(
        self,
        job: str,
        outcome: Literal["succeed", "fail", "hang"],
        *,
        exit_code: int | None = None,
        duration: str | None = None,
        start_delay: str | None = None,
        kind: str = "Job",
    ) -> Self:
        """Set what KWOK makes the object's pods do, keeping the rest of its pod template.

        `kind`: a Job (default), a bare Pod or any kind with a pod template. `hang`: the pod runs
        until deleted (a duration of `HANG`).
        """
        if outcome == "hang":
            if duration is not None or exit_code is not None:
                raise ConfigError(
                    f"outcome 'hang' takes no duration or exit code; got {duration!r}, {exit_code!r}"
                )
            outcome, duration = "succeed", HANG
        # Validate before touching the template: a rejected edit must not strip the old outcome.
        new = stages.hook_pod_annotations(
            outcome=outcome, exit_code=exit_code, duration=duration, start_delay=start_delay
        )
        ann = self._pod_annotations(kind, job)
        # A start delay set earlier stays unless a new one is given: it is about when, not how.
        for key in (stages.OUTCOME, stages.EXIT_CODE, stages.DURATION, stages.SWITCH):
            ann.pop(key, None)
        ann.update(new)
        return self

    def with_termination_grace(self, name: str, grace: str | None, *, kind: str = "Job") -> Self:
        """Make the object's pods stay Terminating for `grace` (Go duration, e.g. "8s") once deleted.

        What a kubelet does while a container uses its grace period to stop; on the embedded cluster
        KWOK plays it (the `pod-delete-graceful` stage). A Job deleted in the foreground, as Argo CD
        deletes hooks, stays until its pods are gone. None removes it. Raises ConfigError for a
        duration that is not a Go duration, or a kind without pods.
        """
        if grace is not None:
            stages.hook_pod_annotations(outcome=None, termination_grace=grace)  # validate first
        ann = self._pod_annotations(kind, name)
        if grace is None:
            ann.pop(stages.TERMINATION_GRACE, None)
        else:
            ann[stages.TERMINATION_GRACE] = grace
        return self

    def _pod_annotations(self, kind: str, name: str) -> dict[str, str]:
        doc = self.find(kind, name)
        if kind == "Pod":
            pod_meta = doc.setdefault("metadata", {})
        elif kind == "CronJob":
            pod_meta = doc["spec"]["jobTemplate"]["spec"]["template"].setdefault("metadata", {})
        elif kind in _POD_KINDS:
            pod_meta = doc["spec"]["template"].setdefault("metadata", {})
        else:
            raise ConfigError(f"{kind}/{name} has no pods; outcomes apply to {', '.join(_POD_KINDS)}")
        ann: dict[str, str] = pod_meta.setdefault("annotations", {})
        return ann

    def with_hook_switch(self, job: str, switch: str) -> Self:
        """Let an outcome switch decide how the hook Job's pods end, at run time."""
        new = stages.hook_pod_annotations(outcome=None, switch=switch)  # validate before changing anything
        ann = self._pod_annotations("Job", job)
        for key in (stages.OUTCOME, stages.EXIT_CODE, stages.DURATION):
            ann.pop(key, None)
        ann.update(new)
        return self

    def with_generate_name(self, kind: str, name: str) -> Self:
        """Give the object a generated name (`<name>-` prefix) instead of its fixed one."""
        meta = self.find(kind, name)["metadata"]
        meta.pop("name", None)
        meta["generateName"] = f"{name.rstrip('-')}-"
        return self

    def with_container_command(self, job: str, command: list[str]) -> Self:
        """Change the hook's pod template, which Kubernetes treats as immutable on a Job."""
        containers = self.find("Job", job)["spec"]["template"]["spec"]["containers"]
        containers[0]["command"] = list(command)
        return self

    def with_data(self, configmap: str, **data: str) -> Self:
        cm = self.find("ConfigMap", configmap)
        cm.setdefault("data", {}).update(data)
        return self

    def with_annotation(self, kind: str, name: str, key: str, value: str | None) -> Self:
        meta = self.find(kind, name).setdefault("metadata", {})
        ann = meta.setdefault("annotations", {})
        if value is None:
            ann.pop(key, None)
        else:
            ann[key] = value
        return self

    def at_revision(self, n: int) -> FixtureApp:
        """A copy whose non-hook objects say which fixture revision they come from.

        A chart gets the value `revision: "<n>"` (its templates stamp it where they want it); a
        kustomization gets the revision annotation as a `commonAnnotations` entry (on every object).
        """
        out = self.copy()
        if out.source_type == "Helm":
            return out.with_values(revision=str(n))
        if out.source_type == "Kustomize":
            fname = next(k for k in KUSTOMIZATION_NAMES if k in out.raw)
            kz = yaml.safe_load(out.raw[fname]) or {}
            kz.setdefault("commonAnnotations", {})[REVISION_ANNOTATION] = str(n)
            out.raw[fname] = yaml.dump(kz, Dumper=_QuotingDumper, sort_keys=False)
            return out
        for d in out.docs:
            meta = d.setdefault("metadata", {})
            ann = meta.setdefault("annotations", {})
            if HOOK in ann:
                continue
            ann[REVISION_ANNOTATION] = str(n)
            if d.get("kind") == "ConfigMap" and "revision" in d.get("data", {}):
                d["data"]["revision"] = str(n)
            if d.get("kind") in ("Deployment", "Job") and "template" in d.get("spec", {}):
                tmpl_meta = d["spec"]["template"].setdefault("metadata", {})
                tmpl_meta.setdefault("annotations", {})[REVISION_ANNOTATION] = str(n)
        return out

    def files(self) -> dict[str, str]:
        """One file per object, named by kind and name, so git diffs between revisions stay small.

        A source tree's files (`raw`) are added as they are.
        """
        out: dict[str, str] = dict(self.raw)
        for i, d in enumerate(self.docs):
            ident = _ident(d).rstrip("-")
            folder = self.folders[i] if i < len(self.folders) else ""
            prefix = f"{folder}/" if folder else ""
            out[f"{prefix}{i:02d}-{d['kind'].lower()}-{ident}.yaml"] = yaml.dump(
                d, Dumper=_QuotingDumper, sort_keys=False
            )
        return out


#: A string Go's YAML reader takes for a number although PyYAML writes it bare: "975e77" (YAML 1.2
#: reads it as 9.75e79; PyYAML's YAML 1.1 float needs a dot), "0x1f", "1_000".
_NUMBER_LIKE = re.compile(r"[-+]?(\d[\d_]*\.?\d*|\.\d+)([eE][-+]?\d+)?|0x[0-9a-fA-F]+|0o[0-7]+")


class _QuotingDumper(yaml.SafeDumper):
    """Writes number-like strings quoted, so the repo-server reads them back as strings."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if _NUMBER_LIKE.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_str(value)


_QuotingDumper.add_representer(str, _represent_str)


def read_yaml_documents(path: Path, what: str) -> list[tuple[int, int, object]]:
    """(number from 1, first line, value) of every non-empty document of a YAML (or JSON) file.

    `what` names the file in errors ("fixture file", "--app", ...). Raises ConfigError naming the file,
    the document and the line and column for a file that cannot be read or is not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc}") from None
    loader = yaml.SafeLoader(text)
    loader.name = str(path)
    out: list[tuple[int, int, object]] = []
    number = 0  # documents read so far; an error is in the next one
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            number += 1
            value = loader.construct_document(node)
            if value is not None:
                out.append((number, node.start_mark.line + 1, value))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = ", ".join(p for p in (exc.context, exc.problem) if p) or type(exc).__name__
        raise ConfigError(
            f"{what} {path}: document {number + 1} is not valid YAML: {problem}{where}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path}: document {number + 1} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return out


def load_manifests(path: Path) -> list[Obj]:
    """The Kubernetes objects of one multi-document YAML file; empty documents are skipped.

    Raises ConfigError naming the file and the document (its number, counted from 1, and the line it
    starts on) for invalid YAML, a document that is not a mapping (a list or a scalar would otherwise
    be dropped without a word), and an object without `apiVersion`, `kind` or a name: each would
    fail much later, in git or in Argo CD, far from the file that caused it.
    """
    return [
        _checked_object(path, number, line, doc)
        for number, line, doc in read_yaml_documents(path, "fixture file")
    ]


def _checked_object(path: Path, number: int, line: int, doc: object) -> Obj:
    where = f"fixture file {path}: document {number} (line {line})"
    if not isinstance(doc, dict):
        shape = "a list" if isinstance(doc, list) else f"a {type(doc).__name__} ({doc!r:.40})"
        raise ConfigError(
            f"{where} is {shape}, not a Kubernetes object: each document must be a mapping with "
            "apiVersion, kind and metadata.name (or metadata.generateName)"
        )
    for key in ("apiVersion", "kind"):
        if not isinstance(doc.get(key), str) or not doc[key].strip():
            raise ConfigError(f"{where} has no `{key}`: every object needs apiVersion, kind and a name")
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        raise ConfigError(
            f"{where} ({doc['kind']}) has no metadata.name or metadata.generateName: every object needs one"
        )
    return doc


def _read_tree(d: Path) -> dict[str, str]:
    """Every file under `d` as text, by its path relative to `d`."""
    out: dict[str, str] = {}
    for f in sorted(p for p in d.rglob("*") if p.is_file()):
        try:
            out[f.relative_to(d).as_posix()] = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"fixture file {f} cannot be read: {exc}") from None
    return out


def _merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = copy.deepcopy(v)


def _ident(doc: Obj) -> str:
    meta = doc.get("metadata", {})
    return str(meta.get("name") or meta.get("generateName") or "obj")
