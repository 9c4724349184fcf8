"""The usage reports: one account's (for its owners and admins: per day, key, endpoint, user and question, with
its plan's limits) and the platform's (every account, for staff)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.models import Account, ApiKey, ApiUsageDaily, ConversationMessage, KeyKind, LlmCall, User
from app.models.base import utcnow
from app.services.errors import PermissionDenied
from app.services.permissions import Actor, Permission, require
from app.services.usage.daily import UsageDay, UsageFigures, daily_usage, day_bounds, each_day, usage_range
from app.services.usage.plans import LimitUse, Plan, limits_used, plan_of

TOP_QUESTIONS = 20
TOP_ACCOUNTS = 10
ADMINS_ONLY = (
    "Only owners and admins can see usage and costs. Ask an owner or admin of this account if you need these figures."
)
STAFF_ONLY = "Only PaidSignal staff can see usage across accounts."


@dataclass(frozen=True)
class ApiUsageRow:
    """API requests of one key (``key_public_id`` empty: no key, i.e. Stripe webhooks) and/or one endpoint."""

    key_public_id: str
    key_name: str
    endpoint: str
    requests: int
    errors: int
    events: int


@dataclass(frozen=True)
class UserLlmUsage:
    email: str  # empty when the user was deleted
    questions: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class QuestionCost:
    question_id: int
    question: str
    email: str
    asked_at: datetime | None
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class AccountUsage:
    start: date
    end: date  # inclusive
    plan: Plan
    days: list[UsageDay]  # every day of the range, empty days included
    total: UsageFigures
    by_key: list[ApiUsageRow]  # endpoint empty
    by_endpoint: list[ApiUsageRow]  # key empty
    by_key_endpoint: list[ApiUsageRow]
    by_user: list[UserLlmUsage]
    top_questions: list[QuestionCost]
    providers: list[str]  # conversion providers with something sent in the range
    limits: list[LimitUse]


@dataclass(frozen=True)
class AccountUsageTotal:
    public_id: str
    name: str
    plan: str
    figures: UsageFigures


@dataclass(frozen=True)
class PlatformUsage:
    start: date
    end: date
    days: list[UsageDay]
    total: UsageFigures
    accounts: list[AccountUsageTotal]  # accounts with any usage in the range, by LLM cost then requests
    top_by_cost: list[AccountUsageTotal]
    providers: list[str]


def _total(figures: Iterable[UsageFigures]) -> UsageFigures:
    total = UsageFigures()
    for one in figures:
        total.add(one)
    return total


def _providers(figures: Iterable[UsageFigures]) -> list[str]:
    return sorted({provider for one in figures for provider, sent in one.conversions.items() if sent})


def _key_names(session: Session, account_id: int, key_ids: set[int]) -> dict[int, tuple[str, str]]:
    """Key id -> (public id, a name: its label or kind, its visible prefix, "revoked" when it is)."""
    names: dict[int, tuple[str, str]] = {0: ("", "No key (Stripe webhooks)")}
    if not key_ids - {0}:
        return names
    keys = session.exec(select(ApiKey).where(ApiKey.account_id == account_id, col(ApiKey.id).in_(key_ids - {0}))).all()
    for key in keys:
        assert key.id is not None
        publishable = key.kind == KeyKind.PUBLISHABLE
        label = key.label or ("Publishable key" if publishable else "Secret key")
        shown = key.lookup if publishable else f"{key.lookup}…"
        names[key.id] = (key.public_id, f"{label} ({shown})" + (" · revoked" if key.revoked_at else ""))
    return names


def _api_rows(session: Session, account_id: int, start: date, end: date) -> list[ApiUsageRow]:
    query = (
        sa_select(
            col(ApiUsageDaily.key_id),
            col(ApiUsageDaily.endpoint),
            func.sum(ApiUsageDaily.requests),
            func.sum(ApiUsageDaily.errors),
            func.sum(ApiUsageDaily.events),
        )
        .where(
            col(ApiUsageDaily.account_id) == account_id, col(ApiUsageDaily.day) >= start, col(ApiUsageDaily.day) <= end
        )
        .group_by(col(ApiUsageDaily.key_id), col(ApiUsageDaily.endpoint))
    )
    found = session.execute(query).all()
    names = _key_names(session, account_id, {key_id for key_id, *_ in found})
    rows = [
        ApiUsageRow(
            key_public_id=names.get(key_id, ("", "Deleted key"))[0],
            key_name=names.get(key_id, ("", "Deleted key"))[1],
            endpoint=endpoint,
            requests=int(requests or 0),
            errors=int(errors or 0),
            events=int(events or 0),
        )
        for key_id, endpoint, requests, errors, events in found
    ]
    return sorted(rows, key=lambda r: (-r.requests, r.key_name, r.endpoint))


def _grouped(rows: list[ApiUsageRow], *, by_key: bool) -> list[ApiUsageRow]:
    sums: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        group = (row.key_public_id, row.key_name) if by_key else ("", row.endpoint)
        counts = sums.setdefault(group, [0, 0, 0])
        counts[0] += row.requests
        counts[1] += row.errors
        counts[2] += row.events
    grouped = [
        ApiUsageRow(
            key_public_id=group[0] if by_key else "",
            key_name=group[1] if by_key else "",
            endpoint="" if by_key else group[1],
            requests=counts[0],
            errors=counts[1],
            events=counts[2],
        )
        for group, counts in sums.items()
    ]
    return sorted(grouped, key=lambda r: (-r.requests, r.key_name, r.endpoint))


def _by_user(session: Session, account_id: int, since: datetime, until: datetime) -> list[UserLlmUsage]:
    cost = func.sum(LlmCall.cost_usd)
    query = (
        sa_select(
            col(User.email),
            func.count(func.distinct(LlmCall.question_id)),
            func.count(),
            func.sum(LlmCall.prompt_tokens),
            func.sum(LlmCall.completion_tokens),
            cost,
        )
        .select_from(LlmCall)
        .outerjoin(User, col(User.id) == col(LlmCall.user_id))
        .where(col(LlmCall.account_id) == account_id, col(LlmCall.created_at) >= since, col(LlmCall.created_at) < until)
        .group_by(col(LlmCall.user_id), col(User.email))
        .order_by(cost.desc())
    )
    return [
        UserLlmUsage(
            email=email or "",
            questions=int(questions or 0),
            calls=int(calls or 0),
            prompt_tokens=int(prompt or 0),
            completion_tokens=int(completion or 0),
            cost_usd=float(spent or 0.0),
        )
        for email, questions, calls, prompt, completion, spent in session.execute(query).all()
    ]


def _top_questions(
    session: Session, account_id: int, since: datetime, until: datetime, limit: int = TOP_QUESTIONS
) -> list[QuestionCost]:
    cost = func.sum(LlmCall.cost_usd)
    query = (
        sa_select(
            col(LlmCall.question_id),
            func.max(LlmCall.user_id),
            func.count(),
            func.sum(LlmCall.prompt_tokens),
            func.sum(LlmCall.completion_tokens),
            cost,
        )
        .where(
            col(LlmCall.account_id) == account_id,
            col(LlmCall.question_id).is_not(None),
            col(LlmCall.created_at) >= since,
            col(LlmCall.created_at) < until,
        )
        .group_by(col(LlmCall.question_id))
        .order_by(cost.desc(), col(LlmCall.question_id).desc())
        .limit(limit)
    )
    found = session.execute(query).all()
    question_ids = [row[0] for row in found]
    # The question's text from this account's messages only: a question id never reads another account's text.
    messages = {
        message.id: message
        for message in session.exec(
            select(ConversationMessage).where(
                col(ConversationMessage.id).in_(question_ids), ConversationMessage.account_id == account_id
            )
        ).all()
    }
    user_ids = {row[1] for row in found if row[1] is not None}
    emails = dict(session.exec(select(User.id, User.email).where(col(User.id).in_(user_ids))).all()) if user_ids else {}
    questions = []
    for question_id, user_id, calls, prompt, completion, spent in found:
        message = messages.get(question_id)
        questions.append(
            QuestionCost(
                question_id=int(question_id),
                question=message.content if message is not None else "(question deleted)",
                email=emails.get(user_id, "") if user_id is not None else "",
                asked_at=message.created_at if message is not None else None,
                calls=int(calls or 0),
                prompt_tokens=int(prompt or 0),
                completion_tokens=int(completion or 0),
                cost_usd=float(spent or 0.0),
            )
        )
    return questions


def account_usage(
    *, session: Session, actor: Actor, since: date | None = None, until: date | None = None, now: datetime | None = None
) -> AccountUsage:
    """The actor's account's usage per day over ``[since, until]`` (default: this month), per key and endpoint, per
    user and per question, and its plan's limits. Always the actor's own account.

    Raises:
        PermissionDenied: the actor is not an owner or admin.
        ValidationFailed: the range is not valid (see ``usage_range``).
    """
    require(actor, Permission.VIEW_USAGE)
    account_id = actor.account_id
    now = (now or utcnow()).astimezone(UTC)
    start, end = usage_range(since, until, today=now.date())
    since_at, until_at = day_bounds(start, end)
    daily = daily_usage(session, start, end, account_id)
    days = [UsageDay(day, daily.get((account_id, day)) or UsageFigures()) for day in each_day(start, end)]
    api_rows = _api_rows(session, account_id, start, end)
    return AccountUsage(
        start=start,
        end=end,
        plan=plan_of(session, account_id),
        days=days,
        total=_total(d.figures for d in days),
        by_key=_grouped(api_rows, by_key=True),
        by_endpoint=_grouped(api_rows, by_key=False),
        by_key_endpoint=api_rows,
        by_user=_by_user(session, account_id, since_at, until_at),
        top_questions=_top_questions(session, account_id, since_at, until_at),
        providers=_providers(d.figures for d in days),
        limits=limits_used(session, account_id, now=now),
    )


def require_staff(actor: Actor) -> None:
    """Usage across accounts is the platform's: staff only."""
    if not actor.is_staff:
        raise PermissionDenied(STAFF_ONLY)


def account_names(session: Session, account_ids: set[int]) -> dict[int, tuple[str, str, str]]:
    """Account id -> (public id, name, plan)."""
    if not account_ids:
        return {}
    rows = session.exec(
        select(Account.id, Account.public_id, Account.name, Account.plan).where(col(Account.id).in_(account_ids))
    ).all()
    return {int(account_id or 0): (public_id, name, plan) for account_id, public_id, name, plan in rows}


def platform_usage(
    *, session: Session, actor: Actor, since: date | None = None, until: date | None = None, now: datetime | None = None
) -> PlatformUsage:
    """Usage of every account over ``[since, until]`` (default: this month): totals per day, each account's totals
    and the top accounts by LLM cost. Staff only.

    Raises:
        PermissionDenied: the actor is not staff.
        ValidationFailed: the range is not valid.
    """
    require_staff(actor)
    now = (now or utcnow()).astimezone(UTC)
    start, end = usage_range(since, until, today=now.date())
    daily = daily_usage(session, start, end, None)
    per_day: dict[date, UsageFigures] = defaultdict(UsageFigures)
    per_account: dict[int, UsageFigures] = defaultdict(UsageFigures)
    for (account_id, day), figures in daily.items():
        per_day[day].add(figures)
        per_account[account_id].add(figures)
    names = account_names(session, set(per_account))
    accounts = [
        AccountUsageTotal(
            public_id=names[account_id][0], name=names[account_id][1], plan=names[account_id][2], figures=figures
        )
        for account_id, figures in per_account.items()
        if account_id in names and figures.active
    ]
    accounts.sort(key=lambda a: (-a.figures.cost_usd, -a.figures.requests, a.name))
    days = [UsageDay(day, per_day.get(day) or UsageFigures()) for day in each_day(start, end)]
    return PlatformUsage(
        start=start,
        end=end,
        days=days,
        total=_total(d.figures for d in days),
        accounts=accounts,
        top_by_cost=[a for a in accounts if a.figures.cost_usd > 0][:TOP_ACCOUNTS],
        providers=_providers(d.figures for d in days),
    )
