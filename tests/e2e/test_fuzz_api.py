"""Suite 5, the fuzz: schemathesis against the real local API from stack/openapi.yaml (valid and
invalid cases of every operation, SigV4-signed as a client signs them), plus signed raw byte
bodies and malformed HTTP on the socket. No 5xx; every refusal a 4xx with a JSON error body
(API Gateway's {"message"} or the handler's {"error": {"code", "message"}}); nothing stored for
a refused request; the daemon healthy afterwards.

CI runs a short version; the long one: `PAYCLI_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest
tests/e2e/test_fuzz_api.py -s` (README, Hostile-input suites). The counts (requests by status)
are printed at the end and written to `fuzz-report.json` in the stack's PAYCLI_HOME.
"""

from __future__ import annotations

import json
import os
import random
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from e2e_support import TEST_CARDS, LocalStackHandle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.e2e

SPEC = Path(__file__).resolve().parents[2] / "stack" / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(SPEC)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES = int(os.environ.get("PAYCLI_FUZZ_EXAMPLES", "60"))  # per operation and mode
RAW_EXAMPLES = max(EXAMPLES // 2, 20)
#: The account the fuzzer's bodies are pointed at now and then, so accepted paths run too.
ACCOUNT = "acc_fuzz"

STATUSES: Counter[int] = Counter()
KEYS_BY_STATUS: dict[int, set[str]] = {}


class SigV4(requests.auth.AuthBase):
    """Signs the prepared request (its final URL, headers and body bytes) as botocore does."""

    def __init__(self, handle: LocalStackHandle) -> None:
        self.credentials = Credentials(handle.access_key, handle.secret_key)
        self.region = handle.region

    def __call__(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        body = prepared.body or b""
        data = body.encode() if isinstance(body, str) else body
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        aws = AWSRequest(method=prepared.method, url=prepared.url, data=data, headers=headers)
        SigV4Auth(self.credentials, "execute-api", self.region).add_auth(aws)
        for name in ("Authorization", "X-Amz-Date"):
            prepared.headers[name] = aws.headers[name]
        return prepared


@pytest.fixture(scope="module")
def fuzz_session(local_stack: LocalStackHandle) -> Iterator[requests.Session]:
    if not _account_exists(local_stack):
        local_stack.create_account(10**9, account_id=ACCOUNT)
    session = requests.Session()
    session.auth = SigV4(local_stack)
    yield session
    session.close()


def _account_exists(local_stack: LocalStackHandle) -> bool:
    item = local_stack.client("dynamodb").get_item(
        TableName=local_stack.outputs["AccountsTableName"], Key={"account_id": {"S": ACCOUNT}}
    )
    return "Item" in item


def _aim(case: schemathesis.Case, rng: random.Random) -> None:
    """Now and then point a generated body at the real account (USD) and a valid instrument,
    so the accepted path (intake transaction, queue, workflow) is fuzzed too."""
    if not isinstance(case.body, dict) or rng.random() < 0.5:
        return
    case.body["account_id"] = ACCOUNT
    case.body["currency"] = "USD"
    if rng.random() < 0.5 and isinstance(case.body.get("card"), dict):
        case.body["card"] |= {"number": TEST_CARDS["approved"], "exp_year": 2035}
    if rng.random() < 0.3 and isinstance(case.body.get("amount_minor"), int):
        case.body["amount_minor"] = rng.randint(1, 10_000)


def _record(status: int, key: str | None) -> None:
    STATUSES[status] += 1
    if key:
        KEYS_BY_STATUS.setdefault(status, set()).add(key)


def _assert_answer(status: int, body: bytes, what: str) -> None:
    """No 5xx; a refusal is a 4xx with a JSON error body of one of the two shapes."""
    assert status < 500, f"{status} for {what}: {body[:300]!r}"
    if status >= 400:
        document = json.loads(body)
        assert isinstance(document.get("message"), str) or (
            isinstance(document.get("error"), dict) and "code" in document["error"]
        ), f"{status} body without an error shape for {what}: {body[:300]!r}"


def _cases() -> st.SearchStrategy[schemathesis.Case]:
    modes = list(schemathesis.GenerationMode)
    return st.one_of([op.as_strategy(generation_mode=m) for op in OPERATIONS for m in modes])


def test_schemathesis_cases_get_no_5xx_and_json_errors(
    local_stack: LocalStackHandle, fuzz_session: requests.Session
) -> None:
    """Every operation, valid and invalid data (headers, path, body), signed."""

    @settings(
        max_examples=EXAMPLES * len(OPERATIONS) * 2,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_cases(), seed=st.integers(0, 2**32 - 1))
    def run(case: schemathesis.Case, seed: int) -> None:
        _aim(case, random.Random(seed))
        try:
            response = case.call(base_url=local_stack.api_url, session=fuzz_session, timeout=30)
        except (requests.exceptions.InvalidHeader, UnicodeEncodeError, ValueError):
            STATUSES[0] += 1  # not sendable as HTTP at all (the client refused to send it)
            return
        key = (case.headers or {}).get("Idempotency-Key")
        _record(response.status_code, key if isinstance(key, str) else None)
        _assert_answer(response.status_code, response.content, case.as_curl_command())

    run()


@settings(max_examples=RAW_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(body=st.binary(max_size=2048), method=st.sampled_from(["card", "bank", "wallet"]))
def test_signed_raw_byte_bodies_get_4xx(
    local_stack: LocalStackHandle, fuzz_session: requests.Session, body: bytes, method: str
) -> None:
    """Any byte string as a body (not UTF-8, not JSON, JSON of any shape) is a 4xx."""
    key = uuid.uuid4().hex
    response = local_stack.request(
        "POST", f"/payments/{method}", body=body, headers={"Idempotency-Key": key}
    )
    _record(response.status, key)
    _assert_answer(response.status, response.body, repr(body[:80]))


MALFORMED_PARTS = st.sampled_from(
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST /v1/payments/card HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST /v1/payments/card HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"POST /v1/payments/card HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /v1/payments/pay_x HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on plain HTTP
        b"G\x00T /v1 HTTP/1.1\r\n\r\n",
        b"GET /v1/payments/" + b"9" * 9000 + b" HTTP/1.1\r\n\r\n",
        b"GET /v1/payments/pay_1 HTTP/1.1\r\n" + b"X: y\r\n" * 120 + b"\r\n",
        b"POST /v1/payments/card HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}",
    ]
)


@settings(max_examples=RAW_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))  # fmt: skip
@given(request=st.one_of(MALFORMED_PARTS, st.binary(min_size=1, max_size=512).map(
    lambda b: b + b"\r\n\r\n")))  # fmt: skip
def test_malformed_http_gets_a_json_4xx(local_stack: LocalStackHandle, request: bytes) -> None:
    """Raw bytes on the socket: a JSON 4xx, or for a request the server cannot even frame,
    at least never a 5xx or a hang (the read times out the test otherwise)."""
    port = int(local_stack.api_url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(request)
        conn.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    if not reply.startswith(b"HTTP/"):
        STATUSES[-1] += 1  # closed without an answer (e.g. a request line of only spaces)
        assert reply == b"", f"not HTTP: {reply[:200]!r}"
        return
    head, _, body = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    _record(status, None)
    assert 400 <= status < 500, f"{status} for {request[:80]!r}"
    _assert_answer(status, body, repr(request[:80]))


def test_nothing_was_stored_for_a_refused_request_and_the_daemon_is_healthy(
    local_stack: LocalStackHandle,
) -> None:
    """Runs last in this module: every stored payment and idempotency record belongs to a key
    that was answered 202; then the daemon still answers and still takes a payment. Prints and
    writes the counts."""
    from paycli.local import control  # noqa: PLC0415

    ddb = local_stack.client("dynamodb")
    accepted = KEYS_BY_STATUS.get(202, set())
    refused = set().union(*(keys for status, keys in KEYS_BY_STATUS.items() if status >= 400))
    stored: set[str] = set()
    for table in ("PaymentsTableName", "IdempotencyTableName"):
        paginator = ddb.get_paginator("scan")
        for page in paginator.paginate(TableName=local_stack.outputs[table]):
            stored.update(item["idempotency_key"]["S"] for item in page["Items"]
                          if "idempotency_key" in item)  # fmt: skip
    assert not (stored & (refused - accepted)), "a refused request left a payment or a record"
    assert control.status().running
    account = local_stack.create_account(1_000)
    ok = local_stack.pay_card(account, 100, TEST_CARDS["approved"])
    assert ok.status == 202
    local_stack.wait_for_payment(ok.json()["payment_id"], {"SUCCEEDED"})
    report = {
        "requests": sum(STATUSES.values()),
        "statuses": {str(k): v for k, v in sorted(STATUSES.items())},
        "5xx": sum(v for k, v in STATUSES.items() if k >= 500),
        "examples_per_operation_and_mode": EXAMPLES,
    }
    (local_stack.home / "fuzz-report.json").write_text(json.dumps(report, indent=2))
    print(f"\nfuzz report: {json.dumps(report)}")
    assert report["5xx"] == 0
