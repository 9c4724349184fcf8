"""What rules say and said: "Test this rule now" (a rule, saved or not, judged without recording or sending
anything) and the alert history, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import Account, AlertEvent, AlertRule, CampaignVersion
from app.services.accounts import account_locale
from app.services.alerts.definitions import EVENT_LABELS, METRIC_LABELS, EventKind, Metric, Mode
from app.services.alerts.evaluation import evaluate
from app.services.alerts.message import compose
from app.services.alerts.rule_input import parse_rule
from app.services.alerts.rules import apply_input, campaign_id_of, campaign_names
from app.services.alerts.texts import change_text, value_text
from app.services.errors import ValidationFailed
from app.services.paging import decode_cursor, encode_cursor
from app.services.permissions import Actor, Permission, require

EVENTS_PAGE = 50


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
    rule = AlertRule(public_id="preview", account_id=actor.account_id, name=parsed.name, metric=parsed.metric)
    apply_input(rule, parsed, campaign_id_of(session, actor.account_id, parsed.campaign))
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
    campaigns = campaign_names(session, account_id)
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
        return change_text(value, locale, digits=1, sign=True)
    return value_text(metric, value, currency, locale)
