import types

import harness

EXPECTED = {
    "ClaimContext",
    "DriftInjector",
    "MutatingWebhook",
    "WebhookEndpoint",
    "OutcomeSwitch",
    "Timeline",
    "AppResource",
    "ArgoCDSettings",
    "AppSpec",
    "LiveObject",
    "LiveState",
    "OperationInProgress",
    "OutcomeAnnotations",
    "SyncRequest",
    "SyncRetry",
    "AppStatus",
    "AppUnderTest",
    "ArgoCD",
    "Build",
    "BuildError",
    "ClusterHandle",
    "ClusterSetupError",
    "ConfigError",
    "ConsistencyError",
    "EmbeddedCluster",
    "EmbeddedOptions",
    "Expectation",
    "ExpectationTimeout",
    "FixtureApp",
    "HarnessConfig",
    "HarnessError",
    "OperationState",
    "Outcome",
    "ResourceResult",
    "TerminalStateError",
    "Timeouts",
    "ensure_build",
    "ensure_render_tools",
    "PausedComponent",
    "expect",
    "expect_consistently",
}


def test_public_api_is_pinned() -> None:
    public = {
        n
        for n in dir(harness)
        if not n.startswith("_") and not isinstance(getattr(harness, n), types.ModuleType)
    }
    assert public == EXPECTED
