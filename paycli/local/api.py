"""The local API Gateway: a REST API's routes served on 127.0.0.1, plus the daemon's control calls.

A request to `/{stage}/{path}` is matched against the deployment's routes (from the template's
`Api` events), checked with SigV4 when the route says `AWS_IAM` (as API Gateway does), turned
into a REST *proxy* integration event (the v1 payload format) and handed to the Lambda runner;
the handler's `{statusCode, headers, body}` becomes the HTTP response. API Gateway's own
answers keep its shape: `{"message": ...}` with 403 (signature; or no such resource or
method: "Missing Authentication Token"), 502 (the handler raised or returned a malformed
response).

Paths under `/_paycli/` are the daemon's control surface (deploy, health, logs, faults,
shutdown): only from 127.0.0.1 and only with the per-start token from state.json, so neither
another user's process nor a web page in a browser (which cannot add the header) can drive it.

`paycli.local.api_http` is the socket side: it frames requests and hands each to `Gateway` or
`ControlSurface`, which are plain objects that tests call without a socket.
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from jsonschema import Draft4Validator

from paycli.local import sigv4
from paycli.local.api_http import (
    CONTROL_PREFIX,
    HttpRequest,
    HttpResponse,
    gateway_error,
)
from paycli.local.state import TOKEN_HEADER

__all__ = ["TOKEN_HEADER", "ControlSurface", "Gateway", "HttpRequest", "RouteTable"]

# Not under "paycli": the handlers' Powertools Logger() is named after the service
# ("paycli") and would capture and reformat these records as if a handler wrote them.
log = logging.getLogger("paycli-local.api")


class RouteLike(Protocol):
    """What the API needs of a route (paycli.local.model.Route has these fields)."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def function_name(self) -> str: ...
    @property
    def authorization(self) -> str: ...
    @property
    def request_model(self) -> Mapping[str, Any] | None: ...


class InvokeResultLike(Protocol):
    """The runner's answer: the response payload, and the error type when the handler raised."""

    @property
    def payload(self) -> bytes: ...
    @property
    def function_error(self) -> str | None: ...


class Invoker(Protocol):
    """Invokes a function by name with a JSON payload (paycli.local.runner.LambdaRunner)."""

    def invoke(self, function_name: str, payload: bytes) -> InvokeResultLike: ...


class Control(Protocol):
    """The daemon operations the control surface exposes."""

    def health(self) -> dict[str, Any]: ...
    def deploy(self, template_path: str) -> dict[str, str]: ...
    def logs(self, function: str | None, payment_id: str | None) -> list[dict[str, Any]]: ...
    def faults(self, spec: dict[str, Any]) -> dict[str, Any]: ...
    def shutdown(self) -> None: ...


# ----------------------------------------------------------------------------- routing


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _segment_rank(template: str) -> int:
    """0 for a literal segment, 1 for `{param}`, 2 for greedy `{param+}`: lower wins."""
    if template.startswith("{") and template.endswith("+}"):
        return 2
    return 1 if template.startswith("{") and template.endswith("}") else 0


def match_path(template: str, path: str) -> dict[str, str] | None:
    """Path parameters when `path` fits `template` (`/payments/{id}`, `/{proxy+}`), else None."""
    wanted, actual = _segments(template), _segments(path)
    params: dict[str, str] = {}
    for index, segment in enumerate(wanted):
        rank = _segment_rank(segment)
        if rank == 2:
            rest = actual[index:]
            if not rest:
                return None
            params[segment[1:-2]] = unquote("/".join(rest))
            return params
        if index >= len(actual):
            return None
        if rank == 1:
            params[segment[1:-1]] = unquote(actual[index])
        elif segment != actual[index]:
            return None
    return params if len(wanted) == len(actual) else None


@dataclass(frozen=True)
class RouteMatch:
    """The route chosen for a request and the path parameters it bound."""

    route: RouteLike
    params: dict[str, str]


class RouteTable:
    """The deployment's routes; picks the most specific one, as API Gateway does."""

    def __init__(self, routes: Iterable[RouteLike] = ()) -> None:
        self.routes = list(routes)

    def match(self, method: str, stage: str, path: str) -> RouteMatch | None:
        """Literal segments beat `{param}` beats `{param+}`; an exact method beats ANY."""
        best: tuple[tuple[int, ...], int, RouteMatch] | None = None
        for route in self.routes:
            route_method = route.method.upper()
            if route.stage != stage or route_method not in (method.upper(), "ANY"):
                continue
            params = match_path(route.path, path)
            if params is None:
                continue
            key = (
                tuple(_segment_rank(s) for s in _segments(route.path)),
                int(route_method == "ANY"),
            )
            if best is None or key < best[:2]:
                best = (key[0], key[1], RouteMatch(route, params))
        return best[2] if best else None


# ----------------------------------------------------------------------------- events


def _multi(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]] | None:
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    return grouped or None


def _single(pairs: Sequence[tuple[str, str]]) -> dict[str, str] | None:
    return dict(pairs) or None


def _body_field(body: bytes) -> tuple[str | None, bool]:
    """API Gateway passes text bodies as is and anything else base64-encoded."""
    if not body:
        return None, False
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def _identity(request: HttpRequest, access_key: str | None, account_id: str) -> dict[str, Any]:
    user = access_key and f"arn:aws:iam::{account_id}:user/{access_key}"
    return {
        "cognitoIdentityPoolId": None,
        "cognitoIdentityId": None,
        "principalOrgId": None,
        "cognitoAuthenticationType": None,
        "cognitoAuthenticationProvider": None,
        "accountId": account_id if access_key else None,
        "caller": access_key,
        "accessKey": access_key,
        "user": access_key,
        "userArn": user,
        "sourceIp": request.source_ip,
        "userAgent": request.header("User-Agent"),
    }


def build_proxy_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    request_id: str,
    account_id: str,
    api_id: str = "local",
    access_key: str | None = None,
) -> dict[str, Any]:
    """The REST API Lambda proxy integration event (payload format 1.0) for a request."""
    route, stage = match.route, match.route.stage
    path = "/" + "/".join(_segments(request.path)[1:])  # without the stage
    body, is_base64 = _body_field(request.body)
    host = request.header("Host") or "127.0.0.1"
    epoch_ms = int(request.received_at.timestamp() * 1000)
    context = {
        "resourceId": route.path,
        "resourcePath": route.path,
        "httpMethod": request.method,
        "extendedRequestId": request_id,
        "requestId": request_id,
        "requestTime": request.received_at.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": epoch_ms,
        "path": f"/{stage}{path}",
        "accountId": account_id,
        "protocol": "HTTP/1.1",
        "stage": stage,
        "domainPrefix": host.split(".")[0],
        "domainName": host,
        "apiId": api_id,
        "identity": _identity(request, access_key, account_id),
    }
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": request.method,
        "headers": _single(request.headers),
        "multiValueHeaders": _multi(request.headers),
        "queryStringParameters": _single(request.query),
        "multiValueQueryStringParameters": _multi(request.query),
        "pathParameters": match.params or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def proxy_response(payload: bytes, request_id: str) -> HttpResponse:
    """The handler's proxy result as HTTP; a malformed result is API Gateway's 502."""
    try:
        result = json.loads(payload or b"null")
        status = int(result["statusCode"])
    except (ValueError, TypeError, KeyError):
        log.warning("malformed Lambda proxy response: %.200r", payload)
        return gateway_error(502, "Internal server error", request_id)
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers += [(str(key), str(v)) for v in values]
    headers.append(("x-amzn-RequestId", request_id))
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return HttpResponse(status, headers, raw)


# ----------------------------------------------------------------------------- validation

#: API Gateway's answer when a body does not fit the method's request model.
INVALID_BODY = "Invalid request body"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@functools.lru_cache(maxsize=64)
def _validator(schema_text: str) -> Draft4Validator:
    return Draft4Validator(json.loads(schema_text))


def body_fits_model(body: bytes, model: Mapping[str, Any]) -> bool:
    """True when `body` is UTF-8 JSON that validates against `model` (JSON Schema draft 4, as
    API Gateway's models are). NaN and Infinity are not JSON; a nesting too deep to parse is
    a body that does not fit."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return False
    try:
        return bool(_validator(json.dumps(model, sort_keys=True)).is_valid(document))
    except RecursionError:
        return False


# ----------------------------------------------------------------------------- the gateway


@dataclass
class Gateway:
    """Routes, signature checks and invocation: everything but the socket, so tests call it."""

    invoker: Invoker
    region: str
    access_key: str
    secret_key: str
    account_id: str
    routes: RouteTable = field(default_factory=RouteTable)

    def set_routes(self, routes: Iterable[RouteLike]) -> None:
        """Swap in a deployment's routes (one assignment: requests see old or new, whole)."""
        self.routes = RouteTable(routes)

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Answer one API request (not a control call)."""
        request_id = str(uuid.uuid4())
        segments = _segments(request.path)
        stage, path = (segments[0], "/" + "/".join(segments[1:])) if segments else ("", "/")
        match = self.routes.match(request.method, stage, path)
        if match is None:
            # A REST API answers a resource or method it does not have (POST /payments/crypto)
            # with 403 Missing Authentication Token, signed request or not.
            return gateway_error(
                403, sigv4.MISSING_TOKEN, request_id, "MissingAuthenticationTokenException"
            )
        access_key = None
        if match.route.authorization.upper() == "AWS_IAM":
            try:
                access_key = sigv4.verify(
                    request.method,
                    request.raw_path,
                    request.headers,
                    request.body,
                    access_key=self.access_key,
                    secret_key=self.secret_key,
                    region=self.region,
                )
            except sigv4.SignatureError as exc:
                return gateway_error(403, exc.message, request_id)
        model = match.route.request_model
        if model is not None and not body_fits_model(request.body, model):
            # API Gateway's request validator: after authorization, before the integration.
            return gateway_error(400, INVALID_BODY, request_id)
        event = build_proxy_event(
            request, match, request_id=request_id, account_id=self.account_id, access_key=access_key
        )
        return self._invoke(match.route.function_name, event, request_id)

    def _invoke(self, function_name: str, event: dict[str, Any], request_id: str) -> HttpResponse:
        try:
            result = self.invoker.invoke(function_name, json.dumps(event).encode())
        except Exception:  # the runner itself failed: API Gateway would say 502 too
            log.exception("invoking %s failed", function_name)
            return gateway_error(502, "Internal server error", request_id)
        if result.function_error:
            log.warning(
                "%s raised (%s): %.500r", function_name, result.function_error, result.payload
            )
            return gateway_error(502, "Internal server error", request_id)
        return proxy_response(result.payload, request_id)


def _json_response(status: int, data: Any) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], json.dumps(data).encode())


def control_error(exc: Exception) -> HttpResponse:
    """A failed control call as JSON the CLI turns back into the same PaycliError."""
    from paycli.core.errors import PaycliError  # noqa: PLC0415 - keeps this module light

    if isinstance(exc, PaycliError):
        error = {
            "type": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
            "exit_code": int(exc.exit_code),
        }
        return _json_response(400, {"error": error})
    log.exception("control call failed")
    return _json_response(
        500,
        {"error": {"type": type(exc).__name__, "message": str(exc), "hint": None, "exit_code": 1}},
    )


@dataclass
class ControlSurface:
    """`/_paycli/*`: token-checked calls into the daemon."""

    control: Control
    token: str

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Dispatch one control call (health, deploy, logs, faults, shutdown)."""
        if request.source_ip != "127.0.0.1":
            return _json_response(403, {"error": {"message": "control calls are local only"}})
        given = request.header(TOKEN_HEADER) or ""
        if not self.token or not hmac.compare_digest(given.encode(), self.token.encode()):
            return _json_response(403, {"error": {"message": "missing or wrong control token"}})
        action = request.path[len(CONTROL_PREFIX) :].strip("/")
        handler = self._handlers().get((request.method, action))
        if handler is None:
            return _json_response(404, {"error": {"message": f"no control call {action!r}"}})
        try:
            return _json_response(200, handler(request))
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the CLI as JSON
            return control_error(exc)

    def _handlers(self) -> dict[tuple[str, str], Callable[[HttpRequest], Any]]:
        def body(request: HttpRequest) -> dict[str, Any]:
            data = json.loads(request.body or b"{}")
            return data if isinstance(data, dict) else {}

        def logs(request: HttpRequest) -> Any:
            query = dict(request.query)
            return self.control.logs(query.get("function"), query.get("payment_id"))

        def shutdown(_: HttpRequest) -> Any:
            self.control.shutdown()
            return {"stopping": True}

        return {
            ("GET", "health"): lambda _: self.control.health(),
            ("POST", "deploy"): lambda r: self.control.deploy(str(body(r)["template_path"])),
            ("GET", "logs"): logs,
            ("POST", "faults"): lambda r: self.control.faults(body(r)),
            ("POST", "shutdown"): shutdown,
        }
