"""Input the CLI refuses clearly (exit 2, one line, nothing looked up) or understands.

These run with an empty PAYCLI_HOME (no local stack): a command that reached for the stack
would exit 5, so exit 2 proves the value was refused before any lookup.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from paystack.domain.errors import InvalidInputError
from paystack.domain.methods import check_card
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.errors import ExitCode, UsageError
from paycli.core.payments import pay_request

runner = CliRunner()
PAY = ["pay", "card", "--amount", "1", "--account", "acc_a"]
LONG = "a" * 5000
PAY_BANK = ["pay", "bank", "--amount", "1", "--account", "a"]
PAY_WALLET = ["pay", "wallet", "--amount", "1", "--account", "a"]
TOO_MUCH = "99999999999999999999999"
PAN = "4242424242424242"
BIG = f"{int(TOO_MUCH):,}"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    monkeypatch.delenv("PAYCLI_TARGET", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([*PAY, "--idempotency-key", "漢"], "--idempotency-key must be 1-255 ASCII"),
        ([*PAY, "--idempotency-key", "key with spaces"], "--idempotency-key"),
        ([*PAY, "--idempotency-key", ""], "not an empty value"),
        (["accounts", "create", "--balance", "1", "--id", ""], "an account id must be"),
        (["accounts", "get", LONG], "not a 5000-character value"),
        (["accounts", "get", ""], "an account id must be"),
        (["payments", "get", ""], "a payment id must be pay_ followed by 32 hex digits"),
        (["payments", "get", "pay_01HXYZ"], "a payment id must be"),
        (["payments", "list", "--account", LONG], "5000-character"),
        (["executions", "show", ""], "an execution reference must be"),
        (["executions", "redrive", "a b", "--yes"], "an execution reference"),
        ([*PAY_BANK, "--card", "4242"], "--card does not apply to a bank"),
        ([*PAY_WALLET, "--iban", "DE"], "--iban does not apply to a wallet"),
        ([*PAY, "--wallet", "w"], "--wallet does not apply to a card"),
        ([*PAY, "--wait", "--timeout", "-1"], "--timeout must be a number of seconds above 0"),
        ([*PAY, "--wait", "--timeout", "0"], "--timeout must be"),
        ([*PAY, "--wait", "--timeout", "nan"], "--timeout must be"),
        ([*PAY, "--wait", "--timeout", "inf"], "--timeout must be"),
        (["pay", "card", "--amount", TOO_MUCH, "--account", "a"], f"{TOO_MUCH} USD exceeds"),
        ([*PAY_WALLET, "--wallet", "bad"], "--wallet must be wal_ followed by 8-32"),
        (["executions", "watch", "--interval", "nan"], "--interval must be a number of seconds"),
        (["logs", "--follow", "--interval", "nan"], "--interval must be"),
        (["logs", "--follow", "--interval", "0"], "--interval must be"),
        (["logs", "--follow", "--interval", "1e308"], "at most 86400, not 1e+308"),
        (["executions", "watch", "--interval", "1e308"], "--interval must be"),
        ([*PAY, "--wait", "--timeout", "1e308"], "--timeout must be a number of seconds above"),
        (["demo", "--timeout", "90000"], "--timeout must be"),
        (["local", "up", "--port", "99999"], "--port must be a TCP port from 0 to 65535, not"),
        (["local", "up", "--port", "-1"], "--port must be a TCP port from 0 to 65535, not -1"),
        (["local", "doctor", "--port", "70000"], "--port must be a TCP port"),
        (["load", "--accounts", TOO_MUCH], f"--accounts must be at most 100,000, not {BIG}"),
        (["load", "--concurrency", TOO_MUCH], "--concurrency must be at most 1,024, not"),
        (["load", "--count", TOO_MUCH], "--count must be at most 10,000,000, not"),
        (["soak", "--payments", TOO_MUCH, "--faults", "none"], "--payments must be at most"),
        (["soak", "--accounts", "100001", "--faults", "none"], "--accounts must be at most"),
        (["logs", "--payment", "pay_x"], "a payment id must be"),
        (["demo", "--timeout", "nan"], "--timeout must be"),
        (["demo", "--timeout", "-1"], "--timeout must be"),
        (["load", "--count", "1", "--rate", "nan"], "--rate must be 0"),
        (["load", "--count", "1", "--timeout", "nan"], "the timeout and poll interval"),
        (["accounts", "create", "--balance", "1", "--id", "acc op"], "not 'acc op'"),
        (["accounts", "create", "--balance", "1", "--id", PAN], "must not be a card number"),
        (["accounts", "get", "4000000000000002"], "an account id must not be a card number"),
        (["pay", "card", "--amount", "1", "--account", PAN], "must not be a card number"),
        (["payments", "list", "--account", PAN], "an account id must not be a card number"),
        (["audit", "--stale-after", "soon"], "cannot read --stale-after 'soon'"),
        (["audit", "--stale-after", "9999999d"], "--stale-after '9999999d' reaches back"),
        (["payments", "list", "--since", "99999999999d"], "--since '99999999999d' reaches"),
        (["payments", "list", "--since", "9999999d"], "--since '9999999d' reaches back"),
        (["executions", "redrive", "--failed", "--since", "9999999d", "--yes"], "--since '999"),
        ([*PAY, "--idempotency-key", PAN], "--idempotency-key must not contain a card number"),
        (["soak", "--quiesce-timeout", "nan", "--faults", "none"], "--quiesce-timeout must be"),
        (["soak", "--quiesce-timeout", "inf", "--faults", "none"], "--quiesce-timeout must be"),
        (["load", "--account", PAN], "an account id must not be a card number"),
        (["load", "--account", "acc op"], "an account id must be 1-64 letters"),
        (["local", "up", "--lambda-workers", "100000"], "less than or equal to 16"),
        (["cost", "--payments-per-month", TOO_MUCH], "--payments-per-month must be at most 1,"),
        (["cost", "--rate", "1e12"], "--rate must be at most 10,000,000 payments per second"),
    ],
)  # fmt: skip
def test_bad_input_is_one_clear_line_and_exit_2(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: ")
    assert needle in result.stderr
    assert LONG not in result.stderr
    assert "4242424242424242" not in result.stderr
    assert "4000000000000002" not in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert "internal error" not in result.stderr


def test_an_id_for_a_new_account_hints_at_generating_one() -> None:
    result = runner.invoke(app, ["accounts", "create", "--balance", "1", "--id", "acc op"])
    assert "Hint: omit --id to have one generated" in result.stderr


@pytest.mark.parametrize(
    "typed", ["4242 4242 4242 4242", "4242-4242-4242-4242", "4242 - 4242-4242 4242"]
)
def test_card_numbers_lose_the_separators_people_type(typed: str) -> None:
    body = pay_request(
        "card", "1", "USD", "acc_a", {"card": typed, "iban": None, "wallet": None}
    ).body()
    assert body["card"]["number"] == "4242424242424242"


def test_an_iban_with_dashes_is_normalised_too() -> None:
    instrument = {"card": None, "iban": "DE89-3704-0044-0532-0130-00", "wallet": None}
    assert pay_request("bank", "1", "USD", "a", instrument).body()["bank"] == {
        "iban": "DE89370400440532013000"
    }


def test_an_empty_card_number_is_refused_not_replaced_by_the_default() -> None:
    request = pay_request("card", "1", "USD", "a", {"card": "", "iban": None, "wallet": None})
    with pytest.raises(UsageError, match="--card must be a card number of 12-19 digits"):
        request.body()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([*PAY, "--card", "abc"], "not a 3-character value that is not all digits"),
        ([*PAY, "--card", ""], "--card must be a card number of 12-19 digits, not an empty"),
        ([*PAY, "--card", "4242"], "--card must be a card number of 12-19 digits, not 4 digits"),
        ([*PAY, "--card", "4242.4242.4242.4242"], "not a 19-character value"),
        ([*PAY, "--card", "42424242424242424242"], "not 20 digits"),
        ([*PAY, "--card", "\uff14" * 16], "not all digits"),
        ([*PAY_BANK, "--iban", ""], "--iban must be ASCII letters and digits"),
        ([*PAY_BANK, "--iban", "DE89!"], "not 'DE89!'"),
    ],
)  # fmt: skip
def test_a_malformed_card_or_iban_is_named_not_just_an_invalid_request_body(
    args: list[str], needle: str
) -> None:
    """Before: the API's request model answered "Error: Invalid request body" (which field?);
    now the option is named before anything is sent, and the card number is never echoed."""
    result = runner.invoke(app, args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: ")
    assert needle in result.stderr
    assert "Invalid request body" not in result.stderr
    assert "42424242424242424242" not in result.stderr
    assert result.stdout == ""


def test_an_option_of_another_method_is_refused_by_the_service_too() -> None:
    with pytest.raises(UsageError, match="--card does not apply"):
        pay_request("wallet", "1", "USD", "a", {"card": "4242", "iban": None, "wallet": None})


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("424242424242", "wrong length: a visa card number has 13 or 16 or 19 digits, not 12"),
        ("55555555555544", "wrong length: a mastercard card number has 16 digits, not 14"),
        ("3782822463100050", "wrong length: a amex card number has 15 digits, not 16"),
    ],
)
def test_a_known_brand_with_the_wrong_length_is_called_wrong_length(
    number: str, message: str
) -> None:
    """Not "unsupported brand": the prefix names the network, the length is what is off."""
    from datetime import UTC, datetime  # noqa: PLC0415

    raw = {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"}
    with pytest.raises(InvalidInputError) as caught:
        check_card(raw, b"k", datetime(2026, 1, 1, tzinfo=UTC))
    assert caught.value.message == message


@pytest.mark.parametrize(
    "args",
    [["dlq", "purge"], ["destroy"], ["executions", "redrive", "--failed"],
     ["executions", "redrive", "pay_00000000000000000000000000000000"]],
)  # fmt: skip
def test_a_prompt_without_a_terminal_refuses_at_once_with_the_yes_hint(args: list[str]) -> None:
    """No `[y/N]:Aborted!` and no stray byte on stdout: exit 2, one line, the fix."""
    result = runner.invoke(app, args)  # CliRunner's stdin is not a terminal
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.startswith("Error: not confirmed: ")
    assert "Hint: pass --yes" in result.stderr
    assert result.stdout == ""
    assert "Aborted" not in result.output


def test_a_huge_payments_limit_is_a_usage_error_not_an_internal_one() -> None:
    """Before: `payments list --limit 99999999999999999999` was "internal error: ValueError:
    Stop argument for islice() ..."; now click's range check refuses it (exit 2)."""
    result = runner.invoke(app, ["payments", "list", "--limit", TOO_MUCH])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Error: Invalid value for '--limit'" in result.stderr
    assert "less than or equal to 1000000" in result.stderr
    assert "internal error" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["pay", "crypto", "--amount", "1"],
            "Error: Invalid value for 'METHOD': 'crypto' is not one of 'card', 'bank', 'wallet'."
            " (see 'paycli pay -h')",
        ),
        (
            ["payments", "list", "--limit", "0"],
            "Error: Invalid value for '--limit': Input should be greater than or equal to 1"
            " (see 'paycli payments list -h')",
        ),
        (["nosuch"], "Error: No such command 'nosuch'. (see 'paycli -h')"),
        (["--bogus", "status"], "Error: No such option: --bogus (see 'paycli -h')"),
    ],
)
def test_a_usage_error_is_one_line_naming_where_help_is(args: list[str], expected: str) -> None:
    """Before: click's four lines (usage, "Try ... for help.", a blank line, the error) and
    pydantic's "Value error, " wording. Now one line, as every other error, and exit 2."""
    result = runner.invoke(app, args, prog_name="paycli")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.splitlines() == [expected]
    assert result.stdout == ""


def test_a_group_with_no_command_still_shows_its_help() -> None:
    """`paycli payments` alone shows the group's help (click's no-args form), not an error."""
    result = runner.invoke(app, ["payments"], prog_name="paycli")
    assert result.exit_code == ExitCode.USAGE
    assert "Usage: paycli payments" in result.output
    assert "Error:" not in result.output


def test_the_cost_profile_is_read_in_any_case() -> None:
    """`--profile EXPRESS` was refused ('is not one of'); the choice is case-insensitive."""
    result = runner.invoke(app, ["cost", "--profile", "EXPRESS", "--json"])
    assert result.exit_code == 0, result.output
    assert '"profile": "express"' in result.stdout


def test_pay_with_no_stack_says_so_without_showing_a_key_that_was_never_sent() -> None:
    """The Idempotency-Key is shown just before the request (so a lost answer can be retried
    safely); with no local stack running nothing is sent, so no key is shown: one error."""
    result = runner.invoke(app, PAY)
    assert result.exit_code == ExitCode.ENVIRONMENT, result.output
    assert result.stderr.startswith("Error: the local stack is not running")
    assert "Idempotency-Key" not in result.stderr
