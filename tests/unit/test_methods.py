"""Payment-method rules: Luhn, brands, expiry, CVC, IBAN, wallet ids, fingerprints, issuer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from paystack.domain.methods import (
    STRIPE_TEST_CARDS,
    CardError,
    IncorrectNumberError,
    InvalidCvcError,
    InvalidExpiryError,
    InvalidIbanError,
    InvalidWalletIdError,
    IssuerUnavailableError,
    SimulatedIssuer,
    UnsupportedBrandError,
    card_brand,
    check_card,
    check_iban,
    check_wallet,
    fingerprint,
    iban_checksum_valid,
    luhn_valid,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = b"test-fingerprint-key"


def card(number: object = "4242424242424242", **changes: Any) -> dict[str, Any]:
    """A card request body with valid defaults."""
    return {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"} | changes


@pytest.mark.parametrize(
    "number",
    ["4242424242424242", "4000000000000002", "4000000000009995", "4000000000000069",
     "4000000000000119", "5555555555554444", "378282246310005", "6011111111111117", "79927398713"],
)  # fmt: skip
def test_luhn_accepts_valid_numbers(number: str) -> None:
    """Stripe's test numbers and the textbook example pass the Luhn check."""
    assert luhn_valid(number)


@pytest.mark.parametrize("number", ["4242424242424241", "4000000000000001", "79927398710"])
def test_luhn_rejects_wrong_check_digit(number: str) -> None:
    """A single wrong digit fails the check."""
    assert not luhn_valid(number)


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5555555555554444", "mastercard"),
     ("2223003122003222", "mastercard"), ("378282246310005", "amex"),
     ("371449635398431", "amex"), ("6011111111111117", "discover"),
     ("6500000000000002", "discover"), ("3056930009020004", None), ("1234567812345670", None)],
)  # fmt: skip
def test_brand_from_prefix(number: str, brand: str | None) -> None:
    """The brand comes from the IIN prefix and length; Diners and unknowns are None."""
    assert card_brand(number) == brand


def test_check_card_keeps_only_storable_details() -> None:
    """The result holds brand, BIN, last4, expiry and a keyed fingerprint: no PAN, no CVC."""
    details = check_card(card(), KEY, NOW)
    assert (details.brand, details.bin, details.last4) == ("visa", "424242", "4242")
    assert (details.exp_month, details.exp_year) == (12, 2030)
    assert details.fingerprint == fingerprint(KEY, "card", "4242424242424242")
    stored = repr(details)
    assert "4242424242424242" not in stored
    assert "123" not in stored.replace(details.fingerprint, "")


def test_fingerprint_is_keyed_and_stable() -> None:
    """Same card and key: same fingerprint; another key or kind: another one."""
    first = fingerprint(KEY, "card", "4242424242424242")
    assert first == fingerprint(KEY, "card", "4242424242424242")
    assert first != fingerprint(b"other", "card", "4242424242424242")
    assert first != fingerprint(KEY, "iban", "4242424242424242")
    assert len(first) == 64


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (card("4242424242424241"), IncorrectNumberError),
        (card("42424242"), IncorrectNumberError),
        (card("4242 4242 4242 4242"), IncorrectNumberError),
        (card(4242424242424242), IncorrectNumberError),
        (card("3056930009020004"), UnsupportedBrandError),
        (card(exp_month=13), InvalidExpiryError),
        (card(exp_month=0), InvalidExpiryError),
        (card(exp_month="12"), InvalidExpiryError),
        (card(exp_month=True), InvalidExpiryError),
        (card(exp_year=2025), InvalidExpiryError),
        (card(exp_month=10, exp_year=2026), InvalidExpiryError),
        (card(exp_year=2099), InvalidExpiryError),
        (card(cvc="12"), InvalidCvcError),
        (card(cvc="12345"), InvalidCvcError),
        (card(cvc=123), InvalidCvcError),
        ({"exp_month": 12, "exp_year": 2030, "cvc": "123"}, IncorrectNumberError),
    ],
)
def test_check_card_rejects(raw: dict[str, Any], error: type[CardError]) -> None:
    """Bad number, brand, expiry or CVC: a 400-class error whose message has no card data."""
    with pytest.raises(error) as caught:
        check_card(raw, KEY, NOW)
    assert "4242424242424241" not in caught.value.message


def test_expiry_this_month_is_still_valid() -> None:
    """A card is valid through the end of its expiry month."""
    assert check_card(card(exp_month=11, exp_year=2026), KEY, NOW).exp_month == 11


def test_incorrect_number_code() -> None:
    """The Luhn failure carries Stripe's code."""
    with pytest.raises(IncorrectNumberError) as caught:
        check_card(card("4242424242424241"), KEY, NOW)
    assert caught.value.code == "incorrect_number"


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606",
     "NL91ABNA0417164300", "BE68539007547034", "de89 3704 0044 0532 0130 00"],
)  # fmt: skip
def test_valid_ibans(iban: str) -> None:
    """Registry examples pass, in printed (spaced, lower-case) form too."""
    details = check_iban({"iban": iban}, KEY)
    assert details.country == iban[:2].upper()
    assert details.last4 == iban.replace(" ", "")[-4:].upper()


@pytest.mark.parametrize(
    "iban",
    ["DE89370400440532013001", "DE8937040044053201300", "XX89370400440532013000",
     "GB82WEST1234569876543", "DE89-3704-0044-0532-0130-00", "", "DE"],
)  # fmt: skip
def test_invalid_ibans(iban: str) -> None:
    """Wrong check digits, wrong length for the country, unknown country, garbage."""
    with pytest.raises(InvalidIbanError):
        check_iban({"iban": iban}, KEY)


def test_iban_checksum_detects_swapped_digits() -> None:
    """mod-97 catches a transposition that Luhn-style checks can miss."""
    assert iban_checksum_valid("DE89370400440532013000")
    assert not iban_checksum_valid("DE89370400440532010300")


@pytest.mark.parametrize("wallet_id", ["wal_abcdEFGH", "wal_" + "a1" * 16])
def test_valid_wallet_ids(wallet_id: str) -> None:
    """wal_ plus 8-32 letters or digits."""
    assert check_wallet({"wallet_id": wallet_id}) == wallet_id


@pytest.mark.parametrize(
    "wallet_id",
    ["wal_short", "wal_abcdefg", "wallet_abcdefgh", "wal_abcd-efgh", "wal_" + "a" * 33, 7],
)
def test_invalid_wallet_ids(wallet_id: object) -> None:
    """Anything else is rejected."""
    with pytest.raises(InvalidWalletIdError):
        check_wallet({"wallet_id": wallet_id})


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("4242424242424242", None),
        ("4000000000000002", "generic_decline"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("5555555555554444", None),
    ],
)
def test_simulated_issuer_reproduces_stripe_test_cards(number: str, outcome: str | None) -> None:
    """Keyed by (BIN, last4) only: the issuer never needs the PAN."""
    assert SimulatedIssuer().authorize(number[:6], number[-4:]) == outcome


def test_processing_error_card_raises_issuer_unavailable() -> None:
    """4000000000000119 is a technical failure, raised under the class name the ASL retries."""
    with pytest.raises(IssuerUnavailableError):
        SimulatedIssuer().authorize("400000", "0119")
    assert IssuerUnavailableError.__name__ == "IssuerUnavailableError"


def test_issuer_table_is_not_shared_mutable_state() -> None:
    """Each issuer gets its own copy of the table."""
    issuer = SimulatedIssuer()
    assert issuer.outcomes == STRIPE_TEST_CARDS
    assert issuer.outcomes is not STRIPE_TEST_CARDS
