"""Run independent boot steps side by side, and stop the others as soon as one of them fails.

Waiting for six components one after another costs the sum of their start-up times; waiting for
them together costs the longest. A failed step must still fail the boot with its own error (the
component's name and log tail), not with the "cancelled" errors of the steps stopped because of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")

#: A step gets the shared cancel event; it should return soon after the event is set.
Step = Callable[[threading.Event], T]


def run_concurrently(steps: Mapping[str, Step[T]]) -> dict[str, T]:
    """Run every step in its own thread and return their results by name.

    When a step raises, the cancel event is set, the other steps are waited for (each is expected
    to notice the event and return or raise within a poll interval), and the exception that
    happened first is raised. An interrupt in the calling thread sets the event too, and is
    re-raised once the steps have returned. An empty mapping returns an empty dict.
    """
    if not steps:
        return {}
    cancel = threading.Event()
    failures: list[tuple[float, str, BaseException]] = []
    lock = threading.Lock()

    def run(name: str, step: Step[T]) -> T:
        try:
            return step(cancel)
        except BaseException as exc:
            with lock:
                failures.append((time.monotonic(), name, exc))
            cancel.set()
            raise

    pool = ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="boot-step")
    try:
        futures = {name: pool.submit(run, name, step) for name, step in steps.items()}
        wait(futures.values(), return_when=FIRST_EXCEPTION)
    except BaseException:
        cancel.set()
        raise
    finally:
        # Returns once every step has returned: none is left running behind the caller's back.
        pool.shutdown(wait=True)
    if failures:
        raise min(failures, key=lambda f: f[0])[2]
    return {name: f.result() for name, f in futures.items()}
