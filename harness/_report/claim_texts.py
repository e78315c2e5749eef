"""What each claim says, in full: the statement a report shows next to the claim's verdict.

The ledger's ``CLAIMS`` holds one-line titles; people who open a report also need the claim as users
state it, and the group it belongs to (the sections of the project's ``docs/claims.md``, from which
these statements are taken). A claim added to ``CLAIMS`` without an entry here still reports: its
title stands in for the statement and it is grouped under ``OTHER_SECTION``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAIM_TEXTS", "OTHER_SECTION", "ClaimText", "claim_text"]

OTHER_SECTION = "Other claims"


@dataclass(frozen=True)
class ClaimText:
    """One claim as a reader meets it: ``name`` is a few words, ``statement`` the whole claim."""

    section: str
    name: str
    statement: str


_PHASES = "Phase failures"
_HOOKS = "Hook objects and delete policies"
_HEAL = "Self-heal"
_DELETE = "Deletion hooks"
_HELM = "Helm charts"

CLAIM_TEXTS: dict[str, ClaimText] = {
    "C1": ClaimText(
        _PHASES,
        "PreSync failure",
        "A PreSync hook that fails ends the operation before the Sync phase: none of the app's manifests "
        "are applied, and the previously deployed version keeps running.",
    ),
    "C2": ClaimText(
        _PHASES,
        "Sync failure",
        "A failure during the Sync phase (a resource that fails to apply, or a Sync-phase hook that fails, "
        "e.g. between sync waves) leaves some resources applied and others not: the cluster matches neither "
        "the old Git revision nor the new one.",
    ),
    "C3": ClaimText(
        _PHASES,
        "PostSync failure",
        "A PostSync hook runs after the deploy: when it fails, the new manifests are applied and the "
        "workloads are up, yet the operation is marked Failed; nothing is rolled back.",
    ),
    "C4": ClaimText(
        _PHASES,
        "SyncFail",
        "SyncFail hooks run only when the operation has already failed. When a SyncFail hook itself fails, "
        "nothing changes: the operation stays Failed and the cleanup it was meant to do is lost without "
        "further notice.",
    ),
    "C5": ClaimText(
        _PHASES,
        "After any failure",
        "In all four cases the operation ends as Failed and SyncFail hooks (if any) run. With automated "
        "sync on, Argo CD retries on the next reconcile: a transient failure recovers, a persistent one "
        "loops until someone fixes it.",
    ),
    "C6": ClaimText(
        _HOOKS,
        "Default delete policy",
        "With no argocd.argoproj.io/hook-delete-policy, the policy is BeforeHookCreation: the previous hook "
        "object is deleted just before the next sync creates it again. So only the latest run (failed or "
        "not) is left in the namespace, and nothing is deleted on success.",
    ),
    "C7": ClaimText(
        _HOOKS,
        "Static names",
        "A hook with a fixed metadata.name and hook-delete-policy: HookSucceeded that fails is left behind "
        "(HookSucceeded deletes only on success). The next sync applies the same name over the existing "
        "Job, whose spec.template is immutable, and that conflict wedges the sync. generateName makes "
        "every run a fresh object, so the problem cannot occur.",
    ),
    "C8": ClaimText(
        _HEAL,
        "Self-heal reruns hooks",
        "With automated sync and selfHeal on, every drift correction is a sync that runs the full phase "
        "sequence again, PostSync hooks included.",
    ),
    "C9": ClaimText(
        _HEAL,
        "Self-heal rate limit",
        "Self-heal syncs are throttled: the default gap between them is 5 seconds.",
    ),
    "C10": ClaimText(
        _HEAL,
        "No retry of a failed commit",
        "Self-heal does not attempt again a sync that already failed against the same commit.",
    ),
    "C11": ClaimText(
        _HEAL,
        "Drift loops",
        "A mutating webhook that keeps injecting a field that self-heal keeps reverting makes the hooks "
        "fire on every cycle with no real change; ignoreDifferences on that field ends the loop.",
    ),
    "C12": ClaimText(
        _DELETE,
        "PreDelete",
        "A PreDelete hook runs before the app's resources are deleted; when it fails, deletion is blocked "
        "until the hook is fixed in Git. (PreDelete hooks exist from Argo CD v3.3 on.)",
    ),
    "C13": ClaimText(
        _DELETE,
        "PostDelete",
        "PostDelete hooks run after the app's resources are gone and are left behind unless a delete "
        "policy removes them. (PostDelete hooks exist from Argo CD v2.10 on.)",
    ),
    "C14": ClaimText(
        _HELM,
        "Helm hook annotations",
        "Argo CD runs a chart's Helm hooks as its own: pre-install and pre-upgrade as PreSync, "
        "post-install and post-upgrade as PostSync, pre-delete and post-delete as PreDelete and "
        "PostDelete, hook-weight as the sync wave, hook-delete-policy as its delete policy; crd-install, "
        "test and rollback hooks are not run as hooks, and any Argo CD hook in the chart makes it ignore "
        "every Helm hook. (Argo CD's Helm guide, docs/user-guide/helm.md.)",
    ),
}


def claim_text(claim_id: str, title: str) -> ClaimText:
    """The claim's text, or one made of its ledger ``title`` for a claim not described here yet."""
    return CLAIM_TEXTS.get(claim_id) or ClaimText(OTHER_SECTION, title, title)
