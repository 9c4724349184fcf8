"""What every tool's result is made of: the period asked for, times in the account's timezone, money with a
``*_formatted`` twin, figures with the comparison's change, and the echo of what was asked (so an answer can be
checked against the dashboard)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.lib.formatting import format_money
from app.services import metrics, rollups
from app.services.accounts import account_locale
from app.services.assistant_tools.schemas import PeriodArguments
from app.services.errors import ValidationFailed
from app.services.metrics import MetricsQuery, MetricsReport, MetricsRow, Period, Preset
from app.services.permissions import Actor

# A tool's answer: plain JSON data for the model (an ``error`` key when the call could not be answered).
ToolResult = dict[str, Any]

# Money fields of ``metrics.figure_dict`` that get a formatted twin (AOV and CPA are averages in minor units).
_MONEY_FIELDS = ("gross", "renewal_revenue", "refunds", "net", "spend", "aov", "cpa")


def requested_period(session: Session, actor: Actor, arguments: PeriodArguments, default: Preset) -> tuple[Period, str]:
    """The period the arguments ask for (``default`` when they give none), ending today in the account's timezone
    at the latest, and the preset it came from (``custom`` for start/end)."""
    today = metrics.account_today(session, actor.account_id)
    if arguments.start is not None or arguments.end is not None:
        if arguments.preset not in (None, Preset.CUSTOM):
            raise ValidationFailed("Give either a preset or start and end, not both.", field="preset")
        return metrics.resolve_period(Preset.CUSTOM, today=today, start=arguments.start, end=arguments.end), "custom"
    preset = arguments.preset or default
    if preset is Preset.CUSTOM:
        raise ValidationFailed("A custom range needs start and end (YYYY-MM-DD).", field="start")
    return metrics.resolve_period(preset, today=today), preset.value


def span(period: Period) -> dict[str, Any]:
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": period.days}


def zone_of(session: Session, actor: Actor) -> ZoneInfo:
    return rollups.account_zone(session, actor.account_id)


def when(moment: datetime | None, zone: ZoneInfo) -> str | None:
    """A time in the account's timezone, to the minute, with its offset."""
    return None if moment is None else moment.astimezone(zone).isoformat(timespec="minutes")


def locale_of(session: Session, actor: Actor) -> str:
    return account_locale(session, actor.account_id)


def money_text(amount: float | None, currency: str, locale: str) -> str | None:
    """The ``*_formatted`` twin of an amount: as the account's pages write it."""
    return None if amount is None else format_money(amount, currency, locale)


def _formatted(figures: dict[str, Any], locale: str) -> dict[str, Any]:
    """``figure_dict`` output with a ``*_formatted`` twin for each money field (the numbers are left as they are); a
    figure without a base (CPA without spend, AOV without orders) reads "n/a", as on the dashboard."""
    out = dict(figures)
    out["money"] = {}
    for code, money in figures["money"].items():
        entry = dict(money)
        for name in _MONEY_FIELDS:
            entry[f"{name}_formatted"] = money_text(money[name], code, locale) or "n/a"
        out["money"][code] = entry
    return out


def _change(current: Any, previous: Any) -> Any:
    """Each number of ``current`` with the comparison period's value and the change (percent None: nothing to
    compare with)."""
    if isinstance(current, dict):
        previous = previous if isinstance(previous, dict) else {}
        return {key: _change(value, previous.get(key)) for key, value in current.items()}
    if isinstance(current, int | float) or current is None:
        found = metrics.delta(current, previous if isinstance(previous, int | float) else None)
        percent = None if found.percent is None else round(found.percent, 2)
        return {"previous": found.previous, "absolute": found.absolute, "percent": percent}
    return None


def _no_money(money: dict[str, Any]) -> dict[str, Any]:
    # A currency the comparison period had no money in: its sums were zero, its ratios had no base.
    return {k: (0 if k in ("gross", "renewal_revenue", "refunds", "net", "spend") else None) for k in money}


def amounts(money: metrics.Money, code: str, locale: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("gross", "renewal_revenue", "refunds", "net"):
        out[name] = getattr(money, name)
        out[f"{name}_formatted"] = money_text(out[name], code, locale)
    return out


def figures_row(row: MetricsRow, key: str, locale: str) -> dict[str, Any]:
    figures = metrics.figure_dict(row.figures) or {}
    out: dict[str, Any] = {
        "key": key,
        "label": row.label,
        "figures": _formatted(figures, locale),
    }
    if row.previous is not None:
        previous = metrics.figure_dict(row.previous) or {}
        money = {code: previous["money"].get(code) or _no_money(value) for code, value in figures["money"].items()}
        out["change"] = _change(figures, {**previous, "money": money})
    return out


def query_echo(session: Session, actor: Actor, report: MetricsReport, preset: str, **extra: Any) -> dict[str, Any]:
    return {
        "preset": preset,
        **span(report.period),
        "comparison": span(report.comparison) if report.comparison else None,
        "model": report.model,
        "lookback_days": report.lookback_days,
        "timezone": zone_of(session, actor).key,
        **extra,
    }


def run_report(session: Session, actor: Actor, query: MetricsQuery) -> MetricsReport:
    return metrics.metrics(session=session, account_id=actor.account_id, query=query)
