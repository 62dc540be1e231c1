"""Every operator command through Typer's CliRunner, in process, over moto: a deployed local
stack (the real template, handlers, state machine and pipe poller) and its local API, reached
through an injected, frozen AppContext on the AWS target (moto answers the boto3 clients).
Each test asserts the exit code and the JSON on stdout (CONVENTIONS 9)."""

from __future__ import annotations

import gc
import json
import os
import re
import signal
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from types import FrameType
from typing import Any

import pytest
from state_machine_support import CARD_PROCESSING_ERROR, TEMPLATE, TIME_SCALE
from typer.testing import CliRunner, Result
from waiting import wait_until

from paycli.cli.app import app
from paycli.core.aws import AwsTarget, StackOutputs
from paycli.core.context import AppContext
from paycli.core.settings import Settings
from paycli.local.api import Gateway
from paycli.local.api_http import LocalApi
from paycli.local.stack import LocalStack
from paycli.local.state import LOCAL_ACCESS_KEY, LOCAL_ACCOUNT_ID, LOCAL_REGION, LOCAL_SECRET_KEY


@dataclass(frozen=True)
class Cli:
    """Runs `paycli ARGS --json` with the injected context; returns the parsed stdout."""

    context: AppContext

    def __call__(self, *args: str, code: int = 0) -> Any:
        result = CliRunner().invoke(app, [*args, "--json"], obj=self.context)
        assert result.exit_code == code, (args, result.output, result.exception)
        return json.loads(result.stdout) if code == 0 else result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The deployed stack with its API on a local port and the pipe polling."""
    local = LocalStack(time_scale=TIME_SCALE, log_dir=tmp_path_factory.mktemp("logs"))
    local.start()
    gateway = Gateway(
        local.runner, LOCAL_REGION, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LOCAL_ACCOUNT_ID
    )
    api = LocalApi(gateway)
    api.start()
    pollers = []
    try:
        deployment = local.deploy(TEMPLATE, api_base_url=api.base_url)
        api.set_routes(deployment.routes)
        pollers = [local.pipe_poller(spec) for spec in deployment.pipes]
        for poller in pollers:
            poller.start()
        yield local
    finally:
        for poller in pollers:
            poller.stop()
        api.stop()
        local.stop()


@pytest.fixture
def cli(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """A frozen AppContext on the AWS target, signing with the local stack's credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_SECRET_KEY)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert stack.deployment is not None
    outputs = StackOutputs.from_mapping(dict(stack.deployment.outputs), where="local stack")
    settings = Settings(target="aws", region=LOCAL_REGION, stack_name="paycli")
    context = AppContext(settings, AwsTarget(settings, outputs=outputs))
    with pytest.raises(AttributeError):  # frozen: a command cannot swap the target
        context.target = None  # type: ignore[misc]
    return Cli(context)


def _account(cli: Cli, balance: str = "100.00") -> str:
    account_id = f"acc_{uuid.uuid4().hex[:10]}"
    created = cli(
        "accounts", "create", "--id", account_id, "--balance", balance, "--currency", "USD"
    )
    assert created["account_id"] == account_id
    return account_id


def test_accounts_create_get_list(cli: Cli) -> None:
    account_id = _account(cli, "12.34")
    assert cli("accounts", "get", account_id)["balance_minor"] == 1234
    assert account_id in {a["account_id"] for a in cli("accounts", "list")}
    assert cli("accounts", "get", "acc_nobody", code=3).exit_code == 3


def test_pay_wait_then_payments_get_and_list(cli: Cli) -> None:
    account_id = _account(cli)
    paid = cli("pay", "card", "--amount", "12.50", "--account", account_id, "--wait")
    assert (paid["status"], paid["amount_minor"], paid["card"]["last4"]) == (
        "SUCCEEDED",
        1250,
        "4242",
    )
    shown = cli("payments", "get", paid["payment_id"])
    assert shown["status"] == "SUCCEEDED"
    assert shown["execution_arn"]
    listed = cli("payments", "list", "--account", account_id)
    assert [p["payment_id"] for p in listed] == [paid["payment_id"]]
    assert cli("accounts", "get", account_id)["balance_minor"] == 8750


def test_bad_pay_input_is_a_usage_error_before_any_lookup(cli: Cli) -> None:
    result = cli("pay", "card", "--amount", "12.505", "--account", "acc_x", code=2)
    assert "Traceback" not in result.output


def test_executions_list_show_and_watch(cli: Cli) -> None:
    account_id = _account(cli)
    paid = cli("pay", "card", "--amount", "1.00", "--account", account_id, "--wait")
    arn = cli("payments", "get", paid["payment_id"])["execution_arn"]
    executions = cli("executions", "list", "--status", "SUCCEEDED")
    assert arn in {e["execution_arn"] for e in executions}
    detail = cli("executions", "show", paid["payment_id"])
    assert (detail["execution_arn"], detail["status"]) == (arn, "SUCCEEDED")
    assert detail["payment_status"] == "SUCCEEDED"
    result = CliRunner().invoke(
        app, ["executions", "watch", "--until-idle", "--interval", "1", "--json"], obj=cli.context
    )
    assert result.exit_code == 0, result.output
    assert all(json.loads(line)["execution_arn"] for line in result.stdout.splitlines())


def test_failed_payment_in_dlq_then_stats_peek_redrive_purge(cli: Cli) -> None:
    account_id = _account(cli)
    card = ["--card", CARD_PROCESSING_ERROR]
    failed = cli("pay", "card", "--amount", "1.00", "--account", account_id, *card, "--wait")
    assert (failed["status"], failed["reason"]) == ("FAILED", "processing_error")
    # `pay --wait` follows the payment through the API (public view: operator fields null);
    # the operator's `payments get` reads the table and names the error.
    assert (failed["error"], failed["execution_arn"]) == (None, None)
    assert cli("payments", "get", failed["payment_id"])["error"] == "IssuerUnavailableError"
    # MarkFailed writes FAILED (which ends --wait) just before SendToDlq parks the message.
    wait_until(
        lambda: cli("dlq", "stats")["dlq_messages"] >= 1,
        timeout=30,
        interval=0.1,
        what="the FAILED payment's message in the DLQ",
    )
    assert failed["payment_id"] in {m["payment_id"] for m in cli("dlq", "peek")}
    dry = cli("dlq", "redrive", "--dry-run")
    assert (dry["dry_run"], dry["moved"]) == (True, 0)
    assert dry["candidates"] >= 1
    purged = cli("dlq", "purge", "--yes")
    assert "purged" in json.dumps(purged)


def test_payments_reconcile_audit_and_status(cli: Cli) -> None:
    report = cli("payments", "reconcile", "--dry-run")
    assert report["dry_run"] is True
    assert {"ok", "violations"} <= set(cli("audit"))
    status = cli("status")
    assert status["target"] == "aws"
    assert status["outputs"]["PaymentsTableName"]


def test_an_injected_context_is_never_replaced(cli: Cli) -> None:
    """Commands read the injected target; the settings a command sees are the injected ones."""
    before = cli.context.resolved_target
    cli("accounts", "list")
    assert cli.context.resolved_target is before
    assert replace(cli.context.settings) == cli.context.settings


def _invoke(cli: Cli, *args: str) -> Result:
    """`paycli ARGS --json` with the injected context, unparsed (streams print a line each)."""
    return CliRunner().invoke(app, [*args, "--json"], obj=cli.context)


def _error_line(result: Result) -> str:
    """The one `Error: ...` line a failure prints on stderr (and no traceback)."""
    assert "Traceback" not in result.output
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    return line


def test_logs_reads_each_function_log_group_and_filters_by_payment(
    cli: Cli, stack: LocalStack
) -> None:
    """`paycli logs` on AWS finds the functions' physical names in the stack's resources and
    reads `/aws/lambda/{name}`: one JSON object per line, only the payment asked for."""
    # ListStackResources' view of a function: a log group stands in (moto's CloudFormation
    # cannot create a function from the template's code).
    resources = {
        "IngressFunction": {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"LogGroupName": "paycli-IngressFunction"},
        }
    }
    stack.client("cloudformation").create_stack(
        StackName=cli.context.settings.stack_name, TemplateBody=json.dumps({"Resources": resources})
    )
    logs, group = stack.client("logs"), "/aws/lambda/paycli-IngressFunction"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="2026/01/01/[$LATEST]1")
    mine, other = f"pay_{uuid.uuid4().hex}", f"pay_{uuid.uuid4().hex}"
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="2026/01/01/[$LATEST]1",
        logEvents=[
            {"timestamp": now + i, "message": json.dumps({"message": m, "payment_id": p})}
            for i, (m, p) in enumerate([("accepted", mine), ("accepted", other), ("sent", mine)])
        ],
    )

    result = _invoke(cli, "logs", "--function", "ingress", "--payment", mine)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["function"], line["payment_id"]) for line in lines] == [("Ingress", mine)] * 2
    assert ['"sent"' in line["message"] for line in lines] == [False, True]
    assert all(line["timestamp"].endswith("Z") or "+00:00" in line["timestamp"] for line in lines)

    every = _invoke(cli, "logs")
    assert every.exit_code == 0, every.output
    assert len(every.stdout.splitlines()) == 3

    bad = _invoke(cli, "logs", "--function", "nope")
    assert bad.exit_code == 2, bad.output
    assert _error_line(bad) == "Error: unknown function 'nope'"
    assert bad.stdout == ""


def test_load_sends_payments_through_the_api_and_reports_them(cli: Cli) -> None:
    """`paycli load` opens its accounts, sends signed POSTs to the API, waits for every
    payment, and reports them; a bad mix is one usage line before anything is sent."""
    report = cli("load", "--count", "4", "--concurrency", "2", "--accounts", "1", "--mix", "card=1")
    assert (report["count"], report["accepted"], report["completed"]) == (4, 4, 4)
    assert report["outcomes"] == {"SUCCEEDED": 4}
    assert report["errors"] == {}
    assert report["ok"] is True
    (account_id,) = report["accounts"]
    payments = cli("payments", "list", "--account", account_id)
    assert len(payments) == 4

    bad = _invoke(cli, "load", "--count", "1", "--mix", "bitcoin=1")
    assert bad.exit_code == 2, bad.output
    assert "bitcoin" in _error_line(bad)
    assert bad.stdout == ""


def test_executions_redrive_restarts_a_failed_payment_and_refuses_a_succeeded_one(
    cli: Cli,
) -> None:
    """A payment whose execution ended in the workflow's Fail state is restarted under a new
    name with the same input; a SUCCEEDED one is a conflict (exit 4); no ref is a usage error."""
    account_id = _account(cli)
    card = ["--card", CARD_PROCESSING_ERROR]
    failed = cli("pay", "card", "--amount", "1.00", "--account", account_id, *card, "--wait")
    payment_id = failed["payment_id"]
    # MarkFailed ends --wait; the execution ends FAILED a moment later (SendToDlq, then Fail).
    old = wait_until(
        lambda: (d := cli("executions", "show", payment_id))["status"] == "FAILED" and d,
        timeout=30,
        what="the failed payment's execution to end FAILED",
    )
    (result,) = cli("executions", "redrive", payment_id, "--yes")
    assert (result["payment_id"], result["method"]) == (payment_id, "restart")
    assert result["execution_arn"] == old["execution_arn"]
    assert result["new_execution_arn"] not in (None, old["execution_arn"])
    assert cli("executions", "show", result["new_execution_arn"])["payment_id"] == payment_id

    paid = cli("pay", "card", "--amount", "1.00", "--account", account_id, "--wait")
    wait_until(
        lambda: cli("executions", "show", paid["payment_id"])["status"] == "SUCCEEDED",
        timeout=30,
        what="the paid payment's execution to end SUCCEEDED",
    )
    conflict = _invoke(cli, "executions", "redrive", paid["payment_id"], "--yes")
    assert conflict.exit_code == 4, conflict.output
    assert "only failed, timed-out or aborted executions can be redriven" in _error_line(conflict)

    neither = _invoke(cli, "executions", "redrive", "--yes")
    assert neither.exit_code == 2, neither.output
    assert _error_line(neither) == "Error: give execution ids/payment ids, or --failed (not both)"


def test_soak_without_faults_settles_every_payment_and_audits_clean(cli: Cli) -> None:
    """`paycli soak --faults none` on AWS: every payment accepted and settled (the always-failing
    card's FAILED and parked), no fault fired, an audit with no violation (exit 0); impossible
    settings are one usage line before anything is sent."""
    result = _invoke(
        cli, "soak", "--payments", "6", "--accounts", "2", "--concurrency", "2",
        "--faults", "none", "--seed", "3", "--quiesce-timeout", "120",
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert (report["payments"], report["accepted"], report["fault_plan"]) == (6, 6, "none")
    # Quiesced: every payment in the table is terminal (this module's earlier ones too).
    assert sum(report["outcomes"].values()) >= 6
    assert set(report["outcomes"]) <= {"SUCCEEDED", "DECLINED", "FAILED"}
    assert report["faults_fired_total"] == 0
    assert (report["violations"], report["ok"]) == ([], True)

    bad = _invoke(cli, "soak", "--payments", "0", "--faults", "none")
    assert bad.exit_code == 2, bad.output
    assert "--payments" in _error_line(bad)
    assert bad.stdout == ""


@contextmanager
def _ctrl_c_lands_only_in_invoke() -> Iterator[None]:
    """While the block runs, SIGINT raises KeyboardInterrupt only when it arrives with `_invoke`
    (the command under test) on the main thread's stack; one that comes before or after is
    dropped. A press at the wrong moment then fails the test's own assertions instead of
    interrupting pytest, which ends the whole session (a CI run stopped there once). Join the
    pressing thread inside the block."""

    def handler(_signum: int, frame: FrameType | None) -> None:
        while frame is not None:
            if frame.f_code is _invoke.__code__:
                raise KeyboardInterrupt
            frame = frame.f_back

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _ctrl_c_once(ready: Callable[[], bool]) -> threading.Thread:
    """A thread that sends this process SIGINT (Ctrl-C) once `ready()` holds; if it never does
    within 60 s, it presses nothing (the test's assertions say what went wrong)."""

    def watch() -> None:
        if wait_until(ready, timeout=60, what="the moment to press Ctrl-C", fail=False):
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_ctrl_c_in_load_stops_sending_and_reports_what_was_sent(
    cli: Cli, stack: LocalStack
) -> None:
    """Ctrl-C after a few payments: no more are sent, those sent settle and are reported on
    stdout (valid JSON), stderr ends with one line naming how many were sent, exit 130. It
    used to exit 130 with nothing on stdout and not a word on stderr."""
    account_id = _account(cli, "1000.00")
    assert stack.deployment is not None
    ddb, table = stack.client("dynamodb"), stack.deployment.outputs["PaymentsTableName"]

    def three_sent() -> bool:
        return int(ddb.scan(TableName=table, Select="COUNT")["Count"]) >= before + 3

    before = int(ddb.scan(TableName=table, Select="COUNT")["Count"])
    args = ["load", "--count", "500", "--rate", "5", "--account", account_id, "--mix", "card=1"]
    with _ctrl_c_lands_only_in_invoke():
        trigger = _ctrl_c_once(three_sent)
        result = _invoke(cli, *args)
        trigger.join()
    assert result.exit_code == 130, result.output
    report = json.loads(result.stdout)
    assert 3 <= report["accepted"] < 500
    assert report["completed"] == report["accepted"]  # the accepted ones settled first
    assert report["unfinished"] == 0
    assert result.stderr.splitlines()[-1] == (
        f"Interrupted: sent {report['accepted']} of 500 payments before Ctrl-C"
        f" ({report['accepted']} accepted); the report covers those"
    )
    payments = cli("payments", "list", "--account", account_id, "--limit", "500")
    assert len(payments) == report["accepted"]  # nothing sent after the stop


def test_pay_shows_its_idempotency_key_before_an_answer_that_never_comes(cli: Cli) -> None:
    """The generated Idempotency-Key is on stderr before the request, so when no answer comes
    (the API unreachable here; a timeout or Ctrl-C alike) the operator holds the one key that
    retries the payment safely. It used to be printed only after a 202."""
    assert cli.context.target is not None
    outputs = replace(cli.context.target.outputs(), ApiUrl="http://127.0.0.1:9/v1")  # closed
    settings = cli.context.settings
    dead = Cli(AppContext(settings, AwsTarget(settings, outputs=outputs)))
    result = _invoke(dead, "pay", "card", "--amount", "1.00", "--account", "acc_unreached")
    assert result.exit_code != 0
    key_line, *rest = result.stderr.splitlines()
    assert re.fullmatch(r"Idempotency-Key: paycli-[0-9a-f]{32}", key_line), result.stderr
    assert any(line.startswith("Error: ") for line in rest)
    assert result.stdout == ""

    typed = _invoke(cli, "pay", "card", "--amount", "1.00", "--account", _account(cli))
    assert typed.exit_code == 0, typed.output
    key = json.loads(typed.stdout)["idempotency_key"]
    assert typed.stderr.splitlines()[0] == f"Idempotency-Key: {key}"


def test_load_checks_its_named_accounts_before_sending(cli: Cli) -> None:
    """`load --account` with an account that does not exist, or holds another currency, is one
    error before anything is sent; it used to send every payment, each refused (x count)."""
    missing = f"acc_{uuid.uuid4().hex[:10]}"
    result = _invoke(cli, "load", "--count", "3", "--account", missing)
    assert result.exit_code == 3, result.output
    assert missing in _error_line(result)
    assert result.stdout == ""

    yen = f"acc_{uuid.uuid4().hex[:10]}"
    cli("accounts", "create", "--id", yen, "--balance", "1000", "--currency", "JPY")
    result = _invoke(cli, "load", "--count", "3", "--account", yen)
    assert result.exit_code == 2, result.output
    assert _error_line(result) == f"Error: account '{yen}' holds JPY; load pays in USD"
    assert cli("payments", "list", "--account", yen) == []


def test_ctrl_c_ends_executions_watch_with_one_line(cli: Cli) -> None:
    """A watch without --until-idle ends with Ctrl-C: the JSON lines printed so far are whole,
    one line says how many changes it showed, exit 130 (it used to end without a word)."""
    _account(cli)  # something has run on the stack, so the watch has rows
    until = time.monotonic() + 2
    with _ctrl_c_lands_only_in_invoke():
        trigger = _ctrl_c_once(lambda: time.monotonic() > until)
        result = _invoke(cli, "executions", "watch", "--interval", "1")
        trigger.join()
    assert result.exit_code == 130, result.output
    lines = result.stdout.splitlines()
    assert all(json.loads(line)["execution_arn"] for line in lines)
    assert result.stderr.splitlines()[-1] == (
        f"Interrupted: stopped watching after {len(lines)} change(s)"
    )


def test_ctrl_c_before_the_api_answers_a_pay_names_the_key_to_retry_with(cli: Cli) -> None:
    """Ctrl-C while the POST waits for its answer (an API that accepts the connection and never
    answers): the payment may have been accepted, so the one line says so and the hint gives
    the command's key, the one safe retry. Before, it said only that Ctrl-C stopped it."""
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    silent.settimeout(60)  # a pay that never connects: no press, the assertions say so
    port = silent.getsockname()[1]
    assert cli.context.target is not None
    outputs = replace(cli.context.target.outputs(), ApiUrl=f"http://127.0.0.1:{port}/v1")
    settings = cli.context.settings
    hanging = Cli(AppContext(settings, AwsTarget(settings, outputs=outputs)))
    held: list[socket.socket] = []

    def ctrl_c_once_connected() -> None:
        held.append(silent.accept()[0])  # the POST is on its way
        os.kill(os.getpid(), signal.SIGINT)

    trigger = threading.Thread(target=ctrl_c_once_connected, daemon=True)
    try:
        with _ctrl_c_lands_only_in_invoke():
            trigger.start()
            result = _invoke(hanging, "pay", "card", "--amount", "1.00", "--account", "acc_x")
            trigger.join()
    finally:
        for connection in (*held, silent):
            connection.close()
    assert result.exit_code == 130, result.output
    key_line, stopped, hint = result.stderr.splitlines()
    key = key_line.removeprefix("Idempotency-Key: ")
    assert (
        stopped
        == "Interrupted: stopped before the API answered: the payment may have been accepted"
    )
    assert hint == (
        f"Hint: run the same command with --idempotency-key {key}: it answers with that payment"
        " if there is one, and never pays twice"
    )
    assert result.stdout == ""
    del result
    with warnings.catch_warnings():  # the interrupted request's socket: closed by exit in life
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
