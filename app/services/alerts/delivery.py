"""Sending the alert e-mails that are due, with retries and backoff; every attempt is recorded on its event."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from app.db import write_lock
from app.integrations.email import EmailSendError, OutgoingEmail, send_email
from app.models import AlertEvent
from app.models.base import utcnow
from app.settings import get_settings

log = logging.getLogger("paidsignal.alerts")


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
    given = now

    def clock() -> datetime:
        return given if given is not None else utcnow()  # a given ``now`` also dates the attempts (tests)

    now = clock()
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
