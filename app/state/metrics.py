"""Dashboard states: the overview's KPIs, charts and top campaigns (``/``), the metrics explorer (``/metrics``), and
a campaign's versions compared. Every figure comes from app.services.metrics; the range, comparison, model and the
explorer's choices live in the URL so a view can be shared (these handlers only change the URL).

Money is per currency everywhere: one KPI card, chart trace and table column per currency, never a sum.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypedDict

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.csv_export import csv_text
from app.lib.formatting import format_count, format_money, format_number, format_percent, format_ratio
from app.models import AttributionModel, Channel, ChannelGroup
from app.services import campaigns as campaign_service
from app.services import events as event_service
from app.services import metrics as metric_service
from app.services import stripe_connection
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, LOOKBACK_DAYS
from app.services.campaigns import CHANNEL_GROUP_LABELS
from app.services.currency import currency_exponent
from app.services.metrics import Compare, Dimension, Figures, MetricsQuery, MetricsReport, Period, Preset
from app.state.base import AppState
from app.state.format import date_text
from app.state.toasts import toast

PRESET_LABELS = {
    Preset.TODAY.value: "Today",
    Preset.YESTERDAY.value: "Yesterday",
    Preset.LAST_7_DAYS.value: "Last 7 days",
    Preset.LAST_28_DAYS.value: "Last 28 days",
    Preset.LAST_90_DAYS.value: "Last 90 days",
    Preset.MONTH_TO_DATE.value: "Month to date",
    Preset.CUSTOM.value: "Custom",
}
COMPARE_LABELS = {
    Compare.PREVIOUS.value: "Previous period",
    Compare.YEAR.value: "Same period last year",
    Compare.NONE.value: "No comparison",
}
MODEL_LABELS = {
    AttributionModel.LAST_TOUCH.value: "Last touch",
    AttributionModel.FIRST_TOUCH.value: "First touch",
    AttributionModel.LINEAR.value: "Linear",
    AttributionModel.POSITION_BASED.value: "Position based",
    AttributionModel.TIME_DECAY.value: "Time decay",
}
DIMENSION_LABELS = {
    Dimension.CAMPAIGN.value: "Campaign",
    Dimension.VERSION.value: "Campaign version",
    Dimension.CHANNEL_GROUP.value: "Channel group",
    Dimension.CHANNEL.value: "Platform",
    Dimension.PRODUCT.value: "Product",
    Dimension.PRICE.value: "Price",
    Dimension.DAY.value: "Day",
    Dimension.WEEK.value: "Week",
    Dimension.MONTH.value: "Month",
}
LOOKBACKS = [str(days) for days in LOOKBACK_DAYS]
DEFAULT_PRESET = Preset.LAST_28_DAYS.value
DEFAULT_MODEL = AttributionModel.LAST_TOUCH.value
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
CHANNELS = [*(c.value for c in Channel), metric_service.DIRECT]  # platforms
CHANNEL_GROUPS = [*(g.value for g in ChannelGroup), metric_service.DIRECT]
GROUP_OPTIONS = [*CHANNEL_GROUP_LABELS.items(), (metric_service.DIRECT, "Direct / unmatched")]
TOP_CAMPAIGNS = 10
CHART_LABEL_CHARS = 24  # a longer name is shortened under its bar (in full on hover)
SMALL_SAMPLE_ORDERS = 30
SMALL_SAMPLE_SESSIONS = 1000
CURRENT_COLOR, COMPARISON_COLOR = "#3e63dd", "#8b8d98"


# --- measures: one list for the KPI cards, the explorer's columns, its chart and the CSV ------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    kind: str  # count | rate | money | ratio
    per_currency: bool
    value: Callable[[Figures, str], float | None]
    better: int = 1  # 1: up is good, -1: down is good, 0: neither (spend)


def _money(attribute: str) -> Callable[[Figures, str], float | None]:
    def read(figures: Figures, currency: str) -> float | None:
        money = figures.money.get(currency)
        return float(getattr(money, attribute)) if money else 0.0

    return read


MEASURES: dict[str, Measure] = {
    m.key: m
    for m in (
        Measure("sessions", "Sessions", "count", False, lambda f, _c: f.sessions),
        Measure("visitors", "Visitors", "count", False, lambda f, _c: f.visitors),
        Measure("orders", "Orders", "count", False, lambda f, _c: f.orders),
        Measure("conversion_rate", "Conversion rate", "rate", False, lambda f, _c: f.conversion_rate),
        Measure("new_customers", "New customers", "count", False, lambda f, _c: f.new_customers),
        Measure("renewals", "Renewals", "count", False, lambda f, _c: f.renewals),
        Measure("net", "Net revenue", "money", True, _money("net")),
        Measure("gross", "Gross revenue", "money", True, _money("gross")),
        Measure("renewal_revenue", "Renewal revenue", "money", True, _money("renewal_revenue")),
        Measure("refunds", "Refunds", "money", True, _money("refunds"), better=-1),
        Measure("spend", "Ad spend", "money", True, _money("spend"), better=0),
        Measure("aov", "AOV", "money", True, lambda f, c: f.aov(c)),
        Measure("roas", "ROAS", "ratio", True, lambda f, c: f.roas(c)),
        Measure("cpa", "CPA", "money", True, lambda f, c: f.cpa(c), better=-1),
        Measure("refund_rate", "Refund rate", "rate", True, lambda f, c: f.refund_rate(c), better=-1),
    )
}
# Traffic and spend have no product: rows by product or price leave them out (see services/metrics).
PRODUCT_MEASURES = ("orders", "new_customers", "renewals", "net", "gross", "renewal_revenue", "refunds", "aov")
EXPLORER_MEASURES = ("sessions", "visitors", "orders", "conversion_rate", "new_customers", "net", "gross", "refunds",
                     "spend", "aov", "roas", "cpa")  # fmt: skip


def column_key(measure: str, currency: str = "") -> str:
    return f"{measure}:{currency}" if currency else measure


def split_column(key: str) -> tuple[Measure, str]:
    name, _, currency = key.partition(":")
    return MEASURES[name], currency


def column_label(key: str) -> str:
    measure, currency = split_column(key)
    return f"{measure.label} ({currency})" if currency else measure.label


def measure_value(key: str, figures: Figures | None) -> float | None:
    if figures is None:
        return None
    measure, currency = split_column(key)
    return measure.value(figures, currency)


def format_value(key: str, value: float | None, locale: str) -> str:
    """A measure's value as people read it in the account's locale: counts, percentages, money in the currency,
    ROAS as "2.50×"."""
    if value is None:
        return "n/a"
    measure, currency = split_column(key)
    if measure.kind == "money":
        return format_money(value, currency, locale)
    if measure.kind == "rate":
        return format_percent(value, locale)
    if measure.kind == "ratio":
        return format_ratio(value, locale)
    return format_number(value, locale)


def format_change(key: str, change: float, locale: str) -> str:
    """An absolute delta with its sign; rates in percentage points."""
    measure, currency = split_column(key)
    sign = "+" if change > 0 else ("−" if change < 0 else "±")
    if measure.kind == "money":
        return sign + format_money(abs(change), currency, locale)
    if measure.kind == "rate":
        return f"{sign}{format_number(abs(change) * 100, locale, digits=1)} pp"
    if measure.kind == "ratio":
        return sign + format_ratio(abs(change), locale)
    return sign + format_number(abs(change), locale)


def percent_text(percent: float | None, locale: str) -> str:
    if percent is None:
        return "n/a"
    return ("+" if percent > 0 else "") + format_percent(percent / 100, locale)


def major(amount: float | None, currency: str) -> float | None:
    """Minor units as major units, for charts and the CSV (1999 EUR → 19.99)."""
    return None if amount is None else amount / 10 ** (currency_exponent(currency) or 0)


# --- the range in the URL ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RangeChoice:
    preset: str
    start: str  # YYYY-MM-DD, custom ranges only
    end: str
    compare: str
    model: str

    def period(self, today: date) -> Period:
        return metric_service.resolve_period(
            self.preset,
            today=today,
            start=date.fromisoformat(self.start) if self.start else None,
            end=date.fromisoformat(self.end) if self.end else None,
        )


def _pick(value: Any, allowed: Mapping[str, Any] | list[str], default: str) -> str:
    text = str(value or "")
    return text if text in allowed else default


def range_choice(params: Mapping[str, Any]) -> RangeChoice:
    """The range, comparison and model of ``?range=&start=&end=&compare=&model=``; unknown values fall back to the
    defaults (last 28 days vs the previous period, last touch)."""
    return RangeChoice(
        preset=_pick(params.get("range"), PRESET_LABELS, DEFAULT_PRESET),
        start=date_text(params.get("start")),
        end=date_text(params.get("end")),
        compare=_pick(params.get("compare"), COMPARE_LABELS, Compare.PREVIOUS.value),
        model=_pick(params.get("model"), MODEL_LABELS, DEFAULT_MODEL),
    )


def _day(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def period_text(period: Period | None) -> str:
    if period is None:
        return ""
    if period.start == period.end:
        return _day(period.start)
    return f"{_day(period.start)} – {_day(period.end)} ({period.days} days)"


def _current_query(router: Any) -> tuple[str, dict[str, str]]:
    return router.url.path or routes.HOME, dict(router.url.query_parameters)


def changed_url(router: Any, **changes: str) -> str:
    """The page's URL with some query parameters changed (an empty value removes one); the others are kept."""
    path, params = _current_query(router)
    params.update(changes)
    return routes.dashboard_url(path, params)


class RangeState(AppState):
    """The range picker shared by ``/`` and ``/metrics``: shows the URL's choices; its handlers change the URL (the
    page's on_load then loads the new figures)."""

    preset: str = DEFAULT_PRESET
    start: str = ""
    end: str = ""
    compare: str = Compare.PREVIOUS.value
    model: str = DEFAULT_MODEL
    period_label: str = ""
    comparison_label: str = ""

    @rx.var
    def is_custom(self) -> bool:
        return self.preset == Preset.CUSTOM.value

    @rx.event
    def read_range(self) -> None:
        """on_load: the range from the URL, resolved against today in the account's timezone."""
        choice = range_choice(self.router.url.query_parameters)
        self.preset, self.compare, self.model = choice.preset, choice.compare, choice.model

        def resolve(s: Session) -> tuple[Period, Period | None]:
            period = choice.period(metric_service.account_today(s, self._actor(s).account_id))
            return period, metric_service.comparison_period(period, choice.compare)

        result, _error = self._run(resolve)
        if result is None:
            self.start, self.end, self.period_label, self.comparison_label = choice.start, choice.end, "", ""
            return
        period, comparison = result
        self.start, self.end = period.start.isoformat(), period.end.isoformat()
        self.period_label = period_text(period)
        self.comparison_label = period_text(comparison)

    @rx.event
    def choose_preset(self, preset: str) -> Any:
        if preset not in PRESET_LABELS:
            return None
        if preset == Preset.CUSTOM.value:
            # Start from the dates shown, so the custom range is valid at once and only needs adjusting.
            return rx.redirect(changed_url(self.router, range=preset, start=self.start, end=self.end))
        return rx.redirect(changed_url(self.router, range=preset, start="", end=""))

    @rx.event
    def apply_custom(self, form: dict[str, Any]) -> Any:
        form = form if isinstance(form, dict) else {}
        start, end = date_text(form.get("start")), date_text(form.get("end"))
        if not start or not end:
            return toast.error("Choose both a start and an end date (YYYY-MM-DD).")
        return rx.redirect(changed_url(self.router, range=Preset.CUSTOM.value, start=start, end=end))

    @rx.event
    def choose_compare(self, compare: str) -> Any:
        return rx.redirect(changed_url(self.router, compare=_pick(compare, COMPARE_LABELS, Compare.PREVIOUS.value)))

    @rx.event
    def choose_model(self, model: str) -> Any:
        return rx.redirect(changed_url(self.router, model=_pick(model, MODEL_LABELS, DEFAULT_MODEL)))


# --- the overview (/) ----------------------------------------------------------------------------------------------


class KpiItem(TypedDict):
    id: str
    label: str
    value: str
    previous: str  # "" without a comparison
    change: str
    percent: str  # "n/a" when the base is zero
    tone: str  # green | red | gray
    icon: str  # arrow-up | arrow-down | minus


class CampaignLine(TypedDict):
    campaign: str
    url: str
    net: str
    orders: str
    conversion_rate: str
    spend: str
    roas: str


def kpi_item(key: str, current: Figures, previous: Figures | None, locale: str) -> KpiItem:
    measure, _currency = split_column(key)
    now = measure_value(key, current)
    item = KpiItem(
        id="metric-" + key.replace(":", "-").replace("_", "-").lower(),
        label=column_label(key),
        value=format_value(key, now, locale),
        previous="",
        change="",
        percent="",
        tone="gray",
        icon="minus",
    )
    if previous is None:
        return item
    change = metric_service.delta(now, measure_value(key, previous))
    item["previous"] = format_value(key, change.previous, locale)
    item["change"] = format_change(key, change.absolute, locale) if change.absolute is not None else ""
    item["percent"] = percent_text(change.percent, locale)
    direction = 0 if not change.absolute else (1 if change.absolute > 0 else -1)
    item["icon"] = {1: "arrow-up", -1: "arrow-down", 0: "minus"}[direction]
    item["tone"] = "gray" if direction == 0 or measure.better == 0 else (
        "green" if direction == measure.better else "red"
    )  # fmt: skip
    return item


def overview_kpis(current: Figures, previous: Figures | None, currencies: list[str], locale: str) -> list[KpiItem]:
    """Net revenue (per currency), orders, conversion rate, AOV, ROAS and CPA (per currency), sessions, refunds."""
    codes = currencies or []
    keys = [
        *(column_key("net", c) for c in codes),
        "orders",
        "conversion_rate",
        *(column_key(m, c) for m in ("aov", "roas", "cpa") for c in codes),
        "sessions",
        *(column_key("refunds", c) for c in codes),
    ]
    return [kpi_item(key, current, previous, locale) for key in keys]


def _joined(values: list[str]) -> str:
    return " · ".join(values) if values else "—"


def campaign_lines(report: MetricsReport, public_ids: Mapping[str, str], locale: str) -> list[CampaignLine]:
    """The top campaigns by net revenue (the service sorts rows so), with their volumes; ``public_ids`` maps the
    rows' keys (internal campaign ids) to the campaigns' public ids for links."""
    lines = []
    for row in [r for r in report.rows if _has_figures(r.figures)][:TOP_CAMPAIGNS]:
        figures, codes = row.figures, sorted(row.figures.money)
        spent = [c for c in codes if figures.money[c].spend]
        public_id = public_ids.get(row.key, "")
        lines.append(
            CampaignLine(
                campaign=row.label,
                url=routes.campaign_url(public_id) if public_id else "",
                net=_joined([format_money(figures.money[c].net, c, locale) for c in codes]),
                orders=format_number(figures.orders, locale),
                conversion_rate=format_value("conversion_rate", figures.conversion_rate, locale),
                spend=_joined([format_money(figures.money[c].spend, c, locale) for c in spent]),
                roas=_joined([format_value(column_key("roas", c), figures.roas(c), locale) for c in spent]),
            )
        )
    return lines


def campaign_public_ids(session: Session, account_id: int) -> dict[str, str]:
    """Rows by campaign are keyed by the internal id: the public id of each, for links (no link for direct)."""
    ids = metric_service.public_ids(session, account_id, Dimension.CAMPAIGN)
    return {key: pid for key, pid in ids.items() if pid != metric_service.DIRECT}


def _series(report: MetricsReport | None, period: Period | None, value: Callable[[Figures], float]) -> list[float]:
    """One value per day of ``period`` (0 for days without data), from a report by day."""
    if report is None or period is None:
        return []
    by_day = {row.key: row.figures for row in report.rows}
    days = [(period.start + timedelta(days=n)).isoformat() for n in range(period.days)]
    return [value(by_day[d]) if d in by_day else 0.0 for d in days]


def line_figure(
    x: list[str], series: list[tuple[str, list[float], bool]], *, y_title: str = "", hover: list[str] | None = None
) -> go.Figure:
    """Lines over days: ``series`` are (name, values, is_comparison); comparison lines are dashed and grey, aligned
    to the current days by position (their own dates in the hover text)."""
    figure = go.Figure()
    for name, values, comparison in series:
        figure.add_trace(
            go.Scatter(
                x=x,
                y=values,
                name=name,
                mode="lines+markers" if len(x) <= 31 else "lines",
                line={
                    "color": COMPARISON_COLOR if comparison else CURRENT_COLOR,
                    "dash": "dash" if comparison else "solid",
                    "width": 2,
                },
                text=hover if comparison and hover else None,
                hovertemplate="%{text}: %{y}<extra>" + name + "</extra>" if comparison and hover else None,
            )
        )
    _layout(figure, y_title)
    return figure


def plotly_text(text: str) -> str:
    """``text`` as plotly.js shows it literally. Plotly reads ``<b>``, ``<br>``, ``<a href>``… and entities in tick
    labels, legends and hover text as markup, so names (campaigns, products: anyone's text) are escaped."""
    return html.escape(text, quote=False)


def short_label(text: str, limit: int = CHART_LABEL_CHARS) -> str:
    """A tick label of at most ``limit`` characters and an ellipsis (long names would squeeze the plot)."""
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def bar_figure(
    labels: list[str],
    series: list[tuple[str, list[float | None], bool]],
    *,
    y_title: str,
    keys: list[str] | None = None,
) -> go.Figure:
    """Bars per row: ``labels`` are names (shown as text, shortened under the bars, in full on hover); ``keys``
    tell rows apart (two names may share their first characters), default: the labels."""
    keys = keys if keys is not None and len(keys) == len(labels) else labels
    full = [plotly_text(label) for label in labels]
    figure = go.Figure()
    for name, values, comparison in series:
        figure.add_trace(
            go.Bar(
                x=keys,
                y=values,
                name=plotly_text(name),
                marker_color=COMPARISON_COLOR if comparison else CURRENT_COLOR,
                opacity=0.6 if comparison else 1.0,
                customdata=full,
                hovertemplate="%{customdata}: %{y}<extra>" + plotly_text(name) + "</extra>",
            )
        )
    _layout(figure, y_title)
    figure.update_layout(
        barmode="group",
        hovermode="closest",
        xaxis={
            "type": "category",  # keys may look like numbers
            "tickmode": "array",
            "tickvals": keys,
            "ticktext": [plotly_text(short_label(label)) for label in labels],
            "automargin": True,
        },
    )
    return figure


def _layout(figure: go.Figure, y_title: str) -> None:
    figure.update_layout(
        height=280,
        margin={"l": 48, "r": 16, "t": 16, "b": 40},
        legend={"orientation": "h", "y": -0.2},
        yaxis={"title": {"text": y_title}, "rangemode": "tozero"},
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        hovermode="x unified",
    )


def _has_figures(figures: Figures | None) -> bool:
    return figures is not None and bool(
        figures.sessions or figures.orders_micro or figures.renewals_micro or any(
            m.gross or m.refunds or m.spend or m.renewal_revenue for m in figures.money.values()
        )
    )  # fmt: skip


@dataclass
class OverviewFigures:
    period: Period
    comparison: Period | None
    current: MetricsReport  # by day
    previous: MetricsReport | None  # by day, over the comparison period
    campaigns: MetricsReport
    campaign_ids: dict[str, str]  # internal key -> public id
    any_data: bool


def read_overview_figures(session: Session, account_id: int, choice: RangeChoice) -> OverviewFigures:
    """The overview's three queries: the period by day, the comparison period by day, the period by campaign."""
    period = choice.period(metric_service.account_today(session, account_id))
    comparison = metric_service.comparison_period(period, choice.compare)

    def report(p: Period, dimension: Dimension) -> MetricsReport:
        query = MetricsQuery(start=p.start, end=p.end, dimension=dimension, model=choice.model, compare=Compare.NONE)
        return metric_service.metrics(session=session, account_id=account_id, query=query)

    current = report(period, Dimension.DAY)
    previous = report(comparison, Dimension.DAY) if comparison else None
    campaigns = report(period, Dimension.CAMPAIGN)
    ids = campaign_public_ids(session, account_id)
    any_data = _has_figures(current.total.figures) or _has_figures(previous.total.figures if previous else None)
    if not any_data:
        any_data = bool(event_service.list_events(session=session, account_id=account_id, limit=1).events)
    return OverviewFigures(period, comparison, current, previous, campaigns, ids, any_data)


class DashboardState(AppState):
    """The overview's figures for the URL's range: KPI cards, revenue and orders per day, top campaigns."""

    loading: bool = False
    loaded: bool = False
    error: str = ""
    has_data: bool = False  # anything in the account at all (else the "get started" card)
    has_figures: bool = False  # anything in this range or its comparison
    comparing: bool = False
    currencies: list[str] = []
    kpis: list[KpiItem] = []
    campaigns: list[CampaignLine] = []
    days: list[str] = []
    comparison_days: list[str] = []
    revenue: dict[str, list[float]] = {}  # currency -> net revenue per day (major units)
    revenue_previous: dict[str, list[float]] = {}
    orders: list[float] = []
    orders_previous: list[float] = []

    @rx.var
    def revenue_chart(self) -> go.Figure:
        series = []
        for code in sorted(self.revenue):
            series.append((f"Net revenue {code}", self.revenue[code], False))
            if self.comparing:
                series.append((f"Comparison {code}", self.revenue_previous.get(code, []), True))
        title = "Net revenue" + (f" ({self.currencies[0]})" if len(self.currencies) == 1 else "")
        return line_figure(self.days, series, y_title=title, hover=self.comparison_days)

    @rx.var
    def orders_chart(self) -> go.Figure:
        series = [("Orders", self.orders, False)]
        if self.comparing:
            series.append(("Comparison", self.orders_previous, True))
        return line_figure(self.days, series, y_title="Orders", hover=self.comparison_days)

    @rx.event
    def load_dashboard(self) -> Iterator[None]:
        """on_load of ``/``: the figures of the URL's range (a skeleton shows meanwhile)."""
        choice = range_choice(self.router.url.query_parameters)
        self.loading, self.error = True, ""
        yield
        try:
            found, error = self._run(lambda s: read_overview_figures(s, self._actor(s).account_id, choice))
        finally:
            self.loading = False
        self.loaded = True
        if found is None:
            if error and self.is_authenticated:
                self.error = error
            self.kpis, self.campaigns, self.has_figures = [], [], False
            return
        self._show(found)

    def _show(self, found: OverviewFigures) -> None:
        current, previous = found.current, found.previous
        total, before = current.total.figures, previous.total.figures if previous else None
        self.has_data = found.any_data
        self.has_figures = _has_figures(total) or _has_figures(before)
        self.comparing = previous is not None
        self.currencies = sorted(set(current.currencies) | set(previous.currencies if previous else []))
        self.kpis = overview_kpis(total, before, self.currencies, self.account_locale)
        self.campaigns = campaign_lines(found.campaigns, found.campaign_ids, self.account_locale)
        period, comparison = found.period, found.comparison
        self.days = [(period.start + timedelta(days=n)).isoformat() for n in range(period.days)]
        self.comparison_days = (
            [(comparison.start + timedelta(days=n)).isoformat() for n in range(period.days)] if comparison else []
        )

        def net(code: str) -> Callable[[Figures], float]:
            return lambda f: (major(f.money[code].net, code) or 0.0) if code in f.money else 0.0

        self.revenue = {code: _series(current, period, net(code)) for code in self.currencies}
        self.revenue_previous = {code: _series(previous, comparison, net(code)) for code in self.currencies}
        self.orders = _series(current, period, lambda f: f.orders)
        self.orders_previous = _series(previous, comparison, lambda f: f.orders)


# --- the explorer (/metrics) ---------------------------------------------------------------------------------------


class OptionItem(TypedDict):
    value: str
    label: str


class ColumnItem(TypedDict):
    key: str
    label: str
    sort: str  # "asc" | "desc" | "" (not the sort column)


@dataclass(frozen=True)
class ExplorerChoice:
    range: RangeChoice
    dimension: str
    lookback: int
    campaign: str  # "" = every campaign
    channel: str  # platform
    product: str
    measure: str  # a column key ("orders", "net:EUR"); "" = the default
    channel_group: str = ""

    @property
    def query_campaign(self) -> str | None:
        return self.campaign or None


def explorer_choice(params: Mapping[str, Any]) -> ExplorerChoice:
    """``?dimension=&lookback_days=&campaign=&channel=&group=&product=&measure=`` plus the range (``channel`` is the
    platform, ``group`` the channel group); unknown values fall back to the defaults (by campaign, 28 days, no
    filter)."""
    lookback = _pick(params.get("lookback_days"), LOOKBACKS, str(DEFAULT_LOOKBACK_DAYS))
    measure = str(params.get("measure") or "")
    if measure.partition(":")[0] not in MEASURES:
        measure = ""
    return ExplorerChoice(
        range=range_choice(params),
        dimension=_pick(params.get("dimension"), DIMENSION_LABELS, Dimension.CAMPAIGN.value),
        lookback=int(lookback),
        campaign=str(params.get("campaign") or "")[:40],
        channel=_pick(params.get("channel"), CHANNELS, ""),
        product=str(params.get("product") or "")[:100],
        measure=measure,
        channel_group=_pick(params.get("group"), CHANNEL_GROUPS, ""),
    )


def explorer_columns(dimension: str, currencies: list[str]) -> list[str]:
    names = PRODUCT_MEASURES if dimension in {Dimension.PRODUCT.value, Dimension.PRICE.value} else EXPLORER_MEASURES
    names = tuple(n for n in EXPLORER_MEASURES if n in names)
    return [column_key(n, c) for n in names for c in (currencies if MEASURES[n].per_currency else [""])]


@dataclass
class ExplorerData:
    report: MetricsReport
    campaigns: list[OptionItem]
    products: list[OptionItem]
    labels: dict[str, str]  # row key -> a readable label where the service shows an id (products, prices)
    urls: dict[str, str]  # public row key -> campaign page
    # Row key -> the public id the API shows (``cmp_…``, ``cv_…``, ``direct``) where the service keys rows by
    # internal ids (campaigns, versions): the table, its chart and the CSV use these.
    keys: dict[str, str] = dataclasses.field(default_factory=dict)


def read_explorer(session: Session, account_id: int, choice: ExplorerChoice, locale: str) -> ExplorerData:
    period = choice.range.period(metric_service.account_today(session, account_id))
    campaigns = [
        OptionItem(value=pid, label=name)
        for pid, name in campaign_service.campaign_choices(session=session, account_id=account_id)
    ]
    prices = stripe_connection.list_prices(session=session, account_id=account_id, include_inactive=True)
    products = {p.product_stripe_id: p.product_name for p in prices}
    query = MetricsQuery(
        start=period.start,
        end=period.end,
        dimension=Dimension(choice.dimension),
        model=choice.range.model,
        lookback_days=choice.lookback,
        compare=Compare(choice.range.compare),
        campaign=choice.query_campaign,
        channel=choice.channel or None,
        product=choice.product or None,
        channel_group=choice.channel_group or None,
    )
    report = metric_service.metrics(session=session, account_id=account_id, query=query)
    labels: dict[str, str] = {}
    urls: dict[str, str] = {}
    keys = metric_service.public_ids(session, account_id, Dimension(choice.dimension))
    if choice.dimension == Dimension.PRODUCT.value:
        labels = {key: name for key, name in products.items() if name and name != key}
    elif choice.dimension == Dimension.PRICE.value:
        labels = {
            p.stripe_id: f"{p.product_name} · {p.nickname or format_money(p.unit_amount or 0, p.currency, locale)}"
            for p in prices
        }
    elif choice.dimension == Dimension.CAMPAIGN.value:
        urls = {pid: routes.campaign_url(pid) for pid in keys.values() if pid != metric_service.DIRECT}
    return ExplorerData(
        report=report,
        campaigns=campaigns,
        products=[OptionItem(value=pid, label=name) for pid, name in sorted(products.items(), key=lambda i: i[1])],
        labels=labels,
        urls=urls,
        keys=keys,
    )


def _csv_number(key: str, value: float | None) -> str:
    """Plain numbers for spreadsheets: money in major units of its currency, rates as fractions."""
    if value is None:
        return ""
    measure, currency = split_column(key)
    if measure.kind == "money":
        exponent = currency_exponent(currency) or 0
        return f"{round(value) / 10**exponent:.{exponent}f}"
    if measure.kind in {"rate", "ratio"}:
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def explorer_csv(columns: list[str], rows: list[dict[str, Any]], *, comparing: bool) -> str:
    """The table as CSV: per column the value and, with a comparison, the comparison's value, the change and the
    change in percent (empty when there is no base)."""
    header = ["key", "label"]
    for key in columns:
        label = column_label(key)
        header.append(label)
        if comparing:
            header += [f"{label} comparison", f"{label} change", f"{label} change %"]
    lines = []
    for row in rows:
        line = [row["key"], row["label"]]
        for key in columns:
            now, before = row["values"].get(key), row["previous"].get(key) if comparing else None
            line.append(_csv_number(key, now))
            if comparing:
                change = metric_service.delta(now, before)
                percent = "" if change.percent is None else f"{change.percent:.2f}"
                line += [_csv_number(key, before), _csv_number(key, change.absolute), percent]
        lines.append(line)
    return csv_text(header, lines)


def _table_row(key: str, label: str, figures: Figures, previous: Figures | None, columns: list[str]) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "values": {c: measure_value(c, figures) for c in columns},
        "previous": {c: measure_value(c, previous) if previous is not None else None for c in columns},
    }


class ExplorerState(AppState):
    """The metrics explorer: one row per value of the chosen dimension, sortable, with a chart and a CSV export."""

    dimension: str = Dimension.CAMPAIGN.value
    lookback: str = str(DEFAULT_LOOKBACK_DAYS)
    campaign_filter: str = ALL
    channel_filter: str = ALL
    group_filter: str = ALL
    product_filter: str = ALL
    measure: str = "orders"
    campaign_options: list[OptionItem] = []
    product_options: list[OptionItem] = []
    measure_options: list[OptionItem] = []
    columns: list[ColumnItem] = []
    rows: list[dict[str, str]] = []
    total: dict[str, str] = {}
    sort_key: str = ""
    sort_desc: bool = True
    comparing: bool = False
    computed_live: bool = False
    loading: bool = False
    loaded: bool = False
    error: str = ""
    chart_labels: list[str] = []
    chart_keys: list[str] = []
    chart_values: list[float | None] = []
    chart_previous: list[float | None] = []

    # What the table shows, as numbers (sorted and formatted into ``rows``); kept on the server.
    _table: list[dict[str, Any]] = []
    _total: dict[str, Any] = {}
    _urls: dict[str, str] = {}

    @rx.var
    def filtered(self) -> bool:
        return any(
            f != ALL for f in (self.campaign_filter, self.channel_filter, self.group_filter, self.product_filter)
        )

    @rx.var
    def row_count_text(self) -> str:
        return format_count(len(self.rows), "row", self.account_locale)

    @rx.var
    def is_time(self) -> bool:
        return self.dimension in {d.value for d in metric_service.TIME_DIMENSIONS}

    @rx.var
    def measure_label(self) -> str:
        return column_label(self.measure) if self.measure.partition(":")[0] in MEASURES else ""

    @rx.var
    def chart(self) -> go.Figure:
        label = self.measure_label
        series: list[tuple[str, list[float | None], bool]] = [(label, self.chart_values, False)]
        if self.comparing:
            series.append(("Comparison", self.chart_previous, True))
        if self.is_time:
            return line_figure(self.chart_labels, [(n, [v or 0.0 for v in vs], c) for n, vs, c in series],
                               y_title=label)  # fmt: skip
        return bar_figure(self.chart_labels, series, y_title=label, keys=self.chart_keys)

    @rx.event
    def load_explorer(self) -> Iterator[None]:
        """on_load of ``/metrics``: every choice comes from the URL."""
        choice = explorer_choice(self.router.url.query_parameters)
        self.dimension, self.lookback = choice.dimension, str(choice.lookback)
        self.channel_filter = choice.channel or ALL
        self.group_filter = choice.channel_group or ALL
        self.computed_live = choice.lookback != DEFAULT_LOOKBACK_DAYS
        self.loading, self.error = True, ""
        yield
        try:
            found, error = self._run(lambda s: self._read(s, choice))
        finally:
            self.loading = False
        self.loaded = True
        if found is None:
            if error and self.is_authenticated:
                self.error = error
            self._table, self._total, self.rows, self.total, self.columns = [], {}, [], {}, []
            self.chart_labels, self.chart_keys, self.chart_values, self.chart_previous = [], [], [], []
            return
        self._show(found, choice)

    def _read(self, session: Session, choice: ExplorerChoice) -> ExplorerData:
        account_id = self._actor(session).account_id
        campaigns = {c for c, _n in campaign_service.campaign_choices(session=session, account_id=account_id)}
        if choice.campaign and choice.campaign not in campaigns:
            choice = ExplorerChoice(**{**choice.__dict__, "campaign": ""})
        return read_explorer(session, account_id, choice, self.account_locale)

    def _show(self, found: ExplorerData, choice: ExplorerChoice) -> None:
        report = found.report
        self.campaign_options, self.product_options = found.campaigns, found.products
        known_campaigns = {o["value"] for o in found.campaigns}
        self.campaign_filter = choice.campaign if choice.campaign in known_campaigns else ALL
        self.product_filter = choice.product or ALL
        self.comparing = report.comparison is not None
        columns = explorer_columns(choice.dimension, report.currencies)
        self.measure_options = [OptionItem(value=c, label=column_label(c)) for c in columns]
        default = next((c for c in columns if c.startswith("net:")), "orders")
        self.measure = choice.measure if choice.measure in columns else default
        self._table = [
            _table_row(found.keys.get(r.key, r.key), found.labels.get(r.key, r.label), r.figures, r.previous, columns)
            for r in report.rows
        ]
        self._total = _table_row("total", "Total", report.total.figures, report.total.previous, columns)
        self._urls = found.urls
        self.sort_key = "label" if self.is_time else ""
        self.sort_desc = False
        self._render(columns)

    def _columns(self) -> list[str]:
        return [c["key"] for c in self.columns] if self.columns else []

    def _sorted(self) -> list[dict[str, Any]]:
        rows = list(self._table)
        if not self.sort_key:
            return rows  # the service's order: net revenue, highest first
        if self.sort_key == "label":
            return sorted(rows, key=lambda r: (r["key"] if self.is_time else r["label"].lower()),
                          reverse=self.sort_desc)  # fmt: skip
        present = [r for r in rows if r["values"].get(self.sort_key) is not None]
        missing = [r for r in rows if r["values"].get(self.sort_key) is None]  # "n/a" last, either way
        present.sort(key=lambda r: r["values"][self.sort_key], reverse=self.sort_desc)
        return present + missing

    def _render(self, columns: list[str] | None = None) -> None:
        columns = columns if columns is not None else self._columns()
        direction = "desc" if self.sort_desc else "asc"
        self.columns = [
            ColumnItem(key=c, label=column_label(c), sort=direction if c == self.sort_key else "") for c in columns
        ]
        ordered = self._sorted()
        self.rows = [self._display(r, columns) for r in ordered]
        self.total = self._display(self._total, columns) if self._total else {}
        chart_rows = ordered if not self.is_time else sorted(ordered, key=lambda r: r["key"])
        self.chart_labels = [r["label"] for r in chart_rows]
        self.chart_keys = [r["key"] for r in chart_rows]
        self.chart_values = [self._chart_value(r["values"].get(self.measure)) for r in chart_rows]
        self.chart_previous = [self._chart_value(r["previous"].get(self.measure)) for r in chart_rows]

    def _chart_value(self, value: float | None) -> float | None:
        if value is None or not self.measure:
            return value
        measure, currency = split_column(self.measure)
        if measure.kind == "money":
            return major(value, currency)
        return value * 100 if measure.kind == "rate" else value

    def _display(self, row: dict[str, Any], columns: list[str]) -> dict[str, str]:
        shown = {"key": row["key"], "label": row["label"], "url": self._urls.get(row["key"], "")}
        for key in columns:
            now = row["values"].get(key)
            shown[key] = format_value(key, now, self.account_locale)
            if self.comparing:
                change = metric_service.delta(now, row["previous"].get(key))
                before = format_value(key, change.previous, self.account_locale)
                shown[f"{key}~"] = f"vs {before} ({percent_text(change.percent, self.account_locale)})"
            else:
                shown[f"{key}~"] = ""
        return shown

    @rx.event
    def sort_by(self, key: str) -> None:
        """Click a header: sort by it (highest first), click again to flip."""
        if key != "label" and key not in self._columns():
            return
        if key == self.sort_key:
            self.sort_desc = not self.sort_desc
        else:
            self.sort_key, self.sort_desc = key, key != "label"
        self._render()

    @rx.event
    def export_csv(self) -> Any:
        if not self._total:
            return toast.error("Nothing to export yet.")
        text = explorer_csv(self._columns(), [*self._sorted(), self._total], comparing=self.comparing)
        _path, params = _current_query(self.router)
        choice = range_choice(params)
        name = f"paidsignal-metrics-{self.dimension}-{choice.preset}.csv"
        return rx.download(data=text, filename=name, mime_type="text/csv")

    @rx.event
    def choose_dimension(self, dimension: str) -> Any:
        return rx.redirect(changed_url(self.router, dimension=_pick(dimension, DIMENSION_LABELS, ""), measure=""))

    @rx.event
    def choose_lookback(self, lookback: str) -> Any:
        return rx.redirect(changed_url(self.router, lookback_days=_pick(lookback, LOOKBACKS, "")))

    @rx.event
    def choose_measure(self, measure: str) -> None:
        """The chart's measure (the page writes it into the URL itself; no reload needed)."""
        if measure not in self._columns():
            return
        self.measure = measure
        self._render()

    @rx.event
    def choose_campaign(self, campaign: str) -> Any:
        known = {o["value"] for o in self.campaign_options}
        return rx.redirect(changed_url(self.router, campaign=campaign if campaign in known else ""))

    @rx.event
    def choose_channel(self, channel: str) -> Any:
        return rx.redirect(changed_url(self.router, channel=_pick(channel, CHANNELS, "")))

    @rx.event
    def choose_channel_group(self, group: str) -> Any:
        return rx.redirect(changed_url(self.router, group=_pick(group, CHANNEL_GROUPS, "")))

    @rx.event
    def choose_product(self, product: str) -> Any:
        known = {o["value"] for o in self.product_options}
        return rx.redirect(changed_url(self.router, product=product if product in known else ""))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(changed_url(self.router, campaign="", channel="", group="", product=""))


# --- a campaign's versions compared (/campaigns/[campaign_id]) -----------------------------------------------------


class VersionLine(TypedDict):
    version: str
    window: str
    live_days: int
    sessions: str
    orders: str
    conversion_rate: str
    net: str
    spend: str
    roas: str
    small_sample: bool


def version_lines(windows: list[metric_service.VersionWindow], locale: str) -> list[VersionLine]:
    lines = []
    for w in windows:
        figures, codes = w.figures, sorted(w.figures.money)
        spent = [c for c in codes if figures.money[c].spend]
        lines.append(
            VersionLine(
                version=f"v{w.number}",
                window=period_text(Period(w.start, w.end)),
                live_days=w.live_days,
                sessions=format_number(figures.sessions, locale),
                orders=format_number(figures.orders, locale),
                conversion_rate=format_value("conversion_rate", figures.conversion_rate, locale),
                net=_joined([format_money(figures.money[c].net, c, locale) for c in codes]),
                spend=_joined([format_money(figures.money[c].spend, c, locale) for c in spent]),
                roas=_joined([format_value(column_key("roas", c), figures.roas(c), locale) for c in spent]),
                small_sample=figures.orders < SMALL_SAMPLE_ORDERS or figures.sessions < SMALL_SAMPLE_SESSIONS,
            )
        )
    return lines


class VersionComparisonState(AppState):
    """Each version of the campaign over a window of the same length from the day it went live."""

    version_windows: list[VersionLine] = []
    window_days: int = 0
    versions_loaded: bool = False
    versions_error: str = ""

    @rx.event
    def load_version_comparison(self) -> None:
        """on_load of the campaign page (after the editor's)."""
        public_id = (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]
        found, error = self._run(
            lambda s: metric_service.version_comparison(
                session=s, account_id=self._actor(s).account_id, campaign_public_id=public_id
            )
        )
        self.versions_loaded = True
        self.versions_error = error or "" if self.is_authenticated else ""
        self.version_windows = version_lines(found or [], self.account_locale)
        self.window_days = (found[0].end - found[0].start).days + 1 if found else 0
