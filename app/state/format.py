"""Formatting of values for display in the account's timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def format_time(value: datetime | None, timezone: str, *, seconds: bool = False) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(timezone or "UTC")).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else ""))
