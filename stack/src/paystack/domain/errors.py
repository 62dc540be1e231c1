"""The domain's error hierarchy.

Every error carries a stable machine `code` (the API's `error.code`, the CLI's JSON) and a
message a person can act on. The HTTP status is chosen once, in the ingress handler, from the
class: input errors are 400, missing things 404, idempotency conflicts 409/422, a busy account
503.
"""

from __future__ import annotations


class PaymentError(Exception):
    """Base of every expected domain failure; `code` is stable and documented."""

    code = "payment_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInputError(PaymentError, ValueError):
    """The caller sent something malformed; nothing was written (HTTP 400)."""

    code = "invalid_request"


class NotFoundError(PaymentError):
    """The account or payment named does not exist (HTTP 404)."""

    code = "not_found"


class AccountNotFoundError(NotFoundError):
    """No account with that id."""

    code = "account_not_found"


class PaymentNotFoundError(NotFoundError):
    """No payment with that id."""

    code = "payment_not_found"


class ConflictError(PaymentError):
    """The request conflicts with stored state (HTTP 409/422, CLI exit code CONFLICT)."""

    code = "conflict"


class AccountExistsError(ConflictError):
    """`accounts create` with an id that is already taken."""

    code = "account_exists"


class IdempotencyKeyReusedError(ConflictError):
    """The Idempotency-Key was first used with a different request body (HTTP 422)."""

    code = "idempotency_key_reused"


class IdempotencyKeyInFlightError(ConflictError):
    """Another request with the same key is being written right now (HTTP 409): retry."""

    code = "idempotency_key_in_flight"


class AccountBusyError(PaymentError):
    """The account stayed locked by concurrent transactions (settlements debiting it) through
    ingress's own retries; nothing was written (HTTP 503): the same request may be sent again."""

    code = "account_busy"
