"""Numbers and money as a person reads them, in an account's locale: the one formatter of pages, e-mails, webhook
notes and the assistant's texts, built on Babel (CLDR data). ``€20,442.50`` in ``en_US``, ``20.442,50 €`` in
``de_DE``. CSV files and the API keep raw numbers and minor units; editable inputs keep plain ``19.99`` text
(``services.currency.format_major``) so what a person types back parses. Times read in the account's timezone.
"""

from __future__ import annotations

import copy
import functools
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern
from iso4217 import Currency

DEFAULT_LOCALE = "en_US"
# Digits shown when a currency code is not ISO 4217 (stored data never makes a read fail).
_UNKNOWN_CURRENCY_DIGITS = 2
Number = int | float | Decimal


@functools.cache
def currency_exponent(code: str) -> int | None:
    """Digits after the decimal point for ``code`` (EUR 2, JPY 0, KWD 3); None for unknown or non-money codes."""
    try:
        currency = Currency(code.upper())
    except (KeyError, ValueError):
        return None
    return currency.exponent


def parse_locale(name: str) -> Locale:
    """The Babel locale of ``name`` (``de_DE``, ``de-DE``, ``fr``); ValueError when Babel does not know it."""
    try:
        return Locale.parse((name or "").strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as error:
        raise ValueError(f"unknown locale {name!r}") from error


@functools.cache
def _locale(name: str) -> Locale:
    """A stored locale that Babel does not know (any more) reads as the default: a page never fails on it."""
    try:
        return parse_locale(name)
    except ValueError:
        return Locale.parse(DEFAULT_LOCALE)


def _decimal(value: Number) -> Decimal:
    # Through str(): 0.1 stays 0.1, not its binary neighbour.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _with_digits(pattern: NumberPattern, least: int, most: int) -> NumberPattern:
    """The locale's own pattern (sign, symbol place, spacing, grouping) with the given fraction digits."""
    changed = copy.copy(pattern)
    changed.frac_prec = (least, most)
    return changed


def to_major(amount_minor: Number, currency: str) -> Decimal:
    """Minor units as major units of ``currency``: ``1999, "EUR"`` → ``19.99``; ``1999, "JPY"`` → ``1999``."""
    exponent = currency_exponent(currency)
    return _decimal(amount_minor).scaleb(-(_UNKNOWN_CURRENCY_DIGITS if exponent is None else exponent))


def format_amount(amount: Number, currency: str, locale: str, *, digits: int | None = None) -> str:
    """An amount in major units with its currency: ``20442.5, "EUR", "de_DE"`` → ``20.442,50 €``. ``digits``:
    the fraction digits, by default the currency's ISO 4217 exponent (JPY 0, KWD 3), so no minor unit is hidden.
    Without a currency, the number alone."""
    exponent = currency_exponent(currency) if currency else None
    places = digits if digits is not None else (_UNKNOWN_CURRENCY_DIGITS if exponent is None else exponent)
    loc = _locale(locale)
    if not currency:
        return str(_with_digits(loc.decimal_formats[None], places, places).apply(_decimal(amount), loc))
    pattern = _with_digits(loc.currency_formats["standard"], places, places)
    return str(pattern.apply(_decimal(amount), loc, currency=currency.upper(), currency_digits=False))


@functools.lru_cache(maxsize=4096, typed=True)
def format_money(amount_minor: Number, currency: str, locale: str) -> str:
    """An amount in minor units, as people read it: ``2044250, "EUR", "en_US"`` → ``€20,442.50``. Averages (AOV,
    CPA) may be fractions of a minor unit; they are rounded to the currency's digits. Remembered per amount,
    currency and locale: Babel takes about 20 µs per amount, and a shop's amounts repeat (every paying webhook
    writes one in the order's history)."""
    return format_amount(to_major(amount_minor, currency), currency, locale)


def format_number(value: Number, locale: str, *, digits: int | None = None) -> str:
    """A count or a measure with the locale's grouping: ``20442`` → ``20,442`` / ``20.442``. By default whole
    numbers show no decimals and others up to two (``2.5`` orders); ``digits`` fixes them."""
    loc = _locale(locale)
    least, most = (0, 2) if digits is None else (digits, digits)
    return str(_with_digits(loc.decimal_formats[None], least, most).apply(_decimal(value), loc))


def format_percent(ratio: Number, locale: str, *, digits: int | None = 1) -> str:
    """A fraction as a percentage: ``0.0312`` → ``3.1%`` (``en_US``), ``3,1 %`` (``de_DE``). ``digits=None``:
    as many as needed, up to two (``0.3`` → ``30%``, ``0.125`` → ``12.5%``)."""
    loc = _locale(locale)
    least, most = (0, 2) if digits is None else (digits, digits)
    return str(_with_digits(loc.percent_formats[None], least, most).apply(_decimal(ratio), loc))


def format_ratio(value: Number, locale: str, *, digits: int = 2) -> str:
    """A ratio such as ROAS: ``2.3612`` → ``2.36×`` (``de_DE``: ``2,36×``)."""
    return format_number(value, locale, digits=digits) + "×"


def plural(count: Number, singular: str, plural_form: str = "") -> str:
    """The noun for ``count``: one order, 2 orders, 0 orders, 1.5 orders."""
    return singular if count == 1 else (plural_form or f"{singular}s")


def format_count(count: Number, singular: str, locale: str, plural_form: str = "") -> str:
    """``1, "order"`` → ``1 order``; ``1234, "order"`` → ``1,234 orders``."""
    return f"{format_number(count, locale)} {plural(count, singular, plural_form)}"


def format_time(value: datetime | None, timezone: str, *, seconds: bool = False) -> str:
    """A moment in the account's timezone, ``2026-03-29 14:05`` (``:07`` with ``seconds``); None → ""."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone or "UTC")).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))
