"""The history backfill: the last N days of paid Checkout Sessions, subscription invoices, charges, refunds and
disputes from Stripe's lists, as orders marked ``imported``. Imported orders are unattributed (their own bucket in
every view), never credited to a campaign and never sent to an ad platform. An order PaidSignal already knows by its
Stripe ids is left as it is (only a missing charge id is filled in, so reconciliation can match it, and an imported
order's missing items), so the backfill can run again without counting anything twice. Items come from a Checkout
Session's line items or a subscription invoice's priced lines, as checkout stores them.
Progress is written on the account's sync row page by page."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import writing
from app.integrations import stripe as stripe_api
from app.integrations.stripe import StripeCallFailed
from app.models import Order, OrderMode, OrderStatus, Payment, PaymentKind, Refund, StripeConnection, StripeSync
from app.models.base import new_public_id, table_of, utcnow
from app.services import orders as order_rules
from app.services import rollups
from app.services.errors import Conflict, ServiceError, ValidationFailed
from app.services.permissions import Actor, Permission, require
from app.services.stripe_connection import require_connection
from app.services.stripe_sync.access import client, connection_of, permission_error, sync_row
from app.services.stripe_webhooks.effects import invoice_payment_links
from app.services.stripe_webhooks.ledger import id_of, record_payment, session_key, timestamp
from app.settings import get_settings

MAX_DAYS = 3650
# A run that stopped (its process died) is taken over after this long without progress.
STALE_AFTER = timedelta(minutes=30)
PHASES = ("Checkout Sessions", "invoices", "charges", "refunds", "disputes")


@dataclass(frozen=True)
class BackfillResult:
    seen: int
    imported: int
    message: str


def request_backfill(*, session: Session, actor: Actor, days: int | None = None) -> None:
    """Ask for a history import of the last ``days`` (the "Import history" button; on connect it is asked for
    automatically). The job or the page's background task runs it.

    Raises:
        PermissionDenied: the role may not trigger syncs.
        Conflict: Stripe is not connected, or an import is running.
        ValidationFailed: ``days`` out of 1–3650.
    """
    require(actor, Permission.EDIT_MARKETING)
    require_connection(session, actor.account_id)
    days = get_settings().stripe_backfill_days if days is None else days
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"Import between 1 and {MAX_DAYS} days of history.", field="days")
    with writing(session):
        row = sync_row(session, actor.account_id)
        if row.backfill_status == "running" and not _stale(row):
            session.rollback()
            raise Conflict("A history import is running; wait for it to finish.", code="backfill_running")
        _reset(row, days)
        session.add(row)
        session.commit()


def _stale(row: StripeSync) -> bool:
    return row.backfill_requested_at is None or utcnow() - row.backfill_requested_at > STALE_AFTER


def _reset(row: StripeSync, days: int) -> None:
    row.backfill_status = "requested"
    row.backfill_days = days
    row.backfill_phase = ""
    row.backfill_seen = row.backfill_imported = 0
    row.backfill_message = ""
    row.backfill_requested_at = utcnow()
    row.backfill_finished_at = None


_SYNC = table_of(StripeSync)


def _claim(session: Session, account_id: int) -> bool:
    """Take a requested (or stale running) import: one runner per account, whichever of the job and the page."""
    stale = utcnow() - STALE_AFTER
    with writing(session):
        claimed = (
            session.connection()
            .execute(
                update(_SYNC)
                .where(
                    _SYNC.c.account_id == account_id,
                    (_SYNC.c.backfill_status == "requested")
                    | ((_SYNC.c.backfill_status == "running") & (_SYNC.c.backfill_requested_at < stale)),
                )
                .values(backfill_status="running", backfill_requested_at=utcnow())
            )
            .rowcount
        )
        session.commit()
    return int(claimed) == 1


def pending_backfills(session: Session) -> list[int]:
    """Accounts whose import waits for a runner."""
    stale = utcnow() - STALE_AFTER
    rows = session.exec(
        select(StripeSync.account_id).where(
            (col(StripeSync.backfill_status) == "requested")
            | ((col(StripeSync.backfill_status) == "running") & (col(StripeSync.backfill_requested_at) < stale))
        )
    ).all()
    session.rollback()
    return list(rows)


def run_backfill(*, session: Session, account_id: int) -> BackfillResult | None:
    """Run the account's requested import (None when none is requested or another runner has it)."""
    if not _claim(session, account_id):
        return None
    connection = connection_of(session, account_id)
    row = sync_row(session, account_id)
    days = row.backfill_days or get_settings().stripe_backfill_days
    since = int((utcnow() - timedelta(days=days)).timestamp())
    importer = _Importer(session, account_id)
    try:
        if connection is None:
            raise Conflict("Stripe is not connected.", code="stripe_not_connected")
        importer.run(connection, since)
    except ServiceError as error:
        _progress(session, account_id, importer, status="failed", message=error.message)
        return BackfillResult(importer.seen, importer.imported, error.message)
    message = (
        f"Imported {importer.imported} order(s) from {days} day(s) of Stripe history "
        f"({importer.seen} object(s) read; those PaidSignal already knew were left as they were)."
    )
    _progress(session, account_id, importer, status="done", message=message, covered_from=since)
    return BackfillResult(importer.seen, importer.imported, message)


def _progress(
    session: Session,
    account_id: int,
    importer: _Importer,
    *,
    phase: str | None = None,
    status: str | None = None,
    message: str | None = None,
    covered_from: int | None = None,
) -> None:
    """Write the counts (and the page's changes, when called between pages) in one transaction."""
    with writing(session):
        importer.flush()
        values: dict[str, Any] = {"backfill_seen": importer.seen, "backfill_imported": importer.imported}
        if phase is not None:
            values["backfill_phase"] = phase
        if status is not None:
            values["backfill_status"] = status
            values["backfill_finished_at"] = utcnow()
            values["backfill_phase"] = ""
        if message is not None:
            values["backfill_message"] = message[:2000]
        session.execute(update(_SYNC).where(_SYNC.c.account_id == account_id).values(**values))
        if covered_from is not None:
            # The history now reaches back past a retention gap the catch-up reported: it is closed.
            session.execute(
                update(_SYNC)
                .where(_SYNC.c.account_id == account_id, _SYNC.c.gap_from >= covered_from)
                .values(gap_from=None, gap_to=None)
            )
        session.commit()


def order_items(lines: Any) -> list[dict[str, Any]]:
    """An order's items (price, product, quantity, unit amount: what checkout stores) from a Checkout Session's
    ``line_items`` or an invoice's ``lines``. A line without a price (an invoice item, a proration) is not an item."""
    items: list[dict[str, Any]] = []
    listed = lines.get("data") if isinstance(lines, dict) else None
    for line in listed or []:
        price = line.get("price") if isinstance(line.get("price"), dict) else {}
        details = (line.get("pricing") or {}).get("price_details") or {}
        price_id = id_of(price.get("id")) or id_of(details.get("price"))
        if not price_id:
            continue
        quantity = int(line.get("quantity") or 1)
        unit = price.get("unit_amount")
        if unit is None:  # an invoice line of the 2025 API: its own amount over its quantity
            unit = int(line.get("amount") or line.get("amount_subtotal") or 0) // max(quantity, 1)
        items.append(
            {
                "price": price_id,
                "product": id_of(price.get("product")) or id_of(details.get("product")) or "",
                "quantity": quantity,
                "unit_amount": int(unit),
            }
        )
    return items


def _key(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:48]


class _Importer:
    """One run's work; Stripe is called between transactions, never inside one (app/db.py)."""

    def __init__(self, session: Session, account_id: int) -> None:
        self.session = session
        self.account_id = account_id
        self.seen = 0
        self.imported = 0
        self._pending: list[Callable[[], None]] = []

    # -- reading Stripe ----------------------------------------------------------------------------------------------

    def _pages(self, what: str, fn: Any, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """Stripe's list a page at a time (``has_more`` / ``starting_after``)."""
        after: str | None = None
        while True:
            query = {**params, "limit": 100, **({"starting_after": after} if after else {})}
            try:
                page = stripe_api.as_dict(stripe_api.call(fn, params=query))
            except StripeCallFailed as error:
                raise permission_error(error, what) from error
            data = [dict(o) for o in page.get("data") or []]
            if data:
                yield data
            if not page.get("has_more") or not data:
                return
            after = str(data[-1]["id"])

    def run(self, connection: StripeConnection, since: int) -> None:
        stripe_client = client(connection)
        v1 = stripe_client.v1
        created = {"gte": since}
        steps: list[tuple[str, str, Any, dict[str, Any], Callable[[dict[str, Any]], None]]] = [
            ("Checkout Sessions", "checkout_sessions", v1.checkout.sessions.list,
             {"status": "complete", "created": created, "expand": ["data.line_items"]},
             lambda obj: self._session(obj, stripe_client)),
            ("invoices", "invoices", v1.invoices.list, {"status": "paid", "created": created},
             lambda obj: self._invoice(obj, stripe_client)),
            ("charges", "charges", v1.charges.list, {"created": created}, self._charge),
            ("refunds", "refunds", v1.refunds.list, {"created": created}, self._refund),
            ("disputes", "disputes", v1.disputes.list, {"created": created}, self._dispute),
        ]  # fmt: skip
        for phase, what, fn, params, apply in steps:
            _progress(self.session, self.account_id, self, phase=phase)
            listed: list[dict[str, Any]] = []
            for page in self._pages(what, fn, params):
                listed += page
                self.seen += len(page)
                _progress(self.session, self.account_id, self, phase=phase)
            # Oldest first across every page (Stripe lists newest first): a subscription's first invoice before its
            # renewals, a charge before its refunds.
            listed.sort(key=lambda o: (int(o.get("created") or 0), str(o.get("id"))))
            for start in range(0, len(listed), 100):
                for obj in listed[start : start + 100]:
                    apply(obj)
                _progress(self.session, self.account_id, self, phase=phase)

    def flush(self) -> None:
        """Apply what the last page decided, inside the caller's write transaction."""
        pending, self._pending = self._pending, []
        for change in pending:
            change()

    # -- finding what is known ---------------------------------------------------------------------------------------

    def _order_by(self, column: str, value: str | None) -> Order | None:
        if not value:
            return None
        return self.session.exec(
            select(Order).where(Order.account_id == self.account_id, getattr(Order, column) == value)
        ).first()

    def _payment_by(self, column: str, value: str | None) -> Payment | None:
        if not value:
            return None
        return self.session.exec(
            select(Payment).where(Payment.account_id == self.account_id, getattr(Payment, column) == value)
        ).first()

    # -- creating --------------------------------------------------------------------------------------------------

    def _new_order(self, obj: dict[str, Any], *, mode: OrderMode, key: str, email: str | None) -> Order:
        at = timestamp(obj.get("created")) or utcnow()
        order = Order(
            public_id=new_public_id("ord"),
            account_id=self.account_id,
            request_key=_key("import", str(self.account_id), key),
            mode=mode,
            currency=str(obj.get("currency") or "").upper()[:3] or "USD",
            items=[],
            event_id=f"import_{_key(key)[:40]}",
            customer_email=email[:320] if email else None,
            customer_id=id_of(obj.get("customer")),
            attribution={},
            success_url="",
            cancel_url="",
            imported=True,
            created_at=at,
            status_changed_at=at,
        )
        self.session.add(order)
        self.session.flush()
        return order

    def _fill_items(self, order: Order, items: list[dict[str, Any]]) -> None:
        """An order imported before imports read line items gets them now (nothing else of a known order changes)."""
        if order.imported and not order.items and items:
            order.items = items
            order_rules.save(self.session, order)
            rollups.mark_order_dirty(self.session, order)

    def _paid(self, order: Order, at: datetime) -> None:
        order_rules.advance(order, OrderStatus.PAID, at)
        order_rules.save(self.session, order)

    def _later(self, change: Callable[[], None]) -> None:
        self._pending.append(change)

    # -- each kind -------------------------------------------------------------------------------------------------

    def _session(self, obj: dict[str, Any], stripe_client: Any) -> None:
        if obj.get("payment_status") not in {"paid", "no_payment_required"}:
            return
        lines = dict(obj.get("line_items") or {})
        if lines.get("has_more") and obj.get("id"):
            # Stripe embeds a session's first 10 line items: ask for the rest, outside any transaction.
            listed = list(lines.get("data") or [])
            for page in self._pages(
                "checkout_sessions", functools.partial(stripe_client.v1.checkout.sessions.line_items.list,
                                                       str(obj["id"])), {}
            ):  # fmt: skip
                listed += [line for line in page if line.get("id") not in {known.get("id") for known in listed}]
            obj = {**obj, "line_items": {"data": listed}}
        self._later(lambda: self._import_session(obj))

    def _import_session(self, obj: dict[str, Any]) -> None:
        payment_intent, subscription = id_of(obj.get("payment_intent")), id_of(obj.get("subscription"))
        known = (
            self._order_by("checkout_session_id", id_of(obj.get("id")))
            or self._order_by("payment_intent_id", payment_intent)
            or self._order_by("subscription_id", subscription)
        )
        if known is not None:
            self._fill_items(known, order_items(obj.get("line_items")))
            return
        subscription_mode = obj.get("mode") == "subscription"
        email = (obj.get("customer_details") or {}).get("email") or obj.get("customer_email")
        order = self._new_order(
            obj, mode=OrderMode.SUBSCRIPTION if subscription_mode else OrderMode.PAYMENT,
            key=str(obj.get("id")), email=str(email) if email else None,
        )  # fmt: skip
        order.checkout_session_id = id_of(obj.get("id"))
        order.payment_intent_id = payment_intent
        order.subscription_id = subscription
        order.amount_expected = int(obj.get("amount_total") or 0)
        order.items = order_items(obj.get("line_items"))
        at = timestamp(obj.get("created")) or utcnow()
        amount, currency = int(obj.get("amount_total") or 0), order.currency
        if subscription_mode:
            invoice = id_of(obj.get("invoice"))
            record_payment(
                self.session, order, kind=PaymentKind.FIRST, key=invoice or session_key(obj), amount=amount,
                currency=currency, paid_at=at, invoice_id=invoice, subscription=subscription,
                billing_reason="subscription_create",
            )  # fmt: skip
        else:
            record_payment(
                self.session, order, kind=PaymentKind.ONE_OFF, key=payment_intent or session_key(obj), amount=amount,
                currency=currency, paid_at=at, payment_intent_id=payment_intent,
            )  # fmt: skip
        self._paid(order, at)
        self._imported(order)

    def _invoice(self, obj: dict[str, Any], stripe_client: Any) -> None:
        if int(obj.get("amount_paid") or 0) <= 0 and obj.get("status") != "paid":
            return
        links = invoice_payment_links(obj, {})
        if links == (None, None) and obj.get("id"):
            # Recent API versions do not say on the invoice which payment paid it: ask, outside any transaction.
            try:
                listed = stripe_api.call(
                    stripe_client.v1.invoice_payments.list, params={"invoice": str(obj["id"]), "limit": 10}
                )
                links = invoice_payment_links(obj, {"invoice_payments": stripe_api.as_dict(listed).get("data") or []})
            except StripeCallFailed:
                pass  # recorded without the link, as the webhook does
        self._later(lambda: self._import_invoice(obj, links))

    def _import_invoice(self, obj: dict[str, Any], links: tuple[str | None, str | None]) -> None:
        invoice_id = str(obj.get("id"))
        details = ((obj.get("parent") or {}).get("subscription_details")) or {}
        subscription = id_of(details.get("subscription")) or id_of(obj.get("subscription"))
        if not subscription:
            return  # a one-off invoice: its charge is imported as such
        order = self._order_by("subscription_id", subscription)
        if order is not None:
            self._fill_items(order, order_items(obj.get("lines")))
        if self._payment_by("invoice_id", invoice_id) is not None:
            return
        payment_intent, charge = links
        if order is not None and not order.imported:
            return  # PaidSignal's own order: left as it is
        reason = str(obj.get("billing_reason") or "")
        at = timestamp((obj.get("status_transitions") or {}).get("paid_at")) or timestamp(obj.get("created"))
        at = at or utcnow()
        new = order is None
        if order is None:
            email = obj.get("customer_email")
            order = self._new_order(
                obj, mode=OrderMode.SUBSCRIPTION, key=subscription, email=str(email) if email else None
            )
            order.subscription_id = subscription
            order.items = order_items(obj.get("lines"))
            self._imported(order)
        # A subscription begun before the imported days opens its order with a renewal: it stays a renewal (its
        # first payment is not in the history), not a new order's money. No reason (old API versions): the first.
        kind = {"subscription_create": PaymentKind.FIRST, "subscription_cycle": PaymentKind.RENEWAL, "": (
            PaymentKind.FIRST if new else PaymentKind.RENEWAL
        )}.get(reason, PaymentKind.ADJUSTMENT)  # fmt: skip
        record_payment(
            self.session, order, kind=kind, key=invoice_id, amount=int(obj.get("amount_paid") or 0),
            currency=str(obj.get("currency") or order.currency).upper(), paid_at=at, invoice_id=invoice_id,
            payment_intent_id=payment_intent, charge_id=charge, subscription=subscription,
            billing_reason=reason or None,
        )  # fmt: skip
        if kind == PaymentKind.FIRST or new:
            self._paid(order, at)
        else:
            order_rules.settle(order)
            order_rules.save(self.session, order)
        rollups.mark_order_dirty(self.session, order)

    def _charge(self, obj: dict[str, Any]) -> None:
        if obj.get("status") != "succeeded" or not obj.get("paid", True):
            return
        self._later(lambda: self._import_charge(obj))

    def _import_charge(self, obj: dict[str, Any]) -> None:
        charge_id = str(obj.get("id"))
        payment_intent = id_of(obj.get("payment_intent"))
        payment = self._payment_by("charge_id", charge_id) or self._payment_by("payment_intent_id", payment_intent)
        if payment is not None:
            if not payment.charge_id:
                payment.charge_id = charge_id  # the link reconciliation matches on; nothing else changes
                self.session.add(payment)
            return
        if self._order_by("payment_intent_id", payment_intent) is not None:
            return
        if id_of(obj.get("invoice")):
            return  # an invoice's charge (old API versions say so): the invoice is the order
        email = (obj.get("billing_details") or {}).get("email") or obj.get("receipt_email")
        order = self._new_order(obj, mode=OrderMode.PAYMENT, key=charge_id, email=str(email) if email else None)
        order.payment_intent_id = payment_intent
        at = timestamp(obj.get("created")) or utcnow()
        amount = int(obj.get("amount_captured") or obj.get("amount") or 0)
        record_payment(
            self.session, order, kind=PaymentKind.ONE_OFF, key=payment_intent or charge_id, amount=amount,
            currency=order.currency, paid_at=at, payment_intent_id=payment_intent, charge_id=charge_id,
        )  # fmt: skip
        self._paid(order, at)
        self._imported(order)

    def _imported_order_of_charge(
        self, charge: str | None, payment_intent: str | None
    ) -> tuple[Order, Payment | None] | None:
        payment = self._payment_by("charge_id", charge) or self._payment_by("payment_intent_id", payment_intent)
        order = self.session.get(Order, payment.order_id) if payment is not None and payment.order_id else None
        order = order or self._order_by("payment_intent_id", payment_intent)
        if order is None or not order.imported:
            return None  # unknown, or PaidSignal's own order (its webhooks and the catch-up keep it)
        return order, payment

    def _refund(self, obj: dict[str, Any]) -> None:
        if obj.get("status") not in {"succeeded", "pending"}:
            return
        self._later(lambda: self._import_refund(obj))

    def _import_refund(self, obj: dict[str, Any]) -> None:
        refund_id = str(obj.get("id"))
        found = self._imported_order_of_charge(id_of(obj.get("charge")), id_of(obj.get("payment_intent")))
        if found is None:
            return
        order, payment = found
        if self.session.exec(
            select(Refund.id).where(Refund.account_id == self.account_id, Refund.stripe_event_id == refund_id)
        ).first():
            return
        amount = int(obj.get("amount") or 0)
        at = timestamp(obj.get("created")) or utcnow()
        self.session.add(
            Refund(
                account_id=self.account_id, order_id=order.id, payment_id=payment.id if payment else None,
                charge_id=id_of(obj.get("charge")) or "", stripe_event_id=refund_id[:64], amount=amount,
                currency=str(obj.get("currency") or order.currency).upper(), refunded_at=at,
            )
        )  # fmt: skip
        if payment is not None:
            payment.amount_refunded += amount
            self.session.add(payment)
        order.amount_refunded += amount
        order_rules.settle(order, at=at)
        order_rules.save(self.session, order)
        self.session.flush()
        rollups.mark_order_dirty(self.session, order)

    def _dispute(self, obj: dict[str, Any]) -> None:
        self._later(lambda: self._import_dispute(obj))

    def _import_dispute(self, obj: dict[str, Any]) -> None:
        found = self._imported_order_of_charge(id_of(obj.get("charge")), id_of(obj.get("payment_intent")))
        if found is None:
            return
        order, _ = found
        order.disputed = True
        order.dispute_status = str(obj.get("status") or "")[:32] or order.dispute_status
        order_rules.save(self.session, order)

    def _imported(self, order: Order) -> None:
        self.imported += 1
        self.session.flush()
        rollups.mark_order_dirty(self.session, order)


def run_pending_backfills(*, session: Session) -> str | None:
    """The job's part: every requested import, one after the other."""
    done = []
    for account_id in pending_backfills(session):
        result = run_backfill(session=session, account_id=account_id)
        if result is not None:
            done.append(f"account {account_id}: {result.imported} imported")
    return "; ".join(done) or None
