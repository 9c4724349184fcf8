"""ISO 4217 currencies and their minor-unit exponents, from the maintained ``iso4217`` package."""

from __future__ import annotations

import functools

from iso4217 import Currency


@functools.cache
def currency_exponent(code: str) -> int | None:
    """Digits after the decimal point for ``code`` (EUR 2, JPY 0, KWD 3); None for unknown or non-money codes."""
    try:
        currency = Currency(code.upper())
    except (KeyError, ValueError):
        return None
    return currency.exponent


def is_money_currency(code: str) -> bool:
    return currency_exponent(code) is not None


def format_minor(amount: int, code: str) -> str:
    """``1999, "EUR"`` → ``"19.99 EUR"``, using the currency's own exponent."""
    exponent = currency_exponent(code) or 0
    if exponent == 0:
        return f"{amount} {code.upper()}"
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d} {code.upper()}"
