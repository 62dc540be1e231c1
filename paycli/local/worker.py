"""A Lambda execution environment as a process: `python -m paycli.local.worker FD PARENT_PID`.

The daemon (paycli/local/workers.py) starts one per sandbox of a function. The process has its
own module state, like a Lambda sandbox: the handler module is imported once (on the first
invocation, the cold start) under the function's environment, which is this process's whole
environment. It talks to the daemon over the socket FD, one message at a time:

    daemon -> worker   ("init", FunctionSpec, region, route) once (route: the DynamoDB
                                                        process's, or None)
                       ("invoke", request_id, payload)      then per invocation
                       ("aws_reply", status, headers, body) the answer to an "aws" message
    worker -> daemon   ("ready", pid)
                       ("log", stream, line)                a line the handler wrote
                       ("aws", method, url, headers, body)  a boto3 call, answered in the daemon
                       ("result", body, error_or_None)      the invocation's end

The handler's boto3 clients are real botocore clients: a `before-send` hook (as moto's
mock_aws installs one) ships each prepared request to the daemon, which answers it from its
moto backends in process (no HTTP server on the way). The worker dies with the daemon: the
kernel sends SIGKILL when the daemon's spawner thread exits (PR_SET_PDEATHSIG), and EOF on the
socket ends it too.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import signal
import sys
import time
from io import BytesIO
from multiprocessing.connection import Connection
from typing import Any

from paycli.local.dynamodb_process import DirectClient, is_dynamodb_url, request_parts
from paycli.local.invocation import (
    Handler,
    error_payload,
    lambda_context,
    load_handler,
)
from paycli.local.model import FunctionSpec
from paycli.local.sandbox_io import LineBuffer

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when the daemon's spawner thread ends (Linux); if the daemon is
    already gone (the race before prctl), exit now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(0)


class _RawBody(BytesIO):
    """What botocore reads a response body from (moto's MockRawResponse, without moto)."""

    def stream(self, **_kwargs: Any) -> Any:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


class Channel:
    """The worker's end of the socket: log lines out, AWS calls out and their answers in.
    With `dynamodb` (the DynamoDB process's client), DynamoDB calls go there directly."""

    def __init__(self, conn: Connection, dynamodb: DirectClient | None = None) -> None:
        self.conn = conn
        self.dynamodb = dynamodb

    def log(self, line: str, stream: str) -> None:
        self.conn.send(("log", stream, line))

    def before_send(self, request: Any, **_kwargs: Any) -> Any:
        """botocore's before-send hook: the daemon answers; botocore parses the answer."""
        from botocore.awsrequest import AWSResponse  # noqa: PLC0415 - botocore loads lazily

        method, url, headers, body = request_parts(request)
        if "Authorization" not in request.headers:
            headers += _credential_scope(url)
        reply_headers: Any
        if self.dynamodb is not None and is_dynamodb_url(url):
            status, reply_headers, reply_body = self.dynamodb.forward((method, url, headers, body))
        else:
            self.conn.send(("aws", method, url, headers, body))
            _, status, reply_headers, reply_body = self.conn.recv()
        return AWSResponse(url, status, reply_headers, _RawBody(reply_body))


def _unsigned(**_kwargs: Any) -> Any:
    """botocore's choose-signer hook: no SigV4 here. Every request goes to the daemon, whose
    in-process dispatch (like mock_aws's) checks no signature; the four HMACs per call were
    the worker's largest single cost after the handler itself."""
    from botocore import UNSIGNED  # noqa: PLC0415

    return UNSIGNED


def _credential_scope(url: str) -> list[tuple[str, str]]:
    """What moto reads from a signed request, without the signature: the access key (its
    account) and the region and service of the credential scope (the endpoint's host,
    `service.region.amazonaws.com`), as the daemon's in-process signing patch sends them."""
    host = url.partition("://")[2].split("/", 1)[0].split(".")
    service, region = host[0], host[1] if len(host) > 3 else os.environ["AWS_REGION"]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    scope = f"{os.environ.get('AWS_ACCESS_KEY_ID', '')}/{stamp[:8]}/{region}/{service}/aws4_request"
    return [
        ("X-Amz-Date", stamp),
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature=0",
        ),
    ]


class _LineStream(io.TextIOBase):
    """sys.stdout/sys.stderr of a worker: whole lines go to the daemon's log store."""

    def __init__(self, channel: Channel, name: str) -> None:
        self.name = name
        self.buffer_ = LineBuffer(channel.log, name)

    def write(self, text: str) -> int:
        self.buffer_.write(text)
        return len(text)

    def close_lines(self) -> None:
        self.buffer_.close()

    def isatty(self) -> bool:
        return False


def _install(channel: Channel) -> tuple[_LineStream, _LineStream]:
    """Route output and every botocore session's requests (created from now on) to the daemon."""
    import botocore.handlers  # noqa: PLC0415

    botocore.handlers.BUILTIN_HANDLERS.append(("choose-signer", _unsigned))
    botocore.handlers.BUILTIN_HANDLERS.append(("before-send", channel.before_send))
    out, err = _LineStream(channel, "stdout"), _LineStream(channel, "stderr")
    sys.stdout, sys.stderr = out, err
    return out, err


def serve(conn: Connection) -> int:
    """Answer invocations until the daemon closes the socket."""
    _, spec, _region, route = conn.recv()
    assert isinstance(spec, FunctionSpec)
    channel = Channel(conn, DirectClient(route) if route is not None else None)
    out, err = _install(channel)
    conn.send(("ready", os.getpid()))
    handler: Handler | None = None
    while True:
        try:
            _, request_id, payload = conn.recv()
        except (EOFError, OSError):
            return 0
        body, error = b"", None
        try:
            if handler is None:
                handler = load_handler(spec)  # the cold start, inside the first invocation
            event = json.loads(payload) if payload.strip() else {}
            body = json.dumps(handler(event, lambda_context(spec, request_id))).encode()
        except Exception as exc:  # noqa: BLE001 - every handler error becomes Lambda's shape
            error = error_payload(exc)
        out.close_lines()
        err.close_lines()
        conn.send(("result", body, error))


def main(argv: list[str]) -> int:
    fd, parent_pid = int(argv[0]), int(argv[1])
    die_with_parent(parent_pid)
    conn = Connection(fd)
    try:
        return serve(conn)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return 0  # the daemon went away mid-invocation


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
