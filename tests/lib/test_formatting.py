"""The one formatter of what people read: money, counts, percentages and ratios in an account's locale."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.lib.formatting import (
    currency_exponent,
    format_amount,
    format_count,
    format_money,
    format_number,
    format_percent,
    format_ratio,
    parse_locale,
    plural,
    to_major,
)

NBSP, NNBSP = "\xa0", "\u202f"  # CLDR keeps an amount and its sign or currency on one line


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "text"),
    [
        (2044250, "EUR", "en_US", "€20,442.50"),
        (2044250, "EUR", "de_DE", f"20.442,50{NBSP}€"),
        (2044250, "EUR", "fr_FR", f"20{NNBSP}442,50{NBSP}€"),
        (2044250, "EUR", "ja_JP", "€20,442.50"),
        (1999, "USD", "en_US", "$19.99"),
        (1999, "usd", "de_DE", f"19,99{NBSP}$"),
        (123456, "JPY", "ja_JP", "￥123,456"),  # no minor unit: 123456 yen
        (123456, "JPY", "de_DE", f"123.456{NBSP}¥"),
        (1234567, "KWD", "en_US", "KWD1,234.567"),  # three decimals
        (1234567, "KWD", "de_DE", f"1.234,567{NBSP}KWD"),
        (-1999, "EUR", "en_US", "-€19.99"),
        (-1999, "EUR", "de_DE", f"-19,99{NBSP}€"),
        (-5, "KWD", "en_US", "-KWD0.005"),
        (123456789012, "EUR", "en_US", "€1,234,567,890.12"),
        (123456789012, "EUR", "de_DE", f"1.234.567.890,12{NBSP}€"),
        (0, "EUR", "en_US", "€0.00"),
    ],
)
def test_money_in_minor_units_reads_in_major_units_in_the_locale(
    amount: int, currency: str, locale: str, text: str
) -> None:
    assert format_money(amount, currency, locale) == text


def test_averages_are_rounded_to_the_currencys_digits() -> None:
    assert format_money(3333.3333, "EUR", "en_US") == "€33.33"  # a CPA of 100.00 / 3 orders
    assert format_money(1234.6, "JPY", "en_US") == "¥1,235"
    assert to_major(1999, "EUR") == Decimal("19.99") and to_major(1999, "JPY") == Decimal(1999)


def test_an_amount_is_formatted_once_per_currency_and_locale_and_equal_numbers_of_other_types_alike() -> None:
    """The webhook writes one amount per paying delivery in the order's history: Babel's ~20 µs once per amount."""
    format_money.cache_clear()
    assert format_money(4900, "EUR", "en_US") == format_money(4900, "EUR", "en_US") == "€49.00"
    assert format_money.cache_info().hits == 1
    assert format_money(4900, "EUR", "de_DE") == f"49,00{NBSP}€"  # another locale is another amount
    assert (
        format_money(Decimal("4900.4"), "EUR", "en_US") == "€49.00" and format_money(4900.6, "EUR", "en_US") == "€49.01"
    )
    assert format_money.cache_info().hits == 1  # 4900, Decimal and float are remembered apart (typed)


def test_unknown_codes_and_locales_never_fail_a_page() -> None:
    assert format_money(1999, "", "en_US") == "19.99"  # no currency: the number alone
    assert format_money(1999, "XYZ", "en_US") == "XYZ19.99"
    assert format_money(1999, "EUR", "xx_YY") == "€19.99"  # a stored locale Babel does not know: the default
    assert format_money(1999, "EUR", "") == "€19.99"


def test_amounts_in_major_units_with_chosen_digits() -> None:
    assert format_amount(0.0123, "USD", "en_US", digits=4) == "$0.0123"
    assert format_amount(25, "EUR", "de_DE") == f"25,00{NBSP}€"
    assert format_amount(1234.5, "", "de_DE") == "1.234,50"


def test_numbers_percentages_and_ratios() -> None:
    assert format_number(1234567, "en_US") == "1,234,567"
    assert format_number(1234567, "de_DE") == "1.234.567"
    assert format_number(1234567, "fr_FR") == f"1{NNBSP}234{NNBSP}567"
    assert format_number(2.5, "en_US") == "2.5" and format_number(2.0, "en_US") == "2"
    assert format_number(1 / 3, "de_DE") == "0,33"
    assert format_number(2.5, "en_US", digits=2) == "2.50"
    assert format_percent(0.0312, "en_US") == "3.1%"
    assert format_percent(0.0312, "de_DE") == f"3,1{NBSP}%"
    assert format_percent(0.3, "en_US", digits=None) == "30%" and format_percent(0.125, "en_US", digits=None) == "12.5%"
    assert format_ratio(2.3612, "en_US") == "2.36×" and format_ratio(2.3612, "de_DE") == "2,36×"


def test_plurals() -> None:
    assert format_count(1, "order", "en_US") == "1 order"
    assert format_count(2, "order", "en_US") == "2 orders"
    assert format_count(0, "order", "en_US") == "0 orders"
    assert format_count(1.5, "order", "en_US") == "1.5 orders"
    assert format_count(1234, "session", "de_DE") == "1.234 sessions"
    assert format_count(1, "entry", "en_US", "entries") == "1 entry" and plural(3, "entry", "entries") == "entries"


def test_locales_are_parsed_by_babel() -> None:
    assert str(parse_locale("de-DE")) == "de_DE" and str(parse_locale(" fr_FR ")) == "fr_FR"
    for bad in ("", "xx_YY", "!!", "en_XX"):
        with pytest.raises(ValueError, match="unknown locale"):
            parse_locale(bad)


def test_currency_exponents_come_from_iso4217() -> None:
    assert (currency_exponent("EUR"), currency_exponent("jpy"), currency_exponent("KWD")) == (2, 0, 3)
    assert currency_exponent("ZZZ") is None
