"""argocd-chaos: find out what the real Argo CD controller does when sync hooks fail.

The stable public API; everything else lives in private modules and may change.
"""

from harness._argocd.driver import AppSpec as AppSpec
from harness._argocd.driver import ArgoCD as ArgoCD
from harness._argocd.driver import OperationInProgress as OperationInProgress
from harness._argocd.driver import SyncRetry as SyncRetry
from harness._argocd.observe import AppResource as AppResource
from harness._argocd.observe import AppStatus as AppStatus
from harness._argocd.observe import LiveObject as LiveObject
from harness._argocd.observe import LiveState as LiveState
from harness._argocd.observe import OperationState as OperationState
from harness._argocd.observe import ResourceResult as ResourceResult
from harness._build.binaries import Build as Build
from harness._build.binaries import ensure_build as ensure_build
from harness._build.render_tools import ensure_render_tools as ensure_render_tools
from harness._chaos.controls import DriftInjector as DriftInjector
from harness._chaos.controls import OutcomeSwitch as OutcomeSwitch
from harness._chaos.webhook import MutatingWebhook as MutatingWebhook
from harness._cluster.embedded.cluster import EmbeddedCluster as EmbeddedCluster
from harness._cluster.embedded.cluster import EmbeddedOptions as EmbeddedOptions
from harness._cluster.embedded.cluster import PausedComponent as PausedComponent
from harness._cluster.endpoint import WebhookEndpoint as WebhookEndpoint
from harness._cluster.provider import ClusterHandle as ClusterHandle
from harness._config import HarnessConfig as HarnessConfig
from harness._errors import BuildError as BuildError
from harness._errors import ClusterSetupError as ClusterSetupError
from harness._errors import ConfigError as ConfigError
from harness._errors import HarnessError as HarnessError
from harness._report.claims_plugin import ClaimContext as ClaimContext
from harness._scenario.app import AppUnderTest as AppUnderTest
from harness._scenario.app import SyncRequest as SyncRequest
from harness._scenario.fixtures import FixtureApp as FixtureApp
from harness._scenario.fixtures import OutcomeAnnotations as OutcomeAnnotations
from harness._scenario.settings import ArgoCDSettings as ArgoCDSettings
from harness._scenario.timeline import Timeline as Timeline
from harness._wait import ConsistencyError as ConsistencyError
from harness._wait import Expectation as Expectation
from harness._wait import ExpectationTimeout as ExpectationTimeout
from harness._wait import Outcome as Outcome
from harness._wait import TerminalStateError as TerminalStateError
from harness._wait import Timeouts as Timeouts
from harness._wait import expect as expect
from harness._wait import expect_consistently as expect_consistently

__version__ = "0.1.0"
