"""ExecutionsService on real executions: the real ASL on moto's interpreter, the real handlers.

The in-process local stack (paycli.local.stack.LocalStack) provisions stack/template.yaml; each
payment enters through the real ingress handler and is started the way the Pipe starts it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from paycli.core.accounts import AccountsService
from paycli.core.errors import ConflictError, NotFoundError, UsageError
from paycli.core.executions import ExecutionsService, restart_name
from paycli.core.payments import PaymentsService
from paycli.local.api import HttpRequest, RouteTable, build_proxy_event
from paycli.local.model import Deployment
from paycli.local.pipe import to_pipe_record
from paycli.local.stack import LocalStack

TEMPLATE = Path(__file__).resolve().parents[2] / "stack" / "template.yaml"
CARD_OK, CARD_ERROR = "4242424242424242", "4000000000000119"


@dataclass
class Env:
    stack: LocalStack
    deployment: Deployment
    account_id: str

    def out(self, key: str) -> str:
        return self.deployment.outputs[key]

    def service(self, *, redrive_supported: bool = False) -> ExecutionsService:
        ddb = self.stack.client("dynamodb")
        payments = PaymentsService(None, ddb, self.out("PaymentsTableName"))
        return ExecutionsService(
            self.stack.client("stepfunctions"),
            self.out("StateMachineArn"),
            payments,
            redrive_supported=redrive_supported,
            sleep=lambda _s: None,
        )

    def pay(self, card: str) -> str:
        """POST /payments/card through the real ingress handler; the payment id."""
        body = {
            "amount_minor": 500,
            "currency": "USD",
            "account_id": self.account_id,
            "card": {"number": card, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        }
        request = HttpRequest(
            "POST", "/v1/payments/card",
            [("Host", "127.0.0.1"), ("Idempotency-Key", uuid.uuid4().hex)],
            json.dumps(body).encode(), "127.0.0.1",
        )  # fmt: skip
        match = RouteTable(self.deployment.routes).match("POST", "v1", "/payments/card")
        assert match is not None
        event = build_proxy_event(request, match, request_id="r", account_id="1" * 12)
        result = self.stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
        return str(json.loads(json.loads(result.payload)["body"])["payment_id"])

    def run(self, payment_id: str) -> str:
        """What the Pipe does for the payment's message; waits for the end; the execution ARN."""
        sqs, pipe = self.stack.client("sqs"), self.deployment.pipes[0]
        for message in sqs.receive_message(
            QueueUrl=pipe.source_queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", []):
            if json.loads(message["Body"])["payment_id"] != payment_id:
                continue
            arn = str(self.stack.client("stepfunctions").start_execution(
                stateMachineArn=pipe.target_arn, name=f"{message['MessageId']}-t",
                input=json.dumps([to_pipe_record(message, pipe, self.stack.region)]),
            )["executionArn"])  # fmt: skip
            handle = message["ReceiptHandle"]
            sqs.delete_message(QueueUrl=pipe.source_queue_url, ReceiptHandle=handle)
            return self.wait(arn)
        pytest.fail(f"no message for {payment_id}")

    def wait(self, arn: str) -> str:
        sfn = self.stack.client("stepfunctions")
        wait_until(
            lambda: sfn.describe_execution(executionArn=arn)["status"] != "RUNNING",
            timeout=15,
            what=f"execution {arn} to end",
        )
        return arn


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = LocalStack(time_scale=0.01, log_dir=tmp_path_factory.mktemp("logs"))
    stack.start()
    try:
        deployment = stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1")
        accounts = AccountsService(
            stack.client("dynamodb"),
            deployment.outputs["AccountsTableName"],
            deployment.outputs["LedgerTableName"],
        )
        account = accounts.create("100.00", "USD")
        yield Env(stack, deployment, account.account_id)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def failed(env: Env) -> tuple[str, str]:
    """A processing_error payment: (payment_id, execution_arn)."""
    payment_id = env.pay(CARD_ERROR)
    return payment_id, env.run(payment_id)


@pytest.fixture(scope="module")
def succeeded(env: Env) -> tuple[str, str]:
    payment_id = env.pay(CARD_OK)
    return payment_id, env.run(payment_id)


def _calls(env: Env, operation: str) -> list[str]:
    calls: list[str] = []
    env.stack.client("stepfunctions").meta.events.register(
        f"before-call.sfn.{operation}", lambda **_: calls.append(operation)
    )
    return calls


def test_show_by_payment_id_names_the_failing_state_error_and_cause(
    env: Env, failed: tuple[str, str]
) -> None:
    """Not the Fail state it ended in: the Task whose retries ran out, with its error."""
    payment_id, arn = failed
    detail = env.service().show(payment_id)
    assert detail.execution.execution_arn == arn
    assert detail.execution.status == "FAILED"
    assert detail.execution.payment_id == payment_id
    assert detail.failed_state == "ValidatePayment"
    assert detail.error == "IssuerUnavailableError"
    assert detail.cause
    states = [step.state for step in detail.steps]
    assert states[:2] == ["ParseMessage", "ValidatePayment"]
    assert states[-3:] == ["MarkFailed", "SendToDeadLetterQueue", "PaymentFailed"]
    validate = detail.steps[1]
    assert validate.failed
    assert validate.attempts == 3  # the first try and the ASL's two IssuerUnavailableError retries


def test_show_a_success_has_no_failing_state(env: Env, succeeded: tuple[str, str]) -> None:
    detail = env.service().show(succeeded[1])
    assert detail.failed_state is None
    assert [s.state for s in detail.steps] == [
        "ParseMessage", "ValidatePayment", "IsApproved", "DeductAmount", "IsSettled",
        "PaymentSucceeded",
    ]  # fmt: skip
    assert not any(step.failed for step in detail.steps)


def test_show_by_execution_name_and_unknown_refs(env: Env, failed: tuple[str, str]) -> None:
    """An execution name works too; a pending payment without execution says so."""
    name = failed[1].rsplit(":", 1)[1]
    assert env.service().show(name).execution.execution_arn == failed[1]
    pending = env.pay(CARD_OK)
    with pytest.raises(NotFoundError, match="no execution yet"):
        env.service().show(pending)
    env.run(pending)  # leave the queue empty for the other tests


def test_list_filters_by_status_and_limits(
    env: Env, failed: tuple[str, str], succeeded: tuple[str, str]
) -> None:
    service = env.service()
    failed_arns = [e.execution_arn for e in service.list_executions("failed")]
    assert failed[1] in failed_arns
    assert succeeded[1] not in failed_arns
    assert len(service.list_executions(limit=1)) == 1
    with pytest.raises(UsageError):
        service.list_executions("BROKEN")


def test_watch_describes_only_what_changed(
    env: Env, failed: tuple[str, str], succeeded: tuple[str, str]
) -> None:
    """First poll: every row is new, failures described; second poll: one List, no Describe."""
    service = env.service()
    lists, describes = _calls(env, "ListExecutions"), _calls(env, "DescribeExecution")
    updates = list(service.watch(interval=1, max_polls=2, limit=100))
    first, second = updates
    assert failed[1] in first.changed
    assert first.rows[failed[1]].error == "PaymentFailed"
    assert second.changed == []
    assert len(lists) == 2
    assert len(describes) == sum(1 for r in first.rows.values() if r.status == "FAILED")
    assert list(service.watch(interval=1, until_idle=True))[-1].running == 0
    with pytest.raises(UsageError, match="at least 1"):
        next(service.watch(interval=0.2))


def test_redrive_restarts_with_the_same_input_under_a_new_name(
    env: Env, failed: tuple[str, str]
) -> None:
    """Local (no RedriveExecution): a new named execution with the original input."""
    service = env.service()
    (result,) = service.redrive([failed[0]])
    assert result.method == "restart"
    assert result.new_execution_arn != failed[1]
    sfn = env.stack.client("stepfunctions")
    original = sfn.describe_execution(executionArn=failed[1])
    env.wait(result.new_execution_arn)
    again = sfn.describe_execution(executionArn=result.new_execution_arn)
    assert again["input"] == original["input"]
    assert again["name"] == restart_name(failed[0], original["name"])
    assert again["status"] == "FAILED"  # the test card still fails, and is parked again


def test_redrive_of_a_fail_state_failure_restarts_even_on_aws(
    env: Env, failed: tuple[str, str]
) -> None:
    """RedriveExecution would resume at PaymentFailed (a Fail state) and fail again: restart."""
    service = env.service(redrive_supported=True)
    redrives = _calls(env, "RedriveExecution")
    (result,) = service.redrive([failed[1]])
    assert result.method == "restart"
    assert redrives == []
    env.wait(result.new_execution_arn)


def test_redrive_refuses_a_succeeded_execution(env: Env, succeeded: tuple[str, str]) -> None:
    with pytest.raises(ConflictError, match="SUCCEEDED"):
        env.service().redrive([succeeded[1]])


def test_failed_since_lists_failed_executions(env: Env, failed: tuple[str, str]) -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    service = env.service()
    assert failed[1] in service.failed_since(None)
    assert service.failed_since(datetime.now(UTC) + timedelta(hours=1)) == []


# ------------------------------------------------------------------ redrive per payment


def _executions_of(env: Env, payment_id: str) -> list[dict[str, Any]]:
    """Every execution (any status) whose input names `payment_id`."""
    sfn = env.stack.client("stepfunctions")
    found = []
    paginator = sfn.get_paginator("list_executions")
    for page in paginator.paginate(stateMachineArn=env.out("StateMachineArn")):
        for item in page["executions"]:
            reply = sfn.describe_execution(executionArn=item["executionArn"])
            if payment_id in reply.get("input", ""):
                found.append(reply)
    return found


def _wait_all(env: Env, results: list[Any]) -> None:
    for result in results:
        if result.new_execution_arn:
            env.wait(result.new_execution_arn)


def test_rerunning_redrive_failed_restarts_each_payment_once_per_run(env: Env) -> None:
    """Issue 9 defect 1: each run restarted every FAILED execution, earlier restarts included
    (1 -> 2 -> 4 -> 8 executions). Per payment: one restart per run, so three runs leave four
    executions (the first and three restarts), each run's restart from the newest failure."""
    payment_id = env.pay(CARD_ERROR)
    env.run(payment_id)
    service = env.service()
    for run in range(3):
        results = [r for r in service.redrive(service.failed_since(None))
                   if r.payment_id == payment_id]  # fmt: skip
        assert [r.method for r in results] == ["restart"], (run, results)
        _wait_all(env, results)
    executions = _executions_of(env, payment_id)
    assert len(executions) == 4
    assert {e["status"] for e in executions} == {"FAILED"}


def test_two_redrives_at_once_start_one_execution_per_payment(env: Env) -> None:
    """Two runs over the same failures at the same moment ask for the same restart name:
    Step Functions starts it once (the second start is the same execution, or refused)."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    payment_id = env.pay(CARD_ERROR)
    env.run(payment_id)
    services = [env.service(), env.service()]
    targets = services[0].failed_since(None)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda svc: svc.redrive(targets), services))
    mine = [r for run in runs for r in run if r.payment_id == payment_id]
    assert len(mine) == 2
    assert len({r.new_execution_arn for r in mine if r.new_execution_arn}) == 1
    _wait_all(env, mine)
    assert len(_executions_of(env, payment_id)) == 2


def test_redrive_skips_a_settled_payment_and_one_whose_newer_execution_succeeded(
    env: Env,
) -> None:
    """A failed execution of a payment settled since (by another execution) is not restarted;
    nor is one whose payment last recorded an execution that succeeded after it."""
    settled_id = env.pay(CARD_ERROR)
    settled_failure = env.run(settled_id)
    newer_id = env.pay(CARD_ERROR)
    newer_failure = env.run(newer_id)
    later_success = env.run(env.pay(CARD_OK))  # stands for a newer execution of newer_id
    ddb, table = env.stack.client("dynamodb"), env.out("PaymentsTableName")
    ddb.update_item(
        TableName=table, Key={"payment_id": {"S": settled_id}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "SUCCEEDED"}},
    )  # fmt: skip
    ddb.update_item(
        TableName=table, Key={"payment_id": {"S": newer_id}},
        UpdateExpression="SET execution_arn = :a",
        ExpressionAttributeValues={":a": {"S": later_success}},
    )  # fmt: skip
    results = env.service().redrive([settled_failure, newer_failure])
    assert [(r.method, r.payment_id) for r in results] == [
        ("skipped", settled_id), ("skipped", newer_id)
    ]  # fmt: skip
    assert results[0].reason == "the payment is SUCCEEDED"
    assert "SUCCEEDED" in str(results[1].reason)
    assert len(_executions_of(env, settled_id)) == len(_executions_of(env, newer_id)) == 1


def test_a_message_for_a_missing_payment_fails_visibly_and_is_never_redriven(env: Env) -> None:
    """Issue 9 defect 8: it ended SUCCEEDED (AlreadySettled). Now the execution FAILS with
    error PaymentNotFound, nothing is parked in the DLQ, `show` reports that the payment does
    not exist (not a status it never read), and redrive leaves it alone."""
    ghost = "pay_" + "0" * 32
    record = {"messageId": "m", "body": json.dumps({"payment_id": ghost})}
    sfn = env.stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=env.out("StateMachineArn"), name=f"ghost-{uuid.uuid4().hex[:8]}",
        input=json.dumps([record]),
    )["executionArn"]  # fmt: skip
    env.wait(arn)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED"
    assert described["error"] == "PaymentNotFound"
    detail = env.service().show(arn)
    assert detail.execution.payment_id == ghost
    assert detail.payment_status is None
    assert detail.view()["payment_status"] is None
    (result,) = env.service().redrive([arn])
    assert (result.method, result.reason) == ("skipped", "the payment does not exist")
    sqs = env.stack.client("sqs")
    bodies = [m["Body"] for m in sqs.receive_message(
        QueueUrl=env.out("DeadLetterQueueUrl"), MaxNumberOfMessages=10, VisibilityTimeout=0
    ).get("Messages", [])]  # fmt: skip
    assert not any(ghost in body for body in bodies)


def test_show_reports_the_payments_own_status(env: Env, failed: tuple[str, str]) -> None:
    detail = env.service().show(failed[1])
    assert detail.payment_status == "FAILED"
