"""Customers over their lifetime: who acquired each customer and what they paid since, computed from the raw tables by
one function (``customer_rows``) and kept in ``rollup_customer`` for the default model and lookback.

Rules (one place; ``services/metrics/ltv`` reads them through the table or calls them live):
- a customer is ``rollups.customer_key`` (the e-mail, else Stripe's customer, else the order alone); their first
  order is the order whose first payment (one-off or a subscription's first invoice) came first (ties: lower id);
- the acquisition is that first order's attribution under the model and lookback (``rollups.order_credits``):
  shares summing to exactly one customer (millionths, largest remainder). A first order imported from Stripe's
  history is never attributed: the customer is in the ``imported`` bucket;
- every payment (first, renewal, adjustment) and refund of any of the customer's orders belongs to that acquisition,
  whatever brought the customer back; net = payments − refunds, per currency, on the day (account timezone) it
  happened; ``net_dN`` is the net of days 0 … N−1 after the first order's day;
- the customer counts once, on the row of the first order's currency; their acquiring product is the first order's
  item with the largest catalogue amount (ties: the first listed);
- a subscriber is a customer whose first order was a subscription; it ended on the day that subscription was
  canceled (or its status says it ended), else it is active.

Incremental like the daily rollups: ``rollups.mark_order_dirty`` marks the order's customer in the webhook's
transaction; ``refresh_dirty`` recomputes the marked customers whole with the same function ``rebuild`` uses, then
sums ``rollup_acquisition`` again for the first-order days those customers had and have (what the LTV table reads).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, delete, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.db import executemany, write_lock
from app.models import AcquisitionValue, CustomerDirty, CustomerValue, Order, Payment, Refund, Subscription
from app.models.base import table_of
from app.services import orders, rollups
from app.services.attribution import DEFAULT_LOOKBACK_DAYS, split_by_shares
from app.services.rollup_rules import campaign_version_ids

DEFAULT_MODEL = "last_touch"
# Days after the first order at which cumulative net revenue is kept (the LTV horizons, monthly cohort steps, and
# finer points for payback).
CHECKPOINTS: tuple[int, ...] = (1, 7, 14, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330, 360, 365)
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired", "unpaid"})
_CHUNK = 500


@dataclass
class CustomerRow:
    """One row of ``rollup_customer``: a customer's share credited to one campaign version, in one currency."""

    customer_key: str
    campaign_id: int
    campaign_version_id: int
    currency: str
    imported: bool
    first_paid_at: datetime
    first_day: date
    product_id: str
    customers_micro: int
    subscriber_micro: int
    ended_days: int | None
    nets: dict[int, int] = field(default_factory=dict)  # checkpoint -> net of days 0 … N−1
    net_total: int = 0

    @property
    def first_month(self) -> date:
        return self.first_day.replace(day=1)

    def as_record(self, account_id: int) -> dict[str, Any]:
        return {
            "account_id": account_id,
            "customer_key": self.customer_key,
            "campaign_id": self.campaign_id,
            "campaign_version_id": self.campaign_version_id,
            "currency": self.currency,
            "imported": self.imported,
            "first_paid_at": self.first_paid_at,
            "first_day": self.first_day,
            "first_month": self.first_month,
            "product_id": self.product_id,
            "customers_micro": self.customers_micro,
            "subscriber_micro": self.subscriber_micro,
            "ended_days": self.ended_days,
            **{f"net_d{n}": self.nets.get(n, 0) for n in CHECKPOINTS},
            "net_total": self.net_total,
        }


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for at in range(0, len(values), _CHUNK):
        yield values[at : at + _CHUNK]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _main_product(items: list[dict[str, Any]] | None) -> str:
    best, best_amount = "", -1
    for item in items or []:
        amount = int(item.get("unit_amount") or 0) * int(item.get("quantity") or 1)
        if amount > best_amount:
            best, best_amount = str(item.get("product") or ""), amount
    return best


def customer_rows(
    session: Session,
    account_id: int,
    *,
    model: str = DEFAULT_MODEL,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    keys: Collection[str] | None = None,
) -> list[CustomerRow]:
    """The ``rollup_customer`` rows of every customer of the account (or of ``keys`` only), from the raw tables."""
    zone = rollups.account_zone(session, account_id)
    columns = sa_select(
        col(Order.id), col(Order.customer_key), col(Order.customer_email), col(Order.customer_id)
    ).where(col(Order.account_id) == account_id)
    found: list[tuple[int, str]] = []
    if keys is None:
        for order_id, stored, email, customer in session.execute(columns).all():
            key = stored or orders.customer_key_of(order_id=order_id, email=email, customer_id=customer)
            found.append((int(order_id), key))
    else:
        wanted = sorted(set(keys))
        for part in _chunks(wanted):
            found += [(int(r[0]), str(r[1])) for r in session.execute(columns.where(col(Order.customer_key).in_(part)))]
        # An order known only by its id (no e-mail, no Stripe customer) may not have its key stored yet.
        lone = [int(k.split(":", 1)[1]) for k in wanted if k.startswith("order:") and k.split(":", 1)[1].isdigit()]
        for part in _chunks(lone):
            found += [(int(r[0]), f"order:{r[0]}") for r in session.execute(columns.where(col(Order.id).in_(part)))]
    key_of = dict(found)
    if not key_of:
        return []
    first_paid: dict[int, datetime] = {}
    first_query = (
        sa_select(col(Payment.order_id), func.min(Payment.paid_at))
        .where(col(Payment.account_id) == account_id, col(Payment.kind).in_(rollups.FIRST_PAYMENTS))
        .group_by(col(Payment.order_id))
    )
    events_by_order: dict[int, list[tuple[datetime, str, int]]] = defaultdict(list)
    payment_query = sa_select(col(Payment.order_id), col(Payment.paid_at), col(Payment.currency), col(Payment.amount))
    refund_query = sa_select(col(Refund.order_id), col(Refund.refunded_at), col(Refund.currency), col(Refund.amount))
    if keys is None:
        parts: list[list[int] | None] = [None]
    else:
        parts = list(_chunks(sorted(key_of)))
    for ids in parts:
        queries = [
            first_query,
            payment_query.where(col(Payment.account_id) == account_id, col(Payment.order_id).is_not(None)),
            refund_query.where(col(Refund.account_id) == account_id, col(Refund.order_id).is_not(None)),
        ]
        if ids is not None:
            queries = [
                queries[0].where(col(Payment.order_id).in_(ids)),
                queries[1].where(col(Payment.order_id).in_(ids)),
                queries[2].where(col(Refund.order_id).in_(ids)),
            ]
        for order_id, at in session.execute(queries[0]).all():
            if order_id in key_of and at is not None:
                first_paid[int(order_id)] = _aware(at)
        for sign, query in ((1, queries[1]), (-1, queries[2])):
            for order_id, at, currency, amount in session.execute(query).all():
                if order_id in key_of:
                    events_by_order[int(order_id)].append((_aware(at), str(currency), sign * int(amount)))

    orders_of: dict[str, list[int]] = defaultdict(list)
    for order_id, key in key_of.items():
        orders_of[key].append(order_id)
    firsts: dict[str, int] = {}
    for key, order_ids in orders_of.items():
        paid = [(first_paid[o], o) for o in order_ids if o in first_paid]
        if paid:
            firsts[key] = min(paid)[1]
    first_orders: dict[int, Order] = {}
    for part in _chunks(sorted(firsts.values())):
        first_orders.update({o.id or 0: o for o in session.exec(select(Order).where(col(Order.id).in_(part)))})
    ended: dict[int, datetime] = {}
    for part in _chunks(sorted(firsts.values())):
        for sub in session.exec(select(Subscription).where(col(Subscription.order_id).in_(part))):
            if sub.status in ENDED_STATUSES and sub.order_id is not None:
                ended[sub.order_id] = sub.canceled_at or sub.current_period_end or sub.updated_at

    rows: list[CustomerRow] = []
    version_ids: dict[str, tuple[int | None, int | None]] | None = None

    def read_version_ids() -> dict[str, tuple[int | None, int | None]]:  # once, if a first order needs them
        nonlocal version_ids
        if version_ids is None:
            version_ids = campaign_version_ids(session, account_id)
        return version_ids

    for key, first_id in sorted(firsts.items()):
        order = first_orders[first_id]
        paid_at = first_paid[first_id]
        first_day = rollups.local_day(paid_at, zone)
        first_currency = min(
            ((at, c) for at, c, amount in events_by_order[first_id] if amount > 0), default=(paid_at, order.currency)
        )[1]
        nets: dict[str, dict[int, int]] = defaultdict(lambda: dict.fromkeys(CHECKPOINTS, 0))
        totals: dict[str, int] = defaultdict(int)
        nets[first_currency.upper()] = dict.fromkeys(CHECKPOINTS, 0)  # the first currency always has a row
        for order_id in orders_of[key]:
            for at, currency, amount in events_by_order[order_id]:
                code = currency.upper()
                offset = max(0, (rollups.local_day(at, zone) - first_day).days)
                totals[code] += amount
                for n in CHECKPOINTS:
                    if offset < n:
                        nets[code][n] += amount
        if order.imported:
            credits: list[tuple[int, int, Fraction]] = [(0, 0, Fraction(1))]
        else:
            credits = [
                (c.campaign_id, c.version_id, c.share)
                for c in rollups.order_credits(session, order, model, lookback_days, version_ids=read_version_ids)
            ]
        shares = [share for _c, _v, share in credits]
        micros = split_by_shares(rollups.MICRO, shares)
        subscriber = order.mode == "subscription"
        ended_at = ended.get(first_id)
        ended_days = None if ended_at is None else max(0, (rollups.local_day(ended_at, zone) - first_day).days)
        product = _main_product(order.items)
        for code in sorted(nets):
            split_nets = {n: split_by_shares(nets[code][n], shares) for n in CHECKPOINTS}
            split_total = split_by_shares(totals[code], shares)
            home = code == first_currency.upper()
            for index, (campaign_id, version_id, _share) in enumerate(credits):
                rows.append(
                    CustomerRow(
                        customer_key=key,
                        campaign_id=campaign_id,
                        campaign_version_id=version_id,
                        currency=code,
                        imported=bool(order.imported),
                        first_paid_at=paid_at,
                        first_day=first_day,
                        product_id=product,
                        customers_micro=micros[index] if home else 0,
                        subscriber_micro=micros[index] if home and subscriber else 0,
                        ended_days=ended_days if subscriber else None,
                        nets={n: split_nets[n][index] for n in CHECKPOINTS},
                        net_total=split_total[index],
                    )
                )
    return _merged(rows)


def _merged(rows: list[CustomerRow]) -> list[CustomerRow]:
    """Credits to the same version (two touches of one version) as one row: the table's key is unique."""
    out: dict[tuple[str, int, int, str], CustomerRow] = {}
    for row in rows:
        key = (row.customer_key, row.campaign_id, row.campaign_version_id, row.currency)
        kept = out.get(key)
        if kept is None:
            out[key] = row
            continue
        kept.customers_micro += row.customers_micro
        kept.subscriber_micro += row.subscriber_micro
        kept.nets = {n: kept.nets[n] + row.nets[n] for n in CHECKPOINTS}
        kept.net_total += row.net_total
    return list(out.values())


# --- the table ------------------------------------------------------------------------------------------------------


def mark_dirty(session: Session, account_id: int, keys: Iterable[str]) -> None:
    """Mark customers for recomputation, in the caller's transaction (an upsert: marking twice is one row)."""
    rollups.mark_customers_dirty(session, account_id, keys)


_SUMMED = ("customers_micro", "subscriber_micro", *(f"net_d{n}" for n in CHECKPOINTS), "net_total")
_ACQUISITION_KEYS = ("account_id", "first_day", "campaign_id", "campaign_version_id", "imported", "currency")


def _refresh_acquisitions(session: Session, account_id: int, days: list[date] | None) -> None:
    """``rollup_acquisition`` of ``days`` (None: every day) summed again from ``rollup_customer`` in SQL."""
    target, source = table_of(AcquisitionValue), table_of(CustomerValue)
    parts: list[list[date] | None] = [None] if days is None else list(_chunks(sorted(days)))
    for part in parts:
        removed = delete(target).where(target.c.account_id == account_id)
        summed = (
            sa_select(
                *(source.c[k] for k in _ACQUISITION_KEYS),
                func.min(source.c.first_month),
                *(func.sum(source.c[n]) for n in _SUMMED),
            )
            .where(source.c.account_id == account_id)
            .group_by(*(source.c[k] for k in _ACQUISITION_KEYS))
        )
        if part is not None:
            removed = removed.where(target.c.first_day.in_(part))
            summed = summed.where(source.c.first_day.in_(part))
        session.execute(removed)
        session.execute(target.insert().from_select([*_ACQUISITION_KEYS, "first_month", *_SUMMED], summed))


def _replace(session: Session, account_id: int, keys: list[str] | None) -> int:
    days: set[date] = set()
    if keys is None:
        session.execute(delete(CustomerValue).where(col(CustomerValue.account_id) == account_id))
    else:
        for part in _chunks(keys):
            mine = (col(CustomerValue.account_id) == account_id, col(CustomerValue.customer_key).in_(part))
            days |= {d for (d,) in session.execute(sa_select(col(CustomerValue.first_day)).where(*mine).distinct())}
            session.execute(delete(CustomerValue).where(*mine))
    rows = customer_rows(session, account_id, keys=keys)
    if rows:
        session.execute(table_of(CustomerValue).insert(), [row.as_record(account_id) for row in rows])
    days |= {row.first_day for row in rows}
    _refresh_acquisitions(session, account_id, None if keys is None else sorted(days))
    return len(rows)


_DIRTY = table_of(CustomerDirty)
_MARKS = (
    sa_select(_DIRTY.c.account_id, _DIRTY.c.customer_key, _DIRTY.c.marked_at)
    .order_by(_DIRTY.c.marked_at)
    .limit(bindparam("limit"))
)
# A mark goes unless the customer was marked again meanwhile (one statement for every mark of a run).
_CLEAR = _DIRTY.delete().where(
    _DIRTY.c.account_id == bindparam("account_id"),
    _DIRTY.c.customer_key == bindparam("key"),
    _DIRTY.c.marked_at <= bindparam("at"),
)


def refresh_dirty(session: Session, *, limit: int = 2000) -> int:
    """Recompute the marked customers (oldest mark first) and clear their marks unless marked again meanwhile.
    Returns how many customers were recomputed."""
    marks = [(int(a), str(k), m) for a, k, m in session.execute(_MARKS, {"limit": limit}).all()]
    session.rollback()  # end the reads before the writes: no connection is held while waiting for the lock
    by_account: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    for account_id, key, marked_at in marks:
        by_account[account_id].append((key, marked_at))
    for account_id, entries in by_account.items():
        with write_lock:
            _replace(session, account_id, sorted({key for key, _ in entries}))
            executemany(session, _CLEAR, [{"account_id": account_id, "key": k, "at": at} for k, at in entries])
            session.commit()
    return len(marks)


def rebuild(session: Session, account_id: int) -> int:
    """Recompute every customer of the account; returns the number of rows written."""
    session.execute(delete(CustomerDirty).where(col(CustomerDirty.account_id) == account_id))
    written = _replace(session, account_id, None)
    session.commit()
    return written
