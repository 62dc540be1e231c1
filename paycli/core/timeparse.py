"""`--since` values: a relative age ("90s", "30m", "1h", "2d") or an ISO-8601 instant.

Timestamps in the tables are ISO-8601 UTC with milliseconds and `Z` (design.md), which sort as
strings: the parsed instant is rendered in the same form so it can go into a key condition.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from paystack.domain.timestamps import normalize_timestamp

from paycli.core.errors import UsageError

_RELATIVE: Final = re.compile(r"(\d+)\s*([smhdw])")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, *, now: datetime | None = None, local: bool = False) -> datetime:
    """The UTC instant `text` names; a UsageError with the accepted forms otherwise. A time
    written without a zone is in the tables' zone: UTC, or this machine's with `local`
    (`--time-zone local`), so a time copied from a table means what it showed."""
    now = now or datetime.now(UTC)
    cleaned = text.strip().lower()
    if match := _RELATIVE.fullmatch(cleaned):
        amount, unit = int(match.group(1)), match.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise UsageError(
                f"--since {text!r} reaches back before the year 1",
                hint="use an age such as 30m, 1h, 2d or an ISO-8601 time such as 2026-01-31T12:00Z",
            ) from None
    try:
        instant = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"cannot read --since {text!r}",
            hint="use an age such as 30m, 1h, 2d or an ISO-8601 time such as 2026-01-31T12:00Z",
        ) from None
    if instant.tzinfo is None:  # a bare time is read in the tables' zone
        instant = instant.astimezone() if local else instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def timestamp(value: datetime | str | None) -> str | None:
    """Any timestamp a view shows, in the one JSON form (ISO 8601 UTC, milliseconds, `Z`).

    botocore's datetimes (in the machine's zone), `+00:00` strings (the local emulator's
    `$$.State.EnteredTime`, isoformat) and naive values (read as UTC) all come out alike;
    text that is not a timestamp is returned unchanged.
    """
    if value is None or value == "":
        return None
    return normalize_timestamp(value)


def iso_z(instant: datetime) -> str:
    """The tables' timestamp form: 2026-01-31T12:00:00.000Z."""
    return (
        instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{instant.microsecond // 1000:03d}Z"
    )
