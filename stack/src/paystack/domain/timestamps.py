"""Timestamps in the one stored and shown form: ISO-8601 UTC with milliseconds and Z.

Stdlib only (no boto3): the CLI's start-up imports the payment model, which uses it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, the format of every *_at attribute; it sorts
    lexically in time order, which the ByStatus/ByAccount indexes rely on."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def normalize_timestamp(value: datetime | str) -> str:
    """A stored or reported timestamp in the one form of iso_timestamp.

    Step Functions writes `$$.State.EnteredTime` as ISO-8601 (AWS: milliseconds and Z; the
    local emulator: microseconds and +00:00) and botocore reports dates in the machine's
    zone: all of them come out alike. Naive values are UTC; text that is not a timestamp is
    returned unchanged.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return iso_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
