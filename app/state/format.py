"""Dates read from a URL or a form; ``format_time`` (times in the account's timezone) lives in ``app.lib.formatting``
and is importable from here too, as the states always have."""

from __future__ import annotations

from datetime import date
from typing import Any

from app.lib.formatting import format_time

__all__ = ["date_text", "format_time", "parse_date"]


def parse_date(text: str) -> date | None:
    """A YYYY-MM-DD date from a URL or a form, or None when it is empty or not a date."""
    try:
        return date.fromisoformat(text.strip()) if text and text.strip() else None
    except ValueError:
        return None


def date_text(value: Any) -> str:
    """A date from the URL or a form as YYYY-MM-DD, or "" when it is not one."""
    parsed = parse_date(str(value or ""))
    return parsed.isoformat() if parsed else ""
