"""Money as an integer of minor units plus an ISO 4217 currency code.

Amounts typed by people ("12.50") are parsed with Decimal against the currency's exponent (the
number of minor-unit digits: JPY 0, USD 2, BHD 3). Floats never appear: 0.1 + 0.2 is not 0.3
in binary, and a payment system must not round silently. Input with more decimals than the
currency has is rejected rather than rounded, so "12.345 USD" is an error, not 12.35 or 12.34.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from paystack.domain.errors import InvalidInputError

# ISO 4217 minor-unit exponents (the standard's "minor unit" column) for the currencies a
# payment form is likely to see. Absent codes are rejected: guessing 2 would misprice JPY or BHD.
CURRENCY_EXPONENTS: dict[str, int] = {
    # zero-decimal currencies
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0,
    "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0,
    "XPF": 0,
    # two-decimal currencies
    "AED": 2, "ARS": 2, "AUD": 2, "BDT": 2, "BGN": 2, "BRL": 2, "CAD": 2, "CHF": 2,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "DZD": 2, "EGP": 2, "EUR": 2, "GBP": 2,
    "GEL": 2, "GHS": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "KES": 2,
    "KZT": 2, "LKR": 2, "MAD": 2, "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2,
    "PEN": 2, "PHP": 2, "PKR": 2, "PLN": 2, "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2,
    "SEK": 2, "SGD": 2, "THB": 2, "TRY": 2, "TWD": 2, "UAH": 2, "USD": 2, "UYU": 2,
    "ZAR": 2,
    # three-decimal currencies
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    # four-decimal units of account
    "CLF": 4, "UYW": 4,
}  # fmt: skip

# The largest amount accepted anywhere, in minor units: far above any real limit, and well
# inside DynamoDB's 38-digit numbers and JavaScript's exact-integer range (the CLI's --json).
MAX_MINOR_UNITS = 2**53 - 1

# Longer input is refused before Decimal sees it: no real amount needs more characters.
_MAX_AMOUNT_TEXT = 40

# Plain decimal notation only: ASCII digits, at most one point with digits on both sides.
# Decimal() alone would also accept "1e3", "NaN", "Infinity", "+5", " 5", "5_000" and
# non-ASCII digits, none of which a person means as an amount of money.
_AMOUNT_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class MoneyError(InvalidInputError):
    """An amount or currency that cannot be turned into integer minor units."""

    code = "invalid_amount"


class UnknownCurrencyError(MoneyError):
    """The code is not an ISO 4217 currency this system knows the exponent of."""

    code = "invalid_currency"


class MalformedAmountError(MoneyError):
    """The text is not a plain decimal number such as 12 or 12.50."""


class TooManyDecimalsError(MoneyError):
    """More digits after the point than the currency's minor unit allows."""


class NonPositiveAmountError(MoneyError):
    """Zero or negative: a payment moves a positive amount."""


class AmountTooLargeError(MoneyError):
    """Beyond MAX_MINOR_UNITS (or a configured per-payment limit)."""

    code = "amount_too_large"


def currency_exponent(currency: str) -> int:
    """The number of minor-unit digits of `currency` (upper-case ISO 4217 code)."""
    try:
        return CURRENCY_EXPONENTS[currency]
    except (KeyError, TypeError):
        raise UnknownCurrencyError(
            f"unknown currency {currency!r}: use an upper-case ISO 4217 code such as USD",
        ) from None


def parse_amount(text: str, currency: str) -> int:
    """Convert a decimal string in major units ("12.50") to minor units (1250).

    Rejects anything that is not plain decimal notation, more decimals than the currency has
    (no rounding), zero and negative amounts, and amounts beyond MAX_MINOR_UNITS.
    """
    exponent = currency_exponent(currency)
    if not isinstance(text, str) or len(text) > _MAX_AMOUNT_TEXT:
        raise MalformedAmountError("amount is not a plain decimal number such as 12 or 12.50")
    if not _AMOUNT_RE.fullmatch(text):
        raise MalformedAmountError(
            f"amount {text!r} is not a plain decimal number such as 12 or 12.50",
        )
    decimals = len(text.partition(".")[2])
    if decimals > exponent:
        raise TooManyDecimalsError(
            f"amount {text!r} has {decimals} decimal(s) but {currency} allows {exponent}",
        )
    minor = int(Decimal(text).scaleb(exponent))
    if minor > MAX_MINOR_UNITS:  # said in the units the person typed, not in minor units
        raise AmountTooLargeError(
            f"amount {text} {currency} exceeds the maximum of "
            f"{format_amount(MAX_MINOR_UNITS, currency)}",
        )
    return check_minor_units(minor, currency)


def check_minor_units(minor: int, currency: str) -> int:
    """Validate an amount already in minor units (the API's amount_minor); return it."""
    currency_exponent(currency)
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MalformedAmountError(f"amount_minor must be an integer, got {minor!r}")
    if minor <= 0:
        raise NonPositiveAmountError(f"amount must be positive, got {minor} minor units")
    if minor > MAX_MINOR_UNITS:
        raise AmountTooLargeError(f"amount {minor} exceeds the maximum of {MAX_MINOR_UNITS}")
    return minor


def format_decimal(minor: int, currency: str) -> str:
    """Minor units as a decimal string in major units: (1250, USD) -> "12.50", (-5, JPY) -> "-5"."""
    exponent = currency_exponent(currency)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def format_amount(minor: int, currency: str) -> str:
    """Minor units for people: (1250, "USD") -> "12.50 USD"."""
    return f"{format_decimal(minor, currency)} {currency}"


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: integer minor units (may be negative, e.g. a debit) and a currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        """Refuse floats, bools and unknown currencies at construction, not at use."""
        currency_exponent(self.currency)
        if isinstance(self.amount_minor, bool) or not isinstance(self.amount_minor, int):
            raise MalformedAmountError(
                f"amount_minor must be an integer, got {self.amount_minor!r}",
            )

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """A positive amount from user input; see parse_amount for what is rejected."""
        return cls(parse_amount(text, currency), currency)

    def __str__(self) -> str:
        """ "12.50 USD"."""
        return format_amount(self.amount_minor, self.currency)
