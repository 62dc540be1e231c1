"""Pure helpers behind the commands: --since, error mapping, execution input and timelines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from paycli.core.errors import (
    ConfigError,
    ConflictError,
    ExitCode,
    NotFoundError,
    PaycliError,
    UsageError,
    from_botocore,
)
from paycli.core.executions import build_timeline, payment_id_from_input
from paycli.core.logs import logical_function
from paycli.core.timeparse import iso_z, parse_since

NOW = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1h", NOW - timedelta(hours=1)),
        ("2d", NOW - timedelta(days=2)),
        ("90s", NOW - timedelta(seconds=90)),
        ("1W", NOW - timedelta(weeks=1)),
        ("2026-02-28T10:00Z", datetime(2026, 2, 28, 10, tzinfo=UTC)),
        ("2026-02-28T12:00:00+02:00", datetime(2026, 2, 28, 10, tzinfo=UTC)),
        ("2026-02-28", datetime(2026, 2, 28, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    assert parse_since(text, now=NOW) == expected


def test_a_bare_since_time_is_read_in_the_tables_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `--time-zone local` the tables show local times: a time copied from one into
    --since means that time (before: read as UTC, 5 h 30 off in Asia/Kolkata). Times with a
    zone, and every time under the default UTC setting, are unchanged."""
    import time  # noqa: PLC0415

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        ist = parse_since("2026-12-02T16:00", now=NOW, local=True)
        utc = parse_since("2026-12-02T16:00", now=NOW)
        zoned = parse_since("2026-12-02T16:00Z", now=NOW, local=True)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert ist == datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
    assert utc == zoned == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "-1h", "1y", "", "12"])
def test_parse_since_rejects_other_forms(text: str) -> None:
    with pytest.raises(UsageError):
        parse_since(text, now=NOW)


def test_iso_z_matches_the_tables_timestamps() -> None:
    """Same form as created_at, so string comparison in a key condition is time order."""
    assert iso_z(NOW) == "2026-03-01T12:00:00.123Z"
    assert iso_z(NOW.astimezone(tz=None)) == "2026-03-01T12:00:00.123Z"


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetItem")


@pytest.mark.parametrize(
    ("exc", "cls", "code"),
    [
        # GetItem on a missing table: the stack is not (fully) deployed, not a missing payment
        (_client_error("ResourceNotFoundException"), ConfigError, ExitCode.ENVIRONMENT),
        (_client_error("ExecutionDoesNotExist"), NotFoundError, ExitCode.NOT_FOUND),
        (_client_error("AccessDeniedException"), ConfigError, ExitCode.ENVIRONMENT),
        (_client_error("ExpiredToken"), ConfigError, ExitCode.ENVIRONMENT),
        (_client_error("ConditionalCheckFailedException"), ConflictError, ExitCode.CONFLICT),
        (_client_error("ValidationException"), UsageError, ExitCode.USAGE),
        (_client_error("ThrottlingException"), PaycliError, ExitCode.FAILURE),
        (_client_error("SomethingNew"), PaycliError, ExitCode.FAILURE),
        (NoCredentialsError(), ConfigError, ExitCode.ENVIRONMENT),
        (EndpointConnectionError(endpoint_url="http://x"), ConfigError, ExitCode.ENVIRONMENT),
    ],
)
def test_botocore_errors_map_once_to_exit_codes(
    exc: Exception, cls: type[PaycliError], code: ExitCode
) -> None:
    error = from_botocore(exc)
    assert type(error) is cls
    assert error.exit_code == code


def test_a_read_timeout_names_the_endpoint_and_what_to_do() -> None:
    """Before: a stopped local daemon made `paycli status` hang 158 s, then print "AWS SDK
    error: Read timeout on endpoint URL" with exit 1 (an answer from AWS), no hint."""
    error = from_botocore(ReadTimeoutError(endpoint_url="http://127.0.0.1:4566/", error="x"))
    assert type(error) is ConfigError
    assert error.exit_code == ExitCode.ENVIRONMENT
    assert error.message == (
        "no answer from http://127.0.0.1:4566/ (read timed out on every attempt)"
    )
    assert "paycli local status" in (error.hint or "")


def test_non_botocore_errors_are_not_mapped() -> None:
    """A bug stays a bug (a traceback), it is not dressed up as a user error."""
    assert from_botocore(KeyError("x")) is None


def test_payment_id_from_a_pipe_batch() -> None:
    """Only a well-formed id is read out of an input: a poison message may carry anything."""
    one, two = "pay_" + "1" * 32, "pay_" + "2" * 32
    batch = [{"messageId": "m", "body": json.dumps({"payment_id": one})}]
    assert payment_id_from_input(json.dumps(batch)) == one
    assert payment_id_from_input(json.dumps({"payment_id": two})) == two
    assert payment_id_from_input("not json") is None
    assert payment_id_from_input(json.dumps([{"body": "{}"}])) is None
    assert payment_id_from_input(json.dumps({"payment_id": "4111111111111111"})) is None


def _event(kind: str, **details: Any) -> dict[str, Any]:
    key = kind[0].lower() + kind[1:] + "EventDetails"
    if kind.endswith("StateEntered"):
        key = "stateEnteredEventDetails"
    elif kind.endswith("StateExited"):
        key = "stateExitedEventDetails"
    return {"type": kind, "timestamp": NOW, key: details}


def test_timeline_counts_retries_and_finds_the_failing_task() -> None:
    """A Task that failed, was retried and failed for good, caught into a Fail state."""
    events = [
        _event("ExecutionStarted"),
        _event("PassStateEntered", name="Parse"),
        _event("PassStateExited", name="Parse"),
        _event("TaskStateEntered", name="Validate"),
        _event("TaskScheduled"),
        _event("TaskFailed", error="Flaky", cause="1"),
        _event("TaskScheduled"),
        _event("TaskSucceeded"),
        _event("TaskStateExited", name="Validate"),
        _event("TaskStateEntered", name="Charge"),
        _event("TaskScheduled"),
        _event("TaskFailed", error="Boom", cause="first"),
        _event("TaskScheduled"),
        _event("TaskFailed", error="Boom", cause="second"),
        _event("TaskStateExited", name="Charge"),
        _event("FailStateEntered", name="Failed"),
        _event("ExecutionFailed", error="PaymentFailed", cause="parked"),
    ]
    steps = build_timeline(events)
    assert [(s.state, s.state_type, s.attempts, s.failed) for s in steps] == [
        ("Parse", "Pass", 0, False),
        ("Validate", "Task", 2, False),
        ("Charge", "Task", 2, True),
        ("Failed", "Fail", 0, True),
    ]
    assert (steps[2].error, steps[2].cause) == ("Boom", "second")


def test_function_names_accept_short_and_logical_forms() -> None:
    assert logical_function("validate") == "ValidatePaymentFunction"
    assert logical_function("DeductAmountFunction") == "DeductAmountFunction"
    assert logical_function(None) is None
    with pytest.raises(UsageError, match="nope"):
        logical_function("nope")
