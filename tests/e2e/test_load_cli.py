"""`paycli load` against the real local stack: every payment it sends ends once, the balances
agree with the outcomes, same-key resends are replays, and bad input changes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from paycli.cli.app import app
from paycli.core.errors import ExitCode

pytestmark = pytest.mark.e2e

OK, DECLINED, ERROR = "4242424242424242", "4000000000000002", "4000000000000119"
runner = CliRunner()


def accounts(local_stack: Any) -> dict[str, int]:
    table = local_stack.outputs["AccountsTableName"]
    items = local_stack.client("dynamodb").scan(TableName=table, ConsistentRead=True)["Items"]
    return {i["account_id"]["S"]: int(i["balance_minor"]["N"]) for i in items}


def test_load_settles_every_payment_and_the_balances_agree(local_stack: Any) -> None:
    """A mixed run (methods, a declining and a failing card, same-key resends, a hot account):
    every accepted payment is terminal, outcomes add up, each account's balance fell by exactly
    its SUCCEEDED payments, and no same-key resend made a second payment."""
    result = runner.invoke(
        app,
        [
            "load", "--count", "40", "--concurrency", "4", "--accounts", "3",
            "--cards", f"{OK}=6,{DECLINED}=2,{ERROR}=1", "--same-key", "0.25", "--hot", "0.5",
            "--seed", "3", "--timeout", "120", "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accepted"] == report["completed"] == 40
    assert report["unfinished"] == 0
    assert report["errors"] == {}
    assert sum(report["outcomes"].values()) == 40
    assert {"SUCCEEDED", "DECLINED", "FAILED"} <= set(report["outcomes"])
    assert report["same_key_resends"] > 0
    assert report["same_key_mismatches"] == 0
    assert report["accepted_per_s"] > 0
    assert report["completed_per_s"] > 0
    assert set(report["latency_s"]) == {"p50", "p95", "p99", "max"}
    assert report["latency_s"]["p50"] <= report["latency_s"]["p99"] <= report["latency_s"]["max"]

    balances = accounts(local_stack)
    payments = local_stack.client("dynamodb").scan(
        TableName=local_stack.outputs["PaymentsTableName"], ConsistentRead=True
    )["Items"]
    ours = [p for p in payments if p["account_id"]["S"] in report["accounts"]]
    assert len(ours) == 40  # a same-key resend made no second payment
    for account_id in report["accounts"]:
        spent = sum(
            int(p["amount_minor"]["N"])
            for p in ours
            if p["account_id"]["S"] == account_id and p["status"]["S"] == "SUCCEEDED"
        )
        assert balances[account_id] == 10**12 - spent


def test_load_uses_given_accounts(local_stack: Any) -> None:
    """--account names existing accounts: no new account is opened."""
    created = runner.invoke(app, ["accounts", "create", "--balance", "50.00", "--json"])
    account_id = json.loads(created.stdout)["account_id"]
    before = set(accounts(local_stack))
    result = runner.invoke(
        app,
        ["load", "-n", "5", "-c", "2", "--account", account_id, "--mix", "card=1", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["accounts"] == [account_id]
    assert report["outcomes"] == {"SUCCEEDED": 5}
    assert set(accounts(local_stack)) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "0"], "--count must be at least 1"),
        (["--mix", "card=1,cheque=1"], "unknown mix entry 'cheque'"),
        (["--cards", "4242=x"], "bad card mix entry"),
        (["--hot", "2"], "hot share must be between 0 and 1"),
    ],
)
def test_bad_load_settings_are_refused_before_anything_is_opened(
    local_stack: Any, args: list[str], message: str
) -> None:
    before = accounts(local_stack)
    result = runner.invoke(app, ["load", *args])
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert accounts(local_stack) == before
