"""How many DynamoDB requests ingress, ValidatePayment and DeductAmount make, and the
BatchGetItem boundary that lets DeductAmount read the payment and its account in one of them.

Each request to the local emulator costs about 1.5-2 ms of CPU, so the counts are a contract:
the handlers' own client is observed through botocore's event hooks (one `before-call` per API
call; botocore retries would not add to it, and none happen here).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.model import OperationModel
from handler_harness import Stack, deduct_as_the_state_machine_does, pay
from paystack.domain.backoff import Backoff
from paystack.domain.dynamo import (
    BATCH_GET_ATTEMPTS,
    BatchReadIncompleteError,
    batch_get_consistent,
    utc_now,
)
from paystack.domain.settlement import settle_payment
from paystack.domain.store import find_payment_and_account
from paystack.handlers import _runtime


class Requests:
    """The DynamoDB operations the handlers' client sends, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def record(self, model: OperationModel, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        """The operations since the last take."""
        names, self.names = self.names, []
        return names


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


@pytest.fixture
def requests(demo: Stack) -> Iterator[Requests]:
    """Records every call of the client the handlers use (built on first use, as in Lambda)."""
    seen = Requests()
    events = _runtime.dynamodb().meta.events
    events.register("before-call.dynamodb", seen.record)
    yield seen
    events.unregister("before-call.dynamodb", seen.record)


def test_ingress_accepts_a_payment_in_one_request(demo: Stack, requests: Requests) -> None:
    """An accepted payment is one TransactWriteItems: the idempotency record, the PENDING
    payment and the account check (exists, same currency) together (2 before: a GetItem of the
    account first)."""
    pay(demo)
    assert requests.take() == ["TransactWriteItems"]


def test_ingress_replay_reads_only_the_payment(demo: Stack, requests: Requests) -> None:
    """A replay: the cancelled transaction hands back the stored record (ALL_OLD), then one
    GetItem tells whether the payment is still PENDING (3 before: the account GetItem first)."""
    pay(demo)
    requests.take()
    pay(demo)
    assert requests.take() == ["TransactWriteItems", "GetItem"]


def test_successful_card_payment(demo: Stack, requests: Requests) -> None:
    """An approved card payment: ValidatePayment makes 2 requests (the PROCESSING write that
    also returns the payment, the account read; 3 before), DeductAmount 2 (one BatchGetItem for
    payment and account, the transaction; 3 before)."""
    payment_id = pay(demo)
    requests.take()
    validation = demo.validate(payment_id)
    assert validation["outcome"] == "APPROVED"
    assert requests.take() == ["UpdateItem", "GetItem"]
    assert deduct_as_the_state_machine_does(demo, validation)["outcome"] == "SUCCEEDED"
    assert requests.take() == ["BatchGetItem", "TransactWriteItems"]
    assert demo.balance("acc_demo") == 8_750


def test_deduct_with_payment_id_only_reads_payment_then_account(
    demo: Stack, requests: Requests
) -> None:
    """{"payment_id"} alone (an execution started by the earlier definition): the payment must
    be read before its account, so the first attempt costs what it always did."""
    payment_id = pay(demo)
    demo.validate(payment_id)
    requests.take()
    assert demo.deduct(payment_id)["outcome"] == "SUCCEEDED"
    assert requests.take() == ["GetItem", "GetItem", "TransactWriteItems"]


def test_declined_card(demo: Stack, requests: Requests) -> None:
    """An issuer decline: the PROCESSING write, the account read, the DECLINED write."""
    payment_id = pay(demo, "4000000000000002")
    requests.take()
    assert demo.validate(payment_id)["outcome"] == "DECLINED"
    assert requests.take() == ["UpdateItem", "GetItem", "UpdateItem"]


def test_duplicates_of_a_settled_payment(demo: Stack, requests: Requests) -> None:
    """A second ValidatePayment of a settled payment learns its outcome from the failed
    conditional write itself (ALL_OLD): one request, no write. A second DeductAmount reads
    payment and account together, then the ledger entry for balance_after_minor."""
    payment_id = pay(demo)
    validation = demo.validate(payment_id)
    deduct_as_the_state_machine_does(demo, validation)
    settled = demo.payment_item(payment_id)
    requests.take()
    assert demo.validate(payment_id)["outcome"] == "SUCCEEDED"
    assert requests.take() == ["UpdateItem"]
    assert deduct_as_the_state_machine_does(demo, validation)["balance_after_minor"] == 8_750
    assert requests.take() == ["BatchGetItem", "GetItem"]
    assert demo.payment_item(payment_id) == settled
    assert demo.balance("acc_demo") == 8_750


# ------------------------------------------------------------------------ UnprocessedKeys


class LeavesKeysUnprocessed:
    """The moto client, except that its first `times` BatchGetItem answers leave `table`'s
    keys unread and return them as UnprocessedKeys (DynamoDB's partial answer under
    throttling, which comes with HTTP 200 and is never retried by botocore)."""

    def __init__(self, client: Any, table: str, times: int) -> None:
        self._client = client
        self._table = table
        self.times = times
        self.sent: list[dict[str, Any]] = []

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.sent.append(copy.deepcopy(RequestItems))
        if self.times == 0 or self._table not in RequestItems:
            return dict(self._client.batch_get_item(RequestItems=RequestItems))
        self.times -= 1
        rest = {table: spec for table, spec in RequestItems.items() if table != self._table}
        response = {"Responses": {}}
        if rest:
            response = dict(self._client.batch_get_item(RequestItems=rest))
        # Keys only: the retry must not depend on DynamoDB echoing ConsistentRead back.
        response["UnprocessedKeys"] = {self._table: {"Keys": RequestItems[self._table]["Keys"]}}
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_unprocessed_keys_are_asked_again_alone_and_consistently(demo: Stack) -> None:
    """The account left unprocessed once: the second request asks for the account only,
    still ConsistentRead, and the pair comes back complete."""
    payment_id = pay(demo)
    client = LeavesKeysUnprocessed(demo.ddb, demo.tables.accounts, times=1)
    payment, account = find_payment_and_account(client, demo.tables, payment_id, "acc_demo")
    assert payment is not None
    assert payment.payment_id == payment_id
    assert account is not None
    assert account.balance_minor == 10_000
    first, second = client.sent
    assert set(first) == {demo.tables.payments, demo.tables.accounts}
    assert all(spec["ConsistentRead"] is True for spec in first.values())
    assert second == {
        demo.tables.accounts: {"Keys": [{"account_id": {"S": "acc_demo"}}], "ConsistentRead": True}
    }


def test_keys_left_unprocessed_every_time_raise(demo: Stack) -> None:
    """Never a partial answer passed off as "no such account": after BATCH_GET_ATTEMPTS
    requests the read raises BatchReadIncompleteError naming the table."""
    payment_id = pay(demo)
    client = LeavesKeysUnprocessed(demo.ddb, demo.tables.accounts, times=BATCH_GET_ATTEMPTS)
    with pytest.raises(BatchReadIncompleteError, match=demo.tables.accounts):
        find_payment_and_account(client, demo.tables, payment_id, "acc_demo")
    assert len(client.sent) == BATCH_GET_ATTEMPTS


def test_batch_reads_back_off_capped_with_their_injected_sleep(demo: Stack) -> None:
    """Between BatchGetItem requests the read waits a full-jitter draw under a doubling,
    capped ceiling, from the injected random source and sleep (no real sleeping)."""
    client = LeavesKeysUnprocessed(demo.ddb, demo.tables.accounts, times=BATCH_GET_ATTEMPTS)
    draws: list[tuple[float, float]] = []
    waits: list[float] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high

    backoff = Backoff(base_seconds=0.02, cap_seconds=0.05, sleep=waits.append, uniform=uniform)
    keys = {demo.tables.accounts: [{"account_id": {"S": "acc_demo"}}]}
    with pytest.raises(BatchReadIncompleteError):
        batch_get_consistent(client, keys, backoff=backoff)
    assert draws == [(0, 0.02), (0, 0.04), (0, 0.05)]  # before requests 2, 3 and 4
    assert waits == [0.02, 0.04, 0.05]
    assert len(client.sent) == BATCH_GET_ATTEMPTS


def test_settlement_through_unprocessed_keys_debits_once(demo: Stack) -> None:
    """DeductAmount's read hits UnprocessedKeys on the payment: it still settles, once, and a
    duplicate run changes nothing."""
    payment_id = pay(demo)
    validation = demo.validate(payment_id)
    client = LeavesKeysUnprocessed(demo.ddb, demo.tables.payments, times=2)
    for _ in range(2):
        result = settle_payment(
            client, demo.tables, payment_id, utc_now(), account_id=validation["account_id"]
        )
        assert (result["outcome"], result["balance_after_minor"]) == ("SUCCEEDED", 8_750)
    assert len(client.sent) == 3 + 1  # two partial answers then a full one; the duplicate: one
    assert demo.balance("acc_demo") == 8_750
