"""Alerts: rules that watch a campaign's performance, evaluated on a schedule, e-mailed once per problem.

A rule names a metric (ROAS, CPA, conversion rate, net revenue, refund rate, orders, or "conversions stopped"),
a comparator and a threshold (ROAS, CPA and conversion rate default to the live version's KPI targets), a window
(the last 1 h, 24 h or 7 d, ending now), a minimum volume, a cooldown and recipients. In ``change`` mode the
threshold is a percentage: "dropped more than X % against the previous window of the same length".

Thresholds are in the units a marketer reads: ROAS as a ratio (2.5), CPA and net revenue in major units of the
rule's currency (25.00), rates in percent (1.8), changes in percent.

Per (rule, campaign) an ``AlertState`` makes it once per problem:
- breached with enough volume: ``ok`` → ``firing`` and one ``fired`` event (e-mailed), unless the last firing is
  within the cooldown (one ``suppressed_cooldown`` event instead);
- breached with too little volume: one ``suppressed_volume`` event, nothing sent;
- recovered with enough volume while firing: ``resolved`` (e-mailed);
- while firing, nothing more is sent; a suppression is recorded once until the situation changes.

Figures come from ``metrics.window_figures`` (the rollups' rules over exact windows, last-touch attribution).
E-mails are queued on the event and sent by ``send_due_emails`` with retries; every attempt is recorded.
"""

from __future__ import annotations

import functools
import html
import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from app import routes
from app.db import write_lock
from app.integrations.email import EmailSendError, OutgoingEmail, send_email
from app.lib.formatting import (
    DEFAULT_LOCALE,
    format_amount,
    format_count,
    format_money,
    format_number,
    format_percent,
    format_ratio,
    plural,
)
from app.models import (
    Account,
    AlertEvent,
    AlertRule,
    AlertState,
    Campaign,
    CampaignVersion,
    Membership,
    Role,
    StripeProduct,
    User,
)
from app.models.base import new_public_id, utcnow
from app.services import metrics, rollups
from app.services.accounts import account_locale
from app.services.currency import currency_exponent
from app.services.errors import NotFound, ValidationFailed, validation_failed
from app.services.metrics import Figures, WindowFigures
from app.services.paging import decode_cursor, encode_cursor
from app.services.permissions import Actor, Permission, require
from app.settings import get_settings

log = logging.getLogger("paidsignal.alerts")


class Metric(StrEnum):
    ROAS = "roas"
    CPA = "cpa"
    CONVERSION_RATE = "conversion_rate"
    NET_REVENUE = "net_revenue"
    REFUND_RATE = "refund_rate"
    ORDERS = "orders"
    CONVERSIONS_STOPPED = "conversions_stopped"


class Comparator(StrEnum):
    BELOW = "below"
    ABOVE = "above"


class Mode(StrEnum):
    VALUE = "value"
    CHANGE = "change"


class Window(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"


class EventKind(StrEnum):
    FIRED = "fired"
    RESOLVED = "resolved"
    SUPPRESSED_VOLUME = "suppressed_volume"
    SUPPRESSED_COOLDOWN = "suppressed_cooldown"


METRIC_LABELS: dict[Metric, str] = {
    Metric.ROAS: "ROAS",
    Metric.CPA: "CPA",
    Metric.CONVERSION_RATE: "Conversion rate",
    Metric.NET_REVENUE: "Net revenue",
    Metric.REFUND_RATE: "Refund rate",
    Metric.ORDERS: "Orders",
    Metric.CONVERSIONS_STOPPED: "Conversions stopped",
}
# The direction that means "underperforming", used when a rule does not say.
DEFAULT_COMPARATOR: dict[Metric, Comparator] = {
    Metric.ROAS: Comparator.BELOW,
    Metric.CPA: Comparator.ABOVE,
    Metric.CONVERSION_RATE: Comparator.BELOW,
    Metric.NET_REVENUE: Comparator.BELOW,
    Metric.REFUND_RATE: Comparator.ABOVE,
    Metric.ORDERS: Comparator.BELOW,
    Metric.CONVERSIONS_STOPPED: Comparator.BELOW,
}
WINDOWS: dict[Window, timedelta] = {
    Window.HOUR: timedelta(hours=1),
    Window.DAY: timedelta(hours=24),
    Window.WEEK: timedelta(days=7),
}
WINDOW_LABELS: dict[Window, str] = {Window.HOUR: "last hour", Window.DAY: "last 24 hours", Window.WEEK: "last 7 days"}
EVENT_LABELS: dict[EventKind, str] = {
    EventKind.FIRED: "Fired",
    EventKind.RESOLVED: "Resolved",
    EventKind.SUPPRESSED_VOLUME: "Held back: low volume",
    EventKind.SUPPRESSED_COOLDOWN: "Held back: cooldown",
}
TARGET_METRICS = {Metric.ROAS, Metric.CPA, Metric.CONVERSION_RATE}
MONEY_METRICS = {Metric.CPA, Metric.NET_REVENUE}
RATE_METRICS = {Metric.CONVERSION_RATE, Metric.REFUND_RATE}
RECIPIENT_ROLES = (Role.OWNER, Role.ADMIN, Role.MARKETER, Role.VIEWER)
MAX_RECIPIENTS = 20
# A new rule waits for this many sessions in its window before it alerts: a handful of visits makes every ratio
# swing (one order more or less), and an alert on noise teaches people to ignore alerts. 0 turns it off.
DEFAULT_MIN_SESSIONS = 100
EVENTS_PAGE = 50
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


# --- rules ----------------------------------------------------------------------------------------------------------


class RuleInput(BaseModel):
    """A rule as the editor (or a script) sends it. ``campaign``: a campaign's public id, empty for every active
    campaign of the account."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    campaign: str = ""
    metric: Metric
    comparator: Comparator | None = None
    mode: Mode = Mode.VALUE
    threshold: float | None = Field(default=None, ge=0)
    currency: str = ""
    window: Window = Window.DAY
    stopped_hours: int = Field(default=6, ge=1, le=168)
    min_sessions: int = Field(default=DEFAULT_MIN_SESSIONS, ge=0, le=10_000_000)
    min_orders: int = Field(default=0, ge=0, le=1_000_000)
    cooldown_minutes: int = Field(default=360, ge=0, le=60 * 24 * 30)
    recipient_roles: list[Role] = Field(default_factory=lambda: [Role.OWNER, Role.ADMIN])
    recipient_emails: list[str] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("name", "campaign", "currency", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("must be a number")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value and currency_exponent(value) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value.upper()

    @field_validator("recipient_emails", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in re.split(r"[\s,;]+", value) if part]
        return value

    @field_validator("recipient_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        cleaned = sorted({address.strip().lower() for address in value if address.strip()})
        bad = [address for address in cleaned if not _EMAIL.match(address)]
        if bad:
            raise ValueError(
                f"{', '.join(bad)} {'is not an e-mail address' if len(bad) == 1 else 'are not e-mail addresses'}"
            )
        if len(cleaned) > MAX_RECIPIENTS:
            raise ValueError(f"at most {MAX_RECIPIENTS} addresses")
        return cleaned

    @model_validator(mode="after")
    def _defaults(self) -> RuleInput:
        if self.metric is Metric.CONVERSIONS_STOPPED:
            self.comparator = Comparator.BELOW
        elif self.comparator is None:
            self.comparator = DEFAULT_COMPARATOR[self.metric]
        return self


def _check(rule: RuleInput) -> None:
    """The rules between fields, each refusal naming the field to fix."""
    label = METRIC_LABELS[rule.metric]
    if rule.metric is Metric.CONVERSIONS_STOPPED:
        if rule.mode is Mode.CHANGE:
            raise ValidationFailed(
                "'Conversions stopped' has no change mode: it fires after N hours without an order.", field="mode"
            )
        if rule.min_orders:
            raise ValidationFailed(
                "'Conversions stopped' cannot require a minimum of orders: set minimum sessions.", field="min_orders"
            )
        rule.threshold = None
    elif rule.mode is Mode.CHANGE:
        if not rule.threshold:
            raise ValidationFailed(
                "In change mode the threshold is a percentage greater than 0, e.g. 30.", field="threshold"
            )
    elif rule.threshold is None and rule.metric not in TARGET_METRICS:
        raise ValidationFailed(
            f"{label} needs a threshold (only ROAS, CPA and conversion rate default to the campaign version's KPI "
            "targets).",
            field="threshold",
        )
    if rule.metric is Metric.ORDERS and rule.min_orders and rule.comparator is Comparator.BELOW:
        raise ValidationFailed(
            "A minimum of orders would hide 'orders below': set minimum sessions instead.", field="min_orders"
        )
    if rule.metric in MONEY_METRICS and rule.mode is Mode.VALUE and rule.threshold is not None and not rule.currency:
        raise ValidationFailed(f"{label} is an amount: choose its currency.", field="currency")
    if rule.metric in RATE_METRICS and rule.mode is Mode.VALUE and (rule.threshold or 0) > 100:
        raise ValidationFailed("A rate threshold is a percentage between 0 and 100.", field="threshold")
    if not rule.recipient_roles and not rule.recipient_emails:
        raise ValidationFailed("Choose who gets the e-mail: a role, an address, or both.", field="recipient_emails")


_FIELD_NAMES = {"recipient_emails": "addresses", "min_sessions": "minimum sessions", "min_orders": "minimum orders"}


def parse_rule(data: dict[str, Any]) -> RuleInput:
    try:
        parsed = RuleInput.model_validate(data)
    except ValidationError as error:
        raise validation_failed(error, _FIELD_NAMES) from error
    _check(parsed)
    return parsed


@dataclass(frozen=True)
class RuleRow:
    public_id: str
    name: str
    campaign: str  # name, or "Every active campaign"
    campaign_public_id: str
    metric: str
    condition: str  # "ROAS below 2.00", "dropped more than 30 % vs the previous 24 hours", …
    window: str
    volume: str
    cooldown: str
    recipients: str
    enabled: bool
    firing: int  # campaigns firing now
    last_event_at: datetime | None
    checked: bool  # evaluated since it was created, changed or enabled ("not checked yet" until then)


def _rule_row(session: Session, rule: AlertRule, campaigns: dict[int, tuple[str, str]], locale: str) -> RuleRow:
    firing = session.exec(
        select(AlertState.id).where(AlertState.rule_id == rule.id, AlertState.status == "firing")
    ).all()
    checked = session.exec(
        select(AlertState.id).where(AlertState.rule_id == rule.id, col(AlertState.last_evaluated_at).is_not(None))
    ).first()
    last = session.exec(
        select(AlertEvent.created_at).where(AlertEvent.rule_id == rule.id).order_by(col(AlertEvent.id).desc())
    ).first()
    public_id, name = campaigns.get(rule.campaign_id or 0, ("", "Every active campaign"))
    return RuleRow(
        public_id=rule.public_id,
        name=rule.name,
        campaign=name,
        campaign_public_id=public_id,
        metric=METRIC_LABELS[Metric(rule.metric)],
        condition=condition_text(rule, locale),
        window=(
            f"last {rule.stopped_hours} h"
            if rule.metric == Metric.CONVERSIONS_STOPPED
            else WINDOW_LABELS[Window(rule.window)]
        ),
        volume=_volume_rule_text(rule, locale),
        cooldown=_duration(rule.cooldown_minutes),
        recipients=", ".join([*(f"{r}s" for r in rule.recipient_roles), *rule.recipient_emails]),
        enabled=rule.enabled,
        firing=len(firing),
        last_event_at=last,
        checked=checked is not None,
    )


def condition_text(rule: AlertRule | RuleInput, locale: str = DEFAULT_LOCALE) -> str:
    metric = Metric(rule.metric)
    label = METRIC_LABELS[metric]
    if metric is Metric.CONVERSIONS_STOPPED:
        return f"No paid order for {rule.stopped_hours} h while sessions arrive"
    comparator = Comparator(rule.comparator or DEFAULT_COMPARATOR[metric])
    if Mode(rule.mode) is Mode.CHANGE:
        verb = "dropped" if comparator is Comparator.BELOW else "rose"
        return f"{label} {verb} more than {_change_text(rule.threshold or 0, locale)} vs the previous window"
    if rule.threshold is None:
        return f"{label} {comparator.value} the version's KPI target"
    return f"{label} {comparator.value} {value_text(metric, rule.threshold, rule.currency, locale)}"


def _volume_rule_text(rule: AlertRule | RuleInput, locale: str = DEFAULT_LOCALE) -> str:
    parts = []
    if rule.min_sessions:
        parts.append(f"≥ {format_count(rule.min_sessions, 'session', locale)}")
    if rule.min_orders:
        parts.append(f"≥ {format_count(rule.min_orders, 'order', locale)}")
    return " and ".join(parts) or "any"


def _duration(minutes: int) -> str:
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
    if metric in RATE_METRICS:
        return format_percent(value / 100, locale, digits=2)
    if metric in {Metric.ORDERS, Metric.CONVERSIONS_STOPPED}:
        return format_number(round(value, 1), locale)
    return format_ratio(value, locale)


def _change_text(percent: float, locale: str, *, digits: int | None = None, sign: bool = False) -> str:
    """A change in percent: 30 → "30%"; with ``sign``: "+12.5%", "−3%" (the locale's own percent form)."""
    mark = ("+" if percent > 0 else "−" if percent < 0 else "±") if sign else ""
    return mark + format_percent(abs(percent) / 100, locale, digits=digits)


def _campaigns(session: Session, account_id: int) -> dict[int, tuple[str, str]]:
    return {
        cid: (pid, name)
        for cid, pid, name in session.exec(
            select(Campaign.id, Campaign.public_id, Campaign.name).where(Campaign.account_id == account_id)
        ).all()
    }


def _campaign_id(session: Session, account_id: int, public_id: str) -> int | None:
    if not public_id:
        return None
    found = session.exec(
        select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == public_id)
    ).first()
    if found is None:
        raise NotFound("No campaign with this id.", field="campaign")
    return found


def _get_rule(session: Session, account_id: int, public_id: str) -> AlertRule:
    rule = session.exec(
        select(AlertRule).where(AlertRule.account_id == account_id, AlertRule.public_id == public_id)
    ).first()
    if rule is None:
        raise NotFound("No alert rule with this id.", field="rule")
    return rule


def _apply(rule: AlertRule, data: RuleInput, campaign_id: int | None) -> None:
    rule.name = data.name
    rule.campaign_id = campaign_id
    rule.metric = data.metric.value
    rule.comparator = (data.comparator or DEFAULT_COMPARATOR[data.metric]).value
    rule.mode = data.mode.value
    rule.threshold = data.threshold
    rule.currency = data.currency
    rule.window = data.window.value
    rule.stopped_hours = data.stopped_hours
    rule.min_sessions = data.min_sessions
    rule.min_orders = data.min_orders
    rule.cooldown_minutes = data.cooldown_minutes
    rule.recipient_roles = [r.value for r in data.recipient_roles]
    rule.recipient_emails = list(data.recipient_emails)
    rule.enabled = data.enabled


def list_rules(*, session: Session, account_id: int) -> list[RuleRow]:
    campaigns = _campaigns(session, account_id)
    rules = session.exec(
        select(AlertRule).where(AlertRule.account_id == account_id).order_by(col(AlertRule.name), col(AlertRule.id))
    ).all()
    locale = account_locale(session, account_id)
    return [_rule_row(session, rule, campaigns, locale) for rule in rules]


def new_rule_form() -> dict[str, Any]:
    """The editor's fields for a new rule: ``RuleInput``'s defaults (the minimum volume among them)."""
    return {
        name: info.get_default(call_default_factory=True)
        for name, info in RuleInput.model_fields.items()
        if not info.is_required()
    }


def rule_form(*, session: Session, account_id: int, rule_public_id: str) -> dict[str, Any]:
    """A saved rule as the editor's fields (the same shape ``create_rule`` takes)."""
    rule = _get_rule(session, account_id, rule_public_id)
    campaigns = _campaigns(session, account_id)
    return {
        "name": rule.name,
        "campaign": campaigns.get(rule.campaign_id or 0, ("", ""))[0],
        "metric": rule.metric,
        "comparator": rule.comparator,
        "mode": rule.mode,
        "threshold": rule.threshold,
        "currency": rule.currency,
        "window": rule.window,
        "stopped_hours": rule.stopped_hours,
        "min_sessions": rule.min_sessions,
        "min_orders": rule.min_orders,
        "cooldown_minutes": rule.cooldown_minutes,
        "recipient_roles": list(rule.recipient_roles),
        "recipient_emails": list(rule.recipient_emails),
        "enabled": rule.enabled,
    }


def create_rule(*, session: Session, actor: Actor, data: dict[str, Any]) -> RuleRow:
    require(actor, Permission.EDIT_ALERTS)
    parsed = parse_rule(data)
    campaign_id = _campaign_id(session, actor.account_id, parsed.campaign)
    rule = AlertRule(
        public_id=new_public_id("alr"),
        account_id=actor.account_id,
        name=parsed.name,
        metric=parsed.metric.value,
        created_by_user_id=actor.user_id or None,
    )
    _apply(rule, parsed, campaign_id)
    with write_lock:
        session.add(rule)
        session.commit()
    return _rule_row(session, rule, _campaigns(session, actor.account_id), account_locale(session, actor.account_id))


def update_rule(*, session: Session, actor: Actor, rule_public_id: str, data: dict[str, Any]) -> RuleRow:
    """Save a rule's new settings. Its per-campaign states start over: the next evaluation judges the new rule
    afresh (history is kept)."""
    require(actor, Permission.EDIT_ALERTS)
    rule = _get_rule(session, actor.account_id, rule_public_id)
    parsed = parse_rule(data)
    _apply(rule, parsed, _campaign_id(session, actor.account_id, parsed.campaign))
    rule.updated_at = utcnow()
    with write_lock:
        session.add(rule)
        _start_over(session, rule)
        session.commit()
    return _rule_row(session, rule, _campaigns(session, actor.account_id), account_locale(session, actor.account_id))


def _start_over(session: Session, rule: AlertRule) -> None:
    """A changed or paused rule is judged afresh (no "resolved" for the old condition), but its last firing is
    kept: the cooldown still holds, so an edit cannot re-send an alert sooner than it allows."""
    session.execute(
        update(AlertState)
        .where(col(AlertState.rule_id) == rule.id)
        .values(status="ok", suppressed="", last_evaluated_at=None)  # "not checked yet" until the next run
    )


def set_enabled(*, session: Session, actor: Actor, rule_public_id: str, enabled: bool) -> RuleRow:
    require(actor, Permission.EDIT_ALERTS)
    rule = _get_rule(session, actor.account_id, rule_public_id)
    rule.enabled = enabled
    rule.updated_at = utcnow()
    with write_lock:
        session.add(rule)
        if not enabled:
            _start_over(session, rule)
        session.commit()
    return _rule_row(session, rule, _campaigns(session, actor.account_id), account_locale(session, actor.account_id))


def delete_rule(*, session: Session, actor: Actor, rule_public_id: str) -> None:
    """Delete a rule and its history."""
    require(actor, Permission.EDIT_ALERTS)
    rule = _get_rule(session, actor.account_id, rule_public_id)
    with write_lock:
        session.execute(delete(AlertEvent).where(col(AlertEvent.rule_id) == rule.id))
        session.execute(delete(AlertState).where(col(AlertState.rule_id) == rule.id))
        session.delete(rule)
        session.commit()


# --- evaluation -----------------------------------------------------------------------------------------------------


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
        exponent = currency_exponent(cpa_currency) or 0
        return int(targets["target_cpa"]) / 10**exponent, cpa_currency, "version targets"
    return None, rule.currency or budget_currency, ""


def _main_currency(figures: Iterable[Figures]) -> str:
    totals: dict[str, int] = {}
    for f in figures:
        for code, money in f.money.items():
            totals[code] = totals.get(code, 0) + money.gross + money.renewal_revenue + money.spend
    return max(sorted(totals), key=lambda c: totals[c]) if totals else ""


def _major(amount: int, currency: str) -> float:
    return amount / 10 ** (currency_exponent(currency) or 0)


def metric_value(metric: Metric, figures: Figures, currency: str) -> float | None:
    """The metric in display units (rates in percent, money in major units). CPA with spend but no order yet
    reads as the whole spend: one order would cost at least that."""
    money = figures.money.get(currency)
    if metric is Metric.ROAS:
        return figures.roas(currency)
    if metric is Metric.CPA:
        if money is None or not money.spend:
            return None
        return _major(money.spend, currency) / max(figures.orders, 1.0)
    if metric is Metric.CONVERSION_RATE:
        rate = figures.conversion_rate
        return None if rate is None else rate * 100
    if metric is Metric.NET_REVENUE:
        return _major(money.net, currency) if money else 0.0
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


def _volume_text(sessions: int, orders: float, locale: str) -> str:
    """ "1,204 sessions, 1 order" """
    return f"{format_count(sessions, 'session', locale)}, {_orders_text(orders, locale)}"


def _orders_text(orders: float, locale: str, *, paid: bool = False) -> str:
    count = round(orders, 1)  # attributed orders may be fractions (linear, position-based)
    noun = "paid order" if paid else "order"
    return format_count(count, noun, locale)


def _figure_line(figures: Figures, currency: str, locale: str) -> str:
    return _volume_text(figures.sessions, figures.orders, locale) + _money_line(figures, currency, locale)


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
            before = net(previous.products.get((cid, product)))
            after = net(current.products.get((cid, product)))
            sign = "+" if change > 0 else "−"
            lines.append(
                f"Product {names.get(product) or product}: net revenue {format_money(before, currency, locale)} → "
                f"{format_money(after, currency, locale)} ({sign}{format_money(abs(change), currency, locale)})."
            )
    return lines


FiguresCache = dict[tuple[int, datetime, datetime], WindowFigures]


def _window(session: Session, account_id: int, start: datetime, end: datetime, cache: FiguresCache) -> WindowFigures:
    key = (account_id, start, end)
    if key not in cache:
        cache[key] = metrics.window_figures(session=session, account_id=account_id, start=start, end=end)
    return cache[key]


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
        if metric is Metric.CONVERSIONS_STOPPED:
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


_TARGET_NAMES = {
    Metric.ROAS: "min ROAS",
    Metric.CPA: "target CPA, with a budget for its currency",
    Metric.CONVERSION_RATE: "min conversion rate",
}


def _summary(rule: AlertRule, e: Evaluation) -> str:
    label, loc = METRIC_LABELS[e.metric], e.locale
    volume = _volume_text(e.sessions, e.orders, loc)
    suffix = "" if e.volume_ok else f"; too little volume to alert (needs {_volume_rule_text(rule, loc)})"
    if e.metric is Metric.CONVERSIONS_STOPPED:
        sessions = format_count(e.sessions, "session", loc)
        if e.breached:
            text = f"No paid order in the last {rule.stopped_hours} h while {sessions} arrived"
        else:
            text = f"{_orders_text(e.orders, loc, paid=True)} in the last {rule.stopped_hours} h"
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
            f"{label} {verb} {_change_text(e.value, loc, digits=1)} ({before} → {after}) against the previous "
            f"window; the rule fires at {_change_text(limit, loc, sign=True)}"
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
    window = (
        f"last {rule.stopped_hours} h" if e.metric is Metric.CONVERSIONS_STOPPED else WINDOW_LABELS[Window(rule.window)]
    )
    return f"{text} over the {window} ({volume}){suffix}"


# --- what the e-mail says -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _subject(kind: EventKind, e: Evaluation) -> str:
    label, loc = METRIC_LABELS[e.metric], e.locale
    if kind is EventKind.RESOLVED:
        if e.metric is Metric.CONVERSIONS_STOPPED:
            return f"[PaidSignal] Resolved: {e.campaign_label}: paid orders are coming in again"
        return (
            f"[PaidSignal] Resolved: {e.campaign_label}: {label} back to "
            f"{value_text(e.metric, e.current, e.currency, loc)}"
        )
    if e.metric is Metric.CONVERSIONS_STOPPED:
        hours = int((e.window_end - e.window_start).total_seconds() // 3600)
        return f"[PaidSignal] {e.campaign_label}: no paid order in {hours} h"
    if e.mode is Mode.CHANGE:
        verb = "dropped" if (e.value or 0) < 0 else "rose"
        return f"[PaidSignal] {e.campaign_label}: {label} {verb} {_change_text(e.value or 0, loc, digits=0)}"
    return (
        f"[PaidSignal] {e.campaign_label}: {label} {value_text(e.metric, e.value, e.currency, loc)} "
        f"{e.comparator.value} {value_text(e.metric, e.threshold, e.currency, loc)}"
    )


def compose(kind: EventKind, rule: AlertRule, e: Evaluation, zone_name: str) -> Message:
    """The alert (or resolved) e-mail: plain text and HTML with the same facts, in the account's locale."""
    loc = e.locale
    zone = rollups._zone(zone_name)
    link = f"{get_settings().public_url}{routes.campaign_url(e.campaign_public_id)}"
    alerts_link = f"{get_settings().public_url}{routes.ALERTS}"
    start, end = e.window_start.astimezone(zone), e.window_end.astimezone(zone)
    window = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({zone_name})"
    if e.metric is Metric.CONVERSIONS_STOPPED:
        threshold = f"no paid order for {rule.stopped_hours} h"
    elif e.mode is Mode.CHANGE:
        verb = "dropped" if e.comparator is Comparator.BELOW else "rose"
        threshold = f"{verb} more than {_change_text(e.threshold or 0, loc)} vs the previous window"
    else:
        threshold = f"{e.comparator.value} {value_text(e.metric, e.threshold, e.currency, loc)}"
        if e.threshold_source == "version targets":
            threshold += " (the version's KPI target)"
    value = value_text(e.metric, e.current, e.currency, loc)
    if e.metric is not Metric.CONVERSIONS_STOPPED:
        value += f" (previous window: {value_text(e.metric, e.previous, e.currency, loc)})"
    facts = [
        ("Campaign", f"{e.campaign_name}" + (f" (version {e.version_number})" if e.version_number else "")),
        ("Metric", METRIC_LABELS[e.metric]),
        ("Value", value),
        ("Threshold", threshold),
        ("Window", window),
        ("Volume", _volume_text(e.sessions, e.orders, loc)),
        ("Rule", rule.name),
    ]
    heading = "Resolved: " + e.summary if kind is EventKind.RESOLVED else e.summary
    text = "\n".join(
        [
            heading,
            "",
            *(f"{name + ':':<11}{fact}" for name, fact in facts),
            "",
            "What changed since the previous window:",
            *(f"  - {line}" for line in e.what_changed()),
            "",
            f"Open the campaign: {link}",
            f"Manage alerts: {alerts_link}",
        ]
    )
    esc = html.escape
    rows = "".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0">{esc(n)}</th><td>{esc(f)}</td></tr>' for n, f in facts
    )
    changes = "".join(f"<li>{esc(line)}</li>" for line in e.what_changed())
    body = (
        f'<div style="font-family:sans-serif;font-size:14px"><p><strong>{esc(heading)}</strong></p>'
        f"<table>{rows}</table><p>What changed since the previous window:</p><ul>{changes}</ul>"
        f'<p><a href="{esc(link)}">Open the campaign</a> · <a href="{esc(alerts_link)}">Manage alerts</a></p></div>'
    )
    return Message(_subject(kind, e), text, body)


# --- running rules: states, events, e-mails -------------------------------------------------------------------------


@dataclass
class RunSummary:
    rules: int = 0
    evaluations: int = 0
    fired: int = 0
    resolved: int = 0
    suppressed: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        if not self.rules and not self.emails_sent and not self.emails_failed:
            return ""
        parts = [
            f"{self.rules} {plural(self.rules, 'rule')}, {self.evaluations} {plural(self.evaluations, 'evaluation')}, "
            f"{self.fired} fired, {self.resolved} resolved, {self.suppressed} held back, {self.emails_sent} "
            f"{plural(self.emails_sent, 'e-mail')} sent, {self.emails_failed} failed"
        ]
        parts += self.errors[:5]
        return "; ".join(parts)


def recipients(session: Session, rule: AlertRule) -> list[str]:
    members = session.exec(
        select(User.email)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(Membership.account_id == rule.account_id, col(Membership.role).in_(rule.recipient_roles or ["-"]))
    ).all()
    return sorted({*(m.lower() for m in members), *rule.recipient_emails})


def _event(
    session: Session, rule: AlertRule, e: Evaluation, kind: EventKind, zone_name: str, *, email: bool
) -> AlertEvent:
    message = compose(kind, rule, e, zone_name)
    to = recipients(session, rule) if email else []
    event = AlertEvent(
        public_id=new_public_id("ale"),
        account_id=rule.account_id,
        rule_id=rule.id or 0,
        campaign_id=e.campaign_id or None,
        campaign_version_id=e.version_id,
        kind=kind.value,
        metric=e.metric.value,
        value=e.value,
        threshold=e.threshold,
        previous_value=e.previous,
        window_start=e.window_start,
        window_end=e.window_end,
        sessions=e.sessions,
        orders=e.orders,
        summary=(("Resolved: " if kind is EventKind.RESOLVED else "") + e.summary)[:500],
        details={
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "drivers": e.what_changed(),
            "currency": e.currency,
            "mode": e.mode.value,
            "threshold_source": e.threshold_source,
            "figures": {
                "current": metrics.figure_dict(e.current_figures),
                "previous": metrics.figure_dict(e.previous_figures),
            },
            "attempts": [],
        },
        recipients=to,
        email_status=("pending" if to else "none") if email else "none",
        email_error="" if to or not email else "No recipients: no member has the chosen roles and no address is set.",
        next_email_at=e.window_end if to else None,
    )
    session.add(event)
    return event


def apply_evaluation(
    session: Session,
    rule: AlertRule,
    e: Evaluation,
    zone_name: str,
    summary: RunSummary,
    state: AlertState | None = None,
) -> EventKind | None:
    """Move the (rule, campaign) state (``state``: as loaded by the caller, None when there is none yet) for one
    evaluation and record what happened (in the caller's transaction)."""
    now = e.window_end
    if state is None:
        state = AlertState(account_id=rule.account_id, rule_id=rule.id or 0, campaign_id=e.campaign_id, since=now)
    state.last_evaluated_at = now
    state.last_value = e.value
    happened: EventKind | None = None
    if e.verdict in {"no_threshold", "no_data"}:
        pass  # nothing to judge: a firing alert stays firing until the metric can be read again
    elif e.breached and e.volume_ok:
        if state.status != "firing":
            cooling = state.last_fired_at is not None and now - state.last_fired_at < timedelta(
                minutes=rule.cooldown_minutes
            )
            if cooling:
                if state.suppressed != "cooldown":
                    happened = EventKind.SUPPRESSED_COOLDOWN
                    state.suppressed = "cooldown"
            else:
                happened = EventKind.FIRED
                state.status, state.since, state.last_fired_at, state.suppressed = "firing", now, now, ""
    elif e.breached:
        if state.status != "firing" and state.suppressed != "volume":
            happened = EventKind.SUPPRESSED_VOLUME
            state.suppressed = "volume"
    elif e.volume_ok:
        state.suppressed = ""
        if state.status == "firing":
            happened = EventKind.RESOLVED
            state.status, state.since = "ok", now
    session.add(state)
    if happened is not None:
        _event(session, rule, e, happened, zone_name, email=happened in {EventKind.FIRED, EventKind.RESOLVED})
        if happened is EventKind.FIRED:
            summary.fired += 1
        elif happened is EventKind.RESOLVED:
            summary.resolved += 1
        else:
            summary.suppressed += 1
    return happened


def evaluate_rules(session: Session, *, now: datetime | None = None, account_id: int | None = None) -> RunSummary:
    """Evaluate every enabled rule (of one account, or all), one transaction per rule."""
    now = now or utcnow()
    summary = RunSummary()
    query = select(AlertRule).where(AlertRule.enabled == True)  # noqa: E712
    if account_id is not None:
        query = query.where(AlertRule.account_id == account_id)
    zones = {
        aid: (tz, loc) for aid, tz, loc in session.exec(select(Account.id, Account.timezone, Account.locale)).all()
    }
    cache: FiguresCache = {}
    for rule in session.exec(query.order_by(col(AlertRule.account_id), col(AlertRule.id))).all():
        summary.rules += 1
        if cache and next(iter(cache))[0] != rule.account_id:
            cache.clear()  # rules come account by account: keep one account's figures at a time
        try:
            zone, locale = zones.get(rule.account_id) or ("UTC", DEFAULT_LOCALE)
            found = evaluate(session, rule, now=now, cache=cache, locale=locale)
            with write_lock:
                # Edited, paused or deleted while it was being judged: the verdict is for the old rule.
                current = session.exec(
                    select(AlertRule.updated_at, AlertRule.enabled).where(AlertRule.id == rule.id)
                ).first()
                if current is None or tuple(current) != (rule.updated_at, True):
                    session.rollback()
                    continue
                states = {
                    s.campaign_id: s for s in session.exec(select(AlertState).where(AlertState.rule_id == rule.id))
                }
                for e in found:
                    apply_evaluation(session, rule, e, zone, summary, states.pop(e.campaign_id, None))
                for gone in states.values():  # campaigns no longer covered (paused, archived): start over quietly
                    gone.status, gone.suppressed = "ok", ""
                    session.add(gone)
                session.commit()
            summary.evaluations += len(found)
        except Exception as error:  # one broken rule must not stop the others
            session.rollback()
            summary.errors.append(f"rule {rule.public_id}: {type(error).__name__}: {error}")
    return summary


def _retry_delay(attempt: int) -> timedelta:
    base = get_settings().alert_email_retry_seconds
    return timedelta(seconds=min(base * 4 ** (attempt - 1), 6 * 3600))


def _record_attempt(event: AlertEvent, at: datetime, outcome: str, error: str = "") -> None:
    details = dict(event.details)
    details["attempts"] = [*details.get("attempts", []), {"at": at.isoformat(), "outcome": outcome, "error": error}]
    event.details = details


def send_due_emails(
    session: Session, *, now: datetime | None = None, account_id: int | None = None, limit: int = 100
) -> tuple[int, int]:
    """Send the alert e-mails that are due; (sent, given up). Each attempt is committed before the e-mail leaves,
    so one cut short by a crash reads ``interrupted`` and is tried again. Transient failures retry with backoff
    up to ``ALERT_EMAIL_MAX_ATTEMPTS``; permanent ones (the server refused) stop at once."""
    clock = (lambda: now) if now is not None else utcnow  # a given ``now`` also dates the attempts (tests)
    now = now or utcnow()
    settings = get_settings()
    query = (
        select(AlertEvent)
        .where(col(AlertEvent.email_status).in_(("pending", "sending")))
        .where(col(AlertEvent.next_email_at).is_(None) | (col(AlertEvent.next_email_at) <= now))
    )
    if account_id is not None:
        query = query.where(AlertEvent.account_id == account_id)
    due = session.exec(query.order_by(col(AlertEvent.id)).limit(limit)).all()
    sent = failed = 0
    for event in due:
        with write_lock:
            if event.email_status == "sending":  # the last attempt never finished: its process died
                _record_attempt(event, now, "interrupted", "the sending process stopped before the server answered")
                if event.email_attempts >= settings.alert_email_max_attempts:
                    event.email_status, event.next_email_at = "failed", None
                    event.email_error = "Every attempt was interrupted: the sending process kept stopping."
                    session.add(event)
                    session.commit()
                    failed += 1
                    continue
            event.email_status = "sending"
            event.email_attempts += 1
            session.add(event)
            session.commit()
        details = event.details
        try:
            send_email(OutgoingEmail(to=list(event.recipients), subject=details["subject"], text=details["text"],
                                     html=details.get("html")))  # fmt: skip
        except Exception as error:  # EmailSendError, or anything else a backend raised (a full disk, a bug)
            permanent = isinstance(error, EmailSendError) and error.permanent
            if not isinstance(error, EmailSendError):
                log.exception("sending alert e-mail %s failed", event.public_id)
            with write_lock:
                at = clock()
                _record_attempt(event, at, "failed", str(error))
                event.email_error = str(error)[:2000]
                if permanent or event.email_attempts >= settings.alert_email_max_attempts:
                    event.email_status, event.next_email_at = "failed", None
                    failed += 1
                else:
                    event.email_status, event.next_email_at = "pending", at + _retry_delay(event.email_attempts)
                session.add(event)
                session.commit()
            continue
        with write_lock:
            at = clock()
            _record_attempt(event, at, "sent")
            event.email_status, event.emailed_at, event.next_email_at, event.email_error = "sent", at, None, ""
            session.add(event)
            session.commit()
        sent += 1
    return sent, failed


def run_evaluation(session: Session, *, now: datetime | None = None, account_id: int | None = None) -> RunSummary:
    """The ``evaluate_alerts`` job: evaluate every enabled rule (of one account, or all), then send what is due (in
    batches, until none is left: a burst of alerts is not spread over several runs)."""
    summary = evaluate_rules(session, now=now, account_id=account_id)
    batch = 200
    while True:
        sent, failed = send_due_emails(session, now=now, account_id=account_id, limit=batch)
        summary.emails_sent += sent
        summary.emails_failed += failed
        if sent + failed < batch:
            break
    return summary


# --- testing a rule, history ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    campaign: str
    campaign_public_id: str
    verdict: str  # would fire | ok | low volume | no threshold | no data
    summary: str
    subject: str
    text: str
    drivers: list[str]


VERDICT_LABELS = {
    "breached": "Would fire",
    "ok": "OK",
    "low_volume": "Held back: low volume",
    "no_threshold": "No threshold",
    "no_data": "No data",
}


def preview_rule(*, session: Session, actor: Actor, data: dict[str, Any], now: datetime | None = None) -> list[Preview]:
    """ "Test this rule now": what the (saved or unsaved) rule would say for each campaign, without recording or
    sending anything."""
    require(actor, Permission.VIEW)
    parsed = parse_rule(data)
    rule = AlertRule(public_id="preview", account_id=actor.account_id, name=parsed.name, metric=parsed.metric.value)
    _apply(rule, parsed, _campaign_id(session, actor.account_id, parsed.campaign))
    zone = session.exec(select(Account.timezone).where(Account.id == actor.account_id)).first() or "UTC"
    out = []
    for e in evaluate(session, rule, now=now, locale=account_locale(session, actor.account_id)):
        kind = EventKind.FIRED
        message = compose(kind, rule, e, zone)
        out.append(
            Preview(
                campaign=e.campaign_label,
                campaign_public_id=e.campaign_public_id,
                verdict=VERDICT_LABELS[e.verdict],
                summary=e.summary,
                subject=message.subject if e.verdict == "breached" else "",
                text=message.text if e.verdict == "breached" else "",
                drivers=e.what_changed(),
            )
        )
    if not out:
        scope = "This campaign is not active" if rule.campaign_id else "The account has no active campaign"
        raise ValidationFailed(f"{scope}: there is nothing to evaluate.", field="campaign")
    return out


@dataclass(frozen=True)
class EventRow:
    public_id: str
    created_at: datetime
    kind: str
    kind_label: str
    rule_public_id: str
    rule_name: str
    campaign: str
    campaign_public_id: str
    metric: str
    value: str
    threshold: str
    summary: str
    email_status: str
    email_attempts: int
    email_error: str
    recipients: list[str]
    attempts: list[dict[str, str]]


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    next_cursor: str | None
    total: int  # events matching the filters, over every page


def list_events(
    *,
    session: Session,
    account_id: int,
    rule_public_id: str = "",
    kind: str = "",
    cursor: str | None = None,
    limit: int = EVENTS_PAGE,
) -> EventPage:
    """Alert history, newest first, a page at a time."""
    query = (
        select(AlertEvent, AlertRule.public_id, AlertRule.name)
        .join(AlertRule, col(AlertRule.id) == col(AlertEvent.rule_id))
        .where(AlertEvent.account_id == account_id)
    )
    if rule_public_id:
        query = query.where(AlertRule.public_id == rule_public_id)
    if kind:
        try:
            query = query.where(AlertEvent.kind == EventKind(kind).value)
        except ValueError as error:
            raise ValidationFailed(
                f"kind must be one of {', '.join(k.value for k in EventKind)}.", field="kind"
            ) from error
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    if cursor:
        at, last_id = decode_cursor(cursor, datetime.fromisoformat)
        query = query.where(
            (col(AlertEvent.created_at) < at) | ((col(AlertEvent.created_at) == at) & (col(AlertEvent.id) < last_id))
        )
    found = session.exec(
        query.order_by(col(AlertEvent.created_at).desc(), col(AlertEvent.id).desc()).limit(limit + 1)
    ).all()
    campaigns = _campaigns(session, account_id)
    locale = account_locale(session, account_id)
    numbers = dict(
        session.exec(
            select(CampaignVersion.id, CampaignVersion.number).where(CampaignVersion.account_id == account_id)
        ).all()
    )
    rows = []
    for event, rule_pid, rule_name in found[:limit]:
        metric = Metric(event.metric)
        currency = str(event.details.get("currency") or "")
        change = event.details.get("mode") == Mode.CHANGE
        pid, name = campaigns.get(event.campaign_id or 0, ("", "(deleted campaign)"))
        number = numbers.get(event.campaign_version_id or 0)
        rows.append(
            EventRow(
                public_id=event.public_id,
                created_at=event.created_at,
                kind=event.kind,
                kind_label=EVENT_LABELS[EventKind(event.kind)],
                rule_public_id=rule_pid,
                rule_name=rule_name,
                campaign=f"{name} v{number}" if number else name,
                campaign_public_id=pid,
                metric=METRIC_LABELS[metric],
                value=_event_value(metric, event.value, currency, change, locale),
                threshold=_event_value(metric, event.threshold, currency, change, locale)
                if event.threshold is not None
                else "",
                summary=event.summary,
                email_status=event.email_status,
                email_attempts=event.email_attempts,
                email_error=event.email_error,
                recipients=list(event.recipients),
                attempts=list(event.details.get("attempts", [])),
            )
        )
    more = len(found) > limit
    last = found[limit - 1][0] if more else None
    return EventPage(rows, encode_cursor(last.created_at, last.id or 0) if last else None, int(total))


def _event_value(metric: Metric, value: float | None, currency: str, change: bool, locale: str) -> str:
    if change and value is not None:
        return _change_text(value, locale, digits=1, sign=True)
    return value_text(metric, value, currency, locale)


def choices(*, session: Session, account_id: int) -> dict[str, list[tuple[str, str]]]:
    """The editor's menus: metrics, comparators, modes, windows, roles, and campaigns (empty id: every active
    campaign)."""
    return {
        "metric": [(m.value, METRIC_LABELS[m]) for m in Metric],
        "comparator": [(c.value, c.value) for c in Comparator],
        "mode": [(Mode.VALUE.value, "value"), (Mode.CHANGE.value, "change vs previous window (%)")],
        "window": [(w.value, WINDOW_LABELS[w]) for w in Window],
        "role": [(r.value, f"{r.value}s") for r in RECIPIENT_ROLES],
        "campaign": [("", "Every active campaign"), *[
            (pid, name) for pid, name in sorted(_campaigns(session, account_id).values(), key=lambda c: c[1].lower())
        ]],
    }  # fmt: skip
