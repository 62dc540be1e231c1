"""Ingress Lambda behind API Gateway (REST proxy events).

POST /payments/card|bank|wallet: validate, record PENDING once per Idempotency-Key, enqueue,
202. One static API Gateway resource per method (one variable path part per level is all API
Gateway allows beside /payments/{payment_id}); the method is read from the resource that
matched (`event["resource"]`), not from a path parameter.
GET /payments/{payment_id}: the payment view, or 404.

The request body holds the card number and CVC: it is never logged (no log_event, no
logging of the body or of validation input), and only the PAN-free details are stored.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from paystack.domain.dynamo import TableNames, utc_now
from paystack.domain.errors import (
    AccountBusyError,
    ConflictError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    PaymentError,
)
from paystack.domain.intake import (
    IntakeSettings,
    accept_payment,
    check_idempotency_key,
    parse_request,
    request_hash,
)
from paystack.domain.payment import METHODS, payment_view
from paystack.domain.redact import mask_pans
from paystack.domain.store import get_payment
from paystack.handlers._runtime import (
    bind_payment_id,
    dynamodb,
    env_int,
    env_str,
    logger,
    sqs,
    tracer,
)

# How long a fetched fingerprint key is reused before Secrets Manager is asked again.
SECRET_MAX_AGE_SECONDS = 300
# Keys must outlive any sensible client retry window (docs/design.md: at least 24 h).
MIN_IDEMPOTENCY_TTL_SECONDS = 86_400
# Retry-After of a 503 account_busy: a settlement holds the account item for milliseconds.
RETRY_AFTER_SECONDS = 1

app = APIGatewayRestResolver()


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),
        headers=headers,
    )


def _error_response(
    status: int, error: PaymentError, headers: dict[str, str] | None = None
) -> Response[str]:
    """{"error": {"code", "message"}}; messages never contain card data."""
    logger.info("request rejected", extra={"status": status, "code": error.code})
    # Messages may quote what was sent (an account id, an amount): never a card number.
    body = {"error": {"code": error.code, "message": mask_pans(error.message)}}
    return _json_response(status, body, headers)


@app.exception_handler(InvalidInputError)  # type: ignore[untyped-decorator]
def _bad_request(error: InvalidInputError) -> Response[str]:
    return _error_response(400, error)


@app.exception_handler(NotFoundError)  # type: ignore[untyped-decorator]
def _not_found(error: NotFoundError) -> Response[str]:
    return _error_response(404, error)


@app.exception_handler(ConflictError)  # type: ignore[untyped-decorator]
def _conflict(error: ConflictError) -> Response[str]:
    return _error_response(422 if isinstance(error, IdempotencyKeyReusedError) else 409, error)


@app.exception_handler(AccountBusyError)  # type: ignore[untyped-decorator]
def _busy(error: AccountBusyError) -> Response[str]:
    """503 with Retry-After: nothing was written, the same request (same key) may be resent."""
    return _error_response(503, error, {"Retry-After": str(RETRY_AFTER_SECONDS)})


@app.not_found
def _no_route(_error: Exception) -> Response[str]:
    return _error_response(404, NotFoundError("no such route", code="route_not_found"))


def fingerprint_key() -> bytes:
    """The HMAC key for card/IBAN fingerprints and request hashes, cached for a few minutes
    by Powertools so warm invocations do not call Secrets Manager."""
    arn = env_str("CARD_FINGERPRINT_SECRET_ARN")
    secret = parameters.get_secret(arn, max_age=SECRET_MAX_AGE_SECONDS)
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def intake_settings() -> IntakeSettings:
    """Settings from the environment, read per invocation (the local stack overlays the
    environment per thread)."""
    return IntakeSettings(
        max_amount_minor=env_int("MAX_AMOUNT_MINOR"),
        ttl_seconds=env_int("IDEMPOTENCY_TTL_SECONDS", minimum=MIN_IDEMPOTENCY_TTL_SECONDS),
        fingerprint_key=fingerprint_key(),
    )


def status_url(payment_id: str) -> str:
    """https://{domain}/{stage}/payments/{id}, from the request itself so the same code is
    right on execute-api, on a custom domain (base path kept) and on the local API."""
    event = app.current_event
    context = event.request_context
    proto = event.headers.get("X-Forwarded-Proto")  # headers are case-insensitive here
    host = context.domain_name or event.headers.get("Host") or "localhost"
    full_path = context.path or ""
    if full_path.endswith(event.path):
        prefix = full_path[: len(full_path) - len(event.path)]
    else:
        prefix = f"/{context.stage}"
    return f"{proto or 'https'}://{host}{prefix}/payments/{payment_id}"


def _request_body() -> Any:
    """The JSON body; malformed JSON is a 400 whose message does not echo the input.

    Decoding is inside the guard: a body that is not UTF-8 (API Gateway passes such bytes
    base64-encoded) or nests too deeply for the parser is the client's error, not a 502."""
    try:
        return json.loads(app.current_event.decoded_body or "")
    except (ValueError, RecursionError):  # UnicodeDecodeError and binascii.Error included
        raise InvalidInputError(
            "the request body must be valid UTF-8 JSON", code="invalid_json"
        ) from None


PAYMENTS_RESOURCE = "/payments/"


def method_of_resource(resource: str) -> str:
    """The payment method of the API Gateway resource the request came through
    (`/payments/card` -> `card`); any other resource is not a payment route (404)."""
    method = resource.removeprefix(PAYMENTS_RESOURCE)
    if not resource.startswith(PAYMENTS_RESOURCE) or method not in METHODS:
        raise NotFoundError("no such route", code="route_not_found")
    return method


@tracer.capture_method(capture_response=False)  # the Response object is not JSON
def create_payment() -> Response[str]:
    """Accept a payment: 202 with the payment view + status_url, replays flagged."""
    method = method_of_resource(app.current_event.resource)
    key = check_idempotency_key(app.current_event.headers.get("Idempotency-Key"))
    body = _request_body()
    settings = intake_settings()
    now = utc_now()
    request = parse_request(method, body, settings, now)
    accepted = accept_payment(
        dynamodb(),
        sqs(),
        TableNames.from_env(),
        queue_url=env_str("QUEUE_URL"),
        request=request,
        idempotency_key=key,
        fingerprint=request_hash(method, body, settings.fingerprint_key),
        status_url=status_url,
        settings=settings,
        now=now,
    )
    logger.append_keys(payment_id=accepted.payment_id)
    logger.info("payment accepted", extra={"replayed": accepted.replayed, "method": method})
    headers = {"Location": accepted.body["status_url"]}
    if accepted.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json_response(202, accepted.body, headers)


for _method in METHODS:  # POST /payments/card, /payments/bank, /payments/wallet
    app.post(f"{PAYMENTS_RESOURCE}{_method}")(create_payment)


@app.get("/payments/<payment_id>")
@tracer.capture_method(capture_response=False)  # the Response object is not JSON
def read_payment(payment_id: str) -> Response[str]:
    """The payment view, or 404 payment_not_found."""
    bind_payment_id(payment_id)
    payment = get_payment(dynamodb(), TableNames.from_env(), payment_id)
    return _json_response(200, payment_view(payment))


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """API Gateway proxy entry point."""
    return app.resolve(event, context)
