"""One Stripe delivery: verify its signature, then (in the process's webhook writer, which group-commits) claim its
event id once, apply its effect and record the outcome in one transaction; events that name no order yet wait, and
are applied once an order claims them."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, union_all
from sqlalchemy import event as sa_event
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select, update

from app import runtime
from app.db import end_reads, execute, write_lock
from app.integrations import stripe as stripe_api
from app.integrations.stripe import BadSignature, MalformedPayload, StripeCallFailed
from app.models import Order, Payment, StripeConnection, StripeEvent, WebhookOutcome
from app.models.base import table_of, utcnow
from app.services import conversions, rollups
from app.services.errors import Conflict, ServiceError
from app.services.group_commit import GroupCommit
from app.services.orders import OrderMoved
from app.services.stripe_connection import WebhookTarget, client_for, webhook_target
from app.services.stripe_event_shapes import MalformedEvent, check_event
from app.services.stripe_webhooks.effects import Effect, dispatch, handles, ignored_type, invoice_payment_links

log = logging.getLogger("app.services.stripe_webhooks")


class InvalidSignature(ServiceError):
    status_code = 400
    code = "invalid_signature"


class NoWebhookSecret(ServiceError):
    status_code = 400
    code = "webhook_secret_missing"


@dataclass(frozen=True)
class WebhookResult:
    event_id: str
    type: str
    outcome: WebhookOutcome
    message: str
    order_id: str | None = None


class WebhookArrivals:
    """When each account last had a webhook in this process: "last webhook received" is stored at most once a
    minute per account, not on every event."""

    def __init__(self) -> None:
        self._seen: dict[int, float] = {}
        self._lock = threading.Lock()

    def due(self, account_id: int) -> bool:
        """Whether the stored time is a minute old or more (as far as this process knows)."""
        with self._lock:
            return self._seen.get(account_id, 0.0) < time.monotonic() - 60

    def stamped(self, account_id: int) -> None:
        with self._lock:
            self._seen[account_id] = time.monotonic()


# --- entry point ----------------------------------------------------------------------------------------------------


def receive_webhook(
    *, session: Session, account_public_id: str, payload: bytes, signature: str | None
) -> WebhookResult:
    """Verify one delivery and apply it exactly once; answered once its transaction has committed.

    Raises:
        NotFound: no account with Stripe connected has this id.
        NoWebhookSecret: the shop has not entered the endpoint's signing secret yet.
        InvalidSignature: the signature does not match the raw body, or its time is beyond the tolerance (either
            way).
        MalformedEvent: the body is signed but a field we read has the wrong shape (``field`` names it); nothing
            is written, so a corrected delivery of the same event applies.
        Conflict: another process changed the same records meanwhile; nothing is kept and Stripe's retry applies.
    """
    result = submit_webhook(
        session=session, account_public_id=account_public_id, payload=payload, signature=signature
    ).result()
    session.expire_all()  # the writer applied it in a session of its own: what this one loaded may be stale
    return result


def submit_webhook(
    *, session: Session, account_public_id: str, payload: bytes, signature: str | None
) -> Future[WebhookResult]:
    """Verify one delivery (signature first: nothing is written for a bad one) and hand it to this process's
    webhook writer; the future is its result once committed, or the error ``receive_webhook`` lists."""
    target = webhook_target(session, account_public_id)
    return _submit(session, target.account_id, _verified(target, payload, signature), webhook=True)


def submit_event(*, session: Session, account_id: int, event: Any, webhook: bool = True) -> Future[WebhookResult]:
    """Hand one event to this process's webhook writer: an event the catch-up listed from Stripe
    (services/stripe_sync) takes the webhook's own path, so an event is applied once whichever comes first.

    ``webhook`` False (the catch-up): the account's "last webhook received" is left as it is.

    Raises:
        MalformedEvent: a field we read has the wrong shape; nothing is written.
    """
    return _submit(session, account_id, check_event(event), webhook=webhook)  # checked before anything is written


def _submit(session: Session, account_id: int, checked: dict[str, Any], *, webhook: bool) -> Future[WebhookResult]:
    prefetched = prefetch(session, account_id, checked)
    # The caller waits for the writer holding no database connection (app/db.py): its reads end here.
    end_reads(session)
    return runtime.current().webhook_writer.submit_item(Delivery(account_id, checked, prefetched, webhook))


# Bodies up to this size may be verified in the event loop (Stripe's events are a few KB; checking their shapes
# takes tens of microseconds, not long enough to make other requests wait).
MAX_INLINE_BODY = 64 * 1024


def submit_cached_webhook(
    *, account_public_id: str, payload: bytes, signature: str | None
) -> tuple[Future[WebhookResult], int] | None:
    """``submit_webhook`` without a database session or a thread, when the delivery needs neither: the account's
    target is in this process's cache, the body is small, and the event needs nothing fetched from Stripe. Returns
    the future and the account's id, or None: then call ``submit_webhook`` on a thread (which verifies again).
    Raises what ``receive_webhook`` lists for a bad signature or shape (signature first, as there)."""
    target = runtime.current().webhook_secrets.cached(account_public_id)
    if target is None or len(payload) > MAX_INLINE_BODY:
        return None
    event = _verified(target, payload, signature)
    if needs_prefetch(event):
        return None
    return runtime.current().webhook_writer.submit_item(Delivery(target.account_id, event, {})), target.account_id


def _verified(target: WebhookTarget, payload: bytes, signature: str | None) -> dict[str, Any]:
    """The event once its signature and then its shape checked out (nothing is written for a bad one)."""
    if not target.secret:
        raise NoWebhookSecret(
            "This account has no webhook signing secret yet; paste the endpoint's whsec_… in Settings → Stripe."
        )
    try:
        parsed = stripe_api.verify_webhook(payload, signature, target.secret)
    except BadSignature as error:
        raise InvalidSignature(str(error)) from error
    except MalformedPayload as error:
        raise MalformedEvent(str(error)) from error
    return check_event(parsed)  # before anything is written


@dataclass(frozen=True)
class Delivery:
    """A verified delivery waiting for the webhook writer."""

    account_id: int
    event: dict[str, Any]
    prefetched: dict[str, Any]
    webhook: bool = True  # False: listed by the catch-up, not delivered (no "last webhook received" stamp)


class WebhookWriter(GroupCommit[Delivery, WebhookResult]):
    """One thread per process applies the deliveries: those that arrive while a transaction commits share the next
    one, each is answered after its commit, and when a group fails each is retried alone (services/group_commit.py).
    Its transactions take ``write_lock`` like every other write outside the ingest writer (app/db.py)."""

    thread_name = "paidsignal-webhook-writer"

    def __init__(self, engine_factory: Callable[[], Engine], *, max_group: int = 256) -> None:
        super().__init__(engine_factory, max_weight=max_group, lock=write_lock)

    def write_group(self, session: Session, items: list[Delivery]) -> list[WebhookResult]:
        return [record_event(session, item.account_id, item.event, item.prefetched, item.webhook) for item in items]

    def write_one(self, session: Session, item: Delivery) -> WebhookResult:
        return apply_event(
            session=session, account_id=item.account_id, event=item.event, prefetched=item.prefetched,
            webhook=item.webhook,
        )  # fmt: skip


def apply_event(
    *,
    session: Session,
    account_id: int,
    event: dict[str, Any],
    prefetched: dict[str, Any] | None = None,
    webhook: bool = True,
) -> WebhookResult:
    """Record the event id and its effect in one transaction; a repeat only counts the delivery.

    Raises:
        Conflict: another process wrote the same records meanwhile; nothing is kept, so Stripe's retry applies it.
    """
    try:
        result = record_event(session, account_id, event, prefetched or {}, webhook)
        session.commit()
    except (IntegrityError, OrderMoved) as error:
        # Not the claim (an upsert cannot fail on its key): another process wrote the same payment,
        # subscription… or moved the order's status, between our reads and our writes. Nothing of this event is
        # kept, its id included, so Stripe's retry applies it.
        session.rollback()
        raise Conflict(
            "Another delivery changed the same records at the same moment; nothing of this one was kept. "
            "Stripe retries it, and the retry applies it."
        ) from error
    return result


def record_event(
    session: Session, account_id: int, event: dict[str, Any], prefetched: dict[str, Any], webhook: bool = True
) -> WebhookResult:
    """Claim the event id and apply its effect on ``session``, uncommitted (the caller commits, alone or with a
    group); the result holds once that commit succeeds."""
    event_id = str(event.get("id") or "")
    type_ = str(event.get("type") or "")
    obj = event["data"].get("object") or {}
    created = int(event.get("created") or 0)
    now = utcnow()
    # A type no handler reads is stored with its final outcome by the claim itself: one statement.
    handled = handles(type_)
    outcome, message = (WebhookOutcome.APPLIED, "") if handled else ignored_type(type_)
    connection = session.connection()
    claimed = execute(
        connection,
        claim_statement(connection.dialect.name),
        {
            "account_id": account_id,
            "stripe_event_id": event_id[:255],
            "type": type_[:80],
            "api_version": (str(event.get("api_version")) if event.get("api_version") else None),
            "stripe_created": created,
            "object_id": str(obj.get("id") or "")[:255] or None,
            "outcome": outcome,
            "message": message,
            "deliveries": 1,
            "received_at": now,
            "last_delivery_at": now,
        },
    ).one()
    if claimed.deliveries > 1:
        # The unique (account, event id) held it already: this delivery was counted by the claim, nothing else.
        return WebhookResult(
            event_id, type_, WebhookOutcome.DUPLICATE, "Already processed; this delivery changed nothing."
        )
    if handled:
        effect = dispatch(session, account_id, event_id, type_, obj, created, prefetched)
        unlinked = effect.outcome == WebhookOutcome.UNLINKED and bool(effect.link_key)
        execute(
            connection,
            _record_effect(),
            {
                "row_id": claimed.id,
                "outcome": effect.outcome,
                "message": effect.message[:2000],
                "order_id": effect.order.id if effect.order is not None else None,
                "link_key": effect.link_key[:255] if unlinked and effect.link_key else None,
                "payload": obj if unlinked else None,
            },
        )
    else:
        effect = Effect(outcome, message)
    if effect.order is not None:
        session.flush()
        replay_unlinked(session, account_id, effect.order)
        # The outbox: conversions the order now owes are written in this same transaction.
        conversions.enqueue_for_order(session=session, order=effect.order)
        rollups.mark_order_dirty(session, effect.order)
    arrivals = runtime.current().webhook_arrivals
    if webhook and arrivals.due(account_id):
        # "Last webhook received" is shown to the minute: not one more write per event. Noted as stamped only
        # once committed: a rolled-back delivery did not stamp it.
        session.exec(
            update(StripeConnection).where(col(StripeConnection.account_id) == account_id).values(last_webhook_at=now)
        )
        sa_event.listen(session, "after_commit", lambda _session: arrivals.stamped(account_id), once=True)
    order_public_id = effect.order.public_id if effect.order is not None else None
    return WebhookResult(event_id, type_, effect.outcome, effect.message, order_public_id)


_EVENTS = table_of(StripeEvent)
_CLAIMS: dict[str, Any] = {}


def claim_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (account, event id) DO UPDATE deliveries + 1 RETURNING id, deliveries``: one
    statement claims a new event id or counts a repeated delivery (``deliveries`` > 1), with no exception path.
    On PostgreSQL a delivery of an id another transaction has claimed but not committed waits for it, then counts
    as a repeat (or claims the id, if that transaction rolled back). Built once per dialect."""
    statement = _CLAIMS.get(dialect)
    if statement is None:
        insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(_EVENTS)
        statement = _CLAIMS[dialect] = insert.on_conflict_do_update(
            index_elements=["account_id", "stripe_event_id"],
            set_={"deliveries": _EVENTS.c.deliveries + 1, "last_delivery_at": insert.excluded.last_delivery_at},
        ).returning(_EVENTS.c.id, _EVENTS.c.deliveries)
    return statement


@functools.cache
def _record_effect() -> Any:
    """What the event did, on the row its claim inserted."""
    return _EVENTS.update().where(_EVENTS.c.id == bindparam("row_id"))  # SET from the parameters' names


def replay_unlinked(session: Session, account_id: int, order: Order) -> None:
    """Apply the events that arrived before anything linked them to this order (e.g. a renewal invoice before
    its subscription's first event), once, in the order Stripe created them. A replayed invoice can link a
    PaymentIntent that a waiting refund names, so this repeats until nothing more applies.

    Reads and writes are Core statements on the session's connection (every paid order's webhook asks, and almost
    always nothing waits); the caller has flushed the effect's ORM changes."""
    connection = session.connection()
    for _ in range(5):
        # Keyed by the order's subscription or PaymentIntent, or by a PaymentIntent of its payments: one statement.
        keys = {"subscription": order.subscription_id, "payment_intent": order.payment_intent_id}
        waiting = execute(connection, _WAITING, {"account_id": account_id, "order_id": order.id, **keys}).rows
        applied = 0
        for record in waiting:
            effect = dispatch(
                session,
                account_id,
                record.stripe_event_id,
                record.type,
                record.payload or {},
                record.stripe_created,
                {},
            )
            if effect.outcome == WebhookOutcome.UNLINKED:
                continue
            applied += 1
            execute(
                connection,
                _record_effect(),
                {
                    "row_id": record.id,
                    "outcome": effect.outcome,
                    "message": f"Applied once its order was known: {effect.message}"[:2000],
                    "order_id": effect.order.id if effect.order is not None else order.id,
                    "payload": None,
                },
            )
        if not applied:
            return
        session.flush()  # what the replayed effects added as objects (a refund, a subscription), for the next round


_PAYMENTS = table_of(Payment)
_PAYMENT_INTENTS = sa_select(_PAYMENTS.c.payment_intent_id).where(_PAYMENTS.c.order_id == bindparam("order_id"))
_WAITING = (
    sa_select(
        _EVENTS.c.id,
        _EVENTS.c.stripe_event_id,
        _EVENTS.c.type,
        _EVENTS.c.payload,
        _EVENTS.c.stripe_created,
    )
    .where(
        _EVENTS.c.account_id == bindparam("account_id"),
        _EVENTS.c.outcome == WebhookOutcome.UNLINKED,
        # One IN over a list of keys, not an OR of two: an OR makes SQLite read every event of the account.
        _EVENTS.c.link_key.in_(
            union_all(
                sa_select(bindparam("subscription", type_=String)),
                sa_select(bindparam("payment_intent", type_=String)),
                _PAYMENT_INTENTS,
            )
        ),
    )
    .order_by(_EVENTS.c.stripe_created, _EVENTS.c.id)
)


# --- what must be fetched from Stripe before the transaction --------------------------------------------------------


def needs_prefetch(event: dict[str, Any]) -> bool:
    """An invoice payment that does not say which payment paid it (recent API versions): ``prefetch`` asks Stripe."""
    if event.get("type") not in {"invoice.paid", "invoice.payment_succeeded"}:
        return False
    return invoice_payment_links(event["data"].get("object") or {}, {}) == (None, None)


def prefetch(session: Session, account_id: int, event: dict[str, Any]) -> dict[str, Any]:
    """Invoices of recent API versions may not say which payment paid them. Ask Stripe for the invoice's payments,
    only then, and outside the transaction so no lock waits on the network. Failure is not fatal: the payment is
    recorded without the link (the order's timeline says so)."""
    if not needs_prefetch(event):
        return {}
    obj = event["data"].get("object") or {}
    connection = session.exec(select(StripeConnection).where(StripeConnection.account_id == account_id)).first()
    if connection is None:
        return {}
    try:
        client = client_for(connection)
        listed = stripe_api.call(client.v1.invoice_payments.list, params={"invoice": str(obj.get("id")), "limit": 10})
        return {"invoice_payments": stripe_api.as_dict(listed).get("data") or []}
    except StripeCallFailed as error:
        log.warning("could not fetch the payments of invoice %s: %s", obj.get("id"), error)
        return {}
    finally:
        session.rollback()  # end the read transaction before the write one
