"""Every failure the CLI can meet, mapped once to an exit code, a message and a hint.

The tables below are the one map: botocore's errors (AWS error codes and SDK errors), the
payments API's HTTP statuses and error codes, and paystack's domain errors. Services raise
PaycliError subclasses or let those failures through; `cli.app` is the one boundary that calls
`to_paycli_error` and prints `Error: ...` / `Hint: ...`. Anything else is a bug: it is still
one line (exit 1) unless `--debug` asks for the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from paystack.domain.redact import mask_pans


class ExitCode(IntEnum):
    """Stable process exit codes (documented in README.md)."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    CONFLICT = 4
    ENVIRONMENT = 5  # AWS credentials, configuration, a local stack that is not running
    TIMEOUT = 6
    INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, what shells report for it


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


class StoppedByUserError(PaycliError):
    """Ctrl-C: the message says what was done before it (sent, moved) and what goes on."""

    exit_code = ExitCode.INTERRUPTED


# ------------------------------------------------------------------ the map


@dataclass(frozen=True)
class Failure:
    """One row of the map: the error class (so the exit code), a message template and a hint.

    Templates may use {operation} (the AWS API call), {code} (the AWS or API error code),
    {detail} (the service's own message), {subject} (what the user named, when the caller
    said) and {status} (an HTTP status).
    """

    kind: type[PaycliError]
    message: str
    hint: str | None = None

    def build(self, **fields: object) -> PaycliError:
        """The PaycliError for one occurrence."""
        values = _Fields({k: _short(v) for k, v in fields.items() if v is not None})
        hint = self.hint.format_map(values) if self.hint else None
        return self.kind(self.message.format_map(values), hint=hint)


class _Fields(dict[str, str]):
    """Missing template fields read as a neutral phrase instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "the one asked for" if key == "subject" else "-"


def _short(value: object, limit: int = 200) -> str:
    """A value as echoed in one error line: never a multi-KB dump of what the user typed."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


DEPLOY: Final = "deploy the stack: `paycli deploy` (or `paycli deploy --target aws`)"
_UNKNOWN_AWS: Final = Failure(PaycliError, "{operation} failed: {code}: {detail}")
_CREDENTIALS: Final = Failure(
    ConfigError,
    "AWS refused the credentials ({operation}: {code})",
    "check the credentials and permissions of the AWS profile (--profile, AWS_PROFILE)",
)
_THROTTLED: Final = Failure(
    PaycliError,
    "AWS throttled {operation} after retries ({code})",
    "AWS throttled the request after retries; try again shortly",
)
_MISSING_RESOURCE: Final = Failure(
    ConfigError, "a resource of the stack is missing ({operation}: {code}): {detail}", DEPLOY
)

#: AWS error codes (ClientError's Error.Code), whatever the operation; see AWS_OPERATION_CODES
#: for codes whose cause depends on the call.
AWS_CODES: Final[Mapping[str, Failure]] = {
    "ExecutionDoesNotExist": Failure(
        NotFoundError,
        "no execution or payment {subject}",
        "give a payment id (pay_ + 32 hex digits), an execution name or ARN: "
        "`paycli executions list`",
    ),
    "InvalidArn": Failure(
        UsageError,
        "{subject} is not a valid execution ARN",
        "give a payment id, an execution name or a full ARN from `paycli executions list`",
    ),
    "ExecutionAlreadyExists": Failure(ConflictError, "an execution named {subject} exists"),
    "ExecutionNotRedrivable": Failure(
        ConflictError, "execution {subject} cannot be redriven: {detail}"
    ),
    "ExecutionLimitExceeded": Failure(
        PaycliError,
        "too many executions are running ({code})",
        "wait for some to finish: `paycli executions watch --until-idle`",
    ),
    "StateMachineDoesNotExist": _MISSING_RESOURCE,
    "QueueDoesNotExist": _MISSING_RESOURCE,
    "AWS.SimpleQueueService.NonExistentQueue": _MISSING_RESOURCE,
    "NonExistentQueue": _MISSING_RESOURCE,
    "ResourceNotFound": Failure(NotFoundError, "{operation}: {detail}"),
    "ResourceNotFoundException": Failure(NotFoundError, "{operation}: {detail}"),
    "PurgeQueueInProgress": Failure(
        ConflictError,
        "the dead-letter queue was purged less than 60 seconds ago: SQS allows one purge per "
        "queue every 60 seconds",
        "wait a minute, then run `paycli dlq purge --yes` again",
    ),
    "AWS.SimpleQueueService.PurgeQueueInProgress": Failure(
        ConflictError,
        "the dead-letter queue was purged less than 60 seconds ago: SQS allows one purge per "
        "queue every 60 seconds",
        "wait a minute, then run `paycli dlq purge --yes` again",
    ),
    "ConditionalCheckFailedException": Failure(
        ConflictError, "{operation}: the item changed meanwhile ({code})"
    ),
    "TransactionCanceledException": Failure(
        ConflictError, "{operation}: the write conflicted with another one ({code})"
    ),
    "ValidationException": Failure(UsageError, "AWS refused {operation}: {detail}"),
    "InvalidParameterValue": Failure(UsageError, "AWS refused {operation}: {detail}"),
    "InvalidParameterValueException": Failure(UsageError, "AWS refused {operation}: {detail}"),
    **dict.fromkeys(
        (
            "AccessDenied",
            "AccessDeniedException",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
            "ExpiredTokenException",
            "InvalidSignatureException",
            "SignatureDoesNotMatch",
            "UnauthorizedOperation",
        ),
        _CREDENTIALS,
    ),
    **dict.fromkeys(
        (
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "ProvisionedThroughputExceededException",
            "RequestThrottled",
        ),
        _THROTTLED,
    ),
}

#: (operation, code) pairs whose cause is known more precisely than the code alone says.
AWS_OPERATION_CODES: Final[Mapping[tuple[str, str], Failure]] = {
    ("DescribeStacks", "ValidationException"): Failure(
        ConfigError, "stack {subject} is not deployed", DEPLOY
    ),
    ("GetItem", "ResourceNotFoundException"): _MISSING_RESOURCE,
    ("Query", "ResourceNotFoundException"): _MISSING_RESOURCE,
}

#: The payments API's HTTP statuses (API Gateway's own answers included).
HTTP_STATUSES: Final[Mapping[int, Failure]] = {
    400: Failure(UsageError, "{detail}"),
    401: Failure(
        ConfigError,
        "the payments API refused the credentials: {detail}",
        "check the AWS profile (it needs execute-api:Invoke on the API)",
    ),
    403: Failure(
        ConfigError,
        "the payments API refused the credentials: {detail}",
        "check the AWS profile (it needs execute-api:Invoke on the API)",
    ),
    404: Failure(NotFoundError, "{detail}"),
    409: Failure(
        ConflictError,
        "{detail}",
        "another request with this Idempotency-Key is in flight; retry it shortly",
    ),
    422: Failure(ConflictError, "{detail}", "use a new --idempotency-key for a different payment"),
    503: Failure(PaycliError, "{detail}", "nothing was recorded; send the same request again"),
}
_HTTP_OTHER: Final = Failure(PaycliError, "the payments API answered HTTP {status}: {detail}")

#: The API's `error.code` (the domain's codes) where it says more than the status.
API_CODES: Final[Mapping[str, Failure]] = {
    "account_not_found": Failure(
        NotFoundError, "{detail}", "list accounts with `paycli accounts list`"
    ),
    "payment_not_found": Failure(
        NotFoundError, "{detail}", "list payments with `paycli payments list`"
    ),
}


def _domain_failures() -> list[tuple[type[Exception], Failure]]:
    """paystack's domain errors, most specific first (the CLI calls the domain for accounts
    and money). Imported here, not at module level: the domain is light but not needed for
    `--help`."""
    from paystack.domain import errors as domain  # noqa: PLC0415

    return [
        (domain.AccountNotFoundError, API_CODES["account_not_found"]),
        (domain.PaymentNotFoundError, API_CODES["payment_not_found"]),
        (domain.NotFoundError, Failure(NotFoundError, "{detail}")),
        (
            domain.AccountExistsError,
            Failure(ConflictError, "{detail}", "pick another --id, or omit it"),
        ),
        (domain.ConflictError, Failure(ConflictError, "{detail}")),
        (domain.InvalidInputError, Failure(UsageError, "{detail}")),
        (domain.AccountBusyError, HTTP_STATUSES[503]),
        (domain.PaymentError, Failure(PaycliError, "{detail}")),
    ]


#: Anything else: a bug. One line all the same; the traceback is one flag away.
INTERNAL: Final = Failure(
    PaycliError,
    "internal error: {code}: {detail}",
    "this is a bug in paycli: run the command again with --debug for the traceback and report it",
)


def to_paycli_error(exc: BaseException, *, subject: str | None = None) -> PaycliError:
    """The one translation: ours as is, then botocore's, the domain's, else an internal error."""
    if isinstance(exc, PaycliError):
        return exc
    mapped = from_botocore(exc, subject=subject) or from_domain(exc)
    return mapped or INTERNAL.build(code=type(exc).__name__, detail=exc)


def from_domain(exc: BaseException) -> PaycliError | None:
    """A paystack domain error (accounts, money) as ours; None for anything else."""
    if "paystack.domain.errors" not in sys.modules:
        return None
    for cls, failure in _domain_failures():
        if isinstance(exc, cls):
            return failure.build(detail=getattr(exc, "message", exc))
    return None


def from_api(status: int, code: str, message: str) -> PaycliError:
    """An error answer of the payments API (`{"error": {"code", "message"}}` or API Gateway's
    `{"message"}`) as ours."""
    detail = f"{message} ({code})" if code else message or f"HTTP {status}"
    failure = API_CODES.get(code) or HTTP_STATUSES.get(status, _HTTP_OTHER)
    return failure.build(detail=detail, code=code, status=status)


@contextmanager
def naming(subject: str) -> Iterator[None]:
    """Map an AWS failure inside the block with what the user named (an id, an ARN).

    `with naming(ref): sfn.describe_execution(...)` turns ExecutionDoesNotExist into
    "no execution or payment <ref>" instead of AWS's text about an ARN the user never typed.
    """
    try:
        yield
    except PaycliError:
        raise
    except Exception as exc:
        # what the user typed is quoted back, but never a card number typed in the wrong place
        mapped = from_botocore(exc, subject=mask_pans(subject))
        if mapped is None:
            raise
        raise mapped from exc


def from_botocore(exc: BaseException, *, subject: str | None = None) -> PaycliError | None:
    """Translate a botocore exception into a PaycliError; None when `exc` is not botocore's.

    Only looks at botocore when it is already imported: if it is not, `exc` cannot be one of its.
    """
    if "botocore.exceptions" not in sys.modules:
        return None
    from botocore import exceptions as bexc  # noqa: PLC0415

    if isinstance(exc, bexc.ClientError):
        return _from_client_error(exc, subject)
    endpoint = getattr(exc, "kwargs", {}).get("endpoint_url", "the AWS endpoint")
    table: list[tuple[tuple[type[Exception], ...], Failure]] = [
        (
            (bexc.NoCredentialsError, bexc.PartialCredentialsError),
            Failure(
                ConfigError,
                "no AWS credentials found",
                "configure a profile (`aws configure`) and pass --profile or set AWS_PROFILE",
            ),
        ),
        (
            (bexc.ProfileNotFound,),
            Failure(ConfigError, "{detail}", "list profiles with `aws configure list-profiles`"),
        ),
        (
            (bexc.NoRegionError,),
            Failure(ConfigError, "no AWS region set", "pass --region or set AWS_REGION"),
        ),
        (
            (bexc.EndpointConnectionError, bexc.ConnectTimeoutError),
            Failure(
                ConfigError,
                "cannot reach {subject}",
                "for the local stack run `paycli local up`; for AWS check the network",
            ),
        ),
        (
            (bexc.ReadTimeoutError,),  # a wedged or stopped local daemon: minutes, then this
            Failure(
                ConfigError,
                "no answer from {subject} (read timed out on every attempt)",
                "for the local stack see `paycli local status` and its log, or restart it"
                " (`paycli local down`, then `paycli deploy`); for AWS check the network",
            ),
        ),
        ((bexc.BotoCoreError,), Failure(PaycliError, "AWS SDK error: {detail}")),
    ]
    for classes, failure in table:
        if isinstance(exc, classes):
            return failure.build(detail=exc, subject=endpoint)
    return None


def _from_client_error(exc: Any, subject: str | None) -> PaycliError:
    """A ClientError carries the service's error code: that decides the row of the map."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    operation = str(getattr(exc, "operation_name", "request"))
    failure = AWS_OPERATION_CODES.get((operation, code)) or AWS_CODES.get(code, _UNKNOWN_AWS)
    detail = str(error.get("Message") or code)
    return failure.build(operation=operation, code=code, detail=detail, subject=subject)
