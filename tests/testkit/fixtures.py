"""Reading hook Jobs out of a fixture app's manifests."""

from __future__ import annotations

from typing import Any


def jobs(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == "Job"]


def job_name(job: dict[str, Any]) -> str:
    """The Job's name, or its generateName prefix without the trailing '-'."""
    meta = job["metadata"]
    return str(meta.get("name") or meta["generateName"].rstrip("-"))
