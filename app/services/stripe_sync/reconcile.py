"""Reconciliation: PaidSignal's gross, refunds and disputes against Stripe's balance transactions, per day (in the
account's timezone) and currency, matched by object id — a charge BT's ``source`` to the payment with that charge (or
its PaymentIntent), a refund BT's refund to its charge, a dispute BT's dispute to its charge — not by day totals.

Amounts are compared in the order's currency (the BT's expanded ``source``); a settlement in another currency is
listed with its amount and exchange rate, never counted as a difference. Charges PaidSignal never saw are listed as
their own category. A payment whose BT has not appeared yet (asynchronous capture) is waited for, not flagged, for
``WAIT``. Fees are shown, never subtracted from revenue."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from app.db import writing
from app.integrations import stripe as stripe_api
from app.integrations.stripe import StripeCallFailed
from app.models import Order, Payment, Refund, StripeConnection, StripeSync
from app.models.base import table_of, utcnow
from app.services import rollups
from app.services.errors import Conflict, ServiceError, ValidationFailed
from app.services.permissions import Actor, Permission, require
from app.services.stripe_connection import require_connection
from app.services.stripe_sync.access import client, connection_of, permission_error
from app.services.stripe_webhooks.ledger import id_of, timestamp

WAIT = timedelta(hours=48)  # a balance transaction may appear this long after its payment (async capture)
MAX_DAYS = 90
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class Item:
    """One Stripe object or PaidSignal payment the report lists."""

    kind: str  # see KINDS
    day: date
    currency: str  # the order's (charge's) currency
    stripe_id: str  # ch_… / re_… / dp_… / txn_…; "" when Stripe has none yet
    order_id: str  # ord_…; "" when PaidSignal has none
    paidsignal_amount: int | None
    stripe_amount: int | None
    note: str


KINDS = {
    "amount_differs": "The amounts differ",
    "missing_in_stripe": "Paid in PaidSignal, no balance transaction in Stripe",
    "refund_missed": "Refunded in Stripe, not in PaidSignal",
    "refund_not_in_stripe": "Refunded in PaidSignal, not in Stripe",
    "dispute_missed": "Disputed in Stripe, not in PaidSignal",
    "outside": "Charged outside PaidSignal",
    "waiting": "Waiting for Stripe's balance transaction",
    "settlement": "Settled in another currency",
}


@dataclass
class DayRow:
    day: date
    currency: str
    paidsignal_gross: int = 0
    stripe_gross: int = 0
    paidsignal_refunds: int = 0
    stripe_refunds: int = 0
    paidsignal_disputes: int = 0
    stripe_disputes: int = 0
    differences: int = 0


@dataclass
class Reconciliation:
    start: date
    end: date
    timezone: str
    reconciled_through: date | None
    days: list[DayRow]
    differences: list[Item]
    outside: list[Item]
    waiting: list[Item]
    settlement: list[Item]
    fees: dict[str, int] = field(default_factory=dict)  # settlement currency -> fees (shown, never subtracted)
    checked_at: datetime | None = None

    @property
    def reconciled(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        if self.differences:
            return f"{len(self.differences)} difference(s) between PaidSignal and Stripe since {self.start}."
        if self.reconciled_through is None:
            return "Nothing can be reconciled yet: Stripe's balance transactions are still on their way."
        return f"Reconciled to the cent through {self.reconciled_through.isoformat()}."

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["summary"] = self.summary()
        jsonable: dict[str, Any] = _jsonable(data)
        return jsonable


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def from_json(data: dict[str, Any]) -> Reconciliation:
    """A stored report (``StripeSync.reconciliation``) read back; stored data never makes a read fail."""

    def day(value: Any) -> date:
        return date.fromisoformat(str(value))

    def items(name: str) -> list[Item]:
        out = []
        for raw in data.get(name) or []:
            try:
                out.append(Item(**{**raw, "day": day(raw["day"])}))
            except (TypeError, KeyError, ValueError):
                continue
        return out

    rows = []
    for raw in data.get("days") or []:
        try:
            rows.append(DayRow(**{**raw, "day": day(raw["day"])}))
        except (TypeError, KeyError, ValueError):
            continue
    through = data.get("reconciled_through")
    checked = data.get("checked_at")
    return Reconciliation(
        start=day(data.get("start") or date.today()),
        end=day(data.get("end") or date.today()),
        timezone=str(data.get("timezone") or "UTC"),
        reconciled_through=day(through) if through else None,
        days=rows,
        differences=items("differences"),
        outside=items("outside"),
        waiting=items("waiting"),
        settlement=items("settlement"),
        fees={str(k): int(v) for k, v in (data.get("fees") or {}).items() if isinstance(v, int)},
        checked_at=datetime.fromisoformat(checked) if checked else None,
    )


def _balance_transactions(session: Session, account_id: int, since: int) -> list[dict[str, Any]]:
    connection = connection_of(session, account_id)
    if connection is None:
        raise Conflict("Stripe is not connected.", code="stripe_not_connected")
    session.rollback()  # no read transaction held while Stripe answers
    stripe_client = client(connection)
    params = {"created": {"gte": since}, "limit": 100, "expand": ["data.source"]}
    try:
        page = stripe_api.call(stripe_client.v1.balance_transactions.list, params=params)
        return [stripe_api.as_dict(bt) for bt in stripe_api.call(lambda: list(page.auto_paging_iter()))]
    except StripeCallFailed as error:
        raise permission_error(error, "balance_transactions") from error


def reconcile(
    *, session: Session, account_id: int, days: int = DEFAULT_DAYS, now: datetime | None = None
) -> Reconciliation:
    """Reconcile the last ``days`` days (today included) with Stripe, and keep the result for the settings page.

    Raises:
        ValidationFailed: ``days`` out of 1–90.
        Conflict: Stripe is not connected.
        MissingPermission: a restricted key may not read balance transactions.
    """
    if not 1 <= days <= MAX_DAYS:
        raise ValidationFailed(f"Reconcile between 1 and {MAX_DAYS} days.", field="days")
    moment = now or utcnow()
    zone = rollups.account_zone(session, account_id)
    end = rollups.local_day(moment, zone)
    start = end - timedelta(days=days - 1)
    window_start = rollups.day_bounds(start, zone)[0]
    transactions = _balance_transactions(session, account_id, int(window_start.timestamp()) - 86_400)
    report = _Matcher(session, account_id, zone, moment, window_start).run(transactions, start, end, str(zone))
    _keep(session, account_id, report)
    return report


class _Matcher:
    def __init__(self, session: Session, account_id: int, zone: Any, now: datetime, window_start: datetime) -> None:
        self.session = session
        self.account_id = account_id
        self.zone = zone
        self.now = now
        self.window_start = window_start
        self.rows: dict[tuple[date, str], DayRow] = {}
        self.differences: list[Item] = []
        self.outside: list[Item] = []
        self.waiting: list[Item] = []
        self.settlement: list[Item] = []
        self.fees: dict[str, int] = defaultdict(int)
        # The payments a window's BTs name are paid in it, or shortly before (a charge BT follows its charge within
        # days); a refund or dispute of an older payment finds it by id on demand (``_payment_of_charge``).
        payments = self.session.exec(
            select(Payment).where(
                Payment.account_id == account_id,
                col(Payment.order_id).is_not(None),
                col(Payment.paid_at) >= window_start - timedelta(days=7),
            )
        ).all()
        self.by_charge = {p.charge_id: p for p in payments if p.charge_id}
        self.by_intent = {p.payment_intent_id: p for p in payments if p.payment_intent_id}
        self.window_payments = [p for p in payments if p.paid_at >= window_start and p.amount > 0]
        self.orders: dict[int | None, Order] = {}
        self._load_orders(payments)
        self.refunds = list(
            self.session.exec(
                select(Refund).where(
                    Refund.account_id == account_id, col(Refund.refunded_at) >= window_start - timedelta(days=1)
                )
            ).all()
        )

    def _load_orders(self, payments: Any) -> None:
        wanted = {p.order_id for p in payments} - set(self.orders)
        if wanted:
            found = self.session.exec(select(Order).where(col(Order.id).in_(wanted))).all()
            self.orders.update({o.id: o for o in found})

    def _day(self, moment: datetime) -> date:
        return rollups.local_day(moment, self.zone)

    def _row(self, day: date, currency: str) -> DayRow:
        key = (day, currency.upper())
        if key not in self.rows:
            self.rows[key] = DayRow(day, currency.upper())
        return self.rows[key]

    def _order_id(self, payment: Payment | None) -> str:
        order = self.orders.get(payment.order_id) if payment is not None else None
        return order.public_id if order is not None else ""

    def _payment_of_charge(self, charge: Any, payment_intent: Any = None) -> Payment | None:
        """The payment a charge belongs to: by its id, else by its PaymentIntent (a payment recorded from a
        Checkout Session knows only that); a refund or dispute passes its own PaymentIntent."""
        charge_id = id_of(charge)
        payment = self.by_charge.get(charge_id) if charge_id else None
        intent = id_of(payment_intent) or (id_of(charge.get("payment_intent")) if isinstance(charge, dict) else None)
        if payment is None and intent:
            payment = self.by_intent.get(intent)
        if payment is None and (charge_id or intent):
            payment = self._stored_payment(charge_id, intent)
        if payment is not None and charge_id:
            self.by_charge.setdefault(charge_id, payment)
        return payment

    def _stored_payment(self, charge_id: str | None, intent: str | None) -> Payment | None:
        """An older payment a refund or dispute names, read when first needed."""
        for column, value in (("charge_id", charge_id), ("payment_intent_id", intent)):
            if not value:
                continue
            payment = self.session.exec(
                select(Payment).where(
                    Payment.account_id == self.account_id,
                    col(Payment.order_id).is_not(None),
                    getattr(Payment, column) == value,
                )
            ).first()
            if payment is not None:
                self.by_intent.setdefault(payment.payment_intent_id or "", payment)
                self._load_orders([payment])
                return payment
        return None

    def _difference(self, item: Item) -> None:
        self.differences.append(item)
        self._row(item.day, item.currency).differences += 1

    def run(self, transactions: list[dict[str, Any]], start: date, end: date, timezone: str) -> Reconciliation:
        matched: set[int] = set()
        stripe_refunds: dict[str, int] = defaultdict(int)  # charge id -> refunded (charge currency)
        refund_items: dict[str, tuple[date, str, str]] = {}  # charge id -> (day, currency, a refund id)
        for bt in sorted(transactions, key=lambda t: (int(t.get("created") or 0), str(t.get("id")))):
            created = timestamp(bt.get("created")) or self.now
            category = str(bt.get("reporting_category") or bt.get("type") or "")
            settlement = str(bt.get("currency") or "").upper()
            self.fees[settlement] += int(bt.get("fee") or 0)
            if category == "fee":
                self.fees[settlement] += -int(bt.get("amount") or 0)
                continue
            source = bt.get("source")
            obj = source if isinstance(source, dict) else {"id": source}
            if category == "charge":
                self._charge(bt, obj, created, settlement, matched)
            elif category in {"refund", "refund_failure"}:
                charge = id_of(obj.get("charge"))
                self._payment_of_charge(obj.get("charge"), obj.get("payment_intent"))  # links the charge id
                if charge and created >= self.window_start - timedelta(days=1):
                    amount = int(obj.get("amount") or abs(int(bt.get("amount") or 0)))
                    stripe_refunds[charge] += amount if category == "refund" else -amount
                    currency = str(obj.get("currency") or settlement).upper()
                    refund_items[charge] = (self._day(created), currency, str(obj.get("id") or bt.get("id")))
            elif category in {"dispute", "dispute_reversal"}:
                self._dispute(bt, obj, created, settlement, category)
        self._unmatched_payments(matched)
        self._refunds(stripe_refunds, refund_items)
        rows = sorted((r for r in self.rows.values() if start <= r.day <= end), key=lambda r: (r.day, r.currency))
        problem_days = [i.day for i in self.differences + self.waiting if start <= i.day <= end]
        through: date | None = end
        if problem_days:
            through = min(problem_days) - timedelta(days=1)
            if through < start:
                through = None
        in_window = [i for i in self.differences if i.day >= start]
        return Reconciliation(
            start=start, end=end, timezone=timezone, reconciled_through=through, days=rows,
            differences=in_window, outside=[i for i in self.outside if i.day >= start],
            waiting=self.waiting, settlement=[i for i in self.settlement if i.day >= start],
            fees={k: v for k, v in sorted(self.fees.items()) if v}, checked_at=self.now,
        )  # fmt: skip

    def _charge(
        self, bt: dict[str, Any], obj: dict[str, Any], created: datetime, settlement: str, matched: set[int]
    ) -> None:
        payment = self._payment_of_charge(obj)
        currency = str(obj.get("currency") or settlement).upper()
        amount = int(obj.get("amount_captured") or obj.get("amount") or bt.get("amount") or 0)
        charge_id = str(obj.get("id") or "")
        if payment is None:
            if created >= self.window_start:
                self.outside.append(
                    Item("outside", self._day(created), currency, charge_id, "", None, amount,
                         "A charge PaidSignal never saw (made outside its checkout); not counted as a difference.")
                )  # fmt: skip
            return
        if payment.id in matched:
            return
        matched.add(payment.id or 0)
        if payment.paid_at < self.window_start:
            return
        day = self._day(payment.paid_at)
        row = self._row(day, payment.currency)
        row.paidsignal_gross += payment.amount
        row.stripe_gross += amount if currency == payment.currency.upper() else 0
        if currency != payment.currency.upper() or amount != payment.amount:
            self._difference(
                Item("amount_differs", day, payment.currency.upper(), charge_id, self._order_id(payment),
                     payment.amount, amount, f"Stripe charged {amount} {currency}.")
            )  # fmt: skip
        if settlement and settlement != currency:
            rate = bt.get("exchange_rate")
            self.settlement.append(
                Item("settlement", day, currency, charge_id, self._order_id(payment), payment.amount, amount,
                     f"Settled as {bt.get('amount')} {settlement} (exchange rate {rate}); fee {bt.get('fee') or 0} "
                     f"{settlement}.")
            )  # fmt: skip

    def _dispute(
        self, bt: dict[str, Any], obj: dict[str, Any], created: datetime, settlement: str, category: str
    ) -> None:
        if created < self.window_start:
            return
        payment = self._payment_of_charge(obj.get("charge"), obj.get("payment_intent"))
        currency = str(obj.get("currency") or settlement).upper()
        amount = int(obj.get("amount") or abs(int(bt.get("amount") or 0)))
        signed = amount if category == "dispute" else -amount
        day = self._day(created)
        dispute_id = str(obj.get("id") or bt.get("id"))
        if payment is None:
            self.outside.append(
                Item("outside", day, currency, dispute_id, "", None, signed,
                     "A dispute of a charge PaidSignal never saw.")
            )  # fmt: skip
            return
        order = self.orders.get(payment.order_id)
        row = self._row(day, currency)
        row.stripe_disputes += signed
        if order is not None and order.disputed:
            row.paidsignal_disputes += signed
            return
        self._difference(
            Item("dispute_missed", day, currency, dispute_id, self._order_id(payment), 0, signed,
                 f"Stripe withdrew {amount} {currency} for this dispute; PaidSignal's order is not marked disputed.")
        )  # fmt: skip

    def _unmatched_payments(self, matched: set[int]) -> None:
        for payment in self.window_payments:
            if payment.id in matched:
                continue
            day = self._day(payment.paid_at)
            row = self._row(day, payment.currency)
            row.paidsignal_gross += payment.amount
            link = payment.charge_id or payment.payment_intent_id or payment.stripe_key
            item = Item(
                "missing_in_stripe", day, payment.currency.upper(), payment.charge_id or "",
                self._order_id(payment), payment.amount, None,
                f"No balance transaction names this payment's charge ({link}).",
            )  # fmt: skip
            if self.now - payment.paid_at < WAIT:
                self.waiting.append(
                    Item("waiting", day, item.currency, item.stripe_id, item.order_id, item.paidsignal_amount, None,
                         "Paid recently: Stripe creates the balance transaction when the charge is captured.")
                )  # fmt: skip
            else:
                self._difference(item)

    def _refunds(self, stripe_refunds: dict[str, int], items: dict[str, tuple[date, str, str]]) -> None:
        # Per charge, PaidSignal's refunds against Stripe's refund BTs of the same stretch (the window and the day
        # before it, as the BTs are listed).
        ours: dict[str, int] = defaultdict(int)
        latest: dict[str, Refund] = {}
        for refund in self.refunds:
            if refund.refunded_at >= self.window_start:
                self._row(self._day(refund.refunded_at), refund.currency).paidsignal_refunds += refund.amount
            ours[refund.charge_id] += refund.amount
            if refund.charge_id not in latest or refund.refunded_at > latest[refund.charge_id].refunded_at:
                latest[refund.charge_id] = refund
        for charge, (day, currency, _refund_id) in items.items():
            self._row(day, currency).stripe_refunds += stripe_refunds[charge]
        for charge in sorted(
            set(stripe_refunds) | {c for c, r in latest.items() if r.refunded_at >= self.window_start}
        ):
            theirs, mine = stripe_refunds.get(charge, 0), ours.get(charge, 0)
            payment = self.by_charge.get(charge)
            if charge in items and payment is None:
                day, currency, refund_id = items[charge]
                self.outside.append(
                    Item("outside", day, currency, refund_id, "", None, theirs,
                         "A refund of a charge PaidSignal never saw.")
                )  # fmt: skip
                continue
            if theirs > mine:
                day, currency, refund_id = items[charge]
                self._difference(
                    Item("refund_missed", day, currency, refund_id, self._order_id(payment), mine, theirs,
                         f"Stripe refunded {theirs} on {charge}; PaidSignal recorded {mine}.")
                )  # fmt: skip
            elif mine > theirs and charge in latest:
                refund = latest[charge]
                day = self._day(refund.refunded_at)
                note = f"PaidSignal recorded {mine} refunded on {charge}; Stripe's balance shows {theirs}."
                item = Item(
                    "refund_not_in_stripe", day, refund.currency.upper(), charge, self._order_id(payment), mine,
                    theirs, note,
                )  # fmt: skip
                if self.now - refund.refunded_at < WAIT:
                    self.waiting.append(replace(item, kind="waiting"))
                else:
                    self._difference(item)


_SYNC = table_of(StripeSync)


def _keep(session: Session, account_id: int, report: Reconciliation) -> None:
    with writing(session):
        updated = (
            session.connection()
            .execute(
                update(_SYNC)
                .where(_SYNC.c.account_id == account_id)
                .values(reconciled_at=report.checked_at or utcnow(), reconciliation=report.as_json())
            )
            .rowcount
        )
        if not updated:
            session.add(
                StripeSync(account_id=account_id, reconciled_at=report.checked_at, reconciliation=report.as_json())
            )
        session.commit()


def last_reconciliation(*, session: Session, account_id: int) -> Reconciliation | None:
    """The stored report, for pages that must not wait for Stripe."""
    data = session.exec(select(StripeSync.reconciliation).where(StripeSync.account_id == account_id)).first()
    if not isinstance(data, dict):
        return None
    try:
        return from_json(data)
    except (TypeError, ValueError):
        return None


def reconcile_now(*, session: Session, actor: Actor, days: int = DEFAULT_DAYS) -> Reconciliation:
    """The "Reconcile with Stripe" button.

    Raises:
        PermissionDenied: the role may not trigger syncs.
        Conflict | MissingPermission | ServiceError: as ``reconcile``.
    """
    require(actor, Permission.EDIT_MARKETING)
    require_connection(session, actor.account_id)
    return reconcile(session=session, account_id=actor.account_id, days=days)


RECONCILE_EVERY = timedelta(hours=1)


def reconcile_due(*, session: Session) -> int:
    """The job's part: reconcile each connected account whose report is older than ``RECONCILE_EVERY``; how many
    were reconciled (a failure is left for the next run: the page shows the last report and its time)."""
    due = utcnow() - RECONCILE_EVERY
    account_ids = list(
        session.exec(
            select(StripeConnection.account_id)
            .join(StripeSync, col(StripeSync.account_id) == col(StripeConnection.account_id), isouter=True)
            .where(col(StripeSync.reconciled_at).is_(None) | (col(StripeSync.reconciled_at) < due))
        ).all()
    )
    session.rollback()
    done = 0
    for account_id in account_ids:
        try:
            reconcile(session=session, account_id=account_id)
            done += 1
        except ServiceError:
            session.rollback()
    return done
