"""The harness's exception hierarchy.

Errors carry structured fields so that a failing test or CLI call can say what was wrong and what
to do next, instead of surfacing a bare traceback from a subprocess or the Kubernetes client.
"""

from __future__ import annotations

from harness._redact import redact_text


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class ConfigError(HarnessError):
    """Bad input from the user: a version, a name, a flag value."""


class BuildError(HarnessError):
    """The Go build of an embedded component failed or cannot start."""


class ClusterSetupError(HarnessError):
    """A cluster component did not come up; the message names it and quotes its log."""

    def __init__(self, component: str, reason: str, log_tail: str = "") -> None:
        self.component = component
        self.reason = reason
        # The tail of a component log ends up in test reports: credentials in it must not.
        self.log_tail = redact_text(log_tail)
        text = f"{component}: {reason}"
        if self.log_tail:
            text += f"\n--- last lines of the {component} log ---\n{self.log_tail}"
        super().__init__(text)
