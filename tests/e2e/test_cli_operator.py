"""The operator CLI against the real local stack (daemon, pipe, ASL, handlers), via CliRunner.

Every command runs as a user runs it: settings resolved from PAYCLI_HOME (set by the
`local_stack` fixture), boto3 against the emulator, signed HTTP to the local API. The session's
stack is shared with other e2e tests, so DLQ assertions compare before/after, never absolutes.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner, Result
from waiting import wait_until

from paycli.cli.app import app
from paycli.core.errors import ExitCode

pytestmark = pytest.mark.e2e

CARD_OK, CARD_DECLINED, CARD_ERROR = "4242424242424242", "4000000000000002", "4000000000000119"
runner = CliRunner()


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def cli_json(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def pay(account: str, card: str, amount: str = "12.50") -> dict[str, Any]:
    view: dict[str, Any] = cli_json(
        "pay", "card", "--amount", amount, "--account", account, "--card", card,
        "--wait", "--timeout", "30",
    )  # fmt: skip
    return view


def dlq_ids() -> list[str]:
    return sorted(m["payment_id"] for m in cli_json("dlq", "peek", "--limit", "100"))


@pytest.fixture(scope="module")
def account(local_stack: Any) -> str:
    account_id = f"acc_cli_{uuid.uuid4().hex[:6]}"
    view = cli_json("accounts", "create", "--id", account_id, "--balance", "100.00")
    assert view == {**view, "account_id": account_id, "balance_minor": 10000, "currency": "USD"}
    return account_id


@pytest.fixture(scope="module")
def failed_payment(account: str) -> dict[str, Any]:
    """A processing_error payment, once it is FAILED and parked in the DLQ."""
    view = pay(account, CARD_ERROR, "1.00")
    wait_until(
        lambda: view["payment_id"] in dlq_ids(), timeout=20, what="the FAILED payment in the DLQ"
    )
    return view


def test_deploy_again_is_idempotent(local_stack: Any) -> None:
    """`paycli deploy` on a deployed local stack returns the same outputs."""
    assert cli_json("deploy") == local_stack.outputs


def test_success_debits_the_balance_and_is_listed_as_succeeded(account: str) -> None:
    view = pay(account, CARD_OK)
    assert {k: view[k] for k in ("status", "amount_minor", "currency", "method", "account_id")} == {
        "status": "SUCCEEDED", "amount_minor": 1250, "currency": "USD", "method": "card",
        "account_id": account,
    }  # fmt: skip
    assert view["reason"] is None
    assert view["card"]["last4"] == "4242"
    assert view["idempotency_key"].startswith("paycli-")
    listed = cli_json("payments", "list", "--status", "SUCCEEDED", "--since", "1h")
    assert view["payment_id"] in [p["payment_id"] for p in listed]
    assert {p["status"] for p in listed} == {"SUCCEEDED"}
    assert cli_json("payments", "get", view["payment_id"])["status"] == "SUCCEEDED"
    assert cli_json("accounts", "get", account)["balance_minor"] <= 10000 - 1250


def test_declined_card_shows_declined_with_its_reason(account: str) -> None:
    """A business outcome: exit 0, DECLINED, reason generic_decline; the human view shows both."""
    view = pay(account, CARD_DECLINED)
    assert (view["status"], view["reason"]) == ("DECLINED", "generic_decline")
    human = cli("payments", "get", view["payment_id"])
    assert human.exit_code == 0
    assert "DECLINED" in human.stdout
    assert "generic_decline" in human.stdout
    assert "local stack" in human.stdout


def test_processing_error_ends_failed_and_dlq_stats_counts_it(
    account: str, failed_payment: dict[str, Any]
) -> None:
    assert (failed_payment["status"], failed_payment["reason"]) == ("FAILED", "processing_error")
    stats = cli_json("dlq", "stats")
    assert stats["dlq_messages"] >= 1
    assert set(stats) >= {"queue_messages", "dlq_messages", "dlq_in_flight"}


def test_executions_show_names_the_failing_state(failed_payment: dict[str, Any]) -> None:
    detail = cli_json("executions", "show", failed_payment["payment_id"])
    assert detail["status"] == "FAILED"
    assert detail["failed_state"] == "ValidatePayment"
    assert detail["error"] == "IssuerUnavailableError"
    human = cli("executions", "show", failed_payment["payment_id"])
    assert "Failed in ValidatePayment" in human.stdout
    failed_list = cli_json("executions", "list", "--status", "FAILED", "--limit", "100")
    assert detail["execution_arn"] in [e["execution_arn"] for e in failed_list]


def test_dlq_peek_leaves_the_count_unchanged(failed_payment: dict[str, Any]) -> None:
    before = cli_json("dlq", "stats")["dlq_messages"]
    peeked = cli_json("dlq", "peek", "--limit", "100")
    assert failed_payment["payment_id"] in [m["payment_id"] for m in peeked]
    after = cli_json("dlq", "stats")
    assert (after["dlq_messages"], after["dlq_in_flight"]) == (before, 0)


def test_dlq_redrive_moves_every_message_back_none_lost_none_duplicated(
    failed_payment: dict[str, Any],
) -> None:
    """SQS's move task (the local stack implements it) moves each parked payment back through
    the pipeline once; the test card fails again, so every one of them is back in the DLQ,
    once. (Other tests share the stack: payments they park meanwhile may join the DLQ, so only
    the ones seen before are checked.)"""
    before = dlq_ids()
    assert failed_payment["payment_id"] in before
    report = cli_json("dlq", "redrive")
    assert (report["method"], report["failed"]) == ("StartMessageMoveTask", 0)
    assert report["moved"] >= len(before)

    def each_back_once() -> bool:
        now = dlq_ids()
        return all(now.count(payment_id) == 1 for payment_id in before)

    wait_until(each_back_once, timeout=30, what="each redriven message back in the DLQ once")
    dry = cli_json("dlq", "redrive", "--dry-run")
    assert dry["moved"] == 0
    assert dry["candidates"] >= len(before)


def test_executions_redrive_restarts_the_failed_execution(failed_payment: dict[str, Any]) -> None:
    (result,) = cli_json("executions", "redrive", failed_payment["payment_id"], "--yes")
    assert result["method"] == "restart"
    new_name = result["new_execution_arn"].rsplit(":", 1)[1]
    wait_until(
        lambda: cli_json("executions", "show", new_name)["status"] != "RUNNING",
        timeout=20,
        what=f"restarted execution {new_name} to end",
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["pay", "card", "--amount", "-5"], ExitCode.USAGE),
        (["pay", "card", "--amount", "1.005", "--currency", "USD"], ExitCode.USAGE),
        (["pay", "crypto", "--amount", "5"], 2),
        (["pay", "card", "--amount", "5", "--card", "4242424242424241"], ExitCode.USAGE),
    ],
)
def test_wrong_input_changes_nothing(account: str, args: list[str], code: int) -> None:
    """No new payment and the same balance (ids only: earlier payments may still move on)."""

    def state() -> tuple[set[str], int]:
        listed = cli_json("payments", "list", "--account", account, "--limit", "500")
        return {p["payment_id"] for p in listed}, cli_json("accounts", "get", account)[
            "balance_minor"
        ]

    before = state()
    result = cli(*args, "--account", account)
    assert result.exit_code == code, result.output
    assert "Error" in result.output
    assert result.stdout == ""
    assert state() == before


def test_unknown_account_is_not_found_and_nothing_is_written(local_stack: Any) -> None:
    result = cli("pay", "card", "--amount", "5", "--account", "acc_nobody_here")
    assert result.exit_code == ExitCode.NOT_FOUND, result.output
    key_line, error_line, *_ = result.stderr.splitlines()
    assert key_line.startswith("Idempotency-Key: paycli-")  # shown before the request is sent
    assert error_line.startswith("Error: account 'acc_nobody_here' does not exist")
    assert cli_json("payments", "list", "--account", "acc_nobody_here") == []


def test_status_logs_and_accounts_list(account: str, failed_payment: dict[str, Any]) -> None:
    status = cli_json("status")
    assert status["target"] == "local"
    assert status["outputs"]["ApiUrl"].endswith("/v1")
    assert status["executions_failed"] >= 1
    lines = cli("logs", "--payment", failed_payment["payment_id"], "--json")
    assert lines.exit_code == 0, lines.output
    parsed = [json.loads(line) for line in lines.stdout.splitlines()]
    assert parsed
    assert all(failed_payment["payment_id"] in json.dumps(r) for r in parsed)
    assert {r["function"] for r in parsed} >= {"Ingress", "ValidatePayment"}
    only = cli(
        "logs", "--payment", failed_payment["payment_id"], "--function", "validate", "--json"
    )
    assert {json.loads(line)["function"] for line in only.stdout.splitlines()} == {
        "ValidatePayment"
    }
    assert account in [a["account_id"] for a in cli_json("accounts", "list")]


def test_demo_on_a_running_stack_leaves_it_running(local_stack: Any) -> None:
    """The quickstart's walkthrough: three outcomes, the debit, the DLQ; the stack stays up."""
    report = cli_json("demo", "--timeout", "30")
    statuses = [(p["status"], p["reason"]) for p in report["payments"]]
    assert statuses == [
        ("SUCCEEDED", None), ("DECLINED", "generic_decline"), ("FAILED", "processing_error"),
    ]  # fmt: skip
    assert report["account"]["balance_minor"] == 10000 - 1250
    assert report["dlq"]["dlq_messages"] >= 1
    assert report["stopped_local_stack"] is False
    assert cli_json("status")["target"] == "local"  # still running


def test_demo_stops_the_stack_it_started(
    local_stack: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no stack running (another PAYCLI_HOME), demo starts one and stops it at the end."""
    monkeypatch.setenv("PAYCLI_HOME", str(tmp_path))
    result = cli("demo", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in result.stdout
    assert "Stopping the local stack the demo started" in result.stderr
    after = cli("status")
    assert after.exit_code == ExitCode.ENVIRONMENT
    assert "not running" in after.stderr


def test_executions_watch_until_idle_prints_changes_as_json_lines(
    failed_payment: dict[str, Any],
) -> None:
    """With nothing running, one poll: every execution is new, the failed one among them."""
    result = cli("executions", "watch", "--until-idle", "--interval", "1", "--limit", "100",
                 "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [row for row in rows if row["payment_id"] == failed_payment["payment_id"]]
    assert failed
    assert {row["status"] for row in failed} == {"FAILED"}
    assert failed[0]["error"] == "PaymentFailed"


def test_executions_watch_for_people_prints_a_line_per_change_when_piped(
    failed_payment: dict[str, Any],
) -> None:
    """Not a terminal (a pipe, CliRunner): no live display and no table at the end, a line per
    execution as it was seen: time, name, status, error."""
    result = cli("executions", "watch", "--until-idle", "--interval", "1", "--limit", "100")
    assert result.exit_code == 0, result.output
    assert "Executions (" not in result.stdout
    lines = [line.split("  ") for line in result.stdout.splitlines()]
    assert lines
    assert all(len(fields) == 4 for fields in lines)
    assert ["FAILED", "PaymentFailed"] in [fields[2:] for fields in lines]
