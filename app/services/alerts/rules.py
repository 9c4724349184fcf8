"""Alert rules as stored: listed with where each stands, opened in the editor, created, changed, paused and
deleted (each change checks the actor's role)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app.db import write_lock
from app.models import AlertEvent, AlertRule, AlertState, Campaign
from app.models.base import new_public_id, utcnow
from app.services.accounts import account_locale
from app.services.alerts.definitions import (
    DEFAULT_COMPARATOR,
    DEFAULT_METRIC,
    METRIC_LABELS,
    RECIPIENT_ROLES,
    WINDOW_LABELS,
    Comparator,
    Metric,
    Mode,
    Window,
)
from app.services.alerts.rule_input import RuleInput, parse_rule
from app.services.alerts.texts import condition_text, duration_text, volume_rule_text, window_text
from app.services.errors import NotFound
from app.services.permissions import Actor, Permission, require


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


def rule_row(session: Session, rule: AlertRule, campaigns: dict[int, tuple[str, str]], locale: str) -> RuleRow:
    """A rule as the rules list shows it; ``campaigns``: ``campaign_names`` of its account."""
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
        window=window_text(rule),
        volume=volume_rule_text(rule, locale),
        cooldown=duration_text(rule.cooldown_minutes),
        recipients=", ".join([*(f"{r}s" for r in rule.recipient_roles), *rule.recipient_emails]),
        enabled=rule.enabled,
        firing=len(firing),
        last_event_at=last,
        checked=checked is not None,
    )


def campaign_names(session: Session, account_id: int) -> dict[int, tuple[str, str]]:
    """The account's campaigns: id -> (public id, name)."""
    return {
        cid: (pid, name)
        for cid, pid, name in session.exec(
            select(Campaign.id, Campaign.public_id, Campaign.name).where(Campaign.account_id == account_id)
        ).all()
        if cid is not None
    }


def campaign_id_of(session: Session, account_id: int, public_id: str) -> int | None:
    """The id of the account's campaign ``public_id``; None for "every active campaign" (an empty id).

    Raises:
        NotFound: no such campaign in this account.
    """
    if not public_id:
        return None
    found = session.exec(
        select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == public_id)
    ).first()
    if found is None:
        raise NotFound("No campaign with this id.", field="campaign")
    return found


def get_rule(session: Session, account_id: int, public_id: str) -> AlertRule:
    """The account's rule ``public_id``.

    Raises:
        NotFound: no such rule in this account.
    """
    rule = session.exec(
        select(AlertRule).where(AlertRule.account_id == account_id, AlertRule.public_id == public_id)
    ).first()
    if rule is None:
        raise NotFound("No alert rule with this id.", field="rule")
    return rule


def apply_input(rule: AlertRule, data: RuleInput, campaign_id: int | None) -> None:
    """Copy a parsed rule onto the stored one."""
    rule.name = data.name
    rule.campaign_id = campaign_id
    rule.metric = data.metric
    rule.comparator = data.comparator or DEFAULT_COMPARATOR[data.metric]
    rule.mode = data.mode
    rule.threshold = data.threshold
    rule.currency = data.currency
    rule.window = data.window
    rule.stopped_hours = data.stopped_hours
    rule.min_sessions = data.min_sessions
    rule.min_orders = data.min_orders
    rule.cooldown_minutes = data.cooldown_minutes
    rule.recipient_roles = [r.value for r in data.recipient_roles]
    rule.recipient_emails = list(data.recipient_emails)
    rule.enabled = data.enabled


def list_rules(*, session: Session, account_id: int) -> list[RuleRow]:
    """The account's rules by name, each with the campaigns firing now and its last event."""
    campaigns = campaign_names(session, account_id)
    rules = session.exec(
        select(AlertRule).where(AlertRule.account_id == account_id).order_by(col(AlertRule.name), col(AlertRule.id))
    ).all()
    locale = account_locale(session, account_id)
    return [rule_row(session, rule, campaigns, locale) for rule in rules]


def new_rule_form() -> dict[str, Any]:
    """The editor's fields for a new rule (no name yet): ``DEFAULT_METRIC`` with its usual comparator, and
    ``RuleInput``'s defaults for the rest (the minimum volume among them)."""
    defaults = {
        name: info.get_default(call_default_factory=True)
        for name, info in RuleInput.model_fields.items()
        if not info.is_required()
    }
    return {**defaults, "metric": DEFAULT_METRIC, "comparator": DEFAULT_COMPARATOR[DEFAULT_METRIC]}


def rule_form(*, session: Session, account_id: int, rule_public_id: str) -> dict[str, Any]:
    """A saved rule as the editor's fields (the same shape ``create_rule`` takes)."""
    rule = get_rule(session, account_id, rule_public_id)
    campaigns = campaign_names(session, account_id)
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
    """Save a new rule (``data``: see ``RuleInput``).

    Raises:
        PermissionDenied: the actor may not edit alerts.
        ValidationFailed: naming the field to fix.
        NotFound: the campaign is not the account's.
    """
    require(actor, Permission.EDIT_ALERTS)
    parsed = parse_rule(data)
    campaign_id = campaign_id_of(session, actor.account_id, parsed.campaign)
    rule = AlertRule(
        public_id=new_public_id("alr"),
        account_id=actor.account_id,
        name=parsed.name,
        metric=parsed.metric,
        created_by_user_id=actor.user_id or None,
    )
    apply_input(rule, parsed, campaign_id)
    with write_lock:
        session.add(rule)
        session.commit()
    return rule_row(session, rule, campaign_names(session, actor.account_id), account_locale(session, actor.account_id))


def update_rule(*, session: Session, actor: Actor, rule_public_id: str, data: dict[str, Any]) -> RuleRow:
    """Save a rule's new settings. Its per-campaign states start over: the next evaluation judges the new rule
    afresh (history is kept)."""
    require(actor, Permission.EDIT_ALERTS)
    rule = get_rule(session, actor.account_id, rule_public_id)
    parsed = parse_rule(data)
    apply_input(rule, parsed, campaign_id_of(session, actor.account_id, parsed.campaign))
    rule.updated_at = utcnow()
    with write_lock:
        session.add(rule)
        start_over(session, rule)
        session.commit()
    return rule_row(session, rule, campaign_names(session, actor.account_id), account_locale(session, actor.account_id))


def start_over(session: Session, rule: AlertRule) -> None:
    """A changed or paused rule is judged afresh (no "resolved" for the old condition), but its last firing is
    kept: the cooldown still holds, so an edit cannot re-send an alert sooner than it allows."""
    session.execute(
        update(AlertState)
        .where(col(AlertState.rule_id) == rule.id)
        .values(status="ok", suppressed="", last_evaluated_at=None)  # "not checked yet" until the next run
    )


def set_enabled(*, session: Session, actor: Actor, rule_public_id: str, enabled: bool) -> RuleRow:
    """Turn a rule on or off; a paused rule starts over (see ``start_over``)."""
    require(actor, Permission.EDIT_ALERTS)
    rule = get_rule(session, actor.account_id, rule_public_id)
    rule.enabled = enabled
    rule.updated_at = utcnow()
    with write_lock:
        session.add(rule)
        if not enabled:
            start_over(session, rule)
        session.commit()
    return rule_row(session, rule, campaign_names(session, actor.account_id), account_locale(session, actor.account_id))


def delete_rule(*, session: Session, actor: Actor, rule_public_id: str) -> None:
    """Delete a rule and its history."""
    require(actor, Permission.EDIT_ALERTS)
    rule = get_rule(session, actor.account_id, rule_public_id)
    with write_lock:
        session.execute(delete(AlertEvent).where(col(AlertEvent.rule_id) == rule.id))
        session.execute(delete(AlertState).where(col(AlertState.rule_id) == rule.id))
        session.delete(rule)
        session.commit()


def choices(*, session: Session, account_id: int) -> dict[str, list[tuple[str, str]]]:
    """The editor's menus: metrics, comparators, modes, windows, roles, and campaigns (empty id: every active
    campaign)."""
    campaigns = sorted(campaign_names(session, account_id).values(), key=lambda c: c[1].lower())
    return {
        "metric": [(m.value, METRIC_LABELS[m]) for m in Metric],
        "comparator": [(c.value, c.value) for c in Comparator],
        "mode": [(Mode.VALUE.value, "value"), (Mode.CHANGE.value, "change vs previous window (%)")],
        "window": [(w.value, WINDOW_LABELS[w]) for w in Window],
        "role": [(r.value, f"{r.value}s") for r in RECIPIENT_ROLES],
        "campaign": [("", "Every active campaign"), *campaigns],
    }
