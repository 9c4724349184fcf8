"""Usage of every account as CSV, one row per account and day (staff only)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from app.lib.csv_export import csv_text
from app.models.base import utcnow
from app.services.permissions import Actor
from app.services.usage.daily import daily_usage, usage_range
from app.services.usage.reports import account_names, require_staff

CSV_COLUMNS = (
    "day",
    "account",
    "account_name",
    "plan",
    "requests",
    "errors",
    "events",
    "llm_calls",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "conversions_sent",
    "emails_sent",
)


def usage_csv(
    *, session: Session, actor: Actor, since: date | None = None, until: date | None = None, now: datetime | None = None
) -> str:
    """One row per account per day with any usage in ``[since, until]`` (CSV_COLUMNS), by day then account. Staff only.

    Raises:
        PermissionDenied: the actor is not staff.
        ValidationFailed: the range is not valid.
    """
    require_staff(actor)
    now = (now or utcnow()).astimezone(UTC)
    start, end = usage_range(since, until, today=now.date())
    daily = {slot: figures for slot, figures in daily_usage(session, start, end, None).items() if figures.active}
    names = account_names(session, {account_id for account_id, _ in daily})
    rows = sorted(
        ((day, names[account_id], figures) for (account_id, day), figures in daily.items() if account_id in names),
        key=lambda row: (row[0], row[1][1], row[1][0]),
    )
    return csv_text(
        CSV_COLUMNS,
        (
            [
                day.isoformat(),
                public_id,
                name,
                plan,
                f.requests,
                f.errors,
                f.events,
                f.llm_calls,
                f.prompt_tokens,
                f.completion_tokens,
                f"{f.cost_usd:.6f}",
                f.conversions_sent,
                f.emails,
            ]
            for day, (public_id, name, plan), f in rows
        ),
    )
