"""What people type, checked once at the edge, before any lookup or request.

Ids follow the same rules everywhere (the domain's patterns, not copies): a value that breaks
them is a UsageError (exit 2) that names the rule and never echoes a multi-KB value back.
Card numbers and IBANs lose the separators people type ("4242 4242-4242 4242").
"""

from __future__ import annotations

import math
import re
from typing import Final

from paystack.domain.accounts import ACCOUNT_ID_RE
from paystack.domain.intake import IDEMPOTENCY_KEY_RE
from paystack.domain.methods import WALLET_ID_RE
from paystack.domain.redact import find_pans, mask_pans
from paystack.domain.store import PAYMENT_ID_RE

from paycli.core.errors import UsageError

#: Execution names (Step Functions: 1-80 characters, no whitespace, no control characters) and
#: ARNs (at most 256). Wider than our own names on purpose: redrive names come from AWS too.
_EXECUTION_REF_RE: Final = re.compile(r"[^\s\x00-\x1f\x7f<>{}\[\]?*\"#%\\^|~`$&,;]{1,256}")
_SEPARATORS: Final = re.compile(r"[\s-]+")
_ECHO_LIMIT: Final = 64
_CARD_NUMBER: Final = re.compile(r"[0-9]{12,19}")  # stack/openapi.yaml's card.number
_IBAN: Final = re.compile(r"[A-Za-z0-9]+")  # stack/openapi.yaml's bank.iban, without spaces


def shown(value: str) -> str:
    """A value as an error message may echo it: quoted when short and printable, else its
    length only (a pasted 5,000-character blob is not repeated back)."""
    if not value:
        return "an empty value"
    if len(value) <= _ECHO_LIMIT and value.isprintable():
        return repr(mask_pans(value))  # a card number typed in the wrong place is not repeated
    return f"a {len(value)}-character value"


def _check(value: str, pattern: re.Pattern[str], what: str, rule: str, hint: str | None) -> str:
    if not pattern.fullmatch(value):
        raise UsageError(f"{what} must be {rule}, not {shown(value)}", hint=hint)
    return value


def payment_id(value: str) -> str:
    """A payment id as the API mints them: pay_ + 32 lower-case hex digits."""
    return _check(
        value,
        PAYMENT_ID_RE,
        "a payment id",
        "pay_ followed by 32 hex digits",
        "copy one from `paycli payments list`",
    )


def account_id(value: str, hint: str = "list accounts with `paycli accounts list`") -> str:
    """An account id: 1-64 letters, digits or _.:- (the domain's rule), never a card number
    (a PAN typed in the wrong option is refused before it is sent, stored or echoed)."""
    _check(value, ACCOUNT_ID_RE, "an account id", "1-64 letters, digits or _.:-", hint)
    if find_pans(value):
        raise UsageError(f"an account id must not be a card number, not {shown(value)}", hint=hint)
    return value


def wallet_id(value: str) -> str:
    """A wallet id: wal_ and 8-32 letters or digits (the domain's rule; the API's request
    model would only say "Invalid request body")."""
    return _check(value, WALLET_ID_RE, "--wallet", "wal_ followed by 8-32 letters or digits", None)


def idempotency_key(value: str) -> str:
    """An Idempotency-Key: 1-255 ASCII letters, digits or _.:- (what the API accepts), never a
    card number (refused here, before it is sent in a header)."""
    hint = "omit it to have one generated"
    _check(
        value, IDEMPOTENCY_KEY_RE, "--idempotency-key", "1-255 ASCII letters, digits or _.:-", hint
    )
    if find_pans(value):
        raise UsageError(
            f"--idempotency-key must not contain a card number, not {shown(value)}", hint=hint
        )
    return value


def execution_ref(value: str) -> str:
    """An execution ARN, an execution name or a payment id."""
    return _check(
        value,
        _EXECUTION_REF_RE,
        "an execution reference",
        "a payment id, an execution name or an ARN (no spaces, at most 256 characters)",
        "copy one from `paycli executions list` or `paycli payments list`",
    )


def port(value: int | None, option: str = "--port") -> int | None:
    """A TCP port (0: any free one), or None when not given (bind() would overflow)."""
    if value is not None and not 0 <= value <= 65_535:  # TCP port range
        raise UsageError(f"{option} must be a TCP port from 0 to 65535, not {value}")
    return value


#: The longest --timeout/--interval taken: a day (time.sleep overflows on 1e308).
MAX_SECONDS: Final = 86_400


def positive_seconds(value: float, option: str) -> float:
    """A duration in seconds that makes sense: finite, above zero, at most a day."""
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise UsageError(
            f"{option} must be a number of seconds above 0 and at most {MAX_SECONDS}, not {value:g}"
        )
    return value


def digits(value: str) -> str:
    """A card number or IBAN without the spaces and dashes people type between groups."""
    return _SEPARATORS.sub("", value)


def card_number(value: str) -> str:
    """A card number as the API's request model takes it: 12-19 ASCII digits once the
    separators are gone (the API would only say "Invalid request body"). The value itself is
    never echoed back, only its shape."""
    number = digits(value)
    if _CARD_NUMBER.fullmatch(number):
        return number
    if not number:
        got = "an empty value"
    elif number.isascii() and number.isdigit():
        got = f"{len(number)} digits"
    else:
        got = f"a {len(value)}-character value that is not all digits"
    raise UsageError(
        f"--card must be a card number of 12-19 digits, not {got}",
        hint="test cards are listed in the README (4242424242424242 succeeds)",
    )


def iban(value: str) -> str:
    """An IBAN as the API's request model takes it: ASCII letters and digits once the
    separators are gone (the domain checks its country, length and check digits)."""
    number = digits(value)
    if not _IBAN.fullmatch(number):
        raise UsageError(
            f"--iban must be ASCII letters and digits (e.g. DE89370400440532013000), "
            f"not {shown(value)}"
        )
    return number
