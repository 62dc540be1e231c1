"""The local API against malformed HTTP and odd signatures (issue 9 defects 3, 6, 7): every
refusal is at once, 4xx, in API Gateway's JSON shape; the daemon keeps serving afterwards."""

from __future__ import annotations

import json
import socket
import stat
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import botocore.auth
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from paycli.local import sigv4
from paycli.local.api import Gateway, HttpRequest, RouteTable
from paycli.local.api_http import LocalApi
from paycli.local.logstore import LogStore
from paycli.local.model import InvokeResult, Route
from paycli.local.state import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY

ROUTES = [Route("GET", "/payments/{payment_id}", "v1", "Ingress", "AWS_IAM")]


class Echo:
    """A fake Lambda runner that answers 200 with the path parameters it saw."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        self.calls += 1
        event = json.loads(payload)
        body = json.dumps(event["pathParameters"])
        return InvokeResult(json.dumps({"statusCode": 200, "body": body}).encode())


@pytest.fixture
def api() -> Iterator[tuple[LocalApi, Echo]]:
    echo = Echo()
    gateway = Gateway(
        echo, LOCAL_REGION, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, "123456789012", RouteTable(ROUTES)
    )
    server = LocalApi(gateway)
    server.start()
    try:
        yield server, echo
    finally:
        server.stop()


def raw_exchange(port: int, data: bytes, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send raw bytes and read one response (status line, headers, Content-Length bytes);
    (status, body). A dropped connection with no answer fails the test."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        reply = b""
        while b"\r\n\r\n" not in reply and (chunk := conn.recv(65536)):
            reply += chunk
        assert reply, f"no response to {data[:60]!r}"
        head, _, body = reply.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(int(v) for k, _, v in (ln.partition(b":") for ln in lines[1:])
                      if k.strip().lower() == b"content-length")  # fmt: skip
        while len(body) < length and (chunk := conn.recv(65536)):
            body += chunk
    return int(lines[0].split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    "length",
    ["abc", "-5", "-1", "+5", "1e3", "5, 6", " ", "99999999999999999999999999"],
)
def test_a_bad_content_length_is_400_at_once(api: tuple[LocalApi, Echo], length: str) -> None:
    """`abc` and `-5` crashed the handler thread (no response), `-1` made it wait until the
    client gave up: each is now a 400 in API Gateway's shape, and the server still serves."""
    server, echo = api
    request = (
        f"POST /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
        "Connection: close\r\n\r\n{}"
    ).encode()
    status, body = raw_exchange(server.port, request)
    assert status == 400
    assert json.loads(body) == {"message": "Bad Request"}
    assert echo.calls == 0
    assert raw_exchange(server.port, b"GET /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\n"
                        b"Connection: close\r\n\r\n")[0] == 403  # fmt: skip


def test_a_huge_content_length_is_413_at_once(api: tuple[LocalApi, Echo]) -> None:
    server, _ = api
    request = b"POST /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n"
    status, body = raw_exchange(server.port, request)
    assert status == 413
    assert "message" in json.loads(body)


def test_conflicting_content_lengths_are_400(api: tuple[LocalApi, Echo]) -> None:
    server, _ = api
    request = (
        b"POST /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
        b"Content-Length: 3\r\n\r\n{}"
    )
    assert raw_exchange(server.port, request)[0] == 400


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /v1/payments/pay_1 HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /v1/payments/pay_1 HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"FOO /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
    ],
    ids=["no-version", "http-9.9", "bad-header", "unknown-method", "long-line", "binary"],
)
def test_malformed_http_gets_a_json_4xx(api: tuple[LocalApi, Echo], data: bytes) -> None:
    """The stdlib's own refusals (HTML pages, 501 and 505) become 4xx JSON."""
    server, echo = api
    status, body = raw_exchange(server.port, data)
    assert 400 <= status < 500
    assert isinstance(json.loads(body)["message"], str)
    assert echo.calls == 0


def test_a_body_shorter_than_announced_is_refused_without_waiting_for_ever(
    api: tuple[LocalApi, Echo], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client announces 100 bytes, sends 2 and waits: 400 once the read gives up, with
    the connection still open on the client's side (not a hang until the client leaves)."""
    monkeypatch.setattr("paycli.local.api_http.BODY_READ_TIMEOUT", 0.2)
    server, echo = api
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(
            b"POST /v1/payments/pay_1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{}"
        )
        reply = conn.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400")
    assert echo.calls == 0


# ----------------------------------------------------------------------------- signatures


def _headers_request(method: str, url: str, extra: dict[str, str]) -> HttpRequest:
    aws = AWSRequest(method=method, url=url, data=b"", headers=extra)
    SigV4Auth(
        Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY), "execute-api", LOCAL_REGION
    ).add_auth(aws)
    path = url.split("127.0.0.1:8080", 1)[1]
    return HttpRequest(method, path, [("Host", "127.0.0.1:8080"), *aws.headers.items()], b"", "x")


def _verify(request: HttpRequest) -> str:
    return sigv4.verify(
        request.method,
        request.raw_path,
        request.headers,
        request.body,
        access_key=LOCAL_ACCESS_KEY,
        secret_key=LOCAL_SECRET_KEY,
        region=LOCAL_REGION,
    )


def test_a_signed_but_bogus_security_token_is_refused_as_api_gateway_does() -> None:
    """The local keys have no session: a token (even one covered by the signature) is one STS
    never issued; API Gateway answers 403 "The security token included in the request is
    invalid." (it was accepted)."""
    request = _headers_request(
        "GET", "http://127.0.0.1:8080/v1/payments/pay_1", {"X-Amz-Security-Token": "bogus"}
    )
    with pytest.raises(sigv4.SignatureError) as raised:
        _verify(request)
    assert raised.value.message == "The security token included in the request is invalid."


def _presigned(url: str, *, expires: int = 60, token: str | None = None) -> HttpRequest:
    aws = AWSRequest(method="GET", url=url, headers={"Host": "127.0.0.1:8080"})
    credentials = Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, token)
    SigV4QueryAuth(credentials, "execute-api", LOCAL_REGION, expires=expires).add_auth(aws)
    path = aws.url.split("127.0.0.1:8080", 1)[1]
    return HttpRequest("GET", path, [("Host", "127.0.0.1:8080")], b"", "x")


def test_a_presigned_url_is_accepted_and_a_tampered_one_refused() -> None:
    """Query-string SigV4 (a presigned URL, as botocore's SigV4QueryAuth makes it) passes,
    as on API Gateway; changing any query parameter breaks it; a session token in the query is
    refused like one in a header."""
    request = _presigned("http://127.0.0.1:8080/v1/payments/pay_1?view=full")
    assert _verify(request) == LOCAL_ACCESS_KEY
    tampered = HttpRequest("GET", request.raw_path.replace("view=full", "view=less"),
                           request.headers, b"", "x")  # fmt: skip
    with pytest.raises(sigv4.SignatureError, match="signature we calculated"):
        _verify(tampered)
    with pytest.raises(sigv4.SignatureError, match="security token"):
        _verify(_presigned("http://127.0.0.1:8080/v1/payments/pay_1", token="bogus"))


def test_an_expired_presigned_url_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    past = datetime.now(UTC) - timedelta(minutes=30)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past.replace(tzinfo=None))
    request = _presigned("http://127.0.0.1:8080/v1/payments/pay_1", expires=60)
    monkeypatch.undo()
    with pytest.raises(sigv4.SignatureError, match="expired"):
        _verify(request)


def test_a_presigned_url_works_over_http(api: tuple[LocalApi, Echo]) -> None:
    server, echo = api
    host = f"127.0.0.1:{server.port}"
    aws = AWSRequest(method="GET", url=f"http://{host}/v1/payments/pay_7")
    creds = Credentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY)
    SigV4QueryAuth(creds, "execute-api", LOCAL_REGION, expires=60).add_auth(aws)
    with urllib.request.urlopen(aws.url, timeout=5) as reply:  # noqa: S310 - local
        assert json.loads(reply.read()) == {"payment_id": "pay_7"}
    assert echo.calls == 1


# ----------------------------------------------------------------------------- log file


def test_the_handler_log_file_is_created_owner_only(tmp_path: Path) -> None:
    """Handler logs are the payments' history: 0600 like state.json (it was 0644)."""
    store = LogStore(tmp_path)
    store.append({"message": "hello"})
    assert store.path is not None
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
