"""How alerts write their figures and settings, in the account's locale: a metric's value, a change, a rule's
condition, its window, its minimum volume and its cooldown (the rules list, the summaries, the e-mails and the
history all say them the same way)."""

from __future__ import annotations

from app.lib.formatting import (
    DEFAULT_LOCALE,
    format_amount,
    format_count,
    format_number,
    format_percent,
    format_ratio,
)
from app.models import AlertRule
from app.services.alerts.definitions import (
    DEFAULT_COMPARATOR,
    METRIC_LABELS,
    MONEY_METRICS,
    PROBABILITY_METRICS,
    RATE_METRICS,
    WINDOW_LABELS,
    Comparator,
    Metric,
    Mode,
    Window,
)
from app.services.alerts.rule_input import RuleInput


def condition_text(rule: AlertRule | RuleInput, locale: str = DEFAULT_LOCALE) -> str:
    """When a rule fires: "ROAS below 2.00", "CPA above the version's KPI target", …"""
    metric = Metric(rule.metric)
    label = METRIC_LABELS[metric]
    if metric is Metric.CONVERSIONS_STOPPED:
        return f"No paid order for {rule.stopped_hours} h while sessions arrive"
    if metric in PROBABILITY_METRICS:
        sure = (
            "the account's winner probability"
            if rule.threshold is None
            else value_text(metric, rule.threshold, locale=locale) + " probability"
        )
        return f"The live version underperforms the one before with at least {sure}"
    comparator = Comparator(rule.comparator or DEFAULT_COMPARATOR[metric])
    if Mode(rule.mode) is Mode.CHANGE:
        verb = "dropped" if comparator is Comparator.BELOW else "rose"
        return f"{label} {verb} more than {change_text(rule.threshold or 0, locale)} vs the previous window"
    if rule.threshold is None:
        return f"{label} {comparator.value} the version's KPI target"
    return f"{label} {comparator.value} {value_text(metric, rule.threshold, rule.currency, locale)}"


def volume_rule_text(rule: AlertRule | RuleInput, locale: str = DEFAULT_LOCALE) -> str:
    """A rule's minimum volume: "≥ 100 sessions and ≥ 2 orders", or "any"."""
    parts = []
    if rule.min_sessions:
        parts.append(f"≥ {format_count(rule.min_sessions, 'session', locale)}")
    if rule.min_orders:
        parts.append(f"≥ {format_count(rule.min_orders, 'order', locale)}")
    return " and ".join(parts) or "any"


def duration_text(minutes: int) -> str:
    """A cooldown: "none", "6 h", "2 d", "90 min"."""
    if minutes == 0:
        return "none"
    if minutes % 1440 == 0:
        return f"{minutes // 1440} d"
    if minutes % 60 == 0:
        return f"{minutes // 60} h"
    return f"{minutes} min"


def value_text(metric: Metric, value: float | None, currency: str = "", locale: str = DEFAULT_LOCALE) -> str:
    """A metric in display units (money in major units, rates in percent) as the account's locale writes it."""
    if value is None:
        return "n/a"
    if metric in MONEY_METRICS:
        return format_amount(value, currency, locale)
    if metric in RATE_METRICS or metric is Metric.PLATFORM_OVER_REPORTING:
        return format_percent(value / 100, locale, digits=2)
    if metric in PROBABILITY_METRICS:
        return format_percent(value / 100, locale, digits=1)
    if metric in {Metric.ORDERS, Metric.CONVERSIONS_STOPPED}:
        return format_number(round(value, 1), locale)
    return format_ratio(value, locale)


def change_text(percent: float, locale: str, *, digits: int | None = None, sign: bool = False) -> str:
    """A change in percent: 30 → "30%"; with ``sign``: "+12.5%", "−3%" (the locale's own percent form)."""
    mark = ("+" if percent > 0 else "−" if percent < 0 else "±") if sign else ""
    return mark + format_percent(abs(percent) / 100, locale, digits=digits)


def volume_text(sessions: int, orders: float, locale: str) -> str:
    """ "1,204 sessions, 1 order" """
    return f"{format_count(sessions, 'session', locale)}, {orders_text(orders, locale)}"


def orders_text(orders: float, locale: str, *, paid: bool = False) -> str:
    """ "3 orders", "1.5 paid orders" """
    count = round(orders, 1)  # attributed orders may be fractions (linear, position-based)
    noun = "paid order" if paid else "order"
    return format_count(count, noun, locale)


def window_text(rule: AlertRule | RuleInput) -> str:
    """ "last 24 hours"; for "conversions stopped": "last 6 h"."""
    if rule.metric == Metric.CONVERSIONS_STOPPED:
        return f"last {rule.stopped_hours} h"
    if rule.metric in PROBABILITY_METRICS:
        return "versions' aligned windows"
    return WINDOW_LABELS[Window(rule.window)]
