"""The ingress handler against moto: idempotency, validation, the account check inside the
intake transaction, errors, the GET route."""

from __future__ import annotations

import copy
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.stub import Stubber
from handler_harness import API_DOMAIN, Stack, api_event, decode
from paystack.domain.backoff import Backoff
from paystack.domain.dynamo import utc_now
from paystack.domain.errors import AccountBusyError
from paystack.domain.intake import (
    ACCOUNT_CONFLICT_ATTEMPTS,
    IntakeSettings,
    accept_payment,
    parse_request,
)
from paystack.handlers import _runtime, ingress


def card_body(
    number: str = "4242424242424242", amount: object = 1250, **changes: Any
) -> dict[str, Any]:
    """A valid card payment request for account acc_demo."""
    return {
        "amount_minor": amount,
        "currency": "USD",
        "account_id": "acc_demo",
        "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
    } | changes


@pytest.fixture
def demo(stack: Stack) -> Stack:
    """The stack with acc_demo holding 100.00 USD."""
    stack.account("acc_demo", 10_000)
    return stack


def test_accepts_a_card_payment(demo: Stack) -> None:
    """202 with the payment view, status_url from the request context, PENDING stored,
    one queue message holding only the payment id."""
    response = demo.post("card", card_body())
    assert response.status == 202
    body = response.body
    payment_id = body["payment_id"]
    assert body["status"] == "PENDING"
    assert body["card"] == {"brand": "visa", "last4": "4242"}
    assert (body["amount_minor"], body["currency"], body["account_id"]) == (1250, "USD", "acc_demo")
    assert body["reason"] is None
    assert body["status_url"] == f"https://{API_DOMAIN}/v1/payments/{payment_id}"
    assert response.headers["Location"] == body["status_url"]
    assert "Idempotent-Replayed" not in response.headers
    item = demo.payment_item(payment_id)
    assert item["status"] == {"S": "PENDING"}
    assert item["card_bin"] == {"S": "424242"}
    assert item["idempotency_key"] == {"S": "key-1"}
    assert [json.loads(b) for b in demo.drain()] == [{"payment_id": payment_id}]


def test_replay_returns_the_same_payment(demo: Stack) -> None:
    """Same key + same body (keys reordered): the stored 202 body, flagged, one payment."""
    first = demo.post("card", card_body())
    reordered = json.dumps(dict(reversed(list(card_body().items()))), indent=2)
    second = demo.post("card", reordered)
    assert second.status == 202
    assert second.body == first.body
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(demo.items(demo.tables.payments)) == 1
    assert len(demo.items(demo.tables.idempotency)) == 1


def test_same_key_other_body_is_422(demo: Stack) -> None:
    """Reusing a key for a different request is refused, and nothing new is stored."""
    demo.post("card", card_body())
    response = demo.post("card", card_body(amount=999))
    assert response.status == 422
    assert response.body["error"]["code"] == "idempotency_key_reused"
    assert len(demo.items(demo.tables.payments)) == 1


def test_replay_resends_the_message_of_a_pending_payment(demo: Stack) -> None:
    """A crash between the DB write and SendMessage must not lose the payment: the first
    attempt fails at SendMessage (queue missing), the client's retry re-sends it."""
    real_queue = demo.environments["IngressFunction"]["QUEUE_URL"]
    demo.environments["IngressFunction"]["QUEUE_URL"] = real_queue + "-missing"
    with pytest.raises(Exception, match=r"NonExistentQueue|does not exist"):
        demo.post("card", card_body())
    assert len(demo.items(demo.tables.payments)) == 1
    assert demo.drain() == []
    demo.environments["IngressFunction"]["QUEUE_URL"] = real_queue
    retry = demo.post("card", card_body())
    assert retry.status == 202
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert [json.loads(b) for b in demo.drain()] == [{"payment_id": retry.body["payment_id"]}]


def test_replay_of_a_processed_payment_sends_nothing(demo: Stack) -> None:
    """Once the pipeline has taken the payment, a replay does not enqueue it again."""
    first = demo.post("card", card_body())
    demo.drain()
    demo.validate(first.body["payment_id"])
    assert demo.post("card", card_body()).status == 202
    assert demo.drain() == []


def test_expired_idempotency_record_counts_as_absent(demo: Stack) -> None:
    """After expires_at (TTL deletion lags), the key is free: a new payment, not a 422."""
    first = demo.post("card", card_body())
    demo.ddb.update_item(
        TableName=demo.tables.idempotency,
        Key={"idempotency_key": {"S": "key-1"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    second = demo.post("card", card_body(amount=999))
    assert second.status == 202
    assert second.body["payment_id"] != first.body["payment_id"]
    assert len(demo.items(demo.tables.payments)) == 2


def test_idempotency_record_expires_after_the_configured_ttl(demo: Stack) -> None:
    """expires_at = creation + IDEMPOTENCY_TTL_SECONDS from the template (>= 24 h)."""
    demo.post("card", card_body())
    (record,) = demo.items(demo.tables.idempotency)
    ttl = int(demo.environments["IngressFunction"]["IDEMPOTENCY_TTL_SECONDS"])
    assert ttl >= 86_400
    created = record["created_at"]["S"]
    created_epoch = int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    assert int(record["expires_at"]["N"]) - created_epoch in (ttl, ttl + 1)


@pytest.mark.usefixtures("serialised_moto")
def test_concurrent_requests_with_one_key_make_one_payment(demo: Stack) -> None:
    """8 threads send the same key and body at once: exactly one payment exists and every
    202 names it (the others are replays; a 409 would ask the client to retry)."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: demo.post("card", card_body()), range(8)))
    accepted = [r for r in responses if r.status == 202]
    assert all(r.status in (202, 409) for r in responses)
    assert accepted
    assert len({r.body["payment_id"] for r in accepted}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in accepted) == 1
    assert len(demo.items(demo.tables.payments)) == 1


@pytest.mark.parametrize(
    ("method", "body", "code"),
    [
        ("card", card_body(amount=0), "invalid_amount"),
        ("card", card_body(amount=-5), "invalid_amount"),
        ("card", card_body(amount=12.5), "invalid_amount"),
        ("card", card_body(amount="1250"), "invalid_amount"),
        ("card", card_body(amount=10**12), "amount_too_large"),
        ("card", card_body(currency="usd"), "invalid_currency"),
        ("card", card_body(currency="XXX"), "invalid_currency"),
        ("card", card_body(currency=None), "invalid_currency"),
        ("card", card_body("4242424242424241"), "incorrect_number"),
        ("card", card_body("4242"), "incorrect_number"),
        ("card", card_body(card={"number": "4242424242424242", "exp_month": 1, "exp_year": 2020,
                                 "cvc": "123"}), "invalid_expiry"),
        ("card", card_body(card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2030,
                                 "cvc": "1"}), "invalid_cvc"),
        ("card", {"amount_minor": 1, "currency": "USD", "account_id": "acc_demo"},
         "invalid_request"),
        ("card", card_body(bank={"iban": "DE89370400440532013000"}), "invalid_request"),
        ("card", card_body(extra=1), "invalid_request"),
        ("card", card_body(account_id=""), "invalid_account_id"),
        ("bank", {"amount_minor": 1, "currency": "EUR", "account_id": "acc_demo",
                  "bank": {"iban": "DE89370400440532013001"}}, "invalid_iban"),
        ("wallet", {"amount_minor": 1, "currency": "USD", "account_id": "acc_demo",
                    "wallet": {"wallet_id": "wal_x"}}, "invalid_wallet_id"),
        ("card", "{not json", "invalid_json"),
        ("card", "[1, 2]", "invalid_request"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_and_write_nothing(
    demo: Stack, method: str, body: Any, code: str
) -> None:
    """Shape, amount, currency, method and card errors: 400 with a code, no item, no message."""
    response = demo.post(method, body)
    assert response.status == 400
    assert response.body["error"]["code"] == code
    assert response.body["error"]["message"]
    assert demo.items(demo.tables.payments) == []
    assert demo.items(demo.tables.idempotency) == []
    assert demo.drain() == []


@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "missing_idempotency_key"), ("", "missing_idempotency_key"),
     ("has space", "invalid_idempotency_key"), ("k" * 256, "invalid_idempotency_key")],
)  # fmt: skip
def test_idempotency_key_is_required(demo: Stack, key: str | None, code: str) -> None:
    """No (valid) Idempotency-Key: 400 and nothing written."""
    response = demo.post("card", card_body(), key=key)
    assert response.status == 400
    assert response.body["error"]["code"] == code
    assert demo.items(demo.tables.payments) == []


def every_item(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Each table's items, raw: to prove a refused request wrote nothing anywhere."""
    tables = stack.tables
    names = (tables.payments, tables.idempotency, tables.accounts, tables.ledger)
    return {name: stack.items(name) for name in names}


def test_unknown_account_is_404_and_writes_nothing(demo: Stack) -> None:
    """A payment for an account that does not exist: the account's ConditionCheck cancels the
    intake transaction, so neither the record nor the payment exists, and nothing is queued."""
    before = every_item(demo)
    response = demo.post("card", card_body(account_id="acc_nobody"))
    assert response.status == 404
    assert response.body["error"] == {
        "code": "account_not_found", "message": "account 'acc_nobody' does not exist"
    }  # fmt: skip
    assert every_item(demo) == before
    assert demo.items(demo.tables.payments) == []
    assert demo.items(demo.tables.idempotency) == []
    assert demo.drain() == []


def test_currency_mismatch_is_400_and_writes_nothing(demo: Stack) -> None:
    """A payment in another currency than its account's: the cancelled transaction hands back
    the account (ALL_OLD), whose currency the message names; nothing written or queued."""
    demo.account("acc_eur_only", 5_000, "EUR")
    before = every_item(demo)
    response = demo.post("card", card_body(account_id="acc_eur_only"))
    assert response.status == 400
    assert response.body["error"] == {
        "code": "currency_mismatch", "message": "account 'acc_eur_only' holds EUR, not USD"
    }  # fmt: skip
    assert every_item(demo) == before
    assert demo.items(demo.tables.payments) == []
    assert demo.items(demo.tables.idempotency) == []
    assert demo.drain() == []


def test_a_refused_key_is_still_free(demo: Stack) -> None:
    """A 404 writes no idempotency record, so the same key then works for a fixed request."""
    assert demo.post("card", card_body(account_id="acc_nobody")).status == 404
    response = demo.post("card", card_body())
    assert response.status == 202
    assert "Idempotent-Replayed" not in response.headers


def test_replay_after_the_account_was_deleted_is_the_stored_202(demo: Stack) -> None:
    """Idempotency first: the key's record answers a retry even though the account check in
    the same cancelled transaction failed too (the account is gone): the first 202, flagged."""
    first = demo.post("card", card_body())
    demo.ddb.delete_item(TableName=demo.tables.accounts, Key={"account_id": {"S": "acc_demo"}})
    retry = demo.post("card", card_body())
    assert retry.status == 202
    assert retry.body == first.body
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(demo.items(demo.tables.payments)) == 1


def test_reused_key_naming_an_unknown_account_is_422(demo: Stack) -> None:
    """A seen key with another body is 422 even when that body's account does not exist: the
    record's reason is read before the account's."""
    demo.post("card", card_body())
    response = demo.post("card", card_body(account_id="acc_nobody"))
    assert response.status == 422
    assert response.body["error"]["code"] == "idempotency_key_reused"
    assert len(demo.items(demo.tables.payments)) == 1


def test_bank_and_wallet_payments(demo: Stack) -> None:
    """The other methods store and show their safe details only."""
    demo.account("acc_eur", 5_000, "EUR")
    bank = demo.post(
        "bank",
        {"amount_minor": 100, "currency": "EUR", "account_id": "acc_eur",
         "bank": {"iban": "DE89 3704 0044 0532 0130 00"}},
        key="bank-1",
    )  # fmt: skip
    assert bank.status == 202
    assert bank.body["bank"] == {"country": "DE", "last4": "3000"}
    item = demo.payment_item(bank.body["payment_id"])
    assert "DE89370400440532013000" not in json.dumps(item)
    wallet = demo.post(
        "wallet",
        {"amount_minor": 100, "currency": "USD", "account_id": "acc_demo",
         "wallet": {"wallet_id": "wal_abcdEFGH1234"}},
        key="wallet-1",
    )  # fmt: skip
    assert wallet.status == 202
    assert wallet.body["wallet"] == {"wallet_id": "wal_abcdEFGH1234"}


def test_get_payment(demo: Stack) -> None:
    """GET returns the current view; unknown and malformed ids are 404."""
    created = demo.post("card", card_body()).body
    response = demo.get(created["payment_id"])
    assert response.status == 200
    expected = {k: v for k, v in created.items() if k != "status_url"}
    assert response.body == expected
    missing = demo.get("pay_" + "0" * 32)
    assert (missing.status, missing.body["error"]["code"]) == (404, "payment_not_found")
    assert demo.get("not-an-id").status == 404


def test_status_url_keeps_a_custom_domain_base_path(demo: Stack) -> None:
    """On a custom domain mapped at /payments-api the base path is kept in status_url."""
    event = api_event(
        "POST", "/payments/card", "/payments/card",
        {"Idempotency-Key": "cd-1", "X-Forwarded-Proto": "http"}, json.dumps(card_body()),
    )  # fmt: skip
    event["requestContext"]["domainName"] = "pay.example.com"
    event["requestContext"]["path"] = "/payments-api/payments/card"
    response = decode(demo.invoke("IngressFunction", event))
    assert response.body["status_url"] == (
        f"http://pay.example.com/payments-api/payments/{response.body['payment_id']}"
    )


def test_the_method_comes_from_the_static_resource_not_a_path_parameter(demo: Stack) -> None:
    """API Gateway sends POST /payments/card with resource "/payments/card" and no path
    parameters: that is a card payment. The old `/payments/{method}` resource (which API
    Gateway refuses beside `{payment_id}`) is no payment route: 404, nothing stored."""
    event = api_event(
        "POST", "/payments/card", "/payments/card", {"Idempotency-Key": "res-1"},
        json.dumps(card_body()),
    )  # fmt: skip
    assert event["pathParameters"] is None
    response = decode(demo.invoke("IngressFunction", event))
    assert (response.status, response.body["method"]) == (202, "card")

    old = api_event(
        "POST", "/payments/card", "/payments/{method}", {"Idempotency-Key": "res-2"},
        json.dumps(card_body()),
    )  # fmt: skip
    refused = decode(demo.invoke("IngressFunction", old))
    assert (refused.status, refused.body["error"]["code"]) == (404, "route_not_found")
    # An unknown method never passes API Gateway (403); should one reach the handler: 404.
    cash = demo.post("cash", card_body(), key="res-3")
    assert (cash.status, cash.body["error"]["code"]) == (404, "route_not_found")
    assert len(demo.items(demo.tables.payments)) == 1


def test_write_conflict_without_a_visible_record_is_409(demo: Stack) -> None:
    """Real DynamoDB cancels one of two simultaneous transactions on the same key with
    TransactionConflict (moto serialises them, so a Stubber plays DynamoDB's part here): if
    the winner's record is not readable yet, the client is told to retry (409)."""
    client = _runtime.dynamodb()
    stubber = Stubber(client)
    stubber.add_client_error(
        "transact_write_items",
        service_error_code="TransactionCanceledException",
        service_message="Transaction cancelled",
        http_status_code=400,
        modeled_fields={
            "CancellationReasons": [
                {"Code": "TransactionConflict", "Message": "Transaction is ongoing"},
                {"Code": "None"},
                {"Code": "None"},
            ]
        },
    )
    stubber.add_response("get_item", {}, None)
    with stubber:
        response = demo.post("card", card_body())
    stubber.assert_no_pending_responses()
    assert response.status == 409
    assert response.body["error"]["code"] == "idempotency_key_in_flight"


# ------------------------------------------------------------- TransactionConflict on the account

CONFLICT = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}


class CancelsTransactions:
    """The handlers' moto client, except that its first `times` TransactWriteItems raise
    transaction_canceled(reasons) without reaching moto; later calls go to moto unchanged."""

    def __init__(self, client: Any, reasons: list[dict[str, str]], times: int = 1) -> None:
        self._client = client
        self._reasons = reasons
        self.times = times
        self.sent: list[list[dict[str, Any]]] = []  # each call's TransactItems

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(copy.deepcopy(kwargs["TransactItems"]))
        if self.times == 0:
            return dict(self._client.transact_write_items(**kwargs))
        self.times -= 1
        raise transaction_canceled(self._client, self._reasons)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def transaction_canceled(client: Any, reasons: list[dict[str, str]]) -> ClientError:
    """DynamoDB's HTTP 400 answer cancelling a transaction with `reasons` (one per item,
    {"Code": "None"} for an item that was fine), parsed as botocore's endpoint parses it (the
    protocol's parser, then the error shape's modeled fields): the same modeled
    TransactionCanceledException, with the same CancellationReasons, that AWS would raise."""
    codes = ", ".join(reason["Code"] for reason in reasons)
    body = {
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "CancellationReasons": reasons,
        "Message": "Transaction cancelled, please refer cancellation reasons for specific "
        f"reasons [{codes}]",
    }
    http = {
        "status_code": 400,
        "headers": {"x-amzn-RequestId": "cancelled", "Content-Type": "application/x-amz-json-1.0"},
        "body": json.dumps(body).encode(),
    }
    service = client.meta.service_model
    parser = create_parser(service.resolved_protocol)
    parsed = parser.parse(http, service.operation_model("TransactWriteItems").output_shape)
    parsed.update(parser.parse(http, service.shape_for_error_code(parsed["Error"]["Code"])))
    error: ClientError = client.exceptions.from_code(parsed["Error"]["Code"])(
        parsed, "TransactWriteItems"
    )
    return error


def cancel_transactions(
    monkeypatch: pytest.MonkeyPatch, reasons: list[dict[str, str]], times: int = 1
) -> CancelsTransactions:
    """Hand the ingress handler a CancelsTransactions around its own client."""
    client = CancelsTransactions(_runtime.dynamodb(), reasons, times)
    monkeypatch.setattr(ingress, "dynamodb", lambda: client)
    return client


def test_a_busy_account_is_retried_and_accepted(
    demo: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settlement holds the account item: DynamoDB cancels the intake transaction with
    TransactionConflict on the account (third) item alone. Ingress sends the same transaction
    again, unchanged (same payment_id, same record), and answers 202: one payment, one record,
    one message."""
    client = cancel_transactions(monkeypatch, [{"Code": "None"}, {"Code": "None"}, CONFLICT])
    response = demo.post("card", card_body())
    assert response.status == 202
    assert "Idempotent-Replayed" not in response.headers
    cancelled, accepted = client.sent
    assert accepted == cancelled
    assert [next(iter(item)) for item in accepted] == ["Put", "Put", "ConditionCheck"]
    (payment,) = demo.items(demo.tables.payments)
    assert payment["payment_id"]["S"] == response.body["payment_id"]
    (record,) = demo.items(demo.tables.idempotency)
    assert record["payment_id"]["S"] == response.body["payment_id"]
    assert [json.loads(b) for b in demo.drain()] == [{"payment_id": response.body["payment_id"]}]


def test_an_account_busy_through_every_attempt_is_503(
    demo: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Still locked after ACCOUNT_CONFLICT_ATTEMPTS transactions: 503 account_busy with
    Retry-After (the CLI's ApiClient retries 503 with the same key), nothing written."""
    client = cancel_transactions(
        monkeypatch, [{"Code": "None"}, {"Code": "None"}, CONFLICT], times=ACCOUNT_CONFLICT_ATTEMPTS
    )
    before = every_item(demo)
    response = demo.post("card", card_body())
    assert response.status == 503
    assert response.body["error"]["code"] == "account_busy"
    assert response.headers["Retry-After"] == "1"
    assert len(client.sent) == ACCOUNT_CONFLICT_ATTEMPTS
    assert every_item(demo) == before
    assert demo.drain() == []
    monkeypatch.setattr(ingress, "dynamodb", _runtime.dynamodb)
    assert demo.post("card", card_body()).status == 202


def test_intake_backs_off_with_its_injected_sleep_and_randomness(demo: Stack) -> None:
    """accept_payment on an account busy through every attempt: before each retry it waits a
    full-jitter draw in [0, base * 2**(n-1)] from the injected random source, with the injected
    sleep (no real sleeping), then raises AccountBusyError with nothing written or sent."""
    client = CancelsTransactions(
        demo.ddb, [{"Code": "None"}, {"Code": "None"}, CONFLICT], times=ACCOUNT_CONFLICT_ATTEMPTS
    )
    draws: list[tuple[float, float]] = []
    waits: list[float] = []

    def uniform(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    backoff = Backoff(base_seconds=0.01, sleep=waits.append, uniform=uniform)
    settings = IntakeSettings(max_amount_minor=1_000_000, ttl_seconds=86_400, fingerprint_key=b"k")
    now = utc_now()
    before = every_item(demo)
    with pytest.raises(AccountBusyError):
        accept_payment(
            client, demo.sqs, demo.tables, queue_url=demo.queue_url,
            request=parse_request("card", card_body(), settings, now), idempotency_key="busy",
            fingerprint="f", status_url=lambda p: p, settings=settings, now=now, backoff=backoff,
        )  # fmt: skip
    assert draws == [(0, 0.01), (0, 0.02), (0, 0.04), (0, 0.08)]
    assert waits == [0.005, 0.01, 0.02, 0.04]
    assert len(client.sent) == ACCOUNT_CONFLICT_ATTEMPTS
    assert every_item(demo) == before
    assert demo.drain() == []


def test_a_conflict_on_the_key_is_not_taken_for_a_busy_account(
    demo: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TransactionConflict on the record and the account: a request with the same key is
    mid-write, and that comes first. The record is visible (here: already written), so the
    answer is its replay, after one transaction, not a retry loop."""
    first = demo.post("card", card_body())
    client = cancel_transactions(monkeypatch, [CONFLICT, {"Code": "None"}, CONFLICT])
    response = demo.post("card", card_body())
    assert response.status == 202
    assert response.headers["Idempotent-Replayed"] == "true"
    assert response.body == first.body
    assert len(client.sent) == 1
    assert len(demo.items(demo.tables.payments)) == 1
