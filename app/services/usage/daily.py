"""Usage per account and UTC day over a range of days: the figures, the range a report may cover, and the grouped
queries (one per source: API requests, LLM calls, conversions sent, e-mails) that fill them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal_column
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.models import AlertEvent, ApiUsageDaily, ConversionDelivery, Invite, LlmCall
from app.models.base import utcnow
from app.services.errors import ValidationFailed

MAX_RANGE_DAYS = 366


@dataclass
class UsageFigures:
    """What an account (or every account) used over a day or a range."""

    requests: int = 0
    errors: int = 0
    events: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    conversions: dict[str, int] = field(default_factory=dict)  # provider -> conversions sent
    emails: int = 0

    @property
    def conversions_sent(self) -> int:
        return sum(self.conversions.values())

    @property
    def active(self) -> bool:
        return bool(self.requests or self.llm_calls or self.conversions_sent or self.emails or self.cost_usd)

    def add(self, other: UsageFigures) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.events += other.events
        self.llm_calls += other.llm_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cost_usd += other.cost_usd
        for provider, sent in other.conversions.items():
            self.conversions[provider] = self.conversions.get(provider, 0) + sent
        self.emails += other.emails


@dataclass(frozen=True)
class UsageDay:
    day: date
    figures: UsageFigures


def usage_range(since: date | None, until: date | None, *, today: date | None = None) -> tuple[date, date]:
    """The days a report covers, both included: by default from the 1st of this month (UTC) to today.

    Raises:
        ValidationFailed: the start is after the end, or the range is longer than MAX_RANGE_DAYS.
    """
    today = today or utcnow().date()
    end = until or today
    start = since or end.replace(day=1)
    if start > end:
        raise ValidationFailed("The start date is after the end date; choose a start on or before the end.")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationFailed(f"Choose at most {MAX_RANGE_DAYS} days at a time.")
    return start, end


def each_day(start: date, end: date) -> list[date]:
    """Every day of ``[start, end]``."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """``[start, end]`` as UTC times: the start of ``start`` and the end of ``end`` (excluded)."""
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL. PostgreSQL's ``date()`` of a timestamptz would use the
    session's time zone; the zone is a literal so the same expression can appear in GROUP BY."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def daily_usage(
    session: Session, start: date, end: date, account_id: int | None
) -> dict[tuple[int, date], UsageFigures]:
    """Usage per account and day in ``[start, end]``: one grouped query per source (one account, or all)."""
    found: dict[tuple[int, date], UsageFigures] = defaultdict(UsageFigures)
    since, until = day_bounds(start, end)

    def scoped(query: Any, column: Any) -> Any:
        return query if account_id is None else query.where(column == account_id)

    # sa_select: sqlmodel's select() is typed for up to four columns; SQLAlchemy's for more (rows via execute()).
    api = sa_select(
        col(ApiUsageDaily.account_id),
        col(ApiUsageDaily.day),
        func.sum(ApiUsageDaily.requests),
        func.sum(ApiUsageDaily.errors),
        func.sum(ApiUsageDaily.events),
    ).where(col(ApiUsageDaily.day) >= start, col(ApiUsageDaily.day) <= end)
    api = scoped(api, ApiUsageDaily.account_id).group_by(col(ApiUsageDaily.account_id), col(ApiUsageDaily.day))
    for owner, day, requests, errors, events in session.execute(api).all():
        figures = found[(owner, _as_date(day))]
        figures.requests += int(requests or 0)
        figures.errors += int(errors or 0)
        figures.events += int(events or 0)

    llm_day = _utc_day(session, col(LlmCall.created_at))
    llm = sa_select(
        col(LlmCall.account_id),
        llm_day,
        func.count(),
        func.sum(LlmCall.prompt_tokens),
        func.sum(LlmCall.completion_tokens),
        func.sum(LlmCall.cost_usd),
    ).where(col(LlmCall.created_at) >= since, col(LlmCall.created_at) < until)
    llm = scoped(llm, LlmCall.account_id).group_by(col(LlmCall.account_id), llm_day)
    for owner, day, calls, prompt, completion, cost in session.execute(llm).all():
        figures = found[(owner, _as_date(day))]
        figures.llm_calls += int(calls or 0)
        figures.prompt_tokens += int(prompt or 0)
        figures.completion_tokens += int(completion or 0)
        figures.cost_usd += float(cost or 0.0)

    sent_day = _utc_day(session, col(ConversionDelivery.sent_at))
    conversions = select(ConversionDelivery.account_id, sent_day, ConversionDelivery.provider, func.count()).where(
        ConversionDelivery.status == "sent",
        col(ConversionDelivery.sent_at) >= since,
        col(ConversionDelivery.sent_at) < until,
    )
    conversions = scoped(conversions, ConversionDelivery.account_id).group_by(
        col(ConversionDelivery.account_id), sent_day, col(ConversionDelivery.provider)
    )
    for owner, day, provider, sent in session.exec(conversions).all():
        figures = found[(owner, _as_date(day))]
        figures.conversions[provider] = figures.conversions.get(provider, 0) + int(sent or 0)

    # E-mails: alert e-mails sent (one message per alert, however many recipients) and invitations (an invitation
    # exists only once its e-mail was sent: a failed send rolls it back).
    emailed_day = _utc_day(session, col(AlertEvent.emailed_at))
    alerts = select(AlertEvent.account_id, emailed_day, func.count()).where(
        AlertEvent.email_status == "sent", col(AlertEvent.emailed_at) >= since, col(AlertEvent.emailed_at) < until
    )
    alerts = scoped(alerts, AlertEvent.account_id).group_by(col(AlertEvent.account_id), emailed_day)
    invited_day = _utc_day(session, col(Invite.created_at))
    invites = select(Invite.account_id, invited_day, func.count()).where(
        col(Invite.created_at) >= since, col(Invite.created_at) < until
    )
    invites = scoped(invites, Invite.account_id).group_by(col(Invite.account_id), invited_day)
    for query in (alerts, invites):
        for owner, day, sent in session.exec(query).all():
            found[(owner, _as_date(day))].emails += int(sent or 0)
    return found
