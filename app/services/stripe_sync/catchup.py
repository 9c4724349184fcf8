"""The events catch-up: list the Stripe events PaidSignal handles since the last check and apply each one the
webhook endpoint never received, through the webhook's own path (services/stripe_webhooks.submit_event), so an event
counts once whichever arrives first. Stripe keeps events 30 days: an older stretch never checked is reported as a
gap, which the history backfill closes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.db import writing
from app.integrations import stripe as stripe_api
from app.integrations.stripe import StripeCallFailed
from app.models import StripeConnection, StripeEvent, WebhookOutcome
from app.models.base import utcnow
from app.services.errors import ServiceError
from app.services.permissions import Actor, Permission, require
from app.services.stripe_connection import WEBHOOK_EVENTS, require_connection
from app.services.stripe_event_shapes import MalformedEvent
from app.services.stripe_sync.access import client, connection_of, permission_error, sync_row
from app.services.stripe_webhooks import submit_event

RETENTION_SECONDS = 30 * 86_400  # Stripe lists events of the last 30 days
# Listed again on the next check: an event is listable a moment after its `created`, and repeats are skipped.
OVERLAP_SECONDS = 300
MAX_TYPES_PER_CALL = 20  # Stripe refuses `types[]` with more


@dataclass(frozen=True)
class CatchupResult:
    listed: int  # events Stripe listed
    applied: int  # missing ones applied now
    known: int  # already received (by webhook or an earlier check)
    failed: int  # refused as malformed
    ok: bool
    message: str
    gap_from: datetime | None = None
    gap_to: datetime | None = None


def _when(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix is not None else None


def _type_groups(types: Iterable[str]) -> list[list[str]]:
    listed = list(types)
    return [listed[i : i + MAX_TYPES_PER_CALL] for i in range(0, len(listed), MAX_TYPES_PER_CALL)]


def list_events(connection: StripeConnection, since: int) -> list[dict[str, Any]]:
    """Every handled event created at or after ``since``, oldest first (Stripe lists newest first, a page at a
    time: ``has_more`` / ``starting_after``, which stripe-python's auto-paging follows)."""
    stripe_client = client(connection)
    found: dict[str, dict[str, Any]] = {}
    for types in _type_groups(WEBHOOK_EVENTS):
        page = stripe_api.call(
            stripe_client.v1.events.list, params={"types": types, "created": {"gte": since}, "limit": 100}
        )
        for event in stripe_api.call(lambda p=page: list(p.auto_paging_iter())):
            data = stripe_api.as_dict(event)
            found[str(data.get("id"))] = data
    return sorted(found.values(), key=lambda e: (int(e.get("created") or 0), str(e.get("id"))))


def _known(session: Session, account_id: int, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        known |= set(
            session.exec(
                select(StripeEvent.stripe_event_id).where(
                    StripeEvent.account_id == account_id, col(StripeEvent.stripe_event_id).in_(chunk)
                )
            ).all()
        )
    return known


def catch_up_account(*, session: Session, account_id: int, now: datetime | None = None) -> CatchupResult:
    """Check Stripe's events of one account and apply the missing ones; the outcome is kept on its sync row.

    Raises:
        MissingPermission: a restricted key may not read events (kept on the sync row too).
        ServiceError: Stripe refused the key or could not be reached (kept on the sync row too).
    """
    connection = connection_of(session, account_id)
    if connection is None:
        return CatchupResult(0, 0, 0, 0, False, "Stripe is not connected.")
    moment = now or utcnow()
    checked_at = int(moment.timestamp())
    row = sync_row(session, account_id)
    since = row.events_checked_from
    if since is None:
        since = int(connection.connected_at.timestamp()) - OVERLAP_SECONDS
    floor = checked_at - RETENTION_SECONDS + 60
    gap: tuple[int, int] | None = None
    if since < floor:
        gap = (since, floor)
        since = floor
    try:
        events = list_events(connection, since)
    except StripeCallFailed as error:
        failure = permission_error(error, "events")
        _keep(session, account_id, ok=False, message=str(failure), gap=gap, moment=moment)
        raise failure from error
    known = _known(session, account_id, [str(e.get("id")) for e in events])
    applied = duplicates = failed = 0
    for event in events:
        if str(event.get("id")) in known:
            continue
        try:
            result = submit_event(session=session, account_id=account_id, event=event, webhook=False).result()
        except MalformedEvent:
            failed += 1
            continue
        if result.outcome == WebhookOutcome.DUPLICATE:  # its webhook arrived meanwhile
            duplicates += 1
        else:
            applied += 1
    session.expire_all()
    message = f"Checked {len(events)} event(s) since {_when(since):%Y-%m-%d %H:%M} UTC: " + (
        f"{applied} missed webhook(s) applied." if applied else "none was missing."
    )
    if failed:
        message += f" {failed} could not be read and were skipped."
    if gap:
        message += " Some events are older than Stripe's 30-day retention: import the history to close the gap."
    _keep(
        session, account_id, ok=True, message=message, gap=gap, moment=moment,
        checked_from=max(since, checked_at - OVERLAP_SECONDS),
    )  # fmt: skip
    gap_from = _when(gap[0]) if gap else None
    return CatchupResult(
        len(events), applied, len(known) + duplicates, failed, True, message, gap_from, _when(gap[1]) if gap else None
    )


def _keep(
    session: Session,
    account_id: int,
    *,
    ok: bool,
    message: str,
    gap: tuple[int, int] | None,
    moment: datetime,
    checked_from: int | None = None,
) -> None:
    with writing(session):
        row = sync_row(session, account_id)
        row.catchup_at = moment
        row.catchup_ok = ok
        row.catchup_message = message[:2000]
        if checked_from is not None:
            row.events_checked_from = checked_from
        if gap is not None:
            # A gap stays until a backfill covers it; a second one widens it.
            row.gap_from = min(row.gap_from, gap[0]) if row.gap_from is not None else gap[0]
            row.gap_to = max(row.gap_to or 0, gap[1])
        session.add(row)
        session.commit()


def check_stripe_now(*, session: Session, actor: Actor) -> CatchupResult:
    """The "Check Stripe now" button: the catch-up of the actor's account, at once.

    Raises:
        PermissionDenied: the role may not trigger syncs.
        Conflict: Stripe is not connected.
        MissingPermission | ServiceError: what Stripe refused, in words the shop can act on.
    """
    require(actor, Permission.EDIT_MARKETING)
    require_connection(session, actor.account_id)
    return catch_up_account(session=session, account_id=actor.account_id)


def catch_up_all(*, session: Session) -> str | None:
    """The ``catch_up_stripe`` job: every connected account, one after the other; a summary for the run log."""
    account_ids = list(session.exec(select(StripeConnection.account_id)).all())
    session.rollback()
    applied = failed = 0
    for account_id in account_ids:
        try:
            applied += catch_up_account(session=session, account_id=account_id).applied
        except ServiceError:
            failed += 1  # kept on the account's sync row, shown on its settings page
    from app.services.stripe_sync.backfill import run_pending_backfills
    from app.services.stripe_sync.reconcile import reconcile_due

    imports = run_pending_backfills(session=session)
    reconciled = reconcile_due(session=session)
    parts = [f"{applied} missed event(s) applied"] if applied else []
    parts += [f"{failed} account(s) could not be checked"] if failed else []
    parts += [f"history imported ({imports})"] if imports else []
    parts += [f"{reconciled} account(s) reconciled"] if reconciled else []
    return "; ".join(parts) or None
