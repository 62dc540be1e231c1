"""The local API Gateway: route matching, the proxy event, SigV4 (AWS_IAM) and error shapes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from paycli.local.api import (
    TOKEN_HEADER,
    ControlSurface,
    Gateway,
    HttpRequest,
    RouteTable,
    match_path,
)
from paycli.local.api_http import LocalApi
from paycli.local.model import InvokeResult, Route
from paycli.local.state import LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY

HOST = "127.0.0.1:8080"
ROUTES = [
    Route("POST", "/payments/card", "v1", "Ingress", "AWS_IAM"),
    Route("POST", "/payments/bank", "v1", "Ingress", "AWS_IAM"),
    Route("GET", "/payments/{payment_id}", "v1", "Ingress", "AWS_IAM"),
    Route("GET", "/payments/summary", "v1", "Summary", "AWS_IAM"),
    Route("ANY", "/files/{path+}", "v1", "Files", "NONE"),
    Route("GET", "/open", "v1", "Open", "NONE"),
]


@dataclass
class EchoRunner:
    """A fake Lambda runner: answers with facts taken from the event it was given."""

    events: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    raw: bytes | None = None

    def invoke(self, function_name: str, payload: bytes) -> InvokeResult:
        event = json.loads(payload)
        self.events.append(event)
        if self.error or self.raw is not None:
            return InvokeResult(self.raw or b'{"errorMessage": "boom"}', self.error)
        body = {
            "function": function_name,
            "resource": event["resource"],
            "params": event["pathParameters"],
            "body": event["body"],
        }
        return InvokeResult(
            json.dumps(
                {
                    "statusCode": 202,
                    "headers": {"Content-Type": "application/json"},
                    "multiValueHeaders": {"X-Seen": ["a", "b"]},
                    "body": json.dumps(body),
                }
            ).encode()
        )


def gateway(runner: EchoRunner) -> Gateway:
    return Gateway(
        runner, LOCAL_REGION, LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, "123456789012", RouteTable(ROUTES)
    )


def signed(
    method: str,
    path: str,
    body: bytes = b"",
    *,
    secret: str = LOCAL_SECRET_KEY,
    region: str = LOCAL_REGION,
    host: str = HOST,
    when: datetime | None = None,
) -> HttpRequest:
    """A request signed by botocore exactly as the CLI signs it."""
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    signer = SigV4Auth(Credentials(LOCAL_ACCESS_KEY, secret), "execute-api", region)
    if when is None:
        signer.add_auth(request)
    else:  # sign as of another time (botocore takes "now" from this hook)
        import botocore.auth  # noqa: PLC0415

        original = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when.replace(tzinfo=None)  # type: ignore[assignment]
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.get_current_datetime = original  # type: ignore[assignment]
    headers = [("Host", host), *request.headers.items()]
    return HttpRequest(method, path, headers, body, "127.0.0.1")


def test_literal_segments_beat_parameters_and_methods_pick_their_route() -> None:
    """`/payments/summary` beats `/payments/{payment_id}`; a static POST resource binds no
    parameter; greedy paths, ANY and stages behave like API Gateway."""
    table = RouteTable(ROUTES)
    summary = table.match("GET", "v1", "/payments/summary")
    get = table.match("GET", "v1", "/payments/pay_1")
    post = table.match("POST", "v1", "/payments/card")
    files = table.match("DELETE", "v1", "/files/a/b%20c")
    assert summary is not None
    assert summary.route.function_name == "Summary"
    assert get is not None
    assert get.params == {"payment_id": "pay_1"}
    assert post is not None
    assert (post.route.path, post.params) == ("/payments/card", {})
    assert files is not None
    assert files.params == {"path": "a/b c"}
    assert table.match("GET", "v2", "/payments/pay_1") is None
    assert table.match("PUT", "v1", "/payments/card") is None
    assert table.match("GET", "v1", "/payments/a/b") is None
    assert match_path("/files/{path+}", "/files") is None


def test_signed_request_becomes_a_rest_proxy_event() -> None:
    """A signed POST reaches the handler as a REST proxy event, and its reply is the response."""
    runner = EchoRunner()
    body = b'{"amount_minor": 1250}'
    response = gateway(runner).handle(signed("POST", "/v1/payments/card?x=1&x=2", body))

    assert response.status == 202
    assert json.loads(response.body) == {
        "function": "Ingress",
        "resource": "/payments/card",
        "params": None,
        "body": body.decode(),
    }
    assert ("X-Seen", "a") in response.headers
    assert ("X-Seen", "b") in response.headers
    (event,) = runner.events
    assert event["path"] == "/payments/card"
    assert event["httpMethod"] == "POST"
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"x": "2"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["headers"]["Content-Type"] == "application/json"
    assert event["multiValueHeaders"]["Host"] == [HOST]
    context = event["requestContext"]
    assert context["stage"] == "v1"
    assert context["path"] == "/v1/payments/card"
    assert context["resourcePath"] == "/payments/card"
    assert context["httpMethod"] == "POST"
    assert context["domainName"] == HOST
    assert context["requestId"]
    assert context["identity"]["accessKey"] == LOCAL_ACCESS_KEY
    assert context["identity"]["sourceIp"] == "127.0.0.1"


def test_binary_body_is_base64_encoded() -> None:
    runner = EchoRunner()
    gateway(runner).handle(
        HttpRequest("POST", "/v1/files/x", [("Host", HOST)], b"\xff\x00", "127.0.0.1")
    )
    assert runner.events[0]["isBase64Encoded"] is True
    assert runner.events[0]["body"] == "/wA="


def _message(response: Any) -> str:
    return str(json.loads(response.body)["message"])


@pytest.mark.parametrize(
    ("request_factory", "message"),
    [
        (
            lambda: HttpRequest("GET", "/v1/payments/p", [("Host", HOST)], b"", "127.0.0.1"),
            "Missing Authentication Token",
        ),
        (lambda: signed("GET", "/v1/payments/p", secret="wrong"), "does not match"),
        (lambda: signed("GET", "/v1/payments/p", region="eu-west-1"), "scoped to a valid region"),
        (
            lambda: signed("GET", "/v1/payments/p", when=datetime.now(UTC) - timedelta(minutes=20)),
            "Signature expired",
        ),
    ],
    ids=["unsigned", "wrong-secret", "wrong-region", "expired"],
)
def test_aws_iam_routes_reject_bad_signatures_with_403(request_factory: Any, message: str) -> None:
    """AWS_IAM: missing, wrong, mis-scoped or stale signatures get API Gateway's 403; the
    handler never runs."""
    runner = EchoRunner()
    response = gateway(runner).handle(request_factory())
    assert response.status == 403
    assert message in _message(response)
    assert runner.events == []


@pytest.mark.parametrize("part", ["body", "path", "query", "header"])
def test_changing_any_signed_part_breaks_the_signature(part: str) -> None:
    """The signature covers the body, path, query and signed headers: alter one, get 403."""
    good = signed("POST", "/v1/payments/card?a=1", b'{"amount_minor": 1}')
    changes: dict[str, dict[str, Any]] = {
        "body": {"body": b'{"amount_minor": 9}'},
        "path": {"raw_path": "/v1/payments/bank?a=1"},
        "query": {"raw_path": "/v1/payments/card?a=2"},
        "header": {
            "headers": [(k, "text/plain" if k == "Content-Type" else v) for k, v in good.headers]
        },
    }
    fields = {
        "method": good.method,
        "raw_path": good.raw_path,
        "headers": good.headers,
        "body": good.body,
        "source_ip": good.source_ip,
        **changes[part],
    }
    runner = EchoRunner()
    assert gateway(runner).handle(good).status == 202
    response = gateway(runner).handle(HttpRequest(**fields))
    assert response.status == 403
    assert len(runner.events) == 1


def test_unknown_resource_or_method_is_api_gateway_s_403_and_handler_errors_are_502() -> None:
    """A REST API with AWS_IAM answers a resource it lacks, or a method a resource lacks
    (POST /payments/crypto: only GET /payments/{payment_id} fits that path), with 403
    "Missing Authentication Token", signed or not; the handler is never invoked."""
    runner = EchoRunner()
    for request in (
        signed("GET", "/v1/nothing"),
        signed("POST", "/v1/payments/crypto", b"{}"),
        HttpRequest("POST", "/v1/payments/crypto", [("Host", HOST)], b"{}", "127.0.0.1"),
    ):
        missing = gateway(runner).handle(request)
        assert missing.status == 403
        assert _message(missing) == "Missing Authentication Token"
        assert ("x-amzn-ErrorType", "MissingAuthenticationTokenException") in missing.headers
    assert runner.events == []

    runner.error = "Unhandled"
    failed = gateway(runner).handle(signed("GET", "/v1/payments/p"))
    assert failed.status == 502
    assert _message(failed) == "Internal server error"

    runner.error, runner.raw = None, b'{"no": "statusCode"}'
    malformed = gateway(runner).handle(signed("GET", "/v1/payments/p"))
    assert malformed.status == 502


def test_routes_without_auth_need_no_signature() -> None:
    runner = EchoRunner()
    response = gateway(runner).handle(
        HttpRequest("GET", "/v1/open", [("Host", HOST)], b"", "127.0.0.1")
    )
    assert response.status == 202
    assert runner.events[0]["requestContext"]["identity"]["accessKey"] is None


@dataclass
class FakeControl:
    calls: list[str] = field(default_factory=list)

    def health(self) -> dict[str, Any]:
        self.calls.append("health")
        return {"ok": True}

    def deploy(self, template_path: str) -> dict[str, str]:
        from paycli.core.errors import ConfigError  # noqa: PLC0415

        raise ConfigError(f"cannot deploy {template_path}", hint="fix it")

    def logs(self, function: str | None, payment_id: str | None) -> list[dict[str, Any]]:
        return [{"function": function, "payment_id": payment_id}]

    def faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        return spec

    def shutdown(self) -> None:
        self.calls.append("shutdown")


def _call(
    url: str, *, method: str = "GET", token: str | None = None, body: bytes | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)  # noqa: S310 - http only
    if token is not None:
        request.add_header(TOKEN_HEADER, token)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local test
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_server_serves_signed_routes_and_a_token_guarded_control_surface() -> None:
    """Over a real socket: a signed request is answered by the handler; control calls need the
    token; a control error comes back as JSON with its type, hint and exit code."""
    control = FakeControl()
    api = LocalApi(gateway(EchoRunner()), ControlSurface(control, token="s3cret"))
    api.start()
    try:
        base = api.base_url
        good = signed("GET", "/v1/payments/pay_9", host=f"127.0.0.1:{api.port}")
        request = urllib.request.Request(base + good.raw_path, method="GET")  # noqa: S310
        for name, value in good.headers:
            if name.lower() != "host":
                request.add_header(name, value)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - local test
            assert response.status == 202
            assert json.loads(response.read())["params"] == {"payment_id": "pay_9"}

        assert _call(f"{base}/v1/payments/pay_9")[0] == 403
        assert _call(f"{base}/_paycli/health")[0] == 403
        assert _call(f"{base}/_paycli/health", token="wrong")[0] == 403
        assert _call(f"{base}/_paycli/health", token="s3cret") == (200, {"ok": True})
        assert _call(f"{base}/_paycli/logs?function=F&payment_id=P", token="s3cret") == (
            200,
            [{"function": "F", "payment_id": "P"}],
        )
        status, error = _call(
            f"{base}/_paycli/deploy",
            method="POST",
            token="s3cret",
            body=b'{"template_path": "/x.yaml"}',
        )
        assert status == 400
        assert error["error"] == {
            "type": "ConfigError",
            "message": "cannot deploy /x.yaml",
            "hint": "fix it",
            "exit_code": 5,
        }
        assert _call(f"{base}/_paycli/nope", token="s3cret")[0] == 404
    finally:
        api.stop()
    assert control.calls == ["health"]


def test_control_surface_without_a_token_refuses_everything() -> None:
    """An empty token (none configured) must never match an empty or missing header."""
    surface = ControlSurface(FakeControl(), token="")
    for headers in ([], [(TOKEN_HEADER, "")]):
        request = HttpRequest("GET", "/_paycli/health", headers, b"", "127.0.0.1")
        assert surface.handle(request).status == 403


def test_control_calls_from_another_address_are_refused() -> None:
    surface = ControlSurface(FakeControl(), token="s3cret")
    request = HttpRequest("GET", "/_paycli/health", [(TOKEN_HEADER, "s3cret")], b"", "10.0.0.7")
    assert surface.handle(request).status == 403
