"""ISO 4217 currencies and amounts typed in major units (``19.99``), as editable inputs read and write them.

Display formatting lives in ``app.lib.formatting`` (one formatter, in the account's locale)."""

from __future__ import annotations

from iso4217 import Currency

from app.lib.formatting import currency_exponent, to_major

__all__ = ["CURRENCY_CODES", "currency_exponent", "format_major", "parse_major"]

# Every code currency_exponent knows (money only: no gold, SDR or test codes), for documents that list them.
CURRENCY_CODES: tuple[str, ...] = tuple(sorted(c.code for c in Currency if c.exponent is not None))


_MAX_WHOLE_DIGITS = 12


def parse_major(text: str, currency: str) -> int:
    """``"19.99", "EUR"`` → ``1999``: an amount typed in major units, as integer minor units.

    Only plain decimal numbers: no exponents, signs, or more decimals than the currency has (so a typo is an
    error, not a silently rounded amount), at most 12 digits before the point.
    """
    from app.services.errors import ValidationFailed

    exponent = currency_exponent(currency)
    if exponent is None:
        raise ValidationFailed(f"{currency!r} is not an ISO 4217 currency code.", field="currency")
    raw = (text or "").strip()
    if raw.count(",") == 1 and "." not in raw:  # a decimal comma, as many shops write prices
        raw = raw.replace(",", ".")
    whole, point, fraction = raw.partition(".")
    digits = set("0123456789")  # str.isdigit() also accepts "²" and other scripts' digits, which int() refuses

    if not whole or set(whole) - digits or (point and (not fraction or set(fraction) - digits)):
        raise ValidationFailed(f"{text!r} is not an amount; write it like 19.99.", field="amount")
    if len(whole) > _MAX_WHOLE_DIGITS:
        raise ValidationFailed(f"{text!r} is too large.", field="amount")
    if len(fraction) > exponent:
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimals"
        raise ValidationFailed(f"{currency.upper()} amounts take {places}.", field="amount")
    scale: int = 10**exponent  # exponent >= 0
    return int(whole) * scale + (int(fraction.ljust(exponent, "0")) if exponent else 0)


def format_major(amount: int, currency: str) -> str:
    """``1999, "EUR"`` → ``"19.99"``: minor units as the plain major-unit text ``parse_major`` reads back (for
    inputs and CSV files: no grouping, no symbol, a decimal point whatever the locale)."""
    return format(to_major(amount, currency), "f")
