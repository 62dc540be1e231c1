"""The local API's HTTP/1.1 server: bytes on a socket become an `HttpRequest`, an `HttpResponse`
goes back.

Everything about what a request means (routes, signatures, models, the control calls) is in
`paycli.local.api`; this module only frames requests, as a front end must: it refuses a body it
cannot frame (chunked, a Content-Length that is not one plain number, more than API Gateway's
10 MiB, fewer bytes than announced within BODY_READ_TIMEOUT) and answers the stdlib's own
refusals in API Gateway's JSON shape instead of an HTML page.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

__all__ = ["HttpRequest", "HttpResponse", "LocalApi", "gateway_error"]

# Not under "paycli": the handlers' Powertools Logger() is named after the service
# ("paycli") and would capture and reformat these records as if a handler wrote them.
log = logging.getLogger("paycli-local.api")

CONTROL_PREFIX = "/_paycli/"
#: API Gateway's payload limit.
MAX_BODY_BYTES = 10 * 1024 * 1024
#: How long a request's announced body may take to arrive before the request is refused.
BODY_READ_TIMEOUT = 10.0


@dataclass(frozen=True)
class HttpRequest:
    """A received request, raw enough to verify a signature and build a proxy event."""

    method: str
    raw_path: str  # path and query as received
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def path(self) -> str:
        return urlsplit(self.raw_path).path

    @property
    def query(self) -> list[tuple[str, str]]:
        return parse_qsl(urlsplit(self.raw_path).query, keep_blank_values=True)

    def header(self, name: str) -> str | None:
        """The last value of a header, case-insensitively."""
        found = [v for k, v in self.headers if k.lower() == name.lower()]
        return found[-1] if found else None


@dataclass(frozen=True)
class HttpResponse:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def gateway_error(
    status: int, message: str, request_id: str, kind: str | None = None
) -> HttpResponse:
    """An answer in API Gateway's own shape (`{"message": ...}`, x-amzn-ErrorType)."""
    kinds = {
        400: "BadRequestException",
        403: "AccessDeniedException",
        404: "NotFoundException",
        413: "RequestTooLarge",
        502: "InternalServerErrorException",
    }
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", kind or kinds.get(status, "Exception")),
    ]
    return HttpResponse(status, headers, json.dumps({"message": message}).encode())


class Handles(Protocol):
    """What answers a request: the gateway, or the daemon's control surface."""

    def handle(self, request: HttpRequest) -> HttpResponse: ...


class RoutedHandles(Handles, Protocol):
    """The gateway: it answers requests and takes a deployment's routes."""

    def set_routes(self, routes: Iterable[Any]) -> None: ...


def _content_length(values: list[str]) -> int | None:
    """The body length from Content-Length header(s): 0 when absent, None when it cannot be
    trusted (not a plain decimal number, or repeated with different values), as a front end
    that must frame the next request refuses it."""
    if not values:
        return 0
    distinct = {value.strip() for value in values}
    if len(distinct) != 1:
        return None
    text = distinct.pop()
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        return None
    return int(text)


class _Handler(BaseHTTPRequestHandler):
    """Turns the socket into HttpRequest/HttpResponse; keep-alive for throughput."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def _dispatch(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._send(gateway_error(411, "Length Required", str(uuid.uuid4())))
            self.close_connection = True
            return
        length = _content_length(self.headers.get_all("Content-Length") or [])
        if length is None or length > MAX_BODY_BYTES:
            # The body's end is unknown (or too far): answer at once and close, since the
            # rest of the stream cannot be framed.
            status, message = (400, "Bad Request") if length is None else (413, "Request Too Long")
            self._send(gateway_error(status, message, str(uuid.uuid4())))
            self.close_connection = True
            return
        body = self._read_body(length)
        if body is None:
            return
        request = HttpRequest(
            method=self.command,
            raw_path=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        started = time.perf_counter()
        if request.path.startswith(CONTROL_PREFIX) and self.server.control is not None:
            response = self.server.control.handle(request)
        else:
            response = self.server.gateway.handle(request)
        log.debug(
            "%s %s -> %d in %.1f ms",
            request.method,
            request.path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        self._send(response)

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None (answered 400, connection closed) when the client sends fewer
        bytes than it announced within BODY_READ_TIMEOUT: no thread waits on it for ever."""
        if not length:
            return b""
        self.connection.settimeout(BODY_READ_TIMEOUT)
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            body = b""
        finally:
            self.connection.settimeout(None)
        if len(body) == length:
            return body
        self._send(gateway_error(400, "Bad Request", str(uuid.uuid4())))
        self.close_connection = True
        return None

    def _send(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    # BaseHTTPRequestHandler looks methods up by these stdlib names.
    do_GET = do_POST = do_PUT = do_DELETE = _dispatch  # noqa: N815
    do_PATCH = do_HEAD = do_OPTIONS = _dispatch  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        """Any other method token (`FOO`) is routed too, and finds no route (404), instead
        of the stdlib's 501 page."""
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The stdlib's own refusals (a malformed request line or header, an unsupported HTTP
        version, a line too long) in API Gateway's JSON shape instead of an HTML page, and as
        the client's error (4xx): nothing reached a handler."""
        status = code if 400 <= code < 500 else 400
        text = message or self.responses.get(status, ("Bad Request",))[0]
        if not self.request_version.startswith("HTTP/1."):
            self.request_version = "HTTP/1.1"  # else the stdlib writes no status line at all
        self.close_connection = True
        self._send(gateway_error(status, text, str(uuid.uuid4())))

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default backlog of 5 refuses bursts of clients
    gateway: Handles
    control: Handles | None


class LocalApi:
    """The HTTP server: `start()` binds 127.0.0.1 (port 0: a free one), `stop()` closes it."""

    def __init__(
        self,
        gateway: RoutedHandles,
        control: Handles | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.gateway = gateway
        self._server = _Server((host, port), _Handler)
        self._server.gateway = gateway
        self._server.control = control
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_routes(self, routes: Iterable[Any]) -> None:
        """Swap in a deployment's routes (one assignment: requests see old or new, whole)."""
        self.gateway.set_routes(routes)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="paycli-local-api", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
