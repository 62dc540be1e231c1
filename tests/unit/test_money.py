"""Money parsing and formatting: exact minor units, never a float, never a silent rounding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from paystack.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_MINOR_UNITS,
    AmountTooLargeError,
    MalformedAmountError,
    Money,
    MoneyError,
    NonPositiveAmountError,
    TooManyDecimalsError,
    UnknownCurrencyError,
    check_minor_units,
    currency_exponent,
    format_amount,
    format_decimal,
    parse_amount,
)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
minor_units = st.integers(min_value=1, max_value=MAX_MINOR_UNITS)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("KRW", 0), ("USD", 2), ("EUR", 2), ("GBP", 2), ("BHD", 3), ("KWD", 3),
     ("JOD", 3), ("OMR", 3), ("TND", 3), ("CLF", 4)],
)  # fmt: skip
def test_iso_4217_exponents(code: str, exponent: int) -> None:
    """The table holds the standard's minor-unit digits for the currencies that matter."""
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12.50", "USD", 1250), ("12.5", "USD", 1250), ("12", "USD", 1200), ("0.01", "USD", 1),
     ("1000", "JPY", 1000), ("1.234", "BHD", 1234), ("0.001", "KWD", 1), ("7", "BHD", 7000),
     ("007.10", "EUR", 710)],
)  # fmt: skip
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    """Decimal text in major units becomes exact minor units for the currency's exponent."""
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "error"),
    [
        ("12.345", "USD", TooManyDecimalsError),
        ("12.500", "USD", TooManyDecimalsError),
        ("1.5", "JPY", TooManyDecimalsError),
        ("1.2345", "BHD", TooManyDecimalsError),
        ("0", "USD", NonPositiveAmountError),
        ("0.00", "USD", NonPositiveAmountError),
        ("-5", "USD", MalformedAmountError),
        ("+5", "USD", MalformedAmountError),
        ("1e3", "USD", MalformedAmountError),
        ("1E-2", "USD", MalformedAmountError),
        ("NaN", "USD", MalformedAmountError),
        ("Infinity", "USD", MalformedAmountError),
        ("inf", "USD", MalformedAmountError),
        ("", "USD", MalformedAmountError),
        (" 5", "USD", MalformedAmountError),
        ("5.", "USD", MalformedAmountError),
        (".5", "USD", MalformedAmountError),
        ("1,000", "USD", MalformedAmountError),
        ("5_000", "USD", MalformedAmountError),
        ("١٢", "USD", MalformedAmountError),  # Arabic-Indic digits: Decimal() would accept them
        ("abc", "USD", MalformedAmountError),
        ("12.50", "usd", UnknownCurrencyError),
        ("12.50", "XXX", UnknownCurrencyError),
        ("12.50", "", UnknownCurrencyError),
        ("9" * 30, "USD", AmountTooLargeError),
        ("1" * 41, "USD", MalformedAmountError),
    ],
)
def test_parse_amount_rejects(text: str, currency: str, error: type[MoneyError]) -> None:
    """Everything that is not a plain positive amount with the right decimals is an error
    of a ValueError subclass, with a message naming the problem."""
    with pytest.raises(error) as caught:
        parse_amount(text, currency)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value)


def test_error_codes_are_stable() -> None:
    """The API's error.code for money errors."""
    assert MalformedAmountError("x").code == "invalid_amount"
    assert UnknownCurrencyError("x").code == "invalid_currency"
    assert AmountTooLargeError("x").code == "amount_too_large"


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [(1250, "USD", "12.50 USD"), (5, "USD", "0.05 USD"), (1000, "JPY", "1000 JPY"),
     (1234, "BHD", "1.234 BHD"), (-1250, "EUR", "-12.50 EUR"), (0, "KWD", "0.000 KWD")],
)  # fmt: skip
def test_format_amount(minor: int, currency: str, text: str) -> None:
    """Minor units shown with exactly the currency's decimals, sign in front."""
    assert format_amount(minor, currency) == text


@given(currency=currencies, minor=minor_units)
def test_format_then_parse_round_trips(currency: str, minor: int) -> None:
    """For every currency exponent, parse(format(x)) == x."""
    assert parse_amount(format_decimal(minor, currency), currency) == minor


@given(
    currency=currencies,
    whole=st.integers(min_value=0, max_value=10**6),
    extra=st.integers(min_value=1, max_value=4),
    digits=st.data(),
)
def test_never_accepts_too_many_decimals(
    currency: str, whole: int, extra: int, digits: st.DataObject
) -> None:
    """Any text with more decimals than the currency has is refused, never rounded."""
    count = CURRENCY_EXPONENTS[currency] + extra
    fraction = digits.draw(st.text(alphabet="0123456789", min_size=count, max_size=count))
    with pytest.raises(TooManyDecimalsError):
        parse_amount(f"{whole}.{fraction}", currency)


@given(currency=currencies, minor=minor_units)
def test_accepted_amounts_are_exact(currency: str, minor: int) -> None:
    """The parsed value equals the decimal value scaled by the exponent, as an int."""
    parsed = parse_amount(format_decimal(minor, currency), currency)
    assert type(parsed) is int
    assert parsed == minor


def test_check_minor_units_refuses_floats_and_bools() -> None:
    """amount_minor from JSON must be a true integer: 12.5 or true are errors."""
    with pytest.raises(MalformedAmountError):
        check_minor_units(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(MalformedAmountError):
        check_minor_units(True, "USD")
    with pytest.raises(NonPositiveAmountError):
        check_minor_units(-1, "USD")
    assert check_minor_units(1, "JPY") == 1


def test_money_value_object() -> None:
    """Money is frozen, refuses floats and unknown currencies, prints for people."""
    money = Money.parse("12.50", "USD")
    assert money == Money(1250, "USD")
    assert str(money) == "12.50 USD"
    with pytest.raises(AttributeError):
        money.amount_minor = 1  # type: ignore[misc]
    with pytest.raises(MalformedAmountError):
        Money(12.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(UnknownCurrencyError):
        Money(1, "ZZZ")
