"""Fixture apps: folders of plain manifests under `fixtures/`, loaded and varied per test.

The manifests stay readable on their own (hook annotations, sync waves and the KWOK outcome
annotations are all in the YAML); a test only changes what its scenario is about, through small
typed edits that fail loudly when they do not find what they were meant to change.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
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


@dataclass
class FixtureApp:
    """The manifests of one fixture app, as one revision of its git repository."""

    name: str
    docs: list[Obj]

    @classmethod
    def load(cls, name: str, root: Path | None = None) -> FixtureApp:
        d = (root or FIXTURES_DIR) / name
        if not d.is_dir():
            known = sorted(p.name for p in (root or FIXTURES_DIR).iterdir() if p.is_dir())
            raise ConfigError(f"no fixture app {name!r} in {d.parent}; known: {', '.join(known)}")
        docs: list[Obj] = []
        for f in sorted(d.glob("*.yaml")):
            docs += [x for x in yaml.safe_load_all(f.read_text()) if isinstance(x, dict)]
        return cls(name, docs)

    def copy(self) -> FixtureApp:
        return FixtureApp(self.name, copy.deepcopy(self.docs))

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
        outcome: Literal["succeed", "fail"],
        *,
        exit_code: int | None = None,
        duration: str | None = None,
    ) -> Self:
        """Set what KWOK makes the hook Job's pod do, keeping the rest of its template."""
        tmpl = self.find("Job", job)["spec"]["template"]
        # Validate before touching the template: a rejected edit must not strip the old outcome.
        new = stages.hook_pod_annotations(outcome=outcome, exit_code=exit_code, duration=duration)
        ann = tmpl.setdefault("metadata", {}).setdefault("annotations", {})
        for key in (stages.OUTCOME, stages.EXIT_CODE, stages.DURATION, stages.SWITCH):
            ann.pop(key, None)
        ann.update(new)
        return self

    def with_hook_switch(self, job: str, switch: str) -> Self:
        """Let an outcome switch decide how the hook Job's pods end, at run time."""
        new = stages.hook_pod_annotations(outcome=None, switch=switch)  # validate before changing anything
        tmpl = self.find("Job", job)["spec"]["template"]
        ann = tmpl.setdefault("metadata", {}).setdefault("annotations", {})
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
        """A copy whose non-hook objects say which fixture revision they come from."""
        out = self.copy()
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
        """One file per object, named by kind and name, so git diffs between revisions stay small."""
        out: dict[str, str] = {}
        for i, d in enumerate(self.docs):
            ident = _ident(d).rstrip("-")
            out[f"{i:02d}-{d['kind'].lower()}-{ident}.yaml"] = yaml.safe_dump(d, sort_keys=False)
        return out


def _ident(doc: Obj) -> str:
    meta = doc.get("metadata", {})
    return str(meta.get("name") or meta.get("generateName") or "obj")
