"""Plans and their limits: what each plan allows, the assistant's monthly budget (refused once used up), and what
is used of each limit now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from app.lib.formatting import format_amount
from app.models import Account, ApiUsageDaily
from app.models.base import utcnow
from app.services.accounts import account_locale
from app.services.errors import RateLimited
from app.services.usage.meters import events_stored, llm_cost_this_month, month_start


@dataclass(frozen=True)
class Plan:
    name: str
    label: str
    api_requests_per_day: int
    events_per_month: int
    llm_budget_usd_per_month: float
    assistant_questions_per_user_per_hour: int


PLANS: dict[str, Plan] = {
    "starter": Plan("starter", "Starter", 100_000, 1_000_000, 5.0, 20),
    "growth": Plan("growth", "Growth", 1_000_000, 10_000_000, 50.0, 60),
    "scale": Plan("scale", "Scale", 10_000_000, 100_000_000, 500.0, 200),
}
DEFAULT_PLAN = "starter"


def plan_of(session: Session, account_id: int) -> Plan:
    """The account's plan (the default one for a name no plan has)."""
    name = session.exec(select(Account.plan).where(Account.id == account_id)).first() or DEFAULT_PLAN
    return PLANS.get(name, PLANS[DEFAULT_PLAN])


def check_llm_budget(session: Session, account_id: int, *, now: datetime | None = None) -> None:
    """Refuse a new question once the account's LLM cost this month reached its plan's budget.

    Raises:
        RateLimited: with a message saying the budget, what was spent and when it resets.
    """
    plan = plan_of(session, account_id)
    spent = llm_cost_this_month(session, account_id, now=now)
    if spent >= plan.llm_budget_usd_per_month:
        start = month_start(now)
        reset = (
            start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        )
        locale = account_locale(session, account_id)
        used, budget = (format_amount(v, "USD", locale) for v in (spent, plan.llm_budget_usd_per_month))
        raise RateLimited(
            f"This account's assistant budget for the month is used up ({used} of {budget} on the {plan.label} "
            f"plan). It resets on {reset:%Y-%m-%d}; "
            "an owner can see the details on the Usage page.",
            retry_after=max(1, int((reset - (now or utcnow())).total_seconds())),
        )


@dataclass(frozen=True)
class LimitUse:
    """One of the plan's limits and what is used of it now."""

    key: str  # events_month | requests_today | llm_cost_month
    label: str
    used: float
    limit: float

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit > 0 else 0.0

    @property
    def reached(self) -> bool:
        return self.used >= self.limit


def limits_used(session: Session, account_id: int, *, now: datetime | None = None) -> list[LimitUse]:
    """The plan's limits against what is used: events stored this month (however they came: pixel, server API or an
    import; test events never count), API requests today, LLM cost this month (UTC).

    Request counts are those flushed to the database (each process flushes every API_USAGE_FLUSH_SECONDS).
    """
    now = (now or utcnow()).astimezone(UTC)
    plan = plan_of(session, account_id)
    today, first = now.date(), month_start(now).date()
    events = events_stored(session, account_id, first, today)
    requests = session.exec(
        select(func.coalesce(func.sum(ApiUsageDaily.requests), 0)).where(
            ApiUsageDaily.account_id == account_id, ApiUsageDaily.day == today
        )
    ).one()
    return [
        LimitUse("events_month", "Events stored this month", float(events), float(plan.events_per_month)),
        LimitUse("requests_today", "API requests today", float(requests or 0), float(plan.api_requests_per_day)),
        LimitUse(
            "llm_cost_month",
            "Assistant cost this month",
            llm_cost_this_month(session, account_id, now=now),
            plan.llm_budget_usd_per_month,
        ),
    ]
