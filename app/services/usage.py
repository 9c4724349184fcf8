"""Usage and cost per account: plans and their limits, LLM calls and their cost, API requests counted in memory and
flushed to ``api_usage_daily``, and the usage reports (one account for its owners and admins, every account for staff).

LLM cost comes from litellm's price catalogue (``completion_cost``), or from ``LLM_INPUT_COST_PER_MTOK`` /
``LLM_OUTPUT_COST_PER_MTOK`` for a model the catalogue does not know (registered with ``litellm.register_model``
by ``app.integrations.llm``). Days and the month are UTC calendar days and months.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, literal_column
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app import runtime
from app.db import write_lock
from app.lib.csv_export import csv_text
from app.lib.formatting import format_amount
from app.models import (
    Account,
    AlertEvent,
    ApiKey,
    ApiUsageDaily,
    ConversationMessage,
    ConversionDelivery,
    EventCountDaily,
    Invite,
    KeyKind,
    LlmCall,
    User,
)
from app.models.base import utcnow
from app.services.accounts import account_locale
from app.services.errors import PermissionDenied, RateLimited, ValidationFailed
from app.services.permissions import Actor, Permission, require


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
    name = session.exec(select(Account.plan).where(Account.id == account_id)).first() or DEFAULT_PLAN
    return PLANS.get(name, PLANS[DEFAULT_PLAN])


def month_start(moment: datetime | None = None) -> datetime:
    moment = (moment or utcnow()).astimezone(UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def record_llm_call(
    *,
    session: Session,
    account_id: int,
    user_id: int | None,
    conversation_id: int | None,
    question_id: int | None,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost_usd: float,
    duration_ms: int,
    outcome: str = "ok",
    error: str = "",
) -> LlmCall:
    """Record one provider call (committed at once: a cost is never lost with a later failure)."""
    call = LlmCall(
        account_id=account_id,
        user_id=user_id,
        conversation_id=conversation_id,
        question_id=question_id,
        model=model[:120],
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_usd=cost_usd,
        duration_ms=duration_ms,
        outcome=outcome,
        error=error[:2000],
    )
    with write_lock:
        session.add(call)
        session.commit()
    return call


def llm_cost_this_month(session: Session, account_id: int, *, now: datetime | None = None) -> float:
    total = session.exec(
        select(func.coalesce(func.sum(LlmCall.cost_usd), 0.0)).where(
            LlmCall.account_id == account_id, col(LlmCall.created_at) >= month_start(now)
        )
    ).one()
    return float(total or 0.0)


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


# --- tracking events stored: counted by the ingest writer ------------------------------------------------------------

_EVENT_COUNT_UPSERTS: dict[str, Any] = {}


def count_stored_events(session: Session, account_id: int, received: Iterable[datetime]) -> None:
    """Add events just stored for the account (their receipt times) to ``event_count_daily``, in the writer's
    transaction: one upsert per UTC day, whatever the number of events. Test events are not passed in."""
    per_day: dict[date, int] = defaultdict(int)
    for at in received:
        per_day[at.astimezone(UTC).date()] += 1
    if not per_day:
        return
    dialect = session.get_bind().dialect.name
    statement = _EVENT_COUNT_UPSERTS.get(dialect)
    if statement is None:
        table = EventCountDaily.__table__  # type: ignore[attr-defined]
        statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.day],
            set_={"events": table.c.events + statement.excluded.events},
        )
        _EVENT_COUNT_UPSERTS[dialect] = statement
    session.execute(statement, [{"account_id": account_id, "day": d, "events": n} for d, n in sorted(per_day.items())])


def events_stored(session: Session, account_id: int, start: date, end: date) -> int:
    """Tracking events stored for the account on the UTC days ``[start, end]`` (test events never count)."""
    total = session.exec(
        select(func.coalesce(func.sum(EventCountDaily.events), 0)).where(
            EventCountDaily.account_id == account_id,
            col(EventCountDaily.day) >= start,
            col(EventCountDaily.day) <= end,
        )
    ).one()
    return int(total or 0)


# --- API requests: counted in memory, added to api_usage_daily by a job ----------------------------------------------

# (account id, key id (0: no key), endpoint ("POST /api/v1/events"), UTC day)
Slot = tuple[int, int, str, date]


class ApiUsageCounter:
    """API requests counted in this process's memory. A request only adds to a dict entry under a lock (no I/O on
    the request path); ``flush_api_usage`` adds the counts to ``api_usage_daily`` every API_USAGE_FLUSH_SECONDS and
    once more at shutdown. Thread-safe: the API runs sync routes in a thread pool."""

    def __init__(self) -> None:
        self._counts: dict[Slot, list[int]] = {}  # slot -> [requests, errors, events]
        self._lock = threading.Lock()

    def count(self, account_id: int, key_id: int, endpoint: str, status: int, events: int = 0) -> None:
        """One request answered with ``status`` (4xx and 5xx are errors) that accepted ``events`` events."""
        slot = (account_id, key_id, endpoint, datetime.now(UTC).date())
        error = 1 if status >= 400 else 0
        with self._lock:
            counts = self._counts.get(slot)
            if counts is None:
                self._counts[slot] = [1, error, events]
            else:
                counts[0] += 1
                counts[1] += error
                counts[2] += events

    def pending(self) -> dict[Slot, tuple[int, int, int]]:
        """A copy of what is counted and not yet flushed: (requests, errors, events) per slot."""
        with self._lock:
            return {slot: (c[0], c[1], c[2]) for slot, c in self._counts.items()}

    def take(self) -> dict[Slot, list[int]]:
        """Everything counted so far; counting starts again from zero."""
        with self._lock:
            taken, self._counts = self._counts, {}
        return taken

    def give_back(self, counts: dict[Slot, list[int]]) -> None:
        """Put back counts that could not be written, added to what was counted meanwhile."""
        with self._lock:
            for slot, (requests, errors, events) in counts.items():
                mine = self._counts.get(slot)
                if mine is None:
                    self._counts[slot] = [requests, errors, events]
                else:
                    mine[0] += requests
                    mine[1] += errors
                    mine[2] += events

    def discard(self) -> None:
        """Forget pending counts (tests reset state between cases)."""
        with self._lock:
            self._counts.clear()


def count_api_request(account_id: int, key_id: int, endpoint: str, status: int, events: int = 0) -> None:
    """Count one answered API request in this process's memory (see ApiUsageCounter; the runtime holds it)."""
    runtime.current().api_usage.count(account_id, key_id, endpoint, status, events)


def _upsert_usage(session: Session) -> Any:
    table = ApiUsageDaily.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    statement = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.account_id, table.c.key_id, table.c.endpoint, table.c.day],
        set_={
            "requests": table.c.requests + statement.excluded.requests,
            "errors": table.c.errors + statement.excluded.errors,
            "events": table.c.events + statement.excluded.events,
        },
    )


def flush_api_usage(session: Session) -> int:
    """Add this process's counts to ``api_usage_daily`` (one upsert per account, key, endpoint and day) and commit.

    If anything fails the counts go back to memory for the next flush: nothing counted is lost. Counts of an account
    deleted since are dropped. Returns the number of rows written.
    """
    counter = runtime.current().api_usage
    pending = counter.take()
    if not pending:
        return 0
    try:
        with write_lock:
            account_ids = {slot[0] for slot in pending}
            existing = set(session.exec(select(Account.id).where(col(Account.id).in_(account_ids))).all())
            rows = [
                {
                    "account_id": account_id,
                    "key_id": key_id,
                    "endpoint": endpoint[:120],
                    "day": day,
                    "requests": requests,
                    "errors": errors,
                    "events": events,
                }
                for (account_id, key_id, endpoint, day), (requests, errors, events) in pending.items()
                if account_id in existing
            ]
            if rows:
                session.execute(_upsert_usage(session), rows)
            session.commit()
    except BaseException:
        session.rollback()
        counter.give_back(pending)
        raise
    return len(rows)


# --- reports ----------------------------------------------------------------------------------------------------------

MAX_RANGE_DAYS = 366
TOP_QUESTIONS = 20
TOP_ACCOUNTS = 10
ADMINS_ONLY = (
    "Only owners and admins can see usage and costs. Ask an owner or admin of this account if you need these figures."
)
STAFF_ONLY = "Only PaidSignal staff can see usage across accounts."
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


def _each_day(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC)


def _utc_day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column, in SQL. PostgreSQL's ``date()`` of a timestamptz would use the
    session's time zone; the zone is a literal so the same expression can appear in GROUP BY."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(literal_column("'UTC'"), column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _daily(session: Session, start: date, end: date, account_id: int | None) -> dict[tuple[int, date], UsageFigures]:
    """Usage per account and day in ``[start, end]``: one grouped query per source (one account, or all)."""
    found: dict[tuple[int, date], UsageFigures] = defaultdict(UsageFigures)
    since, until = _bounds(start, end)

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
    since_at, until_at = _bounds(start, end)
    daily = _daily(session, start, end, account_id)
    days = [UsageDay(day, daily.get((account_id, day)) or UsageFigures()) for day in _each_day(start, end)]
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


def _accounts(session: Session, account_ids: set[int]) -> dict[int, tuple[str, str, str]]:
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
    daily = _daily(session, start, end, None)
    per_day: dict[date, UsageFigures] = defaultdict(UsageFigures)
    per_account: dict[int, UsageFigures] = defaultdict(UsageFigures)
    for (account_id, day), figures in daily.items():
        per_day[day].add(figures)
        per_account[account_id].add(figures)
    names = _accounts(session, set(per_account))
    accounts = [
        AccountUsageTotal(
            public_id=names[account_id][0], name=names[account_id][1], plan=names[account_id][2], figures=figures
        )
        for account_id, figures in per_account.items()
        if account_id in names and figures.active
    ]
    accounts.sort(key=lambda a: (-a.figures.cost_usd, -a.figures.requests, a.name))
    days = [UsageDay(day, per_day.get(day) or UsageFigures()) for day in _each_day(start, end)]
    return PlatformUsage(
        start=start,
        end=end,
        days=days,
        total=_total(d.figures for d in days),
        accounts=accounts,
        top_by_cost=[a for a in accounts if a.figures.cost_usd > 0][:TOP_ACCOUNTS],
        providers=_providers(d.figures for d in days),
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
    daily = {slot: figures for slot, figures in _daily(session, start, end, None).items() if figures.active}
    names = _accounts(session, {account_id for account_id, _ in daily})
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
