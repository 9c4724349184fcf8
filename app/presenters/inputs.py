"""Stored values as the text of form inputs, which parses back to the same value: numbers without a needless
``.0``, money in plain major units (no grouping, no symbol; ``services.currency.parse_major`` reads it)."""

from __future__ import annotations

from app.services.currency import format_major


def number_text(value: float | None) -> str:
    """``2.5`` → ``"2.5"``, ``2.0`` → ``"2"``, None → blank."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def money_text(amount: int | None, currency: str) -> str:
    """Minor units as the text of a money input (``1999, "EUR"`` → ``"19.99"``); None → blank."""
    return "" if amount is None else format_major(amount, currency)
