from __future__ import annotations

from decimal import Decimal

import pytest

from app.lib.formatting import format_money, to_major
from app.presenters.charts import chart_number
from app.presenters.explorer import csv_number
from app.services import conversions
from app.services.currency import currency_exponent, format_major, parse_major
from app.services.errors import ValidationFailed


def test_exponents_come_from_iso4217() -> None:
    assert (currency_exponent("EUR"), currency_exponent("jpy"), currency_exponent("KWD")) == (2, 0, 3)
    assert currency_exponent("XAU") is None and currency_exponent("ZZZ") is None


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("19.99", "EUR", 1999),
        ("19.9", "EUR", 1990),
        ("19", "EUR", 1900),
        ("19,99", "EUR", 1999),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        (" 0.05 ", "USD", 5),
    ],
)
def test_parse_major(text: str, currency: str, minor: int) -> None:
    assert parse_major(text, currency) == minor
    assert parse_major(format_major(minor, currency), currency) == minor


@pytest.mark.parametrize(
    "text", ["", "abc", "²", "١٢", "1.²", "1e5", "1e999990", "-5", "+5", "1.2.3", "19.999", "1.", "9" * 13, "1 000"]
)
def test_parse_major_refuses_anything_but_a_plain_amount(text: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_major(text, "EUR")


def test_formatting() -> None:
    assert format_major(1999, "EUR") == "19.99" and format_major(-5, "KWD") == "-0.005"
    assert format_major(1500, "JPY") == "1500" and format_major(5, "USD") == "0.05"
    assert format_major(204425000, "EUR") == "2044250.00"  # no grouping: an input reads it back
    with pytest.raises(ValidationFailed):
        parse_major("1", "EURO")


@pytest.mark.parametrize("currency", ["EUR", "JPY", "KWD", "XYZ"])
def test_every_minor_to_major_conversion_reads_what_the_pages_show(currency: str) -> None:
    """One home for minor → major units (``lib.formatting.to_major``): inputs and CSV files, charts and the values
    sent to ad platforms read the amount the pages show, also for a code that is not ISO 4217 (stored data)."""
    amount = -123456
    shown = to_major(amount, currency)
    assert format_money(amount, currency, "en_US").replace(",", "").lstrip("-").endswith(str(abs(shown)))
    assert Decimal(format_major(amount, currency)) == shown
    assert conversions.major(amount, currency) == float(shown)
    assert chart_number(f"net:{currency}", amount) == float(shown)
    assert Decimal(csv_number(f"net:{currency}", amount)) == shown
