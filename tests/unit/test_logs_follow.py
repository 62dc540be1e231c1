"""`paycli logs --follow` prints each line once, also after the log window slides."""

from __future__ import annotations

from paycli.core.logs import LogFollower, LogRecord


def record(index: int, message: str = "line") -> LogRecord:
    return LogRecord(
        timestamp=f"2026-11-26T20:00:{index // 1000:02d}.{index % 1000:03d}Z",
        function="ValidatePayment",
        message=f"{message} {index}",
    )


def test_a_sliding_window_keeps_printing_new_lines() -> None:
    """The local ring (and a CloudWatch page) holds the newest N lines: once it is full, every
    fetch has the same length. Each new line is still printed once, and nothing twice."""
    follower = LogFollower()
    window = 5
    printed: list[LogRecord] = []
    log: list[LogRecord] = []
    for step in range(6):
        log.extend(record(step * 3 + i) for i in range(3))  # three new lines per poll
        printed += follower.fresh(log[-window:])
    assert printed == log  # every line once, in order, though fetches stopped growing at 5


def test_identical_lines_are_each_printed_once() -> None:
    """Two equal lines (same millisecond, function and text) are two lines, not one."""
    follower = LogFollower()
    same = record(1)
    assert follower.fresh([same]) == [same]
    assert follower.fresh([same, same]) == [same]
    assert follower.fresh([same, same]) == []


def test_nothing_new_prints_nothing() -> None:
    follower = LogFollower()
    lines = [record(i) for i in range(4)]
    assert follower.fresh(lines) == lines
    assert follower.fresh(lines) == []
