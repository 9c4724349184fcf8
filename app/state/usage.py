"""The account's usage page (owners and admins): the plan's limits with what is used of them, API requests, events,
assistant calls and cost per day, per key and endpoint, per user and per question, conversions and e-mails sent.

The range (``?from=&to=``, UTC days) lives in the URL. Before reading, the page adds this process's in-memory API
counts to the database, so what was just called shows at once (other processes' counts within
API_USAGE_FLUSH_SECONDS).
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict
from urllib.parse import urlencode

import plotly.graph_objects as go
import reflex as rx

from app import routes
from app.db import session_scope
from app.lib.formatting import format_amount, format_number, format_percent
from app.models import Provider
from app.presenters.charts import reused
from app.services import usage as usage_service
from app.services.permissions import Permission
from app.services.usage import AccountUsage, ApiUsageRow, LimitUse, UsageDay, UsageFigures
from app.state.base import AppState
from app.state.format import date_text, format_time, parse_date

log = logging.getLogger("paidsignal.usage")

ADMINS_ONLY = usage_service.ADMINS_ONLY
PROVIDER_LABELS = {
    Provider.META.value: "Meta",
    Provider.GA4.value: "GA4",
    Provider.GOOGLE_ADS.value: "Google Ads",
    Provider.WEBHOOK.value: "Webhook",
}
API_COLOR, ERROR_COLOR, EVENTS_COLOR, COST_COLOR = "#3e63dd", "#e5484d", "#30a46c", "#8e4ec6"


class LimitItem(TypedDict):
    key: str
    label: str
    used: str
    limit: str
    percent: int  # 0-100, for the progress bar
    note: str  # "12.5 % of the Starter plan's limit"
    tone: str  # green | amber | red


class TotalItem(TypedDict):
    id: str
    label: str
    value: str


class DayItem(TypedDict):
    day: str
    requests: str
    errors: str
    events: str
    llm_calls: str
    prompt_tokens: str
    completion_tokens: str
    cost: str
    conversions: str
    emails: str


class ApiItem(TypedDict):
    key: str
    endpoint: str
    requests: str
    errors: str
    events: str


class UserItem(TypedDict):
    email: str
    questions: str
    calls: str
    prompt_tokens: str
    completion_tokens: str
    cost: str


class QuestionItem(TypedDict):
    question: str
    email: str
    asked_at: str
    calls: str
    tokens: str
    cost: str


def number(value: float, locale: str) -> str:
    return format_number(round(value), locale)


def usd(value: float, locale: str) -> str:
    """Dollars: cents above a dollar, hundredths of a cent below (a question costs fractions of a cent)."""
    return format_amount(value, "USD", locale, digits=2 if value == 0 or abs(value) >= 1 else 4)


def conversions_text(conversions: dict[str, int], locale: str) -> str:
    sent = [(PROVIDER_LABELS.get(p, p), n) for p, n in sorted(conversions.items()) if n]
    return " · ".join(f"{label} {number(n, locale)}" for label, n in sent) if sent else "0"


def limit_item(limit: LimitUse, plan_label: str, locale: str) -> LimitItem:
    money = limit.key == "llm_cost_month"
    percent = limit.fraction * 100
    return LimitItem(
        key=limit.key,
        label=limit.label,
        used=usd(limit.used, locale) if money else number(limit.used, locale),
        limit=usd(limit.limit, locale) if money else number(limit.limit, locale),
        percent=min(100, round(percent)),
        note=(
            f"Limit reached on the {plan_label} plan"
            if limit.reached
            else f"{format_percent(limit.fraction, locale)} of the {plan_label} plan's limit"
        ),
        tone="red" if limit.reached else ("amber" if percent >= 80 else "green"),
    )


def total_items(total: UsageFigures, locale: str) -> list[TotalItem]:
    return [
        TotalItem(id="total-requests", label="API requests", value=number(total.requests, locale)),
        TotalItem(id="total-errors", label="API errors", value=number(total.errors, locale)),
        TotalItem(id="total-events", label="Events accepted via API", value=number(total.events, locale)),
        TotalItem(id="total-llm-calls", label="Assistant calls", value=number(total.llm_calls, locale)),
        TotalItem(
            id="total-tokens",
            label="Tokens in / out",
            value=f"{number(total.prompt_tokens, locale)} / {number(total.completion_tokens, locale)}",
        ),
        TotalItem(id="total-cost", label="Assistant cost", value=usd(total.cost_usd, locale)),
        TotalItem(id="total-conversions", label="Conversions sent", value=number(total.conversions_sent, locale)),
        TotalItem(id="total-emails", label="E-mails sent", value=number(total.emails, locale)),
    ]


def day_item(day: UsageDay, locale: str) -> DayItem:
    f = day.figures
    return DayItem(
        day=day.day.isoformat(),
        requests=number(f.requests, locale),
        errors=number(f.errors, locale),
        events=number(f.events, locale),
        llm_calls=number(f.llm_calls, locale),
        prompt_tokens=number(f.prompt_tokens, locale),
        completion_tokens=number(f.completion_tokens, locale),
        cost=usd(f.cost_usd, locale),
        conversions=conversions_text(f.conversions, locale),
        emails=number(f.emails, locale),
    )


def api_item(row: ApiUsageRow, locale: str) -> ApiItem:
    return ApiItem(
        key=row.key_name,
        endpoint=row.endpoint,
        requests=number(row.requests, locale),
        errors=number(row.errors, locale),
        events=number(row.events, locale),
    )


def period_label(start: str, end: str) -> str:
    return f"{start} to {end} (UTC days)" if start != end else f"{start} (UTC)"


@reused
def bar_chart(days: list[str], series: list[tuple[str, list[float], str]], *, y_title: str) -> go.Figure:
    """Bars per day: ``series`` are (name, values, colour)."""
    figure = go.Figure()
    for name, values, color in series:
        figure.add_trace(go.Bar(x=days, y=values, name=name, marker_color=color))
    figure.update_layout(
        height=260,
        margin={"l": 56, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
        barmode="group",
    )
    return figure


def flush_this_process() -> None:
    """Add this process's pending API counts to the database before a report reads it (failures are only logged:
    the counts stay in memory for the flush_api_usage job)."""
    try:
        with session_scope() as session:
            usage_service.flush_api_usage(session)
    except Exception:
        log.warning("flushing API usage before a report failed; the job will retry", exc_info=True)


class UsageRangeMixin(rx.State, mixin=True):
    """The report's range from the URL (``?from=&to=``), its totals, days and charts: what both usage pages show.
    A mixin, so each page's state has its own copy."""

    since: str = ""  # as in the URL ("" = the default)
    until: str = ""
    range_start: str = ""  # what the report covers
    range_end: str = ""
    loaded: bool = False
    forbidden: bool = False
    error: str = ""
    has_activity: bool = False
    totals: list[TotalItem] = []
    days: list[DayItem] = []
    chart_days: list[str] = []
    chart_requests: list[float] = []
    chart_errors: list[float] = []
    chart_events: list[float] = []
    chart_cost: list[float] = []

    @rx.var
    def period(self) -> str:
        return period_label(self.range_start, self.range_end) if self.range_start else ""

    @rx.var
    def custom_range(self) -> bool:
        return bool(self.since or self.until)

    @rx.var
    def api_chart(self) -> go.Figure:
        return bar_chart(
            self.chart_days,
            [
                ("Requests", self.chart_requests, API_COLOR),
                ("Errors", self.chart_errors, ERROR_COLOR),
                ("Events accepted via API", self.chart_events, EVENTS_COLOR),
            ],
            y_title="Per day",
        )

    @rx.var
    def cost_chart(self) -> go.Figure:
        return bar_chart(self.chart_days, [("Assistant cost (USD)", self.chart_cost, COST_COLOR)], y_title="USD")

    def _read_range(self) -> tuple[Any, Any]:
        params = self.router.url.query_parameters
        self.since, self.until = date_text(params.get("from")), date_text(params.get("to"))
        return parse_date(self.since), parse_date(self.until)

    def _show_days(self, start: str, end: str, days: list[UsageDay], total: UsageFigures, locale: str) -> None:
        self.range_start, self.range_end = start, end
        self.has_activity = total.active
        self.totals = total_items(total, locale)
        self.days = [day_item(d, locale) for d in reversed(days)]  # newest first in the table
        self.chart_days = [d.day.isoformat() for d in days]
        self.chart_requests = [float(d.figures.requests) for d in days]
        self.chart_errors = [float(d.figures.errors) for d in days]
        self.chart_events = [float(d.figures.events) for d in days]
        self.chart_cost = [round(d.figures.cost_usd, 6) for d in days]

    def _clear_days(self) -> None:
        self.range_start = self.range_end = ""
        self.has_activity = False
        self.totals, self.days = [], []
        self.chart_days, self.chart_requests, self.chart_errors, self.chart_events, self.chart_cost = [], [], [], [], []

    def _range_url(self, path: str, form: Any) -> str:
        form = form if isinstance(form, dict) else {}
        params = {"from": date_text(form.get("from")), "to": date_text(form.get("to"))}
        query = urlencode({k: v for k, v in params.items() if v})
        return f"{path}?{query}" if query else path


class UsageState(UsageRangeMixin, AppState):
    plan_label: str = ""
    limits: list[LimitItem] = []
    by_key: list[ApiItem] = []
    by_endpoint: list[ApiItem] = []
    by_user: list[UserItem] = []
    questions: list[QuestionItem] = []

    def _clear(self) -> None:
        self._clear_days()
        self.plan_label = ""
        self.limits, self.by_key, self.by_endpoint, self.by_user, self.questions = [], [], [], [], []

    @rx.event
    def load_usage(self) -> None:
        """on_load of /usage: this account's usage over the URL's range (owners and admins; others are told who
        can see it and nothing is read)."""
        self._load()

    @rx.event
    def refresh(self) -> None:
        """Read again (after API calls made meanwhile), keeping the range."""
        self._load()

    def _load(self) -> None:
        since, until = self._read_range()
        self.error = ""
        allowed, _ = self._run(lambda s: self._actor(s).can(Permission.VIEW_USAGE))
        self.loaded = True
        self.forbidden = bool(self.is_authenticated and not allowed)
        if not allowed:
            self._clear()
            return
        flush_this_process()
        found, error = self._run(
            lambda s: usage_service.account_usage(session=s, actor=self._actor(s), since=since, until=until)
        )
        if error or found is None:
            self._clear()
            self.forbidden = not self.can_view_usage
            self.error = "" if self.forbidden else (error or "The usage could not be loaded.")
            return
        self._show(found)

    def _show(self, found: AccountUsage) -> None:
        locale = self.account_locale
        self._show_days(found.start.isoformat(), found.end.isoformat(), found.days, found.total, locale)
        self.plan_label = found.plan.label
        self.limits = [limit_item(limit, found.plan.label, locale) for limit in found.limits]
        self.by_key = [api_item(row, locale) for row in found.by_key]
        self.by_endpoint = [api_item(row, locale) for row in found.by_endpoint]
        self.by_user = [
            UserItem(
                email=row.email or "(deleted user)",
                questions=number(row.questions, locale),
                calls=number(row.calls, locale),
                prompt_tokens=number(row.prompt_tokens, locale),
                completion_tokens=number(row.completion_tokens, locale),
                cost=usd(row.cost_usd, locale),
            )
            for row in found.by_user
        ]
        self.questions = [
            QuestionItem(
                question=row.question,
                email=row.email or "(deleted user)",
                asked_at=format_time(row.asked_at, "UTC") if row.asked_at else "—",
                calls=number(row.calls, locale),
                tokens=f"{number(row.prompt_tokens, locale)} / {number(row.completion_tokens, locale)}",
                cost=usd(row.cost_usd, locale),
            )
            for row in found.top_questions
        ]

    @rx.event
    def filter_dates(self, form: dict[str, Any]) -> Any:
        """Apply the From/To dates (UTC days, both included): a new URL, so the view can be shared."""
        return rx.redirect(self._range_url(routes.USAGE, form))

    @rx.event
    def this_month(self) -> Any:
        return rx.redirect(routes.USAGE)
