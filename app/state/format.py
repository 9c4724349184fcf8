"""Formatting of values for display in the account's timezone."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo


def format_time(value: datetime | None, timezone: str, *, seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone or "UTC")).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))


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
