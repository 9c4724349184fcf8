"""The dashboard's figures as people read them: the measures (one list for the KPI cards, the explorer's columns, its
chart and the CSV), their values and changes in the account's locale, the overview's KPI cards and top campaigns,
and a campaign's versions compared. Money is per currency everywhere: one card, column or line per currency, never a
sum."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypedDict

from app import routes
from app.lib.formatting import format_money, format_number, format_percent, format_ratio
from app.services.attribution import AttributionModel
from app.services.campaigns import CHANNEL_GROUP_LABELS
from app.services.dashboard import Overview
from app.services.metrics import (
    DIRECT,
    DIRECT_LABEL,
    SMALL_SAMPLE_ORDERS,
    SMALL_SAMPLE_SESSIONS,
    Blended,
    Compare,
    Dimension,
    Figures,
    MetricsReport,
    Money,
    Period,
    Preset,
    VersionPair,
    VersionReport,
    VersionWindow,
    delta,
    has_figures,
    pair_summary,
)
from app.services.metrics.confidence import MIN_BOOTSTRAP_SESSIONS
from app.services.metrics.versions import probability_text

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
    Dimension.AD_SET.value: "Ad set",
    Dimension.AD.value: "Ad",
}
# The channel groups a filter offers, with sessions and orders no campaign matched.
GROUP_OPTIONS = [*CHANNEL_GROUP_LABELS.items(), (DIRECT, DIRECT_LABEL)]
TOP_CAMPAIGNS = 10
SMALL_SAMPLE_HINT = (
    f"Fewer than {SMALL_SAMPLE_ORDERS} orders or {format_number(SMALL_SAMPLE_SESSIONS, 'en_US')} sessions: "
    "differences may be chance."
)


def platform_label(channel: str) -> str:
    """A platform as the filters show it (no campaign matched: "Direct / unmatched")."""
    return DIRECT_LABEL if channel == DIRECT else channel


# --- measures -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    kind: str  # count | rate | money | ratio
    per_currency: bool
    value: Callable[[Figures, str], float | None]
    better: int = 1  # 1: up is good, -1: down is good, 0: neither (spend)


def _money(amount: Callable[[Money], int]) -> Callable[[Figures, str], float | None]:
    def read(figures: Figures, currency: str) -> float | None:
        money = figures.money.get(currency)
        return float(amount(money)) if money else 0.0

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
        Measure("net", "Net revenue", "money", True, _money(lambda m: m.net)),
        Measure("gross", "Gross revenue", "money", True, _money(lambda m: m.gross)),
        Measure("renewal_revenue", "Renewal revenue", "money", True, _money(lambda m: m.renewal_revenue)),
        Measure("refunds", "Refunds", "money", True, _money(lambda m: m.refunds), better=-1),
        Measure("spend", "Ad spend", "money", True, _money(lambda m: m.spend), better=0),
        Measure("aov", "AOV", "money", True, lambda f, c: f.aov(c)),
        Measure("roas", "ROAS", "ratio", True, lambda f, c: f.roas(c)),
        Measure("cpa", "CPA", "money", True, lambda f, c: f.cpa(c), better=-1),
        Measure("refund_rate", "Refund rate", "rate", True, lambda f, c: f.refund_rate(c), better=-1),
    )
}


def column_key(measure: str, currency: str = "") -> str:
    """A measure's column: ``orders``, or ``net:EUR`` for one currency of a money measure."""
    return f"{measure}:{currency}" if currency else measure


def is_column_key(key: str) -> bool:
    return key.partition(":")[0] in MEASURES


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


def comparison_text(key: str, current: float | None, previous: float | None, locale: str) -> str:
    """Under a value: ``vs €1,200.00 (+12.5%)``."""
    change = delta(current, previous)
    return f"vs {format_value(key, change.previous, locale)} ({percent_text(change.percent, locale)})"


# --- periods --------------------------------------------------------------------------------------------------------


def _day(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def period_text(period: Period | None) -> str:
    """``Mar 1, 2026 – Mar 28, 2026 (28 days)``; one day alone without the count; None: ""."""
    if period is None:
        return ""
    if period.start == period.end:
        return _day(period.start)
    return f"{_day(period.start)} – {_day(period.end)} ({period.days} days)"


# --- the overview's KPI cards and top campaigns ---------------------------------------------------------------------


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
    change = delta(now, measure_value(key, previous))
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
    keys = [
        *(column_key("net", c) for c in currencies),
        "orders",
        "conversion_rate",
        *(column_key(m, c) for m in ("aov", "roas", "cpa") for c in currencies),
        "sessions",
        *(column_key("refunds", c) for c in currencies),
    ]
    return [kpi_item(key, current, previous, locale) for key in keys]


@dataclass(frozen=True)
class OverviewCards:
    """What the overview's KPI cards show for an overview: the page's state and its early figures
    (``app/api/endpoints/overview_kpis.py``) both take it from here, so the two cannot differ."""

    has_data: bool  # anything in the account at all (else the page offers to get started)
    has_figures: bool  # anything in the range or its comparison
    comparing: bool
    currencies: list[str]  # of the range and its comparison, sorted
    kpis: list[KpiItem]


def overview_cards(found: Overview, locale: str) -> OverviewCards:
    """The KPI cards of ``services.dashboard.overview``'s answer, in ``locale``."""
    current, previous = found.by_day, found.by_day_before
    total, before = current.total.figures, previous.total.figures if previous else None
    currencies = sorted(set(current.currencies) | set(previous.currencies if previous else []))
    return OverviewCards(
        has_data=found.any_data,
        has_figures=has_figures(total) or has_figures(before),
        comparing=previous is not None,
        currencies=currencies,
        kpis=overview_kpis(total, before, currencies, locale),
    )


def _joined(values: list[str]) -> str:
    return " · ".join(values) if values else "—"


@dataclass(frozen=True)
class _MoneyTexts:
    """A row's net revenue, spend and ROAS, one currency after another (spend and ROAS only where there was spend)."""

    net: str
    spend: str
    roas: str


def _money_texts(figures: Figures, locale: str) -> _MoneyTexts:
    codes = sorted(figures.money)
    spent = [c for c in codes if figures.money[c].spend]
    return _MoneyTexts(
        net=_joined([format_money(figures.money[c].net, c, locale) for c in codes]),
        spend=_joined([format_money(figures.money[c].spend, c, locale) for c in spent]),
        roas=_joined([format_value(column_key("roas", c), figures.roas(c), locale) for c in spent]),
    )


def campaign_lines(report: MetricsReport, public_ids: Mapping[str, str], locale: str) -> list[CampaignLine]:
    """The top campaigns by net revenue (the service sorts rows so), with their volumes; ``public_ids`` maps the
    rows' keys (internal campaign ids) to the campaigns' public ids for links."""
    lines = []
    for row in [r for r in report.rows if has_figures(r.figures)][:TOP_CAMPAIGNS]:
        money = _money_texts(row.figures, locale)
        public_id = public_ids.get(row.key, "")
        lines.append(
            CampaignLine(
                campaign=row.label,
                url=routes.campaign_url(public_id) if public_id else "",
                net=money.net,
                orders=format_number(row.figures.orders, locale),
                conversion_rate=format_value("conversion_rate", row.figures.conversion_rate, locale),
                spend=money.spend,
                roas=money.roas,
            )
        )
    return lines


class BlendedLine(TypedDict):
    currency: str
    mer: str
    attributed_roas: str
    blended_cpa: str
    attributed_cpa: str
    attributed_share: str


def blended_lines(items: list[Blended], locale: str) -> list[BlendedLine]:
    """The whole business beside the campaigns, one line per currency (only currencies with spend)."""
    return [
        BlendedLine(
            currency=b.currency,
            mer=format_value(column_key("roas", b.currency), b.mer, locale),
            attributed_roas=format_value(column_key("roas", b.currency), b.attributed_roas, locale),
            blended_cpa=format_value(column_key("cpa", b.currency), b.blended_cpa, locale),
            attributed_cpa=format_value(column_key("cpa", b.currency), b.attributed_cpa, locale),
            attributed_share=format_value(column_key("refund_rate", b.currency), b.attributed_share, locale),
        )
        for b in items
        if b.spend
    ]


# --- a campaign's versions compared ---------------------------------------------------------------------------------


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


def version_lines(windows: list[VersionWindow], locale: str) -> list[VersionLine]:
    lines = []
    for w in windows:
        money = _money_texts(w.figures, locale)
        lines.append(
            VersionLine(
                version=f"v{w.number}",
                window=period_text(Period(w.start, w.end)),
                live_days=w.live_days,
                sessions=format_number(w.figures.sessions, locale),
                orders=format_number(w.figures.orders, locale),
                conversion_rate=format_value("conversion_rate", w.figures.conversion_rate, locale),
                net=money.net,
                spend=money.spend,
                roas=money.roas,
                small_sample=w.small_sample,
            )
        )
    return lines


# --- two versions compared, with confidence -------------------------------------------------------------------------


class PairLine(TypedDict):
    key: str  # "v1-v2"
    title: str  # "v1 → v2"
    verdict: str  # winner | not_enough | conflicting
    winner: str  # "v2", or "" without a winner
    summary: str  # the sentence the API, alerts and the assistant say too
    rate: str  # "3.0% → 4.5%"
    rate_probability: str  # "P(v2 higher): 96%"
    rate_interval: str  # "95% credible interval of v2 − v1: −0.2 pp to +3.2 pp"
    mde: str  # "At this volume a difference smaller than ±63% of the rate could go unseen."
    revenue: list[str]  # one line per currency
    shop: str  # the whole shop over the same windows


def _points(value: float, locale: str) -> str:
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{format_number(abs(value) * 100, locale, digits=2)} pp"


def _signed_money(value: float, currency: str, locale: str) -> str:
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return sign + format_money(abs(value), currency, locale)


def pair_line(pair: VersionPair, locale: str) -> PairLine:
    """Everything the page says about version B against version A (the numbers behind ``pair_summary``)."""
    a, b = f"v{pair.a.number}", f"v{pair.b.number}"
    rate = pair.rate
    if rate.mde is None:
        mde = "No conversion yet: the smallest detectable difference cannot be estimated."
    else:
        mde = (
            f"At this volume ({format_number(min(rate.sessions_a, rate.sessions_b), locale)} sessions per version) a "
            f"difference smaller than ±{format_percent(rate.mde, locale, digits=0)} of the rate could go unseen"
        )
        mde += (
            "; enough sessions to tell a 10% difference."
            if not rate.more_sessions
            else f"; about {format_number(rate.more_sessions, locale)} more sessions per version to tell a 10% "
            "difference."
        )
    revenue = []
    for r in pair.revenue:
        per_a = format_money(r.per_session_a, r.currency, locale) if r.per_session_a is not None else "n/a"
        per_b = format_money(r.per_session_b, r.currency, locale) if r.per_session_b is not None else "n/a"
        text = f"Net revenue per session ({r.currency}): {per_a} → {per_b}"
        if r.resamples and r.diff_low is not None and r.diff_high is not None:
            text += (
                f"; P({b} higher): {probability_text(r.p_b_better, locale)}; 95% interval of {b} − {a}: "
                f"{_signed_money(r.diff_low, r.currency, locale)} to {_signed_money(r.diff_high, r.currency, locale)}"
            )
            if not r.enough_sessions:
                text += f" (fewer than {MIN_BOOTSTRAP_SESSIONS} sessions in a version: shown, not a verdict)"
        revenue.append(text)
    shop = [
        "Whole shop over the same windows: conversion rate "
        f"{format_value('conversion_rate', pair.shop_rate.previous, locale)} → "
        f"{format_value('conversion_rate', pair.shop_rate.current, locale)} "
        f"({percent_text(pair.shop_rate.percent, locale)})"
    ]
    for code, change in pair.shop_revenue.items():
        before = format_money(change.previous, code, locale) if change.previous is not None else "n/a"
        after = format_money(change.current, code, locale) if change.current is not None else "n/a"
        shop.append(f"net revenue per session ({code}) {before} → {after} ({percent_text(change.percent, locale)})")
    winner = pair.winner
    return PairLine(
        key=f"{a}-{b}",
        title=f"{a} → {b}",
        verdict="winner" if winner else ("conflicting" if pair.conflicting else "not_enough"),
        winner=f"v{winner.number}" if winner else "",
        summary=pair_summary(pair, locale),
        rate=f"Conversion rate: {format_value('conversion_rate', rate.rate_a, locale)} → "
        f"{format_value('conversion_rate', rate.rate_b, locale)}",
        rate_probability=f"P({b} higher): {probability_text(rate.p_b_better, locale)}",
        rate_interval=f"95% credible interval of {b} − {a}: {_points(rate.diff_low, locale)} to "
        f"{_points(rate.diff_high, locale)}",
        mde=mde,
        revenue=revenue,
        shop="; ".join(shop) + ".",
    )


def pair_lines(report: VersionReport, locale: str) -> list[PairLine]:
    return [pair_line(pair, locale) for pair in report.pairs]
