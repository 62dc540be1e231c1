"""SigV4 verification for the local API, as API Gateway does it for `AWS_IAM` methods.

Both places a signature can travel are accepted, as API Gateway accepts them: the Authorization
header and the query string of a presigned URL (X-Amz-Signature and its siblings).

The signature is never parsed into meaning and re-derived by hand: the request is rebuilt with
exactly the headers the client says it signed, botocore's own `SigV4Auth` computes the canonical
request and signature for the client's timestamp, and the two signatures are compared in constant
time. So whatever botocore (and therefore the CLI and any AWS SDK) signs, this accepts, and a
change of a single signed byte (path, query, a signed header, the body) is rejected.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
#: API Gateway rejects a signature whose timestamp is more than 15 minutes off.
MAX_SKEW = timedelta(minutes=15)
#: The longest X-Amz-Expires SigV4 allows for a presigned URL (7 days).
MAX_PRESIGNED_EXPIRES = 604_800

MISSING_TOKEN = "Missing Authentication Token"  # noqa: S105 - API Gateway's message
MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your"
    " AWS Secret Access Key and signing method. Consult the service documentation for details."
)
INVALID_KEY = "The security token included in the request is invalid."

_PARAM = re.compile(r"(\w+)=([^,\s]*)")


class SignatureError(Exception):
    """The request is not validly signed; `message` is what API Gateway would answer (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _parse_authorization(value: str) -> tuple[list[str], list[str], str]:
    """Split `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(f"Authorization header requires the {ALGORITHM} algorithm.")
    params = dict(_PARAM.findall(rest))
    names = ("Credential", "SignedHeaders", "Signature")
    credential = _credential(params, names, "Authorization header requires '{}' parameter.")
    return credential, params["SignedHeaders"].lower().split(";"), params["Signature"]


def _credential(params: dict[str, str], required: tuple[str, ...], missing_text: str) -> list[str]:
    """The 5 parts of the credential scope (required[0]), once every required part is there."""
    missing = [name for name in required if not params.get(name)]
    if missing:
        raise SignatureError(" ".join(missing_text.format(name) for name in missing))
    credential = params[required[0]].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        raise SignatureError("Credential must have exactly 5 slash-delimited elements.")
    return credential


def _check_scope(credential: list[str], amz_date: str, region: str, service: str) -> None:
    """The credential scope must name our region, service and the timestamp's day."""
    _, day, scope_region, scope_service, _ = credential
    if scope_service != service:
        raise SignatureError(f"Credential should be scoped to correct service: '{service}'.")
    if scope_region != region:
        raise SignatureError(f"Credential should be scoped to a valid region: '{region}'.")
    if day != amz_date[:8]:
        raise SignatureError("Credential should be scoped to the date of X-Amz-Date.")


def _check_time(amz_date: str, now: datetime, expires: timedelta | None = None) -> None:
    """Reject timestamps that do not parse or are more than MAX_SKEW away from now; a
    presigned URL is good from its X-Amz-Date (less the skew) until X-Amz-Expires after it."""
    try:
        signed_at = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("Invalid X-Amz-Date: not of the form YYYYMMDD'T'HHMMSS'Z'.") from None
    if expires is not None:
        if not signed_at - MAX_SKEW <= now <= signed_at + expires:
            raise SignatureError(
                f"Signature expired: {amz_date} + {int(expires.total_seconds())} s is past."
            )
        return
    if abs(now - signed_at) > MAX_SKEW:
        stamp = now.strftime(SIGV4_TIMESTAMP)
        raise SignatureError(f"Signature expired: {amz_date} is now outside 15 minutes of {stamp}.")


def _signed_request(
    method: str,
    url_path: str,
    headers: list[tuple[str, str]],
    signed_names: list[str],
    body: bytes,
) -> AWSRequest:
    """The request as the client signed it: only its signed headers, the raw path and body."""
    kept = HTTPHeaders()
    for name, value in headers:
        if name.lower() in signed_names:
            kept[name.lower()] = value
    if "host" not in kept:
        raise SignatureError("'Host' must be a signed header.")
    request = AWSRequest(method=method, url=f"http://{kept['host']}{url_path}", data=body)
    request.headers = kept
    return request


@dataclass(frozen=True)
class _Claim:
    """What a request says about its own signature, from its header or its query string."""

    credential: list[str]
    signed_names: list[str]
    signature: str
    amz_date: str
    url_path: str  # path and query that were signed (a presigned URL's without its signature)
    expires: timedelta | None = None  # X-Amz-Expires of a presigned URL


def _header_claim(raw_path: str, lookup: dict[str, str]) -> _Claim:
    credential, signed_names, signature = _parse_authorization(lookup["authorization"])
    amz_date = lookup.get("x-amz-date", "")
    if not amz_date or "x-amz-date" not in signed_names:
        raise SignatureError("'X-Amz-Date' must be present and signed.")
    return _Claim(credential, signed_names, signature, amz_date, raw_path)


def _query_claim(raw_path: str, params: dict[str, str]) -> _Claim:
    """Query-string SigV4 (a presigned URL): X-Amz-Algorithm, -Credential, -Date, -Expires,
    -SignedHeaders and -Signature; every parameter but the signature is signed."""
    if params.get("X-Amz-Algorithm") != ALGORITHM:
        raise SignatureError(f"X-Amz-Algorithm must be {ALGORITHM}.")
    names = ("X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
    credential = _credential(
        params, names, "Query-string authentication requires the {} parameter."
    )
    expires = params.get("X-Amz-Expires", "")
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_PRESIGNED_EXPIRES:
        raise SignatureError(
            f"X-Amz-Expires must be a number of seconds from 1 to {MAX_PRESIGNED_EXPIRES}."
        )
    path, _, query = raw_path.partition("?")
    unsigned = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
    return _Claim(
        credential,
        params["X-Amz-SignedHeaders"].lower().split(";"),
        params["X-Amz-Signature"],
        params["X-Amz-Date"],
        f"{path}?{unsigned}",
        timedelta(seconds=int(expires)),
    )


def verify(
    method: str,
    raw_path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    access_key: str,
    secret_key: str,
    region: str,
    service: str = "execute-api",
    now: datetime | None = None,
) -> str:
    """Check a request's SigV4 signature (Authorization header, or a presigned URL's query
    string); return the access key, or raise SignatureError.

    `raw_path` is the path and query exactly as received (still percent-encoded), `headers` every
    received header (repeats included), `body` the raw body. The local credentials are long-term
    keys with no session: any X-Amz-Security-Token is one STS never issued, refused as API
    Gateway refuses a bogus token.
    """
    header_list = list(headers)
    lookup = {name.lower(): value for name, value in header_list}
    params = dict(parse_qsl(urlsplit(raw_path).query, keep_blank_values=True))
    if lookup.get("authorization"):
        claim = _header_claim(raw_path, lookup)
    elif "X-Amz-Signature" in params or "X-Amz-Algorithm" in params:
        claim = _query_claim(raw_path, params)
    else:
        raise SignatureError(MISSING_TOKEN)
    if "x-amz-security-token" in lookup or "X-Amz-Security-Token" in params:
        raise SignatureError(INVALID_KEY)
    _check_scope(claim.credential, claim.amz_date, region, service)
    if not hmac.compare_digest(claim.credential[0], access_key):
        raise SignatureError(INVALID_KEY)
    _check_time(claim.amz_date, now or datetime.now(UTC), claim.expires)
    content_sha = lookup.get("x-amz-content-sha256")
    if content_sha is not None and content_sha != hashlib.sha256(body).hexdigest():
        # botocore trusts this header when it is present; the body must really match it.
        raise SignatureError(MISMATCH)
    request = _signed_request(method, claim.url_path, header_list, claim.signed_names, body)
    request.context["timestamp"] = claim.amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    canonical = signer.canonical_request(request)
    wanted = ";".join(sorted(claim.signed_names))
    if signer.signed_headers(signer.headers_to_sign(request)) != wanted:
        raise SignatureError(MISMATCH)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, claim.signature):
        raise SignatureError(MISMATCH)
    return claim.credential[0]
