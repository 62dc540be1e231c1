"""The one place tests wait: `wait_until` polls a condition until a deadline.

Tests synchronise on events and deadlines, never on a fixed sleep: a fixed sleep is either too
short on a busy machine (a flaky failure) or too long everywhere (a slow suite), and a sleep
followed by "assert nothing happened" proves nothing unless something shows the wait covered
the event it waited for. A timeout names what it waited for and the last value it saw.

On the import path of every tier (pyproject's pytest `pythonpath`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

#: Between two looks at a condition: short next to the waits that matter (tens of ms and up),
#: long enough not to busy the two cores the suites share.
INTERVAL = 0.02


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = INTERVAL,
    fail: bool = True,
) -> T:
    """Call `condition` until it returns something truthy and return that value.

    Past `timeout` seconds, fail the test naming `what` (a text, or a function giving one then,
    to say what was last seen) and the last value (or, with
    `fail=False`, return that last value so the caller's own assertion says what it was).
    The condition is always called at least once, and once more at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if fail:
                what = what if isinstance(what, str) else what()
                pytest.fail(
                    f"timed out after {timeout:g} s waiting for {what}; last: {_brief(value)}"
                )
            return value
        time.sleep(min(interval, remaining))


def _brief(value: object, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."
