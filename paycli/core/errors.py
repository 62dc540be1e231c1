"""Every error a user can see, with the exit code it maps to. Printed once, by `cli.app.main`."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Stable process exit codes (documented in README.md)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    ENVIRONMENT = 5  # AWS credentials, configuration, a local stack that is not running
    TIMEOUT = 6


class PaycliError(Exception):
    """An error with a message a user can act on, an optional hint and an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(PaycliError):
    """Bad input from the user: nothing was changed."""

    exit_code = ExitCode.USAGE


class NotFoundError(PaycliError):
    """The payment, account, execution or stack asked for does not exist."""

    exit_code = ExitCode.NOT_FOUND


class ConflictError(PaycliError):
    """The request conflicts with the current state (idempotency key reuse, existing account)."""

    exit_code = ExitCode.CONFLICT


class ConfigError(PaycliError):
    """Something outside the product is missing: credentials, a deployed stack, the local stack."""

    exit_code = ExitCode.ENVIRONMENT


class WaitTimeoutError(PaycliError):
    """A wait ran out of time before the thing waited for happened."""

    exit_code = ExitCode.TIMEOUT


# ------------------------------------------------------------------ botocore mapping
# The one translation from botocore's exceptions to ours. botocore is imported lazily: this module
# is imported by the CLI root, which must not pay for botocore at start-up.

_NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "ExecutionDoesNotExist",
        "StateMachineDoesNotExist",
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "NonExistentQueue",
        "ResourceNotFound",
    }
)
_CREDENTIAL_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
    }
)
_THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
    }
)


def from_botocore(exc: BaseException) -> PaycliError | None:
    """Translate a botocore exception into a PaycliError; None when `exc` is not botocore's.

    Only looks at botocore when it is already imported: if it is not, `exc` cannot be one of its.
    """
    import sys  # noqa: PLC0415 - keep module import cheap

    if "botocore.exceptions" not in sys.modules:
        return None
    from botocore import exceptions as bexc  # noqa: PLC0415

    if isinstance(exc, bexc.ClientError):
        return _from_client_error(exc)
    endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
    table: list[tuple[tuple[type[Exception], ...], PaycliError]] = [
        (
            (bexc.NoCredentialsError, bexc.PartialCredentialsError),
            ConfigError(
                "no AWS credentials found",
                hint="configure a profile (`aws configure`) and pass --profile or set AWS_PROFILE",
            ),
        ),
        (
            (bexc.ProfileNotFound,),
            ConfigError(str(exc), hint="list profiles with `aws configure list-profiles`"),
        ),
        (
            (bexc.NoRegionError,),
            ConfigError("no AWS region set", hint="pass --region or set AWS_REGION"),
        ),
        (
            (bexc.EndpointConnectionError, bexc.ConnectTimeoutError),
            ConfigError(
                f"cannot reach {endpoint}",
                hint="for the local stack run `paycli local up`; for AWS check the network",
            ),
        ),
        ((bexc.BotoCoreError,), PaycliError(f"AWS SDK error: {exc}")),
    ]
    return next((error for classes, error in table if isinstance(exc, classes)), None)


_CODE_CLASSES: dict[frozenset[str], tuple[type[PaycliError], str | None]] = {
    _NOT_FOUND_CODES: (NotFoundError, None),
    _CREDENTIAL_CODES: (ConfigError, "check the credentials and permissions of the AWS profile"),
    _THROTTLING_CODES: (PaycliError, "AWS throttled the request after retries; try again shortly"),
    frozenset({"ConditionalCheckFailedException"}): (ConflictError, None),
    frozenset({"ValidationException", "InvalidParameterValue", "InvalidParameterValueException"}): (
        UsageError,
        None,
    ),
}


def _from_client_error(exc: Any) -> PaycliError:
    """A ClientError carries the service's error code: that decides the class and the hint."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message") or code)
    text = f"{getattr(exc, 'operation_name', 'request')} failed: {code}: {message}"
    for codes, (cls, hint) in _CODE_CLASSES.items():
        if code in codes:
            return cls(text, hint=hint)
    return PaycliError(text)
