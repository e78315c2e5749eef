"""A per-test argocd-cm change on the embedded cluster: a Lua health override for Jobs, for one test
only (a failing input of issue 13), written with the public API."""

from __future__ import annotations

import pytest

from harness import AppUnderTest, ArgoCDSettings, Expectation, FixtureApp, Outcome, expect

pytestmark = pytest.mark.cluster

HEALTH_KEY = "resource.customizations.health.batch_Job"
#: Every Job is Healthy, whatever its pods did.
ALWAYS_HEALTHY = 'hs = {}\nhs.status = "Healthy"\nhs.message = "overridden by argocd-chaos"\nreturn hs\n'


def app_health(app: AppUnderTest, wanted: str) -> Expectation:
    def check() -> Outcome:
        app.refresh()
        st = app.status()
        return Outcome.simple(st.health == wanted, st.excerpt())

    return Expectation(f"{app.name} health is {wanted}", check)


@pytest.mark.exclusive("changes argocd-cm for every app")
def test_lua_health_override_for_one_test(
    app_under_test: AppUnderTest, argocd_settings: ArgoCDSettings
) -> None:
    app = app_under_test
    fixture = FixtureApp.load("single-hook").with_hook("Job", "hook", None).with_hook_outcome("hook", "fail")
    app.commit_revision(1, fixture)
    app.create()
    app.sync()
    app.wait_ended()
    expect(app_health(app, "Degraded"), timeout=app.timeouts.assert_)
    before = argocd_settings.data().get(HEALTH_KEY)

    argocd_settings.set({HEALTH_KEY: ALWAYS_HEALTHY})
    expect(app_health(app, "Healthy"), timeout=app.timeouts.assert_)

    argocd_settings.restore()
    assert argocd_settings.data().get(HEALTH_KEY) == before
    expect(app_health(app, "Degraded"), timeout=app.timeouts.assert_)
