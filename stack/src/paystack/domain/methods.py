"""Payment-method rules: cards, IBANs, wallet ids, fingerprints and the simulated issuer.

Only ingress ever sees a full card number (PAN) or CVC. It turns them into a `CardDetails`
that keeps what PCI DSS allows to store (brand, BIN = first six, last four, expiry) plus a keyed
HMAC fingerprint; the CVC is checked for shape and dropped. Nothing downstream (SQS, Step
Functions, ValidatePayment) can therefore learn the PAN, so the simulated issuer is keyed by
(BIN, last4): enough to reproduce Stripe's test cards without the full number travelling.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from paystack.domain.errors import InvalidInputError

_CARD_NUMBER_RE = re.compile(r"[0-9]{12,19}")
_CVC_RE = re.compile(r"[0-9]{3,4}")
_IBAN_RE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}")
WALLET_ID_RE = re.compile(r"wal_[A-Za-z0-9]{8,32}")

# Expiry years accepted ahead of the current one; card networks issue up to about 20 years out.
_MAX_YEARS_AHEAD = 20


class CardError(InvalidInputError):
    """A card that cannot be charged as entered."""

    code = "invalid_card"


class IncorrectNumberError(CardError):
    """Not a card number: wrong length, non-digits, or a failed Luhn check."""

    code = "incorrect_number"


class UnsupportedBrandError(CardError):
    """A valid number of a network this system does not accept."""

    code = "unsupported_card_brand"


class InvalidExpiryError(CardError):
    """Expiry month/year malformed or already past."""

    code = "invalid_expiry"


class InvalidCvcError(CardError):
    """CVC not 3 or 4 digits."""

    code = "invalid_cvc"


class InvalidIbanError(InvalidInputError):
    """Unknown country, wrong length for the country, or a failed mod-97 checksum."""

    code = "invalid_iban"


class InvalidWalletIdError(InvalidInputError):
    """Wallet id not of the form wal_ followed by 8-32 letters or digits."""

    code = "invalid_wallet_id"


class IssuerUnavailableError(Exception):
    """The (simulated) issuer failed technically. The class name is the ASL error name that
    ValidatePayment's Retry matches, so do not rename it."""


# ------------------------------------------------------------------------------ cards


def luhn_valid(number: str) -> bool:
    """The Luhn mod-10 check every card number carries in its last digit."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


#: Card number lengths per network (ISO/IEC 7812 as the networks publish them).
_BRAND_LENGTHS: dict[str, tuple[int, ...]] = {
    "visa": (13, 16, 19),
    "mastercard": (16,),
    "amex": (15,),
    "discover": (16, 17, 18, 19),
}


def _brand_by_prefix(number: str) -> str | None:
    """The network the number's prefix (IIN range) belongs to, whatever its length."""
    prefix2, prefix3, prefix4, prefix6 = (int(number[:n]) for n in (2, 3, 4, 6))
    if number[0] == "4":
        return "visa"
    if 51 <= prefix2 <= 55 or 2221 <= prefix4 <= 2720:
        return "mastercard"
    if prefix2 in (34, 37):
        return "amex"
    if prefix4 == 6011 or 622126 <= prefix6 <= 622925 or prefix2 == 65 or 644 <= prefix3 <= 649:
        return "discover"
    return None


def card_brand(number: str) -> str | None:
    """The network from the number's prefix (IIN ranges), or None when not one we accept."""
    brand = _brand_by_prefix(number)
    return brand if brand and len(number) in _BRAND_LENGTHS[brand] else None


def _check_length(number: str) -> None:
    """A known network's prefix with the wrong number of digits is a wrong length, not an
    unsupported brand."""
    brand = _brand_by_prefix(number)
    if brand and len(number) not in _BRAND_LENGTHS[brand]:
        lengths = " or ".join(str(n) for n in _BRAND_LENGTHS[brand])
        raise IncorrectNumberError(
            f"wrong length: a {brand} card number has {lengths} digits, not {len(number)}"
        )


def check_expiry(month: object, year: object, now: datetime) -> tuple[int, int]:
    """(month, year) as ints if they are a real, not-yet-past expiry; the card is valid
    through the last day of its expiry month."""
    if isinstance(month, bool) or isinstance(year, bool):
        raise InvalidExpiryError("expiry month and year must be integers")
    if not isinstance(month, int) or not isinstance(year, int) or not 1 <= month <= 12:
        raise InvalidExpiryError("expiry must be a month 1-12 and a four-digit year")
    if not now.year <= year <= now.year + _MAX_YEARS_AHEAD:
        if year < now.year:
            raise InvalidExpiryError(f"the card expired in {month:02d}/{year}")
        raise InvalidExpiryError(f"expiry year {year} is too far ahead")
    if (year, month) < (now.year, now.month):
        raise InvalidExpiryError(f"the card expired in {month:02d}/{year}")
    return month, year


def fingerprint(key: bytes, kind: str, value: str) -> str:
    """Keyed HMAC-SHA256 of `value`, hex. The same card always gives the same fingerprint
    (so duplicates can be spotted) but without the key it cannot be brute-forced back to
    the PAN, as a plain hash of a 16-digit number could in hours. `kind` separates domains
    so a card and an IBAN with equal strings never collide."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class CardDetails:
    """What may be stored about a card: never the PAN or the CVC."""

    brand: str
    bin: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str


def check_card(raw: Mapping[str, object], key: bytes, now: datetime) -> CardDetails:
    """Validate {number, exp_month, exp_year, cvc} and reduce it to storable CardDetails."""
    number = raw.get("number")
    if not isinstance(number, str) or not _CARD_NUMBER_RE.fullmatch(number):
        raise IncorrectNumberError("the card number must be 12-19 digits")
    _check_length(number)
    if not luhn_valid(number):
        raise IncorrectNumberError("the card number is incorrect (Luhn check failed)")
    brand = card_brand(number)
    if brand is None:
        raise UnsupportedBrandError("only visa, mastercard, amex and discover cards are accepted")
    month, year = check_expiry(raw.get("exp_month"), raw.get("exp_year"), now)
    cvc = raw.get("cvc")
    if not isinstance(cvc, str) or not _CVC_RE.fullmatch(cvc):
        raise InvalidCvcError("the CVC must be 3 or 4 digits")
    return CardDetails(
        brand=brand,
        bin=number[:6],
        last4=number[-4:],
        exp_month=month,
        exp_year=year,
        fingerprint=fingerprint(key, "card", number),
    )


# ------------------------------------------------------------------------------ IBAN

# IBAN length per country (SWIFT IBAN registry) for the SEPA area and common others.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22,
    "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21,
    "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27,
    "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip


def iban_checksum_valid(iban: str) -> bool:
    """ISO 13616 mod-97: move the first four characters to the end, letters to 10..35."""
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def normalize_iban(text: str) -> str:
    """Upper-case with the spaces of the printed form removed."""
    return text.replace(" ", "").upper()


@dataclass(frozen=True, slots=True)
class BankDetails:
    """What is stored about a bank account: country, last four and a keyed fingerprint."""

    country: str
    last4: str
    fingerprint: str


def check_iban(raw: Mapping[str, object], key: bytes) -> BankDetails:
    """Validate {"iban": ...} and reduce it to storable BankDetails."""
    text = raw.get("iban")
    if not isinstance(text, str):
        raise InvalidIbanError("bank.iban must be a string")
    iban = normalize_iban(text)
    if not _IBAN_RE.fullmatch(iban):
        raise InvalidIbanError(
            "the IBAN must be a country code, two check digits and 10-30 letters or digits"
        )
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        raise InvalidIbanError(f"IBANs from country {iban[:2]!r} are not accepted")
    if len(iban) != expected:
        raise InvalidIbanError(f"a {iban[:2]} IBAN has {expected} characters, not {len(iban)}")
    if not iban_checksum_valid(iban):
        raise InvalidIbanError("the IBAN check digits are wrong (mod-97 check failed)")
    return BankDetails(
        country=iban[:2], last4=iban[-4:], fingerprint=fingerprint(key, "iban", iban)
    )


# ------------------------------------------------------------------------------ wallet


def check_wallet(raw: Mapping[str, object]) -> str:
    """Validate {"wallet_id": "wal_..."} and return the id."""
    wallet_id = raw.get("wallet_id")
    if not isinstance(wallet_id, str) or not WALLET_ID_RE.fullmatch(wallet_id):
        raise InvalidWalletIdError("wallet_id must be wal_ followed by 8-32 letters or digits")
    return wallet_id


# ------------------------------------------------------------------------------ issuer

# Stripe's test cards, keyed by (BIN, last4): outcome None approves, a string is the decline
# reason, and "processing_error" is a technical failure (raised, so Step Functions retries).
STRIPE_TEST_CARDS: dict[tuple[str, str], str | None] = {
    ("424242", "4242"): None,
    ("400000", "0002"): "generic_decline",
    ("400000", "9995"): "insufficient_funds",
    ("400000", "0069"): "expired_card",
    ("400000", "0119"): "processing_error",
}


@dataclass(frozen=True, slots=True)
class SimulatedIssuer:
    """Stands in for the card issuer's authorisation. Any card not in the table approves."""

    outcomes: Mapping[tuple[str, str], str | None] = field(
        default_factory=lambda: dict(STRIPE_TEST_CARDS),
    )

    def authorize(self, card_bin: str, last4: str) -> str | None:
        """None to approve, or the decline reason; raises IssuerUnavailableError on a
        technical failure so the workflow retries and finally parks the payment as FAILED."""
        outcome = self.outcomes.get((card_bin, last4))
        if outcome == "processing_error":
            raise IssuerUnavailableError(
                f"issuer unavailable for card {card_bin}******{last4} (processing_error)",
            )
        return outcome
