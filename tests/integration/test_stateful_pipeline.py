"""Suite 6: a stateful property test of the whole pipeline (hypothesis RuleBasedStateMachine).

The real ingress handler, the real state machine on moto's interpreter with the real
ValidatePayment and DeductAmount, in process; this test plays the client and the pipe, so each
step is one thing that can happen to a payment system: a payment, a client's replay of its
request, a delivery of a queued message, a duplicate delivery, a delivery whose DynamoDB writes
lose their responses (the fault plan's dynamodb_lost_response), the operator's redrive, and
several payments on one account delivered at once. After every step the audit
(paycli.core.audit) must find nothing; at the end of each run everything queued is delivered
and the audit, with no grace for payments in flight, must still find nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)
from paystack.domain.dynamo import TableNames
from state_machine_support import TEMPLATE, TIME_SCALE, Env, create_account
from waiting import wait_until

from paycli.core.audit import AuditService
from paycli.core.dlq import DlqService, settled_payments
from paycli.core.executions import ExecutionsService
from paycli.core.payments import PaymentsService
from paycli.local.api import HttpRequest, RouteTable, build_proxy_event
from paycli.local.faults import install_emulator_faults, uninstall_emulator_faults
from paycli.local.pipe import to_pipe_record
from paycli.local.stack import LocalStack

CARDS = {
    "ok": "4242424242424242",
    "declined": "4000000000000002",
    "fails": "4000000000000119",
}
OPENING = 5_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    stack = LocalStack(time_scale=TIME_SCALE, log_dir=tmp_path_factory.mktemp("logs"))
    stack.start()
    install_emulator_faults(stack.runner.faults)
    try:
        yield Env(stack, stack.deploy(TEMPLATE, api_base_url="http://127.0.0.1:1"))
    finally:
        uninstall_emulator_faults()
        stack.stop()


@dataclass(frozen=True)
class Sent:
    """A request the client made: its key and body, and the payment the API answered with."""

    key: str
    body: str
    payment_id: str


class World:
    """The client's and the pipe's hands on the in-process stack."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.sqs = env.stack.client("sqs")
        self.sfn = env.stack.client("stepfunctions")
        self.pipe = env.deployment.pipes[0]
        ddb = env.stack.client("dynamodb")
        payments = PaymentsService(None, ddb, env.output("PaymentsTableName"))
        table = env.output("PaymentsTableName")
        self.dlq = DlqService(
            self.sqs,
            env.output("QueueUrl"),
            env.output("DeadLetterQueueUrl"),
            move_task_supported=False,
            settled=lambda ids: settled_payments(ddb, table, ids),
        )
        self.executions = ExecutionsService(
            self.sfn, env.output("StateMachineArn"), payments, redrive_supported=False
        )
        self.auditor = AuditService(
            ddb,
            self.sqs,
            self.sfn,
            TableNames(
                payments=env.output("PaymentsTableName"),
                accounts=env.output("AccountsTableName"),
                ledger=env.output("LedgerTableName"),
            ),
            queue_url=env.output("QueueUrl"),
            dlq_url=env.output("DeadLetterQueueUrl"),
            state_machine_arn=env.output("StateMachineArn"),
        )

    # ------------------------------------------------------------------ client
    def post(self, key: str, body: str) -> tuple[int, dict[str, Any]]:
        request = HttpRequest(
            method="POST",
            raw_path="/v1/payments/card",
            headers=[
                ("Host", "127.0.0.1"),
                ("Content-Type", "application/json"),
                ("Idempotency-Key", key),
            ],
            body=body.encode(),
            source_ip="127.0.0.1",
        )
        match = RouteTable(self.env.deployment.routes).match("POST", "v1", "/payments/card")
        assert match is not None
        event = build_proxy_event(request, match, request_id=uuid.uuid4().hex, account_id="1" * 12)
        result = self.env.stack.runner.invoke(match.route.function_name, json.dumps(event).encode())
        assert result.function_error is None, result.payload
        response = json.loads(result.payload)
        return int(response["statusCode"]), json.loads(response["body"])

    # ------------------------------------------------------------------ pipe
    def depth(self, url_output: str) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=self.env.output(url_output), AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"])

    def receive(self) -> list[dict[str, Any]]:
        return list(
            self.sqs.receive_message(
                QueueUrl=self.pipe.source_queue_url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        )

    def start(self, message: dict[str, Any]) -> str:
        record = to_pipe_record(message, self.pipe, self.env.stack.region)
        return str(
            self.sfn.start_execution(
                stateMachineArn=self.pipe.target_arn,
                name=f"{message['MessageId'][:40]}-{uuid.uuid4().hex[:12]}",
                input=json.dumps([record]),
            )["executionArn"]
        )

    def delete(self, message: dict[str, Any]) -> None:
        self.sqs.delete_message(
            QueueUrl=self.pipe.source_queue_url, ReceiptHandle=message["ReceiptHandle"]
        )

    def wait(self, arns: list[str]) -> None:
        pending = list(arns)
        sfn = self.sfn

        def ended() -> bool:
            while (
                pending and sfn.describe_execution(executionArn=pending[-1])["status"] != "RUNNING"
            ):
                pending.pop()
            return not pending

        wait_until(ended, timeout=60, interval=0.01, what=lambda: f"executions {pending} to end")

    def deliver(self, messages: list[dict[str, Any]], copies: int = 1) -> None:
        """Start each message's execution `copies` times at once, delete it, wait for all."""
        arns: list[str] = []
        lock = threading.Lock()

        def go(message: dict[str, Any]) -> None:
            arn = self.start(message)
            with lock:
                arns.append(arn)

        threads = [threading.Thread(target=go, args=(m,)) for m in messages for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for message in messages:
            self.delete(message)
        self.wait(arns)

    def drain(self) -> None:
        """Deliver until the queue is empty."""
        for _ in range(200):
            messages = self.receive()
            if not messages:
                return
            self.deliver(messages)
        pytest.fail("the payment queue never emptied")

    def audit_violations(self, stale_after_s: float = 900.0) -> list[dict[str, str]]:
        from datetime import timedelta  # noqa: PLC0415

        report = self.auditor.run(timedelta(seconds=stale_after_s))
        return [v.view() for v in report.violations]


class PipelineMachine(RuleBasedStateMachine):
    """Pay / replay / deliver / duplicate delivery / lost response / redrive / concurrent pay;
    the audit's invariants after every step."""

    world: World
    sent = Bundle("sent")

    @initialize()
    def open_accounts(self) -> None:
        self.accounts = [create_account(self.world.env, OPENING) for _ in range(2)]

    def _body(self, account: int, card: str, amount: int) -> str:
        return json.dumps(
            {
                "amount_minor": amount,
                "currency": "USD",
                "account_id": self.accounts[account],
                "card": {"number": CARDS[card], "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            }
        )

    @rule(
        target=sent,
        account=st.integers(0, 1),
        card=st.sampled_from(sorted(CARDS)),
        amount=st.integers(1, 3_000),
    )
    def pay(self, account: int, card: str, amount: int) -> Sent:
        key = uuid.uuid4().hex
        body = self._body(account, card, amount)
        status, answer = self.world.post(key, body)
        assert status == 202, answer
        return Sent(key, body, str(answer["payment_id"]))

    @rule(sent=sent)
    def replay(self, sent: Sent) -> None:
        """The client lost the 202 and sends the same request again: the same payment."""
        status, answer = self.world.post(sent.key, sent.body)
        assert status == 202, answer
        assert answer["payment_id"] == sent.payment_id

    @rule(sent=consumes(sent))
    def replay_with_another_body(self, sent: Sent) -> None:
        """A key reused for another request is refused, and changes nothing."""
        body = json.loads(sent.body)
        body["amount_minor"] += 1
        status, answer = self.world.post(sent.key, json.dumps(body))
        assert status == 422, answer

    def queued(self) -> bool:
        return self.world.depth("QueueUrl") > 0

    def parked(self) -> bool:
        return self.world.depth("DeadLetterQueueUrl") > 0

    @precondition(queued)
    @rule()
    def deliver(self) -> None:
        messages = self.world.receive()[:1]
        if messages:
            self.world.deliver(messages)

    @precondition(queued)
    @rule()
    def duplicate_delivery(self) -> None:
        """SQS delivers a message twice: two executions for one payment, at once."""
        messages = self.world.receive()[:1]
        if messages:
            self.world.deliver(messages, copies=2)

    @precondition(queued)
    @rule(rate=st.sampled_from([0.3, 0.6, 1.0]), seed=st.integers(0, 1000))
    def lost_response(self, rate: float, seed: int) -> None:
        """A delivery whose handlers' DynamoDB writes commit but lose their answers (the SDK
        retries; at rate 1 every retry loses too and the payment fails technically)."""
        messages = self.world.receive()[:1]
        if not messages:
            return
        faults = self.world.env.stack.runner.faults
        faults.set_plan({"seed": seed, "faults": {"dynamodb_lost_response": {"rate": rate}}})
        try:
            self.world.deliver(messages)
        finally:
            faults.set_plan(None)

    @precondition(parked)
    @rule()
    def redrive(self) -> None:
        """The operator: DLQ back to the queue, and failed executions restarted."""
        self.world.dlq.redrive()
        failed = self.world.executions.failed_since(None)
        if failed:
            self.world.executions.redrive(failed)

    @rule(
        account=st.integers(0, 1), amounts=st.lists(st.integers(500, 2_500), min_size=2, max_size=4)
    )
    def concurrent_pay(self, account: int, amounts: list[int]) -> None:
        """Several payments on one account, accepted and then delivered at the same time."""
        ids = []
        for amount in amounts:
            status, answer = self.world.post(uuid.uuid4().hex, self._body(account, "ok", amount))
            assert status == 202, answer
            ids.append(answer["payment_id"])
        ours = [m for m in self.world.receive() if json.loads(m["Body"])["payment_id"] in set(ids)]
        self.world.deliver(ours)

    @invariant()
    def audit_is_clean(self) -> None:
        assert self.world.audit_violations() == []

    def teardown(self) -> None:
        self.world.drain()
        assert self.world.audit_violations(stale_after_s=0) == []


def test_pipeline_keeps_the_audits_invariants(env: Env) -> None:
    PipelineMachine.world = World(env)
    run = settings(
        max_examples=8,
        stateful_step_count=12,
        deadline=None,
        derandomize=True,  # the same runs every time: CI stays deterministic
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )(PipelineMachine).TestCase
    run().runTest()
