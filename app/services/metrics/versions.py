"""A campaign's versions compared: each version's figures over a window of the same length from the day it went live,
when a window's volume is too small for its differences to mean much, and for two versions how sure "B beat A" is
(``confidence``: conversion rate, net revenue per session, minimum detectable effect) with the shop's own change over
the same windows beside it (the versions ran one after another, not at the same time)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from app.lib.formatting import DEFAULT_LOCALE, format_number, format_percent
from app.models import Payment, Refund, VisitSession
from app.services import rollups
from app.services.accounts import winner_probability
from app.services.errors import NotFound, ValidationFailed
from app.services.metrics.confidence import (
    TELL_APART,
    RateComparison,
    RevenueComparison,
    RevenueSample,
    compare_rates,
    compare_revenue,
    revenue_sample,
    seed_for,
)
from app.services.metrics.figures import Delta, Figures, delta, figure_dict, ratio
from app.services.metrics.grouping import Dimension, campaign_names
from app.services.metrics.periods import MAX_DAYS, Compare, account_today
from app.services.metrics.query import MetricsQuery, metrics

# Below either volume a version's figures are a hint, not a verdict: differences between versions may be chance.
SMALL_SAMPLE_ORDERS = 30
SMALL_SAMPLE_SESSIONS = 1000


@dataclass
class VersionWindow:
    """One version's figures over its own window: the first ``days`` days it was live (all versions get windows of
    the same length, so v1 and v2 compare like for like; volumes are shown so small samples are visible)."""

    version_id: str
    number: int
    start: date
    end: date
    live_days: int
    figures: Figures
    # Net revenue per session, per currency: each of the window's sessions and the money of the orders it converted
    # (``rollups.converted_sessions``), paid and refunded by the window's end; sessions with no order count 0.
    revenue: dict[str, RevenueSample] = field(default_factory=dict)
    shop: Figures = field(default_factory=Figures)  # the whole shop over the same days: context for seasonality

    @property
    def small_sample(self) -> bool:
        """Fewer than ``SMALL_SAMPLE_ORDERS`` orders or ``SMALL_SAMPLE_SESSIONS`` sessions in the window."""
        return self.figures.orders < SMALL_SAMPLE_ORDERS or self.figures.sessions < SMALL_SAMPLE_SESSIONS


def version_comparison(
    *, session: Session, account_id: int, campaign_public_id: str, days: int | None = None, model: str = "last_touch"
) -> list[VersionWindow]:
    """Each version of a campaign over aligned windows: from the day it went live, for ``days`` days (default: the
    shortest time any version was live, at most 90), clipped to today."""
    names = campaign_names(session, account_id)
    campaign_id = next((cid for cid, (pid, _n, _c) in names.campaigns.items() if pid == campaign_public_id), None)
    if campaign_id is None:
        raise NotFound("No campaign with this id.", field="campaign")
    today = account_today(session, account_id)
    schedule = names.active.get(campaign_id, [])
    spans = []
    for index, (first_day, version_id) in enumerate(schedule):
        next_day = schedule[index + 1][0] if index + 1 < len(schedule) else today + timedelta(days=1)
        spans.append((version_id, first_day, max(1, (next_day - first_day).days)))
    if not spans:
        return []
    length = days or min(90, min(live for _v, _s, live in spans))
    if not 1 <= length <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}.", field="days")
    zone = rollups.account_zone(session, account_id)
    windows = []
    for version_id, first_day, live in spans:
        end = min(first_day + timedelta(days=length - 1), today)
        query = MetricsQuery(
            start=first_day,
            end=end,
            model=model,
            compare=Compare.NONE,
            campaign=campaign_public_id,
            dimension=Dimension.VERSION,
        )
        report = metrics(session=session, account_id=account_id, query=query)
        row = next((r for r in report.rows if r.key == str(version_id)), None)
        shop = metrics(session=session, account_id=account_id, query=MetricsQuery(first_day, end, compare=Compare.NONE))
        pid, number, _cid = names.versions[version_id]
        figures = row.figures if row else Figures()
        since, until = rollups.day_bounds(first_day, zone)[0], rollups.day_bounds(end, zone)[1]
        values = session_revenue(session, account_id, version_id, since, until)
        revenue = {
            code: revenue_sample(
                code,
                values.get(code, np.zeros(0)),
                # Rollups a moment behind the raw tables must not make the read fail: never fewer sessions than
                # sessions with an order.
                max(figures.sessions, len(values.get(code, ()))),
                seed=seed_for(f"{pid}:{code}"),
            )
            for code in sorted(set(values) | set(figures.money))
        }
        windows.append(VersionWindow(pid, number, first_day, end, live, figures, revenue, shop.total.figures))
    return windows


def session_revenue(
    session: Session, account_id: int, version_id: int, start: datetime, end: datetime
) -> dict[str, np.ndarray]:
    """Per currency, the net revenue (minor units) of each session of ``version_id`` that started in ``[start,
    end)`` and converted: the payments of the orders it brought (first, one-off and renewals) minus their refunds,
    both before ``end``. A session whose orders were refunded in full counts 0, as one with no order does."""
    orders: dict[int, set[int]] = {}
    rollups.converted_sessions(session, account_id, start, end, orders=orders, version_id=version_id)
    candidates = sorted(orders)
    mine: list[int] = []
    for at in range(0, len(candidates), 500):
        mine += [
            int(sid or 0)
            for sid in session.exec(
                select(VisitSession.id).where(
                    VisitSession.account_id == account_id,
                    VisitSession.campaign_version_id == version_id,
                    col(VisitSession.id).in_(candidates[at : at + 500]),
                )
            ).all()
        ]
    order_ids = sorted({o for sid in mine for o in orders[sid]})
    money: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for at in range(0, len(order_ids), 500):
        chunk = order_ids[at : at + 500]
        for order_id, amount, currency in session.exec(
            select(Payment.order_id, Payment.amount, Payment.currency).where(
                Payment.account_id == account_id, col(Payment.order_id).in_(chunk), col(Payment.paid_at) < end
            )
        ).all():
            money[int(order_id or 0)][currency] += amount
        for order_id, amount, currency in session.exec(
            select(Refund.order_id, Refund.amount, Refund.currency).where(
                Refund.account_id == account_id, col(Refund.order_id).in_(chunk), col(Refund.refunded_at) < end
            )
        ).all():
            money[int(order_id or 0)][currency] -= amount
    per_session: dict[str, list[float]] = defaultdict(list)
    for sid in sorted(mine):
        totals: dict[str, int] = defaultdict(int)
        for order_id in orders[sid]:
            for currency, amount in money.get(order_id, {}).items():
                totals[currency] += amount
        for currency, amount in totals.items():
            per_session[currency].append(float(amount))
    return {currency: np.array(values, dtype=np.float64) for currency, values in per_session.items()}


# --- two versions compared ------------------------------------------------------------------------------------------

RATE = "conversion_rate"
REVENUE = "net_revenue_per_session"


@dataclass(frozen=True)
class Verdict:
    """One measure of two versions: which is better with at least the threshold's probability (None: neither)."""

    measure: str  # RATE | REVENUE
    currency: str | None  # REVENUE only
    p_b_better: float
    better: str | None  # "a" | "b" | None


@dataclass(frozen=True)
class VersionPair:
    """Version B against version A (B usually the later): every figure, each measure's verdict and the winner."""

    a: VersionWindow
    b: VersionWindow
    threshold: float  # e.g. 0.95
    rate: RateComparison
    revenue: list[RevenueComparison]  # one per currency either version has
    verdicts: list[Verdict]
    shop_rate: Delta  # the whole shop's conversion rate in A's window → B's window
    shop_revenue: dict[str, Delta]  # the whole shop's net revenue per session, per currency

    @property
    def winner(self) -> VersionWindow | None:
        """The version better on at least one measure and worse on none (with the threshold's probability)."""
        sides = {v.better for v in self.verdicts if v.better}
        if sides == {"a"}:
            return self.a
        if sides == {"b"}:
            return self.b
        return None

    @property
    def conflicting(self) -> bool:
        """Each version better on a different measure: no winner, however sure each verdict is."""
        return {v.better for v in self.verdicts if v.better} == {"a", "b"}


def _better(p_b_better: float, threshold: float) -> str | None:
    if p_b_better >= threshold:
        return "b"
    if 1 - p_b_better >= threshold:
        return "a"
    return None


def compare_windows(a: VersionWindow, b: VersionWindow, *, threshold: float) -> VersionPair:
    """How sure "B beat A" is on conversion rate and on net revenue per session (per currency)."""
    rate = compare_rates(
        a.figures.converted_sessions, a.figures.sessions, b.figures.converted_sessions, b.figures.sessions
    )
    revenue = [compare_revenue(_sample(a, code), _sample(b, code)) for code in sorted(set(a.revenue) | set(b.revenue))]
    verdicts = [Verdict(RATE, None, rate.p_b_better, _better(rate.p_b_better, threshold))]
    verdicts += [
        Verdict(REVENUE, r.currency, r.p_b_better, _better(r.p_b_better, threshold))
        for r in revenue
        if r.resamples and r.enough_sessions
    ]
    shop_revenue = {
        code: delta(_per_session(a.shop, code), _per_session(b.shop, code))
        for code in sorted(set(a.shop.money) | set(b.shop.money))
    }
    return VersionPair(
        a=a,
        b=b,
        threshold=threshold,
        rate=rate,
        revenue=revenue,
        verdicts=verdicts,
        shop_rate=delta(b.shop.conversion_rate, a.shop.conversion_rate),
        shop_revenue=shop_revenue,
    )


def _sample(window: VersionWindow, code: str) -> RevenueSample:
    """The window's revenue in ``code``; a version with no money in it had sessions that all count 0."""
    found = window.revenue.get(code)
    return found or revenue_sample(code, np.zeros(0), window.figures.sessions, seed=0)


def _per_session(figures: Figures, code: str) -> float | None:
    money = figures.money.get(code)
    return ratio(money.net, figures.sessions) if money else None


def consecutive_pairs(windows: list[VersionWindow], *, threshold: float) -> list[VersionPair]:
    """v1 → v2, v2 → v3, …: each version against the one before it."""
    return [compare_windows(a, b, threshold=threshold) for a, b in pairwise(windows)]


@dataclass
class VersionReport:
    """The campaign's windows, each consecutive pair, and the pair chosen (when two versions were named)."""

    windows: list[VersionWindow]
    threshold: float
    pairs: list[VersionPair]
    chosen: VersionPair | None = None


def version_report(
    *,
    session: Session,
    account_id: int,
    campaign_public_id: str,
    days: int | None = None,
    model: str = "last_touch",
    a: str | None = None,
    b: str | None = None,
) -> VersionReport:
    """``version_comparison`` with every consecutive pair compared, and ``a`` against ``b`` (version public ids or
    numbers: ``cv_…``, ``v2``, ``2``) when both are given. The threshold is the account's (``winner_probability``)."""
    windows = version_comparison(
        session=session, account_id=account_id, campaign_public_id=campaign_public_id, days=days, model=model
    )
    threshold = winner_probability(session, account_id)
    report = VersionReport(windows, threshold, consecutive_pairs(windows, threshold=threshold))
    if a or b:
        if not (a and b):
            raise ValidationFailed("Name two versions to compare (a and b).", field="b" if a else "a")
        first, second = find_window(windows, a, "a"), find_window(windows, b, "b")
        if first is second:
            raise ValidationFailed("Choose two different versions.", field="b")
        report.chosen = compare_windows(first, second, threshold=threshold)
    return report


def find_window(windows: list[VersionWindow], wanted: str, name: str) -> VersionWindow:
    """A version by public id (``cv_…``) or number (``v2`` or ``2``)."""
    text = wanted.strip().lower()
    for w in windows:
        if text in {w.version_id.lower(), f"v{w.number}", str(w.number)}:
            return w
    raise NotFound(f"No version {wanted!r} in this campaign.", field=name)


# --- the same language everywhere (page, API, alerts, assistant) ----------------------------------------------------


def probability_text(p: float, locale: str = DEFAULT_LOCALE) -> str:
    """A probability as a percentage: whole percents, one decimal near 0 and 1 (99.6 % is not 100 %)."""
    return format_percent(p, locale, digits=0 if 0.01 <= p <= 0.99 else 1)


def measure_name(verdict: Verdict) -> str:
    return "conversion rate" if verdict.measure == RATE else f"net revenue per session ({verdict.currency})"


def pair_summary(pair: VersionPair, locale: str = DEFAULT_LOCALE) -> str:
    """One plain sentence: the winner and how sure, or that there is not enough data and what is missing."""

    def _pct(p: float) -> str:
        return probability_text(p, locale)

    a, b = f"v{pair.a.number}", f"v{pair.b.number}"
    threshold = _pct(pair.threshold)
    winner = pair.winner
    if winner is not None:
        won = [v for v in pair.verdicts if v.better]
        how = ", ".join(
            f"{measure_name(v)} ({_pct(v.p_b_better if v.better == 'b' else 1 - v.p_b_better)})" for v in won
        )
        return f"v{winner.number} is the winner: better on {how}, at least the {threshold} required."
    if pair.conflicting:
        parts = [f"{b if v.better == 'b' else a} is better on {measure_name(v)}" for v in pair.verdicts if v.better]
        return "No single winner: " + "; ".join(parts) + "."
    rate = pair.rate
    leader, p = (b, rate.p_b_better) if rate.p_b_better >= 0.5 else (a, 1 - rate.p_b_better)
    text = (
        f"Not enough data to call a winner: {leader}'s conversion rate is higher with {_pct(p)} probability, "
        f"below the {threshold} required"
    )
    if rate.more_sessions:
        text += (
            f"; about {format_number(rate.more_sessions, locale)} more sessions per version would tell a "
            f"{format_percent(TELL_APART, locale, digits=0)} difference"
        )
    elif rate.sessions_needed is None:
        text += "; neither version has a conversion yet"
    else:
        text += (
            f"; there are enough sessions to tell a {format_percent(TELL_APART, locale, digits=0)} difference, so "
            "any real difference is smaller than that"
        )
    return text + "."


SEASONALITY_NOTE = (
    "The versions ran one after another, not at the same time: a change in season, prices or other campaigns can "
    "explain part of a difference. The whole shop's change over the same windows is shown for context."
)


# --- as plain data (API, assistant, alerts) -------------------------------------------------------------------------


def window_dict(window: VersionWindow) -> dict[str, Any]:
    """A version's window and figures; ``net_revenue_per_session``: per currency, minor units per session."""
    return {
        "version": window.version_id,
        "number": window.number,
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "live_days": window.live_days,
        "small_sample": window.small_sample,
        "figures": figure_dict(window.figures),
        "net_revenue_per_session": {code: sample.per_session for code, sample in sorted(window.revenue.items())},
    }


def pair_dict(pair: VersionPair) -> dict[str, Any]:
    """Version B against A: the verdict, its sentence and every number behind it."""
    rate = pair.rate
    winner = pair.winner
    return {
        "a": pair.a.version_id,
        "b": pair.b.version_id,
        "a_number": pair.a.number,
        "b_number": pair.b.number,
        "threshold": pair.threshold,
        "winner": winner.version_id if winner else None,
        "verdict": "winner" if winner else ("conflicting" if pair.conflicting else "not_enough_data"),
        "summary": pair_summary(pair),
        "conversion_rate": {
            "a": rate.rate_a,
            "b": rate.rate_b,
            "sessions_a": rate.sessions_a,
            "sessions_b": rate.sessions_b,
            "converted_a": rate.converted_a,
            "converted_b": rate.converted_b,
            "p_b_better": rate.p_b_better,
            "difference_interval": [rate.diff_low, rate.diff_high],
            "minimum_detectable_effect": rate.mde,
            "sessions_needed": rate.sessions_needed,
            "more_sessions_needed": rate.more_sessions,
        },
        "net_revenue_per_session": {
            r.currency: {
                "a": r.per_session_a,
                "b": r.per_session_b,
                "p_b_better": r.p_b_better,
                "difference_interval": None if r.diff_low is None else [r.diff_low, r.diff_high],
                "resamples": r.resamples,
                "enough_sessions": r.enough_sessions,
            }
            for r in pair.revenue
        },
        "shop": {
            "conversion_rate": {
                "a": pair.shop_rate.previous,
                "b": pair.shop_rate.current,
                "percent": pair.shop_rate.percent,
            },
            "net_revenue_per_session": {
                code: {"a": d.previous, "b": d.current, "percent": d.percent} for code, d in pair.shop_revenue.items()
            },
        },
    }


def report_dict(report: VersionReport) -> dict[str, Any]:
    """The whole comparison as plain data: windows, consecutive pairs, the chosen pair, the threshold and caveat."""
    first = report.windows[0] if report.windows else None
    return {
        "window_days": (first.end - first.start).days + 1 if first else 0,
        "threshold": report.threshold,
        "seasonality_note": SEASONALITY_NOTE,
        "versions": [window_dict(w) for w in report.windows],
        "pairs": [pair_dict(p) for p in report.pairs],
        "chosen": pair_dict(report.chosen) if report.chosen else None,
    }
