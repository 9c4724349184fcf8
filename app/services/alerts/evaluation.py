"""Judging a rule: for each campaign it covers, the metric over the window ending now (and the window before), the
threshold (the rule's, or the live version's KPI target), the verdict, a one-line summary, and what changed.
Reads only: recording and sending are ``runs`` and ``delivery``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.lib.formatting import DEFAULT_LOCALE, format_count, format_money, format_number, to_major
from app.models import AlertRule, Campaign, CampaignVersion, StripeProduct
from app.models.base import utcnow
from app.services import metrics, rollups
from app.services.accounts import account_locale, winner_probability
from app.services.alerts.definitions import (
    METRIC_LABELS,
    MONEY_METRICS,
    PROBABILITY_METRICS,
    WINDOW_LABELS,
    WINDOWS,
    Comparator,
    Metric,
    Mode,
    Window,
)
from app.services.alerts.texts import (
    change_text,
    orders_text,
    value_text,
    volume_rule_text,
    volume_text,
    window_text,
)
from app.services.metrics import Figures, WindowFigures
from app.services.platform_vs_verified import over_reporting_percent


@dataclass
class Evaluation:
    """One rule judged for one campaign now: the figures, the verdict, and what the e-mail would say."""

    rule_public_id: str
    rule_name: str
    campaign_id: int
    campaign_public_id: str
    campaign_name: str
    version_id: int | None
    version_number: int | None
    metric: Metric
    comparator: Comparator
    mode: Mode
    window_start: datetime
    window_end: datetime
    value: float | None = None  # the metric, or the change in percent (change mode)
    current: float | None = None  # the metric this window
    previous: float | None = None  # the metric the previous window
    threshold: float | None = None
    threshold_source: str = ""  # rule | version targets
    currency: str = ""
    sessions: int = 0
    orders: float = 0.0
    breached: bool = False
    volume_ok: bool = True
    verdict: str = "ok"  # breached | ok | low_volume | no_threshold | no_data
    summary: str = ""
    current_figures: Figures = field(default_factory=Figures, repr=False)
    previous_figures: Figures = field(default_factory=Figures, repr=False)
    locale: str = DEFAULT_LOCALE  # the account's: how the summary and the e-mail write numbers and money
    # What changed since the previous window, worked out only when an e-mail or a preview needs it.
    explain: Callable[[], list[str]] | None = field(default=None, repr=False)
    _drivers: list[str] | None = field(default=None, repr=False)

    def what_changed(self) -> list[str]:
        if self._drivers is None:
            self._drivers = self.explain() if self.explain else []
        return self._drivers

    @property
    def campaign_label(self) -> str:
        return f"{self.campaign_name} v{self.version_number}" if self.version_number else self.campaign_name


def _rule_campaigns(session: Session, rule: AlertRule) -> list[Campaign]:
    query = select(Campaign).where(Campaign.account_id == rule.account_id, Campaign.status == "active")
    if rule.campaign_id is not None:
        query = query.where(Campaign.id == rule.campaign_id)
    return list(session.exec(query.order_by(col(Campaign.name), col(Campaign.id))).all())


def _version(session: Session, campaign: Campaign) -> CampaignVersion | None:
    return session.get(CampaignVersion, campaign.active_version_id) if campaign.active_version_id else None


def _target(rule: AlertRule, version: CampaignVersion | None) -> tuple[float | None, str, str]:
    """(threshold, currency, where it came from): the rule's own, else the version's KPI target."""
    budget = ((version.config if version else None) or {}).get("budget") or {}
    budget_currency = str(budget.get("currency") or "")
    if rule.threshold is not None or rule.metric == Metric.CONVERSIONS_STOPPED:
        return rule.threshold, rule.currency or budget_currency, "rule"
    targets = ((version.config if version else None) or {}).get("targets") or {}
    if rule.metric == Metric.ROAS and targets.get("min_roas") is not None:
        return float(targets["min_roas"]), rule.currency or budget_currency, "version targets"
    if rule.metric == Metric.CONVERSION_RATE and targets.get("min_conversion_rate") is not None:
        return float(targets["min_conversion_rate"]) * 100, rule.currency, "version targets"
    cpa_currency = str(targets.get("currency") or budget_currency)  # the target's own currency, else the budget's
    if rule.metric == Metric.CPA and targets.get("target_cpa") is not None and cpa_currency:
        return float(to_major(int(targets["target_cpa"]), cpa_currency)), cpa_currency, "version targets"
    return None, rule.currency or budget_currency, ""


def _main_currency(figures: Iterable[Figures]) -> str:
    totals: dict[str, int] = {}
    for f in figures:
        for code, money in f.money.items():
            totals[code] = totals.get(code, 0) + money.gross + money.renewal_revenue + money.spend
    return max(sorted(totals), key=lambda c: totals[c]) if totals else ""


def metric_value(metric: Metric, figures: Figures, currency: str) -> float | None:
    """The metric in display units (rates in percent, money in major units). CPA with spend but no order yet
    reads as the whole spend: one order would cost at least that."""
    money = figures.money.get(currency)
    if metric is Metric.ROAS:
        return figures.roas(currency)
    if metric is Metric.CPA:
        if money is None or not money.spend:
            return None
        return float(to_major(money.spend, currency)) / max(figures.orders, 1.0)
    if metric is Metric.CONVERSION_RATE:
        rate = figures.conversion_rate
        return None if rate is None else rate * 100
    if metric is Metric.NET_REVENUE:
        return float(to_major(money.net, currency)) if money else 0.0
    if metric is Metric.REFUND_RATE:
        rate = figures.refund_rate(currency)
        return None if rate is None else rate * 100
    return figures.orders


def _money_line(figures: Figures, currency: str, locale: str) -> str:
    money = figures.money.get(currency)
    if not currency:
        return ""
    net = format_money(money.net if money else 0, currency, locale)
    spend = format_money(money.spend if money else 0, currency, locale)
    return f", net revenue {net}, spend {spend}"


def _figure_line(figures: Figures, currency: str, locale: str) -> str:
    return volume_text(figures.sessions, figures.orders, locale) + _money_line(figures, currency, locale)


def _drivers(
    session: Session,
    campaign: Campaign,
    current: WindowFigures,
    previous: WindowFigures,
    currency: str,
    versions: dict[int, tuple[int, datetime]],
    locale: str = DEFAULT_LOCALE,
) -> list[str]:
    """What changed since the previous window: the campaign's totals, a version that went live, the versions that
    had activity in either window, and the products whose net revenue moved most."""
    cid = campaign.id or 0
    lines = [
        f"Previous window: {_figure_line(previous.campaign(cid), currency, locale)}.",
        f"This window: {_figure_line(current.campaign(cid), currency, locale)}.",
    ]
    for number, published in sorted(versions.values(), key=lambda v: v[1]):
        if previous.start <= published < current.end:
            lines.append(f"Version {number} went live at {published:%Y-%m-%d %H:%M} UTC.")
    touched = sorted({v for c, v in [*current.versions, *previous.versions] if c == cid and v})
    by_version = {
        vid: (previous.versions.get((cid, vid), Figures()), current.versions.get((cid, vid), Figures()))
        for vid in touched
    }
    # A version with neither sessions nor orders in both windows (only an old order's refund, say) would read
    # "orders 0 → 0, sessions 0 → 0": left out.
    active = {vid: pair for vid, pair in by_version.items() if any(f.sessions or f.orders for f in pair)}
    if len(active) > 1:
        for vid, (before, after) in active.items():
            number = versions.get(vid, (0, None))[0]
            lines.append(
                f"Version {number}: orders {value_text(Metric.ORDERS, before.orders, locale=locale)} → "
                f"{value_text(Metric.ORDERS, after.orders, locale=locale)}, sessions "
                f"{format_number(before.sessions, locale)} → {format_number(after.sessions, locale)}."
            )
    products = {p for c, p in [*current.products, *previous.products] if c == cid}
    if products and currency:
        names = dict(
            session.exec(
                select(StripeProduct.stripe_id, StripeProduct.name).where(
                    StripeProduct.account_id == campaign.account_id, col(StripeProduct.stripe_id).in_(products)
                )
            ).all()
        )

        def net(f: Figures | None) -> int:
            money = f.money.get(currency) if f else None
            return money.net if money else 0

        moves = sorted(
            ((net(current.products.get((cid, p))) - net(previous.products.get((cid, p))), p) for p in products),
            key=lambda m: (-abs(m[0]), m[1]),
        )
        for change, product in moves[:3]:
            if change == 0:
                continue
            net_before = net(previous.products.get((cid, product)))
            net_after = net(current.products.get((cid, product)))
            sign = "+" if change > 0 else "−"
            lines.append(
                f"Product {names.get(product) or product}: net revenue {format_money(net_before, currency, locale)} → "
                f"{format_money(net_after, currency, locale)} ({sign}{format_money(abs(change), currency, locale)})."
            )
    return lines


FiguresCache = dict[tuple[int, datetime, datetime], WindowFigures]


def _window(session: Session, account_id: int, start: datetime, end: datetime, cache: FiguresCache) -> WindowFigures:
    key = (account_id, start, end)
    if key not in cache:
        cache[key] = metrics.window_figures(session=session, account_id=account_id, start=start, end=end)
    return cache[key]


def _over_reporting(
    session: Session, rule: AlertRule, campaign: Campaign, now: datetime
) -> tuple[float | None, float | None]:
    """Platform over-reporting of the rule's window and of the one before, in percent. The platforms report whole
    days, so the window is its length in whole days ending today (the last hour and 24 hours: today), and verified
    orders are counted over the same days."""
    days = max(1, WINDOWS[Window(rule.window)].days)
    end = now.astimezone(rollups.account_zone(session, rule.account_id)).date()
    values: list[float | None] = []
    for _ in range(2):
        start = end - timedelta(days=days - 1)
        values.append(
            over_reporting_percent(
                session=session, account_id=rule.account_id, campaign_public_id=campaign.public_id, start=start, end=end
            )
        )
        end = start - timedelta(days=1)
    return values[0], values[1]


def evaluate(
    session: Session,
    rule: AlertRule,
    *,
    now: datetime | None = None,
    cache: FiguresCache | None = None,
    locale: str | None = None,
) -> list[Evaluation]:
    """Judge ``rule`` for each campaign it covers, now. Reads only. ``cache`` shares window figures between the
    rules of one run (rules of an account with the same window read the data once); ``locale``: the account's
    (read when not given), for the texts."""
    now = now or utcnow()
    locale = locale or account_locale(session, rule.account_id)
    metric, mode = Metric(rule.metric), Mode(rule.mode)
    comparator = Comparator(rule.comparator)
    length = (
        timedelta(hours=rule.stopped_hours) if metric is Metric.CONVERSIONS_STOPPED else WINDOWS[Window(rule.window)]
    )
    start, previous_start = now - length, now - 2 * length
    campaigns = _rule_campaigns(session, rule)
    if not campaigns:
        return []
    cache = {} if cache is None else cache
    current = _window(session, rule.account_id, start, now, cache)
    previous = _window(session, rule.account_id, previous_start, start, cache)
    numbers = {
        vid: (number, published)
        for vid, number, published in session.exec(
            select(CampaignVersion.id, CampaignVersion.number, CampaignVersion.published_at).where(
                CampaignVersion.account_id == rule.account_id
            )
        ).all()
        if vid is not None
    }
    out = []
    for campaign in campaigns:
        cid = campaign.id or 0
        version = _version(session, campaign)
        threshold, currency, source = _target(rule, version)
        now_figures, before_figures = current.campaign(cid), previous.campaign(cid)
        if not currency and metric in {*MONEY_METRICS, Metric.ROAS, Metric.REFUND_RATE}:
            currency = _main_currency([now_figures, before_figures])
        result = Evaluation(
            rule_public_id=rule.public_id,
            rule_name=rule.name,
            campaign_id=cid,
            campaign_public_id=campaign.public_id,
            campaign_name=campaign.name,
            version_id=version.id if version else None,
            version_number=version.number if version else None,
            metric=metric,
            comparator=comparator,
            mode=mode,
            window_start=start,
            window_end=now,
            threshold=threshold,
            threshold_source=source,
            currency=currency,
            sessions=now_figures.sessions,
            orders=now_figures.orders,
            current_figures=now_figures,
            previous_figures=before_figures,
            locale=locale,
        )
        result.volume_ok = now_figures.sessions >= rule.min_sessions and now_figures.orders >= rule.min_orders
        if metric in PROBABILITY_METRICS:
            _judge_versions(session, rule, campaign, result)
            out.append(result)
            continue
        if metric is Metric.PLATFORM_OVER_REPORTING:
            result.current, result.previous = _over_reporting(session, rule, campaign, now)
            result.value = (
                metrics.delta(result.current, result.previous).percent if mode is Mode.CHANGE else result.current
            )
            if threshold is not None and result.value is not None:
                limit = -threshold if mode is Mode.CHANGE and comparator is Comparator.BELOW else threshold
                result.breached = result.value < limit if comparator is Comparator.BELOW else result.value > limit
        elif metric is Metric.CONVERSIONS_STOPPED:
            result.value = result.current = now_figures.orders
            result.previous = before_figures.orders
            result.volume_ok = now_figures.sessions >= max(rule.min_sessions, 1)
            result.breached = now_figures.orders == 0
        else:
            result.current = metric_value(metric, now_figures, currency)
            result.previous = metric_value(metric, before_figures, currency)
            if mode is Mode.CHANGE:
                change = metrics.delta(result.current, result.previous).percent
                result.value = change
            else:
                result.value = result.current
            if threshold is not None and result.value is not None:
                limit = -threshold if mode is Mode.CHANGE and comparator is Comparator.BELOW else threshold
                result.breached = result.value < limit if comparator is Comparator.BELOW else result.value > limit
        if threshold is None and metric is not Metric.CONVERSIONS_STOPPED:
            result.verdict = "no_threshold"
        elif result.value is None:
            result.verdict = "no_data"
        elif not result.volume_ok:
            result.verdict = "low_volume"
        else:
            result.verdict = "breached" if result.breached else "ok"
        result.summary = _summary(rule, result)
        result.explain = functools.partial(_drivers, session, campaign, current, previous, currency, numbers, locale)
        out.append(result)
    return out


def _judge_versions(session: Session, rule: AlertRule, campaign: Campaign, result: Evaluation) -> None:
    """ "The live version underperforms the one before": the versions' last consecutive pair over their aligned
    windows (``metrics.version_report``); the value is the highest probability, over conversion rate and net
    revenue per session (per currency, where the bootstrap may decide), that the version before was better."""
    loc = result.locale
    account_threshold = winner_probability(session, rule.account_id) * 100
    result.threshold = rule.threshold if rule.threshold is not None else account_threshold
    result.threshold_source = "rule" if rule.threshold is not None else "account winner probability"
    report = metrics.version_report(session=session, account_id=rule.account_id, campaign_public_id=campaign.public_id)
    if not report.pairs:
        result.verdict = "no_data"
        result.summary = f"{campaign.name}: one version only, nothing to compare yet"
        return
    pair = report.pairs[-1]
    live, before = pair.b, pair.a
    result.version_number = live.number
    result.window_start = rollups.day_bounds(live.start, rollups.account_zone(session, rule.account_id))[0]
    result.sessions, result.orders = live.figures.sessions, live.figures.orders
    result.current_figures, result.previous_figures = live.figures, before.figures
    chances = [(1 - pair.rate.p_b_better, "conversion rate")] + [
        (1 - r.p_b_better, f"net revenue per session ({r.currency})") for r in pair.revenue if r.enough_sessions
    ]
    worst, measure = max(chances, key=lambda c: c[0])
    result.value = result.current = worst * 100
    result.currency = ""
    result.breached = result.value >= result.threshold
    result.volume_ok = live.figures.sessions >= rule.min_sessions and live.figures.orders >= rule.min_orders
    result.verdict = "low_volume" if not result.volume_ok else ("breached" if result.breached else "ok")
    sure = value_text(Metric.VERSION_UNDERPERFORMS, result.value, locale=loc)
    needed = value_text(Metric.VERSION_UNDERPERFORMS, result.threshold, locale=loc)
    a, b = f"v{before.number}", f"v{live.number}"
    if result.breached:
        text = f"{b} underperforms {a} on {measure} with {sure} probability (the rule fires at {needed})"
    else:
        text = f"{b} against {a}: {a} better on {measure} with {sure} probability at most (the rule fires at {needed})"
    volume = volume_text(result.sessions, result.orders, loc)
    suffix = "" if result.volume_ok else f"; too little volume to alert (needs {volume_rule_text(rule, loc)})"
    result.summary = f"{text} over {b}'s first {(live.end - live.start).days + 1} days ({volume}){suffix}"
    summary = metrics.pair_summary(pair, loc)
    result.explain = lambda: [summary, metrics.SEASONALITY_NOTE]


_TARGET_NAMES = {
    Metric.ROAS: "min ROAS",
    Metric.CPA: "target CPA, with a budget for its currency",
    Metric.CONVERSION_RATE: "min conversion rate",
}


def _summary(rule: AlertRule, e: Evaluation) -> str:
    label, loc = METRIC_LABELS[e.metric], e.locale
    volume = volume_text(e.sessions, e.orders, loc)
    suffix = "" if e.volume_ok else f"; too little volume to alert (needs {volume_rule_text(rule, loc)})"
    if e.metric is Metric.CONVERSIONS_STOPPED:
        sessions = format_count(e.sessions, "session", loc)
        if e.breached:
            text = f"No paid order in the last {rule.stopped_hours} h while {sessions} arrived"
        else:
            text = f"{orders_text(e.orders, loc, paid=True)} in the last {rule.stopped_hours} h"
        return f"{text} ({sessions}){suffix}" if not e.breached or not e.volume_ok else text
    if e.verdict == "no_threshold":
        return (
            f"{label}: no threshold. Set one on the rule, or a KPI target on the campaign's live version "
            f"({_TARGET_NAMES[e.metric]})."
        )
    elif e.value is None:
        reason = "no spend recorded" if e.metric in {Metric.ROAS, Metric.CPA} else "no data"
        return f"{label}: n/a over the {WINDOW_LABELS[Window(rule.window)]} ({reason}; {volume})"
    elif e.mode is Mode.CHANGE:
        verb = "dropped" if (e.value or 0) < 0 else "rose"
        limit = (-1 if e.comparator is Comparator.BELOW else 1) * (e.threshold or 0)
        before, after = (value_text(e.metric, v, e.currency, loc) for v in (e.previous, e.current))
        text = (
            f"{label} {verb} {change_text(e.value, loc, digits=1)} ({before} → {after}) against the previous "
            f"window; the rule fires at {change_text(limit, loc, sign=True)}"
        )
    else:
        where = "below" if e.breached == (e.comparator is Comparator.BELOW) else "above"
        if e.breached:
            where = e.comparator.value
        elif e.value == e.threshold:
            where = "at"
        text = (
            f"{label} {value_text(e.metric, e.value, e.currency, loc)} is {where} "
            f"{value_text(e.metric, e.threshold, e.currency, loc)}"
        )
    return f"{text} over the {window_text(rule)} ({volume}){suffix}"
