"""Every error a user can see, with the exit code it maps to. Printed once, by `cli.app.main`."""

from __future__ import annotations

from enum import IntEnum


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
