"""PaymentsService and AccountsService against moto, with the real handlers behind a real API.

The `stack` fixture (tests/integration/conftest.py) builds the template's tables and queues in
moto. The payments API here is a small HTTP server on 127.0.0.1 that checks the SigV4 signature
with the local stack's verifier and hands the request, as an API Gateway proxy event, to the
real ingress handler: so `pay` is exercised end to end over signed HTTP, offline.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.credentials import Credentials

from paycli.core.accounts import AccountsService
from paycli.core.api import ApiClient
from paycli.core.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    UsageError,
    WaitTimeoutError,
)
from paycli.core.payments import PaymentFilter, PaymentsService, PayRequest
from paycli.local.sigv4 import SignatureError, verify

REGION = "us-east-1"
ACCESS, SECRET = "AKIDTEST", "test-secret"
CARD_OK, CARD_DECLINED = "4242424242424242", "4000000000000002"


class _FakeApiGateway(BaseHTTPRequestHandler):
    """API Gateway's part: AWS_IAM auth, then the proxy event to the ingress handler."""

    stack: Any = None

    def do_POST(self) -> None:
        self._handle(self.path.removeprefix("/v1"))  # a static resource per method

    def do_GET(self) -> None:
        self._handle("/payments/{payment_id}")

    def _handle(self, resource: str) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            verify(self.command, self.path, self.headers.items(), body,
                   access_key=ACCESS, secret_key=SECRET, region=REGION)  # fmt: skip
        except SignatureError as exc:
            self._reply(403, {}, json.dumps({"message": str(exc)}))
            return
        path = self.path.removeprefix("/v1")
        last = path.rsplit("/", 1)[1]
        params = {"payment_id": last} if "{payment_id}" in resource else None
        event = {
            "resource": resource,
            "path": path,
            "httpMethod": self.command,
            "headers": dict(self.headers.items()),
            "multiValueHeaders": {k: [v] for k, v in self.headers.items()},
            "pathParameters": params,
            "queryStringParameters": None,
            "requestContext": {
                "stage": "v1", "path": self.path, "resourcePath": resource,
                "httpMethod": self.command, "domainName": self.headers.get("Host", ""),
                "requestId": str(uuid.uuid4()), "identity": {"sourceIp": "127.0.0.1"},
            },
            "body": body.decode() or None,
            "isBase64Encoded": False,
        }  # fmt: skip
        reply = self.stack.invoke("IngressFunction", event)
        headers = dict(reply.get("headers") or {})
        for name, values in (reply.get("multiValueHeaders") or {}).items():
            headers[name] = ",".join(values)
        self._reply(reply["statusCode"], headers, reply.get("body") or "")

    def _reply(self, status: int, headers: dict[str, str], body: str) -> None:
        raw = body.encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def api_url(stack: Any) -> Iterator[str]:
    """The fake gateway's base URL (stage v1), serving the `stack` fixture's ingress."""
    handler = type("Gateway", (_FakeApiGateway,), {"stack": stack})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture
def payments(stack: Any, api_url: str) -> PaymentsService:
    api = ApiClient(api_url, Credentials(ACCESS, SECRET), REGION, sleep=lambda _s: None)
    return PaymentsService(api, stack.ddb, stack.tables.payments, sleep=lambda _s: None)


@pytest.fixture
def accounts(stack: Any) -> AccountsService:
    return AccountsService(stack.ddb, stack.tables.accounts, stack.tables.ledger)


@pytest.fixture
def account_id(accounts: AccountsService) -> str:
    return accounts.create("100.00", "USD", "acc_test").account_id


def _pay(payments: PaymentsService, account: str, amount: str = "12.50", **kw: Any) -> Any:
    return payments.pay(PayRequest("card", amount, "USD", account, **kw))


def _settle(stack: Any, payment_id: str) -> None:
    """What the state machine does for an approved or declined payment."""
    if stack.validate(payment_id)["outcome"] == "APPROVED":
        stack.deduct(payment_id)


def _count_scans(stack: Any) -> list[str]:
    calls: list[str] = []
    stack.ddb.meta.events.register("before-call.dynamodb.Scan", lambda **_: calls.append("Scan"))
    return calls


# ------------------------------------------------------------------------------ pay


def test_pay_sends_a_signed_request_and_the_payment_is_pending(
    payments: PaymentsService, stack: Any, account_id: str
) -> None:
    """The API accepts it: PENDING, minor units, a generated key, and no card number stored."""
    result = _pay(payments, account_id)
    assert result.idempotency_key.startswith("paycli-")
    assert not result.replayed
    view = result.payment.view()
    assert (view["status"], view["amount_minor"], view["currency"]) == ("PENDING", 1250, "USD")
    assert view["card"]["last4"] == "4242"
    stored = json.dumps(stack.items(stack.tables.payments))
    assert result.payment.payment_id in stored
    assert CARD_OK not in stored


def test_same_idempotency_key_replays_the_first_payment(
    payments: PaymentsService, stack: Any, account_id: str
) -> None:
    """A retried `pay --idempotency-key K` gets the same payment, and only one exists."""
    first = _pay(payments, account_id, idempotency_key="order-42")
    again = _pay(payments, account_id, idempotency_key="order-42")
    assert again.replayed
    assert again.payment.payment_id == first.payment.payment_id
    assert len(stack.items(stack.tables.payments)) == 1


def test_same_key_with_another_amount_is_a_conflict(
    payments: PaymentsService, account_id: str
) -> None:
    """Reusing a key for a different payment is refused (exit code 4), not silently merged."""
    _pay(payments, account_id, idempotency_key="order-43")
    with pytest.raises(ConflictError):
        _pay(payments, account_id, amount="13.00", idempotency_key="order-43")


@pytest.mark.parametrize("amount", ["-5", "1.234", "0", "12,50", "1e3"])
def test_bad_amount_is_refused_before_any_request(
    payments: PaymentsService, stack: Any, account_id: str, amount: str
) -> None:
    """Negative, too many decimals, zero or odd notation: UsageError and nothing written."""
    with pytest.raises(UsageError):
        _pay(payments, account_id, amount=amount)
    assert stack.items(stack.tables.payments) == []


def test_unknown_account_is_not_found_and_nothing_is_written(
    payments: PaymentsService, stack: Any
) -> None:
    """The API's 404 becomes NotFoundError (exit 3) with a hint; no payment exists."""
    with pytest.raises(NotFoundError) as caught:
        _pay(payments, "acc_nobody")
    assert "accounts list" in (caught.value.hint or "")
    assert stack.items(stack.tables.payments) == []


def test_wrong_credentials_are_a_config_error(stack: Any, api_url: str, account_id: str) -> None:
    """A signature the gateway rejects (403) says to check the credentials (exit 5)."""
    bad = ApiClient(api_url, Credentials(ACCESS, "wrong"), REGION, sleep=lambda _s: None)
    service = PaymentsService(bad, stack.ddb, stack.tables.payments)
    with pytest.raises(ConfigError, match="refused the credentials"):
        _pay(service, account_id)


# ------------------------------------------------------------------------------ get / wait


def test_wait_returns_the_terminal_payment_with_its_reason(
    payments: PaymentsService, stack: Any, account_id: str
) -> None:
    """After the workflow ran: SUCCEEDED debits; the declined card ends DECLINED + reason."""
    ok = _pay(payments, account_id).payment.payment_id
    declined = _pay(payments, account_id, card_number=CARD_DECLINED).payment.payment_id
    _settle(stack, ok)
    _settle(stack, declined)
    seen: list[str] = []
    assert payments.wait(ok, timeout=1, on_change=lambda p: seen.append(p.status)).status == (
        "SUCCEEDED"
    )
    assert seen == ["SUCCEEDED"]
    result = payments.wait(declined, timeout=1)
    assert (result.status, result.reason) == ("DECLINED", "generic_decline")
    assert stack.balance(account_id) == 10000 - 1250


def test_wait_times_out_with_a_hint(stack: Any, api_url: str, account_id: str) -> None:
    """A payment nobody processes: WaitTimeoutError (exit 6) after the timeout, on a fake clock."""
    now = [0.0]
    api = ApiClient(api_url, Credentials(ACCESS, SECRET), REGION)
    service = PaymentsService(
        api, stack.ddb, stack.tables.payments,
        clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s),
    )  # fmt: skip
    payment_id = _pay(service, account_id).payment.payment_id
    with pytest.raises(WaitTimeoutError, match="still PENDING") as caught:
        service.wait(payment_id, timeout=5)
    assert 4 <= now[0] <= 5
    assert payment_id in (caught.value.hint or "")


@pytest.mark.parametrize("payment_id", ["pay_" + "0" * 32, "pay_nope", ""])
def test_get_unknown_payment_is_not_found(payments: PaymentsService, payment_id: str) -> None:
    """An unknown id, well-formed or not (an empty one included), is one NotFoundError (exit
    3) with a hint, never DynamoDB's ValidationException; a malformed id is not echoed."""
    with pytest.raises(NotFoundError) as caught:
        payments.get(payment_id)
    assert "does not exist" in caught.value.message
    assert caught.value.hint == "list payments with `paycli payments list`"
    if payment_id.startswith("pay_0"):
        assert payment_id in caught.value.message


# ------------------------------------------------------------------------------ list


def test_list_by_status_uses_the_index_and_never_scans(
    payments: PaymentsService, stack: Any, account_id: str
) -> None:
    """`payments list --status SUCCEEDED` has the succeeded payment and only succeeded ones."""
    ok = _pay(payments, account_id).payment.payment_id
    declined = _pay(payments, account_id, card_number=CARD_DECLINED).payment.payment_id
    pending = _pay(payments, account_id).payment.payment_id
    _settle(stack, ok)
    _settle(stack, declined)
    scans = _count_scans(stack)
    succeeded = payments.list_payments(PaymentFilter(status="SUCCEEDED"))
    assert [p.payment_id for p in succeeded] == [ok]
    everything = payments.list_payments(PaymentFilter())
    assert {p.payment_id for p in everything} == {ok, declined, pending}
    created = [p.created_at or "" for p in everything]
    assert created == sorted(created, reverse=True)  # newest first across the merged queries
    assert scans == []


def test_list_filters_by_account_method_and_since_and_pages_through(
    payments: PaymentsService, accounts: AccountsService, account_id: str
) -> None:
    """Filters combine; a filtered query keeps paging until it has `limit` matches."""
    other = accounts.create("50.00", "USD").account_id
    cards = [_pay(payments, account_id).payment.payment_id for _ in range(6)]
    bank = payments.pay(PayRequest("bank", "1.00", "USD", account_id)).payment.payment_id
    theirs = _pay(payments, other).payment.payment_id

    by_account = payments.list_payments(PaymentFilter(account_id=other))
    assert [p.payment_id for p in by_account] == [theirs]

    only_bank = payments.list_payments(PaymentFilter(status="PENDING", method="bank", limit=1))
    assert [p.payment_id for p in only_bank] == [bank]

    limited = payments.list_payments(PaymentFilter(account_id=account_id, limit=3))
    assert len(limited) == 3
    assert {p.payment_id for p in limited} <= {*cards, bank}

    future = datetime.now(UTC) + timedelta(hours=1)
    assert payments.list_payments(PaymentFilter(since=future)) == []
    recent = payments.list_payments(PaymentFilter(since=datetime.now(UTC) - timedelta(hours=1)))
    assert len(recent) == 8


def test_list_rejects_an_unknown_status(payments: PaymentsService) -> None:
    with pytest.raises(UsageError, match="BOGUS"):
        payments.list_payments(PaymentFilter(status="BOGUS"))


# ------------------------------------------------------------------------------ accounts


def test_accounts_create_get_list_and_ledger_opening(accounts: AccountsService, stack: Any) -> None:
    """Balances are minor units of the currency; each account has its opening ledger entry."""
    yen = accounts.create("5000", "jpy", "acc_yen")
    dinar = accounts.create("1.250", "BHD", "acc_bhd")
    empty = accounts.create("0", "USD", "acc_zero")
    assert (yen.balance_minor, yen.currency) == (5000, "JPY")
    assert dinar.balance_minor == 1250
    assert empty.balance_minor == 0
    assert accounts.get("acc_bhd").balance_minor == 1250
    assert [a.account_id for a in accounts.list_accounts()] == ["acc_bhd", "acc_yen", "acc_zero"]
    ledger = stack.items(stack.tables.ledger)
    assert {item["entry_id"]["S"] for item in ledger} == {"opening"}
    assert len(ledger) == 3


def test_accounts_errors_map_to_exit_codes(accounts: AccountsService) -> None:
    """Duplicate id: conflict; unknown: not found; bad balance: usage. Nothing half-created."""
    accounts.create("10.00", "USD", "acc_dup")
    with pytest.raises(ConflictError):
        accounts.create("99.00", "USD", "acc_dup")
    assert accounts.get("acc_dup").balance_minor == 1000
    with pytest.raises(NotFoundError):
        accounts.get("acc_missing")
    with pytest.raises(UsageError):
        accounts.create("10.001", "USD", "acc_bad")
    with pytest.raises(UsageError):
        accounts.create("-1", "USD", "acc_bad")
    assert accounts.find("acc_bad") is None


# ------------------------------------------------------------------------------ the CLI on top


def _cli(stack: Any, api_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    """`paycli ARGS` on an injected AWS target: these tables, the fake gateway, its keys."""
    from typer.testing import CliRunner  # noqa: PLC0415

    from paycli.cli.app import app  # noqa: PLC0415
    from paycli.core.aws import AwsTarget, StackOutputs  # noqa: PLC0415
    from paycli.core.context import AppContext  # noqa: PLC0415
    from paycli.core.settings import Settings  # noqa: PLC0415

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    outputs = StackOutputs(
        ApiUrl=api_url, QueueUrl=stack.queue_url, DeadLetterQueueUrl=stack.dlq_url,
        StateMachineArn="arn:aws:states:us-east-1:123456789012:stateMachine:sm",
        PaymentsTableName=stack.tables.payments, AccountsTableName=stack.tables.accounts,
        LedgerTableName=stack.tables.ledger, IdempotencyTableName=stack.tables.idempotency,
    )  # fmt: skip
    settings = Settings(target="aws", region=REGION, stack_name="pay")
    context = AppContext(settings, AwsTarget(settings, outputs=outputs))
    return CliRunner().invoke(app, list(args), obj=context)


def test_pay_wait_out_of_time_prints_the_payment_and_exits_6(
    stack: Any, api_url: str, account_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody processes payments here: the wait runs out, yet stdout has the payment."""
    result = _cli(stack, api_url, monkeypatch,
                  "pay", "card", "--amount", "1", "--account", account_id,
                  "--wait", "--timeout", "0.2", "--json")  # fmt: skip
    assert result.exit_code == 6, result.output
    # The handler runs in this process here and its logger may write a line to (captured)
    # stdout before it: the CLI's document is the indented one.
    view = json.loads(result.stdout[result.stdout.index("{\n") :])
    assert view["status"] == "PENDING"
    assert view["payment_id"].startswith("pay_")
    assert f"Error: payment {view['payment_id']} is still PENDING" in result.stderr


def test_payments_list_says_when_it_stopped_at_the_limit(
    payments: PaymentsService, stack: Any, api_url: str, account_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for _ in range(3):
        _pay(payments, account_id, amount="1")
    capped = _cli(stack, api_url, monkeypatch, "payments", "list", "--limit", "2", "--json")
    assert capped.exit_code == 0, capped.output
    assert len(json.loads(capped.stdout)) == 2
    assert "Showing the newest 2 payments; there are more: raise --limit" in capped.stderr
    whole = _cli(stack, api_url, monkeypatch, "payments", "list", "--limit", "3", "--json")
    assert len(json.loads(whole.stdout)) == 3
    assert "there are more" not in whole.stderr


def test_a_failed_payment_reads_back_with_one_timestamp_form(
    payments: PaymentsService, stack: Any, account_id: str
) -> None:
    """MarkFailed writes `$$.State.EnteredTime`: the emulator's `+00:00` microseconds come out
    as milliseconds and Z, like every other timestamp."""
    payment_id = _pay(payments, account_id).payment.payment_id
    stack.ddb.update_item(
        TableName=stack.tables.payments, Key={"payment_id": {"S": payment_id}},
        UpdateExpression="SET updated_at = :t",
        ExpressionAttributeValues={":t": {"S": "2026-12-02T05:51:29.683827+00:00"}},
    )  # fmt: skip
    assert payments.get(payment_id).view()["updated_at"] == "2026-12-02T05:51:29.683Z"
