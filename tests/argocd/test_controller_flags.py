"""self_heal_backoff_s: the controller's least wait before a self-heal, from its flag defaults."""

from __future__ import annotations

import pytest

from harness._argocd.controller_flags import self_heal_backoff_s

V3_FLAGS = {
    "self-heal-backoff-timeout-seconds": "2",
    "self-heal-backoff-factor": "3",
    "self-heal-backoff-cap-seconds": "300",
}


@pytest.mark.parametrize(
    ("attempts", "wait"), [(0, 0.0), (1, 2.0), (2, 6.0), (3, 18.0), (5, 162.0), (6, 300.0)]
)
def test_backoff_steps_once_per_earlier_heal_up_to_the_cap(attempts: int, wait: float) -> None:
    assert self_heal_backoff_s(V3_FLAGS, attempts) == wait


def test_without_backoff_flags_the_fixed_timeout_applies_to_every_heal() -> None:
    flags = {"self-heal-timeout-seconds": "5"}
    assert [self_heal_backoff_s(flags, n) for n in (0, 1, 4)] == [5.0, 5.0, 5.0]


def test_no_self_heal_flags_at_all_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        self_heal_backoff_s({}, 1)
