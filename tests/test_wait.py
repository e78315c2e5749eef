from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pytest
from testkit.clock import FakeClock

from harness._errors import HarnessError
from harness._wait import (
    ConsistencyError,
    Expectation,
    ExpectationTimeout,
    Outcome,
    State,
    TerminalStateError,
    Timeouts,
    all_of,
    any_of,
    expect,
    expect_consistently,
    failed,
    met,
    pending,
    simple,
)


class Script:
    """A check that plays back outcomes (or raises) and counts its calls; the last step repeats."""

    def __init__(self, steps: Iterable[Outcome | Exception]) -> None:
        self.steps = list(steps)
        self.calls = 0

    def __call__(self) -> Outcome:
        step = self.steps[min(self.calls, len(self.steps) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return step


def expectation(steps: Iterable[Outcome | Exception], description: str = "phase is Succeeded") -> Expectation:
    return Expectation(description, Script(steps))


def calls(e: Expectation) -> int:
    check = e.check
    assert isinstance(check, Script)
    return check.calls


# -- outcomes ---------------------------------------------------------------------------------------


def test_outcome_helpers() -> None:
    assert met("a") == Outcome(State.MET, "a")
    assert pending("b") == Outcome(State.PENDING, "b")
    assert failed("c") == Outcome(State.FAILED, "c")
    assert simple(True, "d").state is State.MET
    assert simple(False, "e").state is State.PENDING  # never FAILED: "not yet" is not "broken"
    assert Outcome.simple(False, "e") == simple(False, "e")


# -- expect ------------------------------------------------------------------------------------------


def test_met_immediately(clock: FakeClock) -> None:
    e = expectation([met("phase=Succeeded")])
    assert expect(e, timeout=10) == met("phase=Succeeded")
    assert calls(e) == 1
    assert clock.sleeps == []


def test_pending_then_met_backs_off(clock: FakeClock) -> None:
    e = expectation([pending("phase=Running"), pending("phase=Running"), met("phase=Succeeded")])
    assert expect(e, timeout=10).message == "phase=Succeeded"
    assert calls(e) == 3
    assert clock.sleeps == pytest.approx([0.05, 0.1])


def test_backoff_is_capped_at_one_second(clock: FakeClock) -> None:
    e = expectation([pending("phase=Running")])
    with pytest.raises(ExpectationTimeout):
        expect(e, timeout=20)
    assert max(clock.sleeps) == 1
    assert clock.sleeps[:3] == pytest.approx([0.05, 0.1, 0.2])


def test_failed_stops_immediately(clock: FakeClock) -> None:
    e = expectation([pending("Running"), pending("Running"), failed("phase=Failed: hook exited 1"), met("x")])
    with pytest.raises(TerminalStateError) as info:
        expect(e, timeout=120, hint="look at the PreSync job")
    assert calls(e) == 3  # no poll after the terminal state
    err = info.value
    assert isinstance(err, HarnessError)
    assert not isinstance(err, ExpectationTimeout)
    assert err.expected == "phase is Succeeded"
    assert err.last_observed == "phase=Failed: hook exited 1"
    assert err.timeout == 120
    assert err.hint == "look at the PreSync job"
    assert err.elapsed == pytest.approx(0.15)
    assert "phase=Failed: hook exited 1" in str(err)
    assert "Hint: look at the PreSync job" in str(err)
    assert sum(clock.sleeps) < 1  # nowhere near the timeout


def test_timeout_message(clock: FakeClock) -> None:
    e = expectation([pending("phase=Running, hook presync-abc Pending")], "operation phase is Failed")
    with pytest.raises(ExpectationTimeout) as info:
        expect(e, timeout=5, hint="is the application controller running?")
    err = info.value
    assert str(err) == (
        "timed out after 5s waiting for: operation phase is Failed\n"
        "last observed: phase=Running, hook presync-abc Pending\n"
        "Hint: is the application controller running?"
    )
    assert (err.expected, err.timeout, err.last_observed, err.hint) == (
        "operation phase is Failed",
        5,
        "phase=Running, hook presync-abc Pending",
        "is the application controller running?",
    )
    assert clock.now - 1000.0 >= 5


def test_timeout_message_without_hint_has_no_hint_line(clock: FakeClock) -> None:
    with pytest.raises(ExpectationTimeout) as info:
        expect(expectation([pending("nope")]), timeout=2)
    assert "Hint" not in str(info.value)
    assert str(info.value).splitlines() == [
        "timed out after 2s waiting for: phase is Succeeded",
        "last observed: nope",
    ]


def test_exceptions_in_check_are_pending(clock: FakeClock) -> None:
    e = expectation([ConnectionResetError("peer reset"), met("phase=Succeeded")])
    assert expect(e, timeout=10).message == "phase=Succeeded"
    assert calls(e) == 2


def test_exception_text_is_last_observed_and_previous_observation_kept(clock: FakeClock) -> None:
    boom = ConnectionResetError("peer reset")
    e = expectation([pending("phase=Running"), boom])
    with pytest.raises(ExpectationTimeout) as info:
        expect(e, timeout=3)
    observed = info.value.last_observed
    assert "ConnectionResetError: peer reset" in observed
    assert "last successful check: phase=Running" in observed
    assert info.value.__cause__ is boom


def test_harness_errors_from_check_are_not_retried(clock: FakeClock) -> None:
    e = expectation([HarnessError("deliberate")])
    with pytest.raises(HarnessError, match="deliberate"):
        expect(e, timeout=10)
    assert calls(e) == 1


def test_default_timeout_comes_from_env(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_TIMEOUT_ASSERT", "3")
    with pytest.raises(ExpectationTimeout, match="after 3s"):
        expect(expectation([pending("x")]))


def test_timeouts_object_and_per_call_override(clock: FakeClock) -> None:
    with pytest.raises(ExpectationTimeout, match="after 7s"):
        expect(expectation([pending("x")]), timeouts=Timeouts(assert_=7))
    with pytest.raises(ExpectationTimeout, match="after 2s"):
        expect(expectation([pending("x")]), timeout=2, timeouts=Timeouts(assert_=7))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_bad_per_call_timeout_is_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        expect(expectation([met("x")]), timeout=bad)


def test_real_clock_smoke() -> None:
    # The only test on wall time: proves the default clock/sleep are wired into tenacity (~0.15 s).
    started = time.monotonic()
    with pytest.raises(ExpectationTimeout):
        expect(expectation([pending("x")]), timeout=0.1)
    assert 0.1 <= time.monotonic() - started < 1


# -- combinators ------------------------------------------------------------------------------------


def constant(outcome: Outcome, description: str) -> Expectation:
    return Expectation(description, lambda: outcome)


@pytest.mark.parametrize(
    ("states", "all_state", "any_state"),
    [
        ((State.MET, State.MET), State.MET, State.MET),
        ((State.MET, State.PENDING), State.PENDING, State.MET),
        ((State.PENDING, State.PENDING), State.PENDING, State.PENDING),
        ((State.FAILED, State.PENDING), State.FAILED, State.PENDING),
        ((State.FAILED, State.MET), State.FAILED, State.MET),
        ((State.FAILED, State.FAILED), State.FAILED, State.FAILED),
    ],
)
def test_combinator_states(states: tuple[State, State], all_state: State, any_state: State) -> None:
    members = [constant(Outcome(s, f"saw {i}"), f"e{i}") for i, s in enumerate(states)]
    assert all_of(*members).check().state is all_state
    assert any_of(*members).check().state is any_state


def test_combinators_merge_messages_and_descriptions() -> None:
    a = constant(met("phase=Succeeded"), "app synced")
    b = constant(pending("job still exists"), "hook deleted")
    combined = all_of(a, b)
    assert combined.description == "all of: app synced; hook deleted"
    assert (
        combined.check().message
        == "[met] app synced: phase=Succeeded; [pending] hook deleted: job still exists"
    )
    assert any_of(a, b).description == "any of: app synced; hook deleted"


def test_combinator_member_exception_is_pending() -> None:
    def boom() -> Outcome:
        raise TimeoutError("api slow")

    outcome = all_of(constant(met("ok"), "a"), Expectation("b", boom)).check()
    assert outcome.state is State.PENDING
    assert "TimeoutError: api slow" in outcome.message


def test_combinators_need_members() -> None:
    with pytest.raises(ValueError, match="all_of"):
        all_of()
    with pytest.raises(ValueError, match="any_of"):
        any_of()


# -- expect_consistently ----------------------------------------------------------------------------


def test_consistently_holds(clock: FakeClock) -> None:
    e = expectation([met("hook ran once")])
    samples = expect_consistently(e, for_=5, every=2)
    assert [s.state for s in samples] == [State.MET] * 4
    assert clock.sleeps == [2, 2, 1]  # the last sample lands on the end of the window
    assert calls(e) == 4


def test_consistently_first_waits_for_met(clock: FakeClock) -> None:
    e = expectation([pending("not yet"), met("hook ran once")])
    samples = expect_consistently(e, for_=2, every=1)
    assert samples[0] == met("hook ran once")
    assert len(samples) == 3


def test_consistently_breaks(clock: FakeClock) -> None:
    e = expectation([met("runs=1"), met("runs=1"), met("runs=1"), pending("runs=2: PostSync hook ran again")])
    with pytest.raises(ConsistencyError) as info:
        expect_consistently(e, for_=10, every=2, hint="self-heal re-ran the hooks")
    err = info.value
    assert (err.window, err.broke_at, err.state) == (10, 6, State.PENDING)
    assert err.last_observed == "runs=2: PostSync hook ran again"
    assert str(err) == (
        "stopped holding 6.0s into the 10s window (state pending): phase is Succeeded\n"
        "last observed: runs=2: PostSync hook ran again\n"
        "Hint: self-heal re-ran the hooks"
    )
    assert calls(e) == 4


def test_consistently_exception_breaks_the_window(clock: FakeClock) -> None:
    boom = ConnectionError("gone")
    e = expectation([met("ok"), boom])
    with pytest.raises(ConsistencyError, match="ConnectionError: gone") as info:
        expect_consistently(e, for_=3, every=1)
    assert info.value.__cause__ is boom


def test_consistently_never_met_times_out(clock: FakeClock) -> None:
    with pytest.raises(ExpectationTimeout):
        expect_consistently(expectation([pending("x")]), for_=3, timeout=2)


@pytest.mark.parametrize(("for_", "every"), [(0, 1), (1, 0), (-1, 1)])
def test_consistently_rejects_bad_window(for_: float, every: float) -> None:
    with pytest.raises(ValueError, match="for_|every"):
        expect_consistently(expectation([met("x")]), for_=for_, every=every)


# -- Timeouts ---------------------------------------------------------------------------------------


def test_timeouts_defaults() -> None:
    assert Timeouts.from_env({}) == Timeouts(assert_=120, apply=30, delete=60, cleanup=60, chaos=180)


def test_timeouts_from_env_override() -> None:
    env = {
        "ARGOCD_CHAOS_TIMEOUT_ASSERT": "5",
        "ARGOCD_CHAOS_TIMEOUT_CHAOS": " 2.5 ",
        "ARGOCD_CHAOS_TIMEOUT_APPLY": "",
    }
    assert Timeouts.from_env(env) == Timeouts(assert_=5, chaos=2.5)


def test_timeouts_from_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGOCD_CHAOS_TIMEOUT_DELETE", "9")
    assert Timeouts.from_env().delete == 9


@pytest.mark.parametrize("value", ["abc", "0", "-3", "nan", "inf"])
def test_timeouts_bad_env_value_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="ARGOCD_CHAOS_TIMEOUT_CLEANUP") as info:
        Timeouts.from_env({"ARGOCD_CHAOS_TIMEOUT_CLEANUP": value})
    assert value in str(info.value)


def test_timeouts_env_var_names() -> None:
    names: Callable[[str], str] = Timeouts.env_var
    assert [names(n) for n in ("assert_", "apply", "delete", "cleanup", "chaos")] == [
        "ARGOCD_CHAOS_TIMEOUT_ASSERT",
        "ARGOCD_CHAOS_TIMEOUT_APPLY",
        "ARGOCD_CHAOS_TIMEOUT_DELETE",
        "ARGOCD_CHAOS_TIMEOUT_CLEANUP",
        "ARGOCD_CHAOS_TIMEOUT_CHAOS",
    ]
