"""A small SigV4-signed JSON client for the payments API (API Gateway with AWS_IAM auth).

Stdlib urllib plus botocore's SigV4Auth: no new dependency for two routes. The same code talks
to API Gateway on AWS and to the local stack's API, which verifies signatures the same way.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from paycli.core.errors import ConfigError, PaycliError, from_api

#: Statuses worth another attempt. Safe for POST because every payment request carries an
#: Idempotency-Key: the API answers a retried request with the first answer, never a second
#: payment. 409 is the API saying "the same key is in flight right now".
RETRYABLE: Final = frozenset({409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class ApiResponse:
    """A decoded API answer."""

    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]


class ApiClient:
    """Signs and sends JSON requests to the stack's ApiUrl, mapping error answers to ours."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        region: str,
        *,
        timeout: float = 15.0,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`sleep` is injectable so tests of the retry path do not wait."""
        self.base_url = base_url.rstrip("/")
        self._signer = SigV4Auth(credentials, "execute-api", region)
        self._timeout = timeout
        self._attempts = attempts
        self._sleep = sleep

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send with retries on throttling/5xx/in-flight; raise a PaycliError for any 4xx."""
        for attempt in range(1, self._attempts + 1):
            response = self._send_once(method, path, body, headers or {})
            if response.status not in RETRYABLE or attempt == self._attempts:
                break
            self._sleep(min(0.2 * 2**attempt, 3.0))
        if response.status >= 400:
            raise _api_error(response)
        return response

    def _send_once(
        self, method: str, path: str, body: Mapping[str, Any] | None, headers: Mapping[str, str]
    ) -> ApiResponse:
        """One signed exchange. Signed per attempt: a SigV4 signature carries its timestamp."""
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Accept": "application/json", **headers}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        aws_request = AWSRequest(
            method=method, url=self.base_url + path, data=data, headers=all_headers
        )
        self._signer.add_auth(aws_request)
        prepared = urllib.request.Request(  # noqa: S310 - ApiUrl is https on AWS, loopback locally
            self.base_url + path,
            data=data,
            method=method,
            headers=dict(aws_request.headers.items()),
        )
        try:
            with urllib.request.urlopen(prepared, timeout=self._timeout) as reply:  # noqa: S310
                return _decode(reply.status, dict(reply.headers.items()), reply.read())
        except urllib.error.HTTPError as exc:
            return _decode(exc.code, dict(exc.headers.items()), exc.read())
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise ConfigError(
                f"cannot reach the payments API at {self.base_url}: {exc}",
                hint="check that the stack is deployed and running (`paycli status`)",
            ) from exc


def _decode(status: int, headers: dict[str, str], raw: bytes) -> ApiResponse:
    """JSON body (or the text wrapped as a message when the gateway answered with non-JSON)."""
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:500]}
    if not isinstance(body, dict):
        body = {"data": body}
    return ApiResponse(status, {k.lower(): v for k, v in headers.items()}, body)


def _api_error(response: ApiResponse) -> PaycliError:
    """The API's `{"error": {"code", "message"}}` (or API Gateway's `{"message"}`), mapped by
    the one error map (core.errors)."""
    error = response.body.get("error")
    if isinstance(error, dict):
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    else:
        code, message = "", str(response.body.get("message") or response.body or "")
    return from_api(response.status, code, message)
