"""The days a caller may ask about: 1970-01-01 to 2999-12-31. There is no data outside them, and days near the
calendar's ends (year 1, year 9999) cannot be turned into UTC times or stepped from (an overflow, a 500)."""

from __future__ import annotations

import functools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.services.errors import ValidationFailed

FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
# FIRST_DAY's to LAST_DAY's years, as a pattern the OpenAPI document can state on a date or date-time parameter.
YEAR_PATTERN = r"^(19[7-9][0-9]|2[0-9]{3})-"


def check_day(value: date | datetime | None, field: str) -> None:
    """Raises:
    ValidationFailed: ``value`` (a day, or a time's day) is outside FIRST_DAY..LAST_DAY."""
    if value is None:
        return
    day = value.date() if isinstance(value, datetime) else value
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationFailed(
            f"{field} must be between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}.", field=field
        )


@functools.lru_cache(maxsize=4096)
def time_zone(name: str) -> ZoneInfo:
    """The time zone named ``name`` (an account's setting), UTC when empty; cached: accounts share few zones."""
    return ZoneInfo(name or "UTC")
