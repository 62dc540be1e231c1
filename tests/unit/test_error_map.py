"""The one error map (core.errors): every failure the CLI meets, to exit code, message, hint."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from botocore.exceptions import ClientError
from paystack.domain import errors as domain
from paystack.domain.money import parse_amount
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.errors import (
    ConflictError,
    ExitCode,
    NotFoundError,
    PaycliError,
    UsageError,
    from_api,
    naming,
    to_paycli_error,
)


def _client_error(code: str, operation: str, message: str = "AWS text") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_an_unknown_execution_names_what_the_user_typed_not_aws_text() -> None:
    """ExecutionDoesNotExist for a payment id: "no execution or payment pay_...", exit 3."""
    raw = "Execution Does Not Exist: 'arn:aws:states:us-east-1:1:execution:m:pay_1'"
    with pytest.raises(NotFoundError) as caught, naming("pay_1"):
        raise _client_error("ExecutionDoesNotExist", "DescribeExecution", raw)
    assert caught.value.message == "no execution or payment pay_1"
    assert "ExecutionDoesNotExist" not in caught.value.message
    assert "executions list" in (caught.value.hint or "")


@pytest.mark.parametrize(
    "code", ["AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress"]
)
def test_a_purge_within_sqs_60_second_window_is_explained(code: str) -> None:
    """Both spellings SQS uses (query and JSON protocols): a conflict that says to wait."""
    error = to_paycli_error(_client_error(code, "PurgeQueue"))
    assert error.exit_code == ExitCode.CONFLICT
    assert "60 seconds" in error.message
    assert code not in error.message
    assert "wait a minute" in (error.hint or "")


@pytest.mark.parametrize(
    ("status", "code", "cls", "hint"),
    [
        (400, "invalid_amount", UsageError, None),
        (404, "account_not_found", NotFoundError, "paycli accounts list"),
        (409, "idempotency_key_in_flight", ConflictError, "retry it shortly"),
        (422, "idempotency_key_reused", ConflictError, "new --idempotency-key"),
        (503, "account_busy", PaycliError, "send the same request again"),
        (502, "", PaycliError, None),
    ],
)
def test_api_answers_map_by_code_then_status(
    status: int, code: str, cls: type[PaycliError], hint: str | None
) -> None:
    error = from_api(status, code, "what the API said")
    assert type(error) is cls
    assert "what the API said" in error.message
    assert (hint or "") in (error.hint or "")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (domain.AccountNotFoundError("account 'a' does not exist"), ExitCode.NOT_FOUND),
        (domain.AccountExistsError("account 'a' already exists"), ExitCode.CONFLICT),
        (domain.InvalidInputError("bad"), ExitCode.USAGE),
        (domain.AccountBusyError("busy"), ExitCode.FAILURE),
    ],
)
def test_domain_errors_go_through_the_same_map(exc: Exception, code: ExitCode) -> None:
    error = to_paycli_error(exc)
    assert error.exit_code == code
    assert error.message == str(exc)


def test_money_errors_are_usage_errors_by_class_not_because_they_are_value_errors() -> None:
    with pytest.raises(domain.InvalidInputError) as caught:
        parse_amount("1.234", "USD")
    assert to_paycli_error(caught.value).exit_code == ExitCode.USAGE
    assert to_paycli_error(ValueError("x")).exit_code == ExitCode.FAILURE


def test_an_amount_over_the_limit_is_said_in_the_users_units() -> None:
    with pytest.raises(domain.InvalidInputError) as caught:
        parse_amount("99999999999999999999999", "USD")
    assert caught.value.message == (
        "amount 99999999999999999999999 USD exceeds the maximum of 90071992547409.91 USD"
    )


def test_a_bug_is_one_line_with_a_hint_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception nobody expected: `Error: internal error: ...`, exit 1, --debug suggested."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    probe = typer.Typer()

    @probe.command()
    def boom() -> None:
        raise UnicodeEncodeError("latin-1", "漢", 0, 1, "ordinal not in range(256)")

    app.add_typer(probe, name="probe-boom")
    try:
        result = CliRunner().invoke(app, ["probe-boom", "boom"])
        debug = CliRunner().invoke(app, ["--debug", "probe-boom", "boom"])
    finally:
        app.registered_groups.pop()
    assert result.exit_code == ExitCode.FAILURE
    assert result.stderr.startswith("Error: internal error: UnicodeEncodeError: ")
    assert "--debug" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert isinstance(debug.exception, UnicodeEncodeError)
