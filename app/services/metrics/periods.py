"""Date ranges of the metrics: presets (last 28 days, month to date…), custom ranges and the comparison period, in
calendar days of the account's timezone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from sqlmodel import Session

from app.models.base import utcnow
from app.services import rollups
from app.services.days import check_day
from app.services.errors import ValidationFailed

MAX_DAYS = 400


class Compare(StrEnum):
    PREVIOUS = "previous"  # the same number of days just before
    YEAR = "year"  # 52 weeks before: same length, same weekdays
    NONE = "none"


class Preset(StrEnum):
    TODAY = "today"
    YESTERDAY = "yesterday"
    LAST_7_DAYS = "last_7_days"
    LAST_28_DAYS = "last_28_days"
    LAST_90_DAYS = "last_90_days"
    MONTH_TO_DATE = "month_to_date"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """Calendar days in the account's timezone, both ends included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> Iterator[date]:
        """Every day of the period, in order."""
        return (self.start + timedelta(days=n) for n in range(self.days))


def check_span(period: Period) -> None:
    """A period that ends before it starts, or spans more than ``MAX_DAYS``, is refused."""
    if period.end < period.start:
        raise ValidationFailed("The end date is before the start date.", field="end")
    if period.days > MAX_DAYS:
        raise ValidationFailed(f"A range may span at most {MAX_DAYS} days.", field="start")


def resolve_period(preset: str, *, today: date, start: date | None = None, end: date | None = None) -> Period:
    """A preset (or ``custom`` with ``start``/``end``) as a period ending today at the latest."""
    try:
        kind = Preset(preset)
    except ValueError as error:
        raise ValidationFailed(f"range must be one of {', '.join(p.value for p in Preset)}.", field="range") from error
    if kind is Preset.CUSTOM:
        if start is None or end is None:
            raise ValidationFailed("A custom range needs both a start and an end date.", field="start")
        check_day(start, "start")
        check_day(end, "end")
        period = Period(start, end)
    else:
        period = {
            Preset.TODAY: Period(today, today),
            Preset.YESTERDAY: Period(today - timedelta(days=1), today - timedelta(days=1)),
            Preset.LAST_7_DAYS: Period(today - timedelta(days=6), today),
            Preset.LAST_28_DAYS: Period(today - timedelta(days=27), today),
            Preset.LAST_90_DAYS: Period(today - timedelta(days=89), today),
            Preset.MONTH_TO_DATE: Period(today.replace(day=1), today),
        }[kind]
    check_span(period)
    return period


def comparison_period(period: Period, compare: str) -> Period | None:
    try:
        kind = Compare(compare)
    except ValueError as error:
        raise ValidationFailed(
            f"compare must be one of {', '.join(c.value for c in Compare)}.", field="compare"
        ) from error
    if kind is Compare.NONE:
        return None
    if kind is Compare.PREVIOUS:
        return Period(period.start - timedelta(days=period.days), period.start - timedelta(days=1))
    return Period(period.start - timedelta(weeks=52), period.end - timedelta(weeks=52))


def account_today(session: Session, account_id: int) -> date:
    """Today in the account's timezone (where every preset ends)."""
    return rollups.local_day(utcnow(), rollups.account_zone(session, account_id))
