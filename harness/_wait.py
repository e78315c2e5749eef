"""Waiting for the controller, and proving that something stays true.

Every observation of Argo CD is eventually consistent, so a test never asserts once: it waits until an
expectation is met. Expectations are tri-state (met / pending / failed) like Argo CD's own e2e
fixtures, because a terminal state such as ``operationState.phase == Failed`` while we wait for
``Succeeded`` will never turn into success, and running into the timeout would only hide that for two
minutes and then report the wrong thing.

Chaos claims also need the opposite wait: "the hook is *not* run again", "self-heal does *not* retry".
Those can only be shown by watching a condition for a whole window, which is what
:func:`expect_consistently` does.

The clock and the sleep are module attributes (``_now`` and ``_sleep``) so that the harness's own unit
tests can swap in a fake clock and run the backoff logic without waiting on wall time.
"""

from __future__ import annotations

import enum
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_delay, wait_exponential

from harness._errors import HarnessError

__all__ = [
    "ConsistencyError",
    "Expectation",
    "ExpectationTimeout",
    "Outcome",
    "State",
    "TerminalStateError",
    "Timeouts",
    "all_of",
    "any_of",
    "expect",
    "expect_consistently",
    "failed",
    "is_pending",
    "met",
    "pending",
    "simple",
]

# Swapped out by the harness's unit tests; production code never touches them. They are looked up at
# call time (not bound as defaults) so that monkeypatching the module is enough.
_now: Callable[[], float] = time.monotonic
_sleep: Callable[[float], None] = time.sleep


# --------------------------------------------------------------------------------------------------
# Outcomes and expectations


class State(enum.Enum):
    MET = "met"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    """One observation: where we stand and what we saw.

    The message is kept even when the state is MET, because it is what the claims ledger and a timeout
    error quote back to the reader.
    """

    state: State
    message: str

    @property
    def is_met(self) -> bool:
        return self.state is State.MET

    @property
    def is_pending(self) -> bool:
        return self.state is State.PENDING

    @property
    def is_failed(self) -> bool:
        return self.state is State.FAILED

    @classmethod
    def met(cls, message: str) -> Outcome:
        return cls(State.MET, message)

    @classmethod
    def pending(cls, message: str) -> Outcome:
        return cls(State.PENDING, message)

    @classmethod
    def failed(cls, message: str) -> Outcome:
        return cls(State.FAILED, message)

    @classmethod
    def simple(cls, ok: bool, message: str) -> Outcome:
        """Map a plain boolean to met or pending.

        ``False`` means "not yet", never "failed": only a check that knows the state is terminal may say
        FAILED, otherwise a slow controller would be reported as a broken one.
        """
        return cls(State.MET if ok else State.PENDING, message)


# Module-level spellings, so that checks read like Argo CD's ``simple(ok, msg)``.
met = Outcome.met
pending = Outcome.pending
failed = Outcome.failed
simple = Outcome.simple


def is_pending(outcome: Outcome) -> bool:
    return outcome.state is State.PENDING


@dataclass
class Expectation:
    """A check with a sentence describing it.

    The description is what a timeout error says we were waiting for, so it should read as the
    expected state ("operation phase is Failed"), not as the name of the function.
    """

    description: str
    check: Callable[[], Outcome]

    def __call__(self) -> Outcome:
        return self.check()


def _observe(check: Callable[[], Outcome]) -> tuple[Outcome, Exception | None]:
    """Run one check, turning an unexpected exception into a pending observation.

    API hiccups (a connection reset, a 409 during an update, an object that is not created yet) are
    normal while the controller churns, so they must not end the wait. ``HarnessError`` is let through:
    a check that raises one on purpose has decided the outcome itself.
    """
    try:
        return check(), None
    except HarnessError:
        raise
    except Exception as exc:  # every other error is a transient, see the docstring
        return pending(f"check raised {type(exc).__name__}: {exc}"), exc


def _require(expectations: tuple[Expectation, ...], name: str) -> None:
    if not expectations:
        raise ValueError(f"{name}() needs at least one expectation; got none")


def all_of(*expectations: Expectation) -> Expectation:
    """Combine expectations that must all be met.

    Every member is evaluated on each poll (none is short-circuited) so that the merged message shows
    the whole picture when the wait times out. One FAILED member makes the whole FAILED, since it can
    never be met again.
    """
    _require(expectations, "all_of")

    def check() -> Outcome:
        results = [(e, _observe(e.check)[0]) for e in expectations]
        states = {o.state for _, o in results}
        if State.FAILED in states:
            state = State.FAILED
        elif State.PENDING in states:
            state = State.PENDING
        else:
            state = State.MET
        return Outcome(state, _merge(results))

    return Expectation("all of: " + "; ".join(e.description for e in expectations), check)


def any_of(*expectations: Expectation) -> Expectation:
    """Combine expectations of which one is enough.

    The result is FAILED only when every member is FAILED: as long as one is still pending, it may yet
    be met.
    """
    _require(expectations, "any_of")

    def check() -> Outcome:
        results = [(e, _observe(e.check)[0]) for e in expectations]
        states = [o.state for _, o in results]
        if State.MET in states:
            state = State.MET
        elif all(s is State.FAILED for s in states):
            state = State.FAILED
        else:
            state = State.PENDING
        return Outcome(state, _merge(results))

    return Expectation("any of: " + "; ".join(e.description for e in expectations), check)


def _merge(results: list[tuple[Expectation, Outcome]]) -> str:
    return "; ".join(f"[{o.state.value}] {e.description}: {o.message}" for e, o in results)


# --------------------------------------------------------------------------------------------------
# Timeouts


@dataclass(frozen=True)
class Timeouts:
    """The one table of default timeouts, in seconds, per kind of operation.

    Kinds differ by an order of magnitude (an apply answers in seconds, a chaos scenario may need a few
    reconcile cycles), so a single timeout would be either too short for chaos or too long to fail
    fast on an apply. Precedence: a per-call ``timeout=`` beats this table, and the environment
    (``ARGOCD_CHAOS_TIMEOUT_<KIND>``) beats the built-in defaults.
    """

    assert_: float = 120
    apply: float = 30
    delete: float = 60
    cleanup: float = 60
    chaos: float = 180

    ENV_PREFIX: ClassVar[str] = "ARGOCD_CHAOS_TIMEOUT_"

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_seconds(f.name, getattr(self, f.name))

    @staticmethod
    def env_var(field_name: str) -> str:
        return Timeouts.ENV_PREFIX + field_name.rstrip("_").upper()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Timeouts:
        """Build the table from the defaults and ``ARGOCD_CHAOS_TIMEOUT_*``.

        An empty variable counts as unset, because CI templates often export ``VAR=`` for "default".
        A bad value is an error naming the variable rather than a silent fallback: a typo in a timeout
        would otherwise show up much later as a confusing flaky failure.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            var = cls.env_var(f.name)
            raw = env.get(var, "").strip()
            if not raw:
                continue
            try:
                seconds = float(raw)
            except ValueError:
                raise ValueError(
                    f"{var}={raw!r} is not a number of seconds; set it to a positive number such as "
                    f"{f.default} or unset it"
                ) from None
            _check_seconds(var, seconds)
            values[f.name] = seconds
        return cls(**values)


def _check_seconds(name: str, seconds: float) -> None:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{name} must be a number of seconds, got {seconds!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {seconds!r}")


def _resolve_timeout(timeout: float | None, timeouts: Timeouts | None) -> float:
    if timeout is not None:
        _check_seconds("timeout", timeout)
        return float(timeout)
    return (timeouts if timeouts is not None else Timeouts.from_env()).assert_


def _seconds(value: float) -> str:
    # Whole seconds for real timeouts (as the error format promises); sub-second ones only occur in
    # the harness's own tests, where "0s" would be misleading.
    return f"{value:.0f}s" if value >= 1 else f"{value:g}s"


# --------------------------------------------------------------------------------------------------
# Errors


class ExpectationTimeout(HarnessError):
    """The expectation was still pending when the timeout ran out."""

    def __init__(self, expected: str, timeout: float, last_observed: str, hint: str = "") -> None:
        self.expected = expected
        self.timeout = timeout
        self.last_observed = last_observed
        self.hint = hint
        text = f"timed out after {_seconds(timeout)} waiting for: {expected}\nlast observed: {last_observed}"
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


class TerminalStateError(HarnessError):
    """The expectation reached a state it can never leave, so we stopped before the timeout.

    Kept apart from :class:`ExpectationTimeout` so that "failed fast" is never confused with "too slow".
    """

    def __init__(
        self, expected: str, timeout: float, last_observed: str, hint: str = "", elapsed: float = 0.0
    ) -> None:
        self.expected = expected
        self.timeout = timeout
        self.last_observed = last_observed
        self.hint = hint
        self.elapsed = elapsed
        text = (
            f"terminal state after {elapsed:.1f}s (timeout {_seconds(timeout)}) waiting for: {expected}\n"
            f"last observed: {last_observed}"
        )
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


class ConsistencyError(HarnessError):
    """A condition that had been met stopped holding inside the observation window."""

    def __init__(
        self,
        expected: str,
        window: float,
        broke_at: float,
        last_observed: str,
        state: State,
        hint: str = "",
    ) -> None:
        self.expected = expected
        self.window = window
        self.broke_at = broke_at
        self.last_observed = last_observed
        self.state = state
        self.hint = hint
        text = (
            f"stopped holding {broke_at:.1f}s into the {_seconds(window)} window "
            f"(state {state.value}): {expected}\nlast observed: {last_observed}"
        )
        if hint:
            text += f"\nHint: {hint}"
        super().__init__(text)


# --------------------------------------------------------------------------------------------------
# Waiting


class _StopAfterDelay(stop_after_delay):
    """``stop_after_delay`` measured on the module clock instead of tenacity's own ``time.monotonic``.

    tenacity timestamps attempts with ``time.monotonic`` directly; measuring on ``_now`` keeps the
    deadline consistent with the (possibly fake) sleep.
    """

    def __init__(self, max_delay: float, now: Callable[[], float]) -> None:
        super().__init__(max_delay)
        self._now = now
        self._start = now()

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._now() - self._start >= self.max_delay


class _Poller:
    """Calls the check and remembers what it saw, for the error message."""

    def __init__(self, expectation: Expectation) -> None:
        self.expectation = expectation
        self.calls = 0
        self.last_error: Exception | None = None
        self.last_observation: str | None = None

    def __call__(self) -> Outcome:
        self.calls += 1
        outcome, error = _observe(self.expectation.check)
        self.last_error = error
        if error is None:
            self.last_observation = outcome.message
        return outcome

    def describe_last(self, outcome: Outcome) -> str:
        # When the last poll hit an API error, the error alone says nothing about the app: keep the
        # last real observation next to it.
        if self.last_error is not None and self.last_observation is not None:
            return f"{outcome.message} (last successful check: {self.last_observation})"
        return outcome.message


def expect(
    expectation: Expectation,
    *,
    timeout: float | None = None,
    timeouts: Timeouts | None = None,
    hint: str = "",
    max_interval: float = 1.0,
) -> Outcome:
    """Wait until the expectation is met and return the met outcome.

    Polls with a capped exponential backoff (50 ms doubling to 1 s): short enough to catch a hook
    that finishes quickly, gentle enough on the API server during a long chaos scenario. A FAILED
    outcome raises :class:`TerminalStateError` at once, without another poll.

    The timeout is the per-call ``timeout`` if given, else ``timeouts.assert_``, else the ``assert``
    timeout from the environment/defaults (:meth:`Timeouts.from_env`). ``max_interval`` lowers the
    backoff cap for waits where a second of latency matters (component readiness at boot).
    """
    limit = _resolve_timeout(timeout, timeouts)
    poller = _Poller(expectation)
    start = _now()
    retrying = Retrying(
        retry=retry_if_result(is_pending),
        stop=_StopAfterDelay(limit, _now),
        wait=wait_exponential(multiplier=0.05, max=max_interval),
        sleep=_sleep,
        # On timeout hand back the last (pending) outcome instead of tenacity's RetryError, so that the
        # error below can quote it.
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    outcome: Outcome = retrying(poller)
    if outcome.state is State.MET:
        return outcome
    if outcome.state is State.FAILED:
        raise TerminalStateError(
            expectation.description, limit, outcome.message, hint, elapsed=_now() - start
        )
    raise ExpectationTimeout(
        expectation.description, limit, poller.describe_last(outcome), hint
    ) from poller.last_error


def expect_consistently(
    expectation: Expectation,
    *,
    for_: float,
    every: float = 1.0,
    timeout: float | None = None,
    timeouts: Timeouts | None = None,
    hint: str = "",
) -> list[Outcome]:
    """Require the expectation, then prove that it stays met for ``for_`` seconds.

    This is how "not re-run", "not retried" and "self-heal reverted it and it stayed reverted" are
    asserted: the absence of an event can only be shown over a window. The first met outcome comes
    from :func:`expect` (with ``timeout``/``timeouts``/``hint``), then the check is sampled every
    ``every`` seconds until the window is over, with a last sample at its very end.

    Any sample that is not MET breaks the window, including a check that raised: we cannot claim the
    condition held at an instant we could not observe. Returns every sample, the first included.
    """
    _check_seconds("for_", for_)
    _check_seconds("every", every)
    samples = [expect(expectation, timeout=timeout, timeouts=timeouts, hint=hint)]
    start = _now()
    while True:
        elapsed = _now() - start
        remaining = for_ - elapsed
        if remaining <= 0:
            return samples
        # This sleep is the scenario, not a poll delay: the window is the time we give the controller
        # to do the thing the claim says it will not do (re-run a hook, retry a sync, drift back).
        _sleep(min(every, remaining))
        outcome, error = _observe(expectation.check)
        samples.append(outcome)
        if outcome.state is not State.MET:
            raise ConsistencyError(
                expectation.description, for_, _now() - start, outcome.message, outcome.state, hint
            ) from error
