"""Suite 1, the soak, on its own local stack (the audit must see only the soak's payments, and
its faults must not reach the other e2e tests): `paycli soak` under every fault kind ends with
zero violations; `paycli local faults` and `paycli audit` work as a user types them.

The long run is documented in README (Soak): `paycli soak --payments 10000 ...`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import LocalStackHandle, local_stack_at
from typer.testing import CliRunner, Result
from waiting import wait_until

from paycli.cli.app import app
from paycli.core.errors import ExitCode
from paycli.core.faultplan import KINDS

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(scope="module")
def soak_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    """A local stack of this module's own (PAYCLI_HOME switched while the module runs)."""
    with local_stack_at(tmp_path_factory.mktemp("paycli-soak-home")) as handle:
        yield handle


def cli(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_fault_plans_set_show_clear(soak_stack: LocalStackHandle, tmp_path: Any) -> None:
    """A plan file is validated before anything changes; set, show and clear round-trip."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  handler_eror: {rate: 0.1}\n", encoding="utf-8")
    refused = cli("local", "faults", "set", str(bad))
    assert refused.exit_code == ExitCode.USAGE
    assert "unknown fault kind 'handler_eror'" in refused.output
    assert json.loads(cli("local", "faults", "show", "--json").stdout)["plan"] is None

    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"seed": 3, "faults": {"pipe_paused": {"rate": 1.0}}}))
    shown = json.loads(cli("local", "faults", "set", str(plan), "--json").stdout)
    assert shown["plan"]["seed"] == 3
    assert shown["plan"]["faults"] == {"pipe_paused": {"rate": 1.0, "pause_seconds": 0.5}}
    fired: dict[str, int] = wait_until(  # the idle pipe's pollers pause at their next poll
        lambda: json.loads(cli("local", "faults", "show", "--json").stdout)["fired"],
        timeout=10,
        interval=0.1,
        what="a fired fault",
    )
    assert fired.get("pipe_paused", 0) > 0
    cleared = json.loads(cli("local", "faults", "clear", "--json").stdout)
    assert cleared["plan"] is None
    assert cleared["fired"]["pipe_paused"] >= fired["pipe_paused"]  # counts survive a clear

    again = cli("local", "up", "--faults", str(plan), "--json")  # the running stack takes it
    assert again.exit_code == 0, again.output
    assert json.loads(cli("local", "faults", "show", "--json").stdout)["plan"]["seed"] == 3
    assert cli("local", "up", "--faults", str(bad)).exit_code == ExitCode.USAGE
    assert json.loads(cli("local", "faults", "clear", "--json").stdout)["plan"] is None


def set_status(stack: LocalStackHandle, payment_id: str, status: str) -> None:
    """Behind the pipeline's back: a payment's status as an old incident left it."""
    stack.client("dynamodb").update_item(
        TableName=stack.outputs["PaymentsTableName"],
        Key={"payment_id": {"S": payment_id}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": status}},
    )


def test_soak_reports_only_its_own_payments(soak_stack: LocalStackHandle) -> None:
    """A stack that already holds a FAILED payment (its DLQ message purged: nothing can
    recover it) used to make the soak report it as `not_recovered` and exit 1, and to sum
    every payment of the stack in `outcomes` (54 for `--payments 20`). The report covers the
    payments this run created, and says which window that is."""
    opened = cli("accounts", "create", "--balance", "10.00", "--json")
    assert opened.exit_code == 0, opened.output
    account = json.loads(opened.stdout)["account_id"]
    paid = cli(
        "pay", "card", "--amount", "1.00", "--account", account,
        "--card", "4000000000000002", "--wait", "--json",
    )  # fmt: skip
    assert paid.exit_code in (0, 1), paid.output  # DECLINED
    old = json.loads(paid.stdout)["payment_id"]
    set_status(soak_stack, old, "FAILED")
    try:
        result = cli(
            "soak", "--payments", "20", "--accounts", "4", "--faults", "none",
            "--seed", "3", "--quiesce-timeout", "30", "--json",
        )  # fmt: skip
    finally:  # the audit test below sees a clean stack again
        set_status(soak_stack, old, "DECLINED")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["violations"] == []
    window = report["window"]
    assert sum(report["outcomes"].values()) == window["payments"] == report["accepted"] == 20
    assert window["unanswered"] == 0
    assert window["created_from"] < window["created_until"]
    assert window["created_from"].endswith("Z")


def test_soak_under_every_fault_kind_has_no_violation(soak_stack: LocalStackHandle) -> None:
    """Suite 1 (CI size): 500 payments over 20 accounts, 16 at a time, every fault kind on.
    Every kind fired; after the recovery every payment is terminal, only the always-failing
    card's payments are FAILED (parked), and the audit finds nothing."""
    result = cli(
        "soak", "--payments", "500", "--accounts", "20", "--concurrency", "16",
        "--faults", "all", "--seed", "7", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["violations"] == []
    assert report["ok"] is True
    refused = sum(report["refused"].values())  # impatient clients that gave up
    assert report["accepted"] + refused == 500
    assert report["accepted"] >= 450
    assert set(report["faults_fired"]) == set(KINDS), report["faults_fired"]
    assert all(count > 0 for count in report["faults_fired"].values())
    outcomes = report["outcomes"]
    assert report["accepted"] <= sum(outcomes.values()) <= 500
    assert {"SUCCEEDED", "DECLINED", "FAILED"} <= set(outcomes)
    assert outcomes["FAILED"] == report["parked_failed"] > 0
    assert report["redriven"]["dlq_moved"] > 0
    assert report["quiesce_s"] >= 0


def test_audit_after_the_soak_is_clean_and_catches_a_broken_balance(
    soak_stack: LocalStackHandle,
) -> None:
    """`paycli audit` as a user runs it: exit 0 on the soak's ledger; one account's balance
    moved behind the ledger's back: exit 1 naming it."""
    clean = cli("audit", "--stale-after", "0s", "--json")
    assert clean.exit_code == 0, clean.output
    view = json.loads(clean.stdout)
    assert view["payments"] >= 450  # the soak's, less the impatient clients' lost requests
    assert set(view["statuses"]) <= {"SUCCEEDED", "DECLINED", "FAILED"}

    ddb = soak_stack.client("dynamodb")
    table = soak_stack.outputs["AccountsTableName"]
    account = ddb.scan(TableName=table, Limit=1)["Items"][0]["account_id"]["S"]
    ddb.update_item(
        TableName=table,
        Key={"account_id": {"S": account}},
        UpdateExpression="SET balance_minor = balance_minor + :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    broken = cli("audit", "--json")
    assert broken.exit_code == ExitCode.FAILURE
    found = {(v["kind"], v["subject"]) for v in json.loads(broken.stdout)["violations"]}
    assert ("balance_mismatch", account) in found
    assert ("ledger_chain_broken", account) in found
    plain = cli("audit")
    assert "balance_mismatch" in plain.stdout
    assert "Traceback" not in plain.output


def test_soak_refuses_bad_input_before_sending(soak_stack: LocalStackHandle) -> None:
    before = json.loads(cli("local", "faults", "show", "--json").stdout)
    for args, message in (
        (("--payments", "0"), "--payments must be at least 1"),
        (("--faults", "nosuch"), "no fault plan file or built-in plan named 'nosuch'"),
    ):
        result = cli("soak", *args, "--json")
        assert result.exit_code == ExitCode.USAGE
        assert message in result.output
        assert not result.stdout.strip()
    assert json.loads(cli("local", "faults", "show", "--json").stdout) == before


def test_ctrl_c_in_a_soak_leaves_no_fault_plan_set(soak_stack: LocalStackHandle) -> None:
    """Ctrl-C (SIGINT to a real `paycli soak` process) while it sends under `--faults all`:
    exit 130, one line saying how far it got, and the stack has no fault plan left (it used to
    stay set, faulting every later `pay` and `load` on the stack). Last in the module: the
    stopped soak's payments are left as Ctrl-C left them."""
    dynamodb = soak_stack.client("dynamodb")
    table = soak_stack.outputs["PaymentsTableName"]

    def payments() -> int:
        return int(dynamodb.scan(TableName=table, Select="COUNT")["Count"])

    before = payments()
    args = ["soak", "--payments", "300", "--accounts", "3", "--faults", "all", "--json"]
    with subprocess.Popen(
        [sys.executable, "-m", "paycli", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    ) as soak:  # fmt: skip
        wait_until(lambda: payments() >= before + 5, timeout=120, what="the soak's payments")
        soak.send_signal(signal.SIGINT)
        stdout, stderr = soak.communicate(timeout=60)
    assert soak.returncode == 130, stderr
    assert stdout == ""
    assert "Traceback" not in stderr
    line = next(line for line in stderr.splitlines() if line.startswith("Interrupted:"))
    assert line.startswith("Interrupted: soak stopped after "), stderr
    assert line.endswith("no fault plan is left set")
    shown = cli("local", "faults", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["plan"] is None
