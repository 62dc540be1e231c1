"""Suite 7, PAN: after card payments of every outcome (accepted, declined, failed, refused) and
card numbers placed in every field of a request and in the URL, no Luhn-valid run of 13-19
digits is anywhere: not in a table item, a queue body, an execution's input, output or history,
the handler log, the daemon log, nor the CLI's output. On a local stack of this module's own, so
the scan covers everything that happened on it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_support import TEST_CARDS, LocalStackHandle, local_stack_at
from paystack.domain.redact import find_pans, mask_pans
from queues import queue_depth
from typer.testing import CliRunner
from waiting import wait_until

from paycli.cli.app import app

pytestmark = pytest.mark.e2e

PAN = "4111111111111111"  # Luhn-valid visa, not one of the stack's test cards
AMEX = "378282246310005"
JCB = "3530111333300000"  # Luhn-valid, a brand the API refuses
runner = CliRunner()


@pytest.fixture(scope="module")
def pan_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackHandle]:
    with local_stack_at(tmp_path_factory.mktemp("paycli-pan-home")) as handle:
        yield handle


def _body(account: str, **changes: Any) -> dict[str, Any]:
    card = {"number": TEST_CARDS["approved"], "exp_month": 12, "exp_year": 2035, "cvc": "123"}
    card |= changes.pop("card", {})
    return {"amount_minor": 100, "currency": "USD", "account_id": account, "card": card} | changes


def _hostile_requests(stack: LocalStackHandle, account: str) -> list[int]:
    """Card numbers in every field, in the URL, the query and a header; the statuses."""
    statuses = []

    def post(body: Any, key: str | None = None, method: str = "card", **headers: str) -> None:
        response = stack.request(
            "POST", f"/payments/{method}", json_body=body,
            headers={"Idempotency-Key": key or uuid.uuid4().hex, **headers},
        )  # fmt: skip
        statuses.append(response.status)

    post(_body(account), key=f"key-{PAN}")
    post(_body(PAN))
    post(_body(account, amount_minor=PAN))
    post(_body(account, amount_minor=int(PAN)))
    post(_body(account, currency=PAN))
    post(_body(account, card={"cvc": PAN}))
    post(_body(account, card={"exp_month": int(PAN)}))
    post(_body(account, card={"exp_year": int(PAN)}))
    post(_body(account, card={"number": JCB}))
    post(_body(account, card={"number": AMEX, "exp_year": 2020}))
    post(_body(account, card={PAN: PAN}))
    post(_body(account, **{PAN: PAN}))
    post(_body(account, note=f"card {PAN}"))
    post({"amount_minor": 100, "currency": "USD", "account_id": account,
          "wallet": {"wallet_id": f"wal_{PAN}"}}, method="wallet")  # fmt: skip
    post({"amount_minor": 100, "currency": "USD", "account_id": account,
          "bank": {"iban": PAN}}, method="bank")  # fmt: skip
    post(_body(account), **{"X-Card": PAN})
    post(PAN)
    post([PAN])
    for path in (f"/payments/{PAN}", f"/payments/{PAN}?card={PAN}", f"/payments/pay_{PAN}"):
        statuses.append(stack.request("GET", path).status)
    statuses.append(stack.request("POST", f"/payments/{PAN}", json_body=_body(account)).status)
    return statuses


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    # the command line is the label, with card numbers masked (the scan is about the output)
    return f"$ paycli {mask_pans(' '.join(args))}\n{result.output}"


def _wait_settled(stack: LocalStackHandle, timeout: float = 60) -> None:
    """Until no payment is PENDING or PROCESSING and the queue is empty."""
    ddb, sqs = stack.client("dynamodb"), stack.client("sqs")

    def settled() -> bool:
        items = ddb.scan(TableName=stack.outputs["PaymentsTableName"])["Items"]
        busy = [i for i in items if i["status"]["S"] in ("PENDING", "PROCESSING")]
        return not busy and not queue_depth(sqs, stack.outputs["QueueUrl"])

    wait_until(settled, timeout=timeout, interval=0.2, what="no payment in flight, empty queue")


def _everything(stack: LocalStackHandle) -> dict[str, str]:
    """Every place a card number could have been kept, as text."""
    ddb, sqs, sfn = (stack.client(s) for s in ("dynamodb", "sqs", "stepfunctions"))
    places: dict[str, str] = {}
    for output in ("PaymentsTableName", "AccountsTableName", "LedgerTableName",
                   "IdempotencyTableName"):  # fmt: skip
        items = [i for page in ddb.get_paginator("scan").paginate(
            TableName=stack.outputs[output]) for i in page["Items"]]  # fmt: skip
        places[output] = json.dumps(items)
    for output in ("QueueUrl", "DeadLetterQueueUrl"):
        bodies = [m["Body"] for m in sqs.receive_message(
            QueueUrl=stack.outputs[output], MaxNumberOfMessages=10, VisibilityTimeout=0,
            MessageAttributeNames=["All"]).get("Messages", [])]  # fmt: skip
        places[output] = json.dumps(bodies)
    executions = sfn.list_executions(stateMachineArn=stack.outputs["StateMachineArn"])
    for summary in executions["executions"]:
        arn = summary["executionArn"]
        described = sfn.describe_execution(executionArn=arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        places[f"execution {summary['name']}"] = json.dumps([described, history], default=str)
    places["handler log"] = (stack.home / "local" / "handler-logs.jsonl").read_text()
    places["daemon log"] = (stack.home / "local" / "daemon.log").read_text()
    return places


def test_no_card_number_anywhere_after_payments_of_every_outcome(
    pan_stack: LocalStackHandle,
) -> None:
    account = pan_stack.create_account(100_000)
    outputs: list[str] = []
    for card in (TEST_CARDS["approved"], TEST_CARDS["declined"], TEST_CARDS["insufficient_funds"],
                 TEST_CARDS["processing_error"], PAN, AMEX, JCB, "4242424242424241"):  # fmt: skip
        outputs.append(_cli("pay", "card", "--amount", "1.00", "--account", account,
                            "--card", card, "--wait", "--timeout", "30"))  # fmt: skip
        outputs.append(_cli("pay", "card", "--amount", "1.00", "--account", account,
                            "--card", card, "--json"))  # fmt: skip
    outputs.append(_cli("pay", "card", "--amount", "1.00", "--account", PAN, "--card", PAN))
    outputs.append(_cli("pay", "wallet", "--amount", "1.00", "--account", account,
                        "--wallet", f"wal_{PAN}"))  # fmt: skip
    outputs.append(_cli("pay", "card", "--amount", "1.00", "--account", account,
                        "--idempotency-key", f"k-{PAN}"))  # fmt: skip
    statuses = _hostile_requests(pan_stack, account)
    # every request is refused but the one whose card number is only in a header (X-Card)
    assert statuses.count(202) == 1, str(statuses)
    assert all(400 <= status < 500 for status in statuses if status != 202), str(statuses)
    _wait_settled(pan_stack)
    listed = runner.invoke(app, ["payments", "list", "--json"]).stdout
    ids = [v["payment_id"] for v in json.loads(listed)]
    assert len(ids) >= 8, "the payments the scan is about were not made"
    for command in (["payments", "list"], ["payments", "list", "--json"],
                    ["executions", "list", "--json"], ["dlq", "peek", "--json"],
                    ["logs", "--json"], ["logs"], ["payments", "get", PAN],
                    ["executions", "show", PAN], ["logs", "--payment", PAN]):  # fmt: skip
        outputs.append(_cli(*command))
    for payment_id in ids:
        outputs.append(_cli("payments", "get", payment_id, "--json"))
        outputs.append(_cli("executions", "show", payment_id))
    places = _everything(pan_stack) | {f"CLI: {text.splitlines()[0]}": text for text in outputs}
    assert any("FAILED" in text for text in places.values())
    found = {place: find_pans(text) for place, text in places.items() if find_pans(text)}
    assert found == {}, f"card numbers found: {found}"
