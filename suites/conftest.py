"""Shared helpers of the claim suites: Given-steps that several claims start from."""

from __future__ import annotations

from harness import AppUnderTest, FixtureApp


def deploy_revision_1(app: AppUnderTest, fixture: FixtureApp) -> None:
    """Given: revision 1 of the fixture is synced, Succeeded and Healthy."""
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_operation("Succeeded")
    app.wait_healthy()


def revisions(app: AppUnderTest) -> dict[str, str]:
    """`kind/name -> fixture revision` of the app's own objects (hooks and pods left out)."""
    return {k: v for k, v in app.live().revisions().items() if v and not k.startswith("Pod/")}
