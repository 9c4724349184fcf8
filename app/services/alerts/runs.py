"""Running the rules: each (rule, campaign) state moves once per problem (fired, resolved, or held back by volume
or cooldown), every move is recorded as an event with the e-mail it queues, and the ``evaluate_alerts`` job runs it
all and sends what is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.db import write_lock
from app.lib.formatting import DEFAULT_LOCALE, plural
from app.models import Account, AlertEvent, AlertRule, AlertState, Membership, User
from app.models.base import new_public_id, utcnow
from app.services import metrics
from app.services.alerts.definitions import EventKind
from app.services.alerts.delivery import send_due_emails
from app.services.alerts.evaluation import Evaluation, FiguresCache, evaluate
from app.services.alerts.message import compose


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


def _record_event(
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
        kind=kind,
        metric=e.metric,
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
        _record_event(session, rule, e, happened, zone_name, email=happened in {EventKind.FIRED, EventKind.RESOLVED})
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
