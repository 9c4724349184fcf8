"""Reconciliation against the recording Stripe API's balance transactions (expanded sources, pages): a missed
refund, a dispute, a fee, another settlement currency, a late BT, a payment still waiting for its BT and a charge
from outside PaidSignal — each where it belongs, and "reconciled to the cent" only once the differences are gone."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session

from app.models.base import utcnow
from app.services import orders as order_service
from app.services import rollups
from app.services.errors import ValidationFailed
from app.services.stripe_sync.access import MissingPermission
from app.services.stripe_sync.reconcile import last_reconciliation, reconcile
from tests.utils.payments import Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, stripe_error, stripe_object
from tests.utils.stripe_history import DAY, History

pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _pay(shop: Shop, db: Session, amount: int, *, days_ago: float, currency: str = "eur") -> tuple[str, str]:
    """An order paid through its webhook ``days_ago``; (order id, PaymentIntent id)."""
    order_id = start_checkout(shop, db)
    completed = shop.recorder.complete_session(
        session_of(shop, db, order_id)["id"], amount_total=amount, currency=currency
    )
    deliver(shop, db, "checkout.session.completed", completed, created=int(time.time() - days_ago * DAY))
    return order_id, completed["payment_intent"]


def _charge_with_bt(
    history: History, amount: int, payment_intent: str, *, days_ago: float, bt_days_ago: float | None = None,
    fee: int = 0, currency: str = "eur", settlement: str | None = None, rate: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    charge = history.charge(amount, days_ago=days_ago, currency=currency, payment_intent=payment_intent)
    settled = round(amount * rate) if rate else amount
    history.balance_transaction(
        charge["id"], settled, days_ago=days_ago if bt_days_ago is None else bt_days_ago, category="charge",
        fee=fee, currency=settlement or currency, exchange_rate=rate,
    )  # fmt: skip
    return charge


def _today(shop: Shop, db: Session) -> Any:
    return rollups.local_day(utcnow(), rollups.account_zone(db, shop.account.id or 0))


def test_a_clean_month_is_reconciled_to_the_cent_and_fees_are_shown_not_subtracted(shop: Shop, db: Session) -> None:
    history = History(shop.recorder)
    _, intent = _pay(shop, db, 4_900, days_ago=3)
    _charge_with_bt(history, 4_900, intent, days_ago=3, fee=170)

    report = reconcile(session=db, account_id=shop.account.id or 0)

    assert report.reconciled and report.reconciled_through == _today(shop, db)
    assert report.summary() == f"Reconciled to the cent through {_today(shop, db).isoformat()}."
    [row] = report.days
    assert (row.currency, row.paidsignal_gross, row.stripe_gross, row.differences) == ("EUR", 4_900, 4_900, 0)
    assert report.fees == {"EUR": 170}
    request = shop.recorder.requests_to("/v1/balance_transactions")[0]
    assert request.params["expand"] == ["data.source"] and "gte" in request.params["created"]


def test_each_kind_of_difference_is_listed_until_it_is_resolved(shop: Shop, db: Session) -> None:
    history = History(shop.recorder)
    account_id = shop.account.id or 0
    refunded, refunded_intent = _pay(shop, db, 4_900, days_ago=6)
    refunded_charge = _charge_with_bt(history, 4_900, refunded_intent, days_ago=6, fee=170)
    missed = history.refund(refunded_charge, 1_000, days_ago=4)  # its webhook never arrived
    history.balance_transaction(missed["id"], -1_000, days_ago=4, category="refund")
    disputed, disputed_intent = _pay(shop, db, 3_000, days_ago=5)
    disputed_charge = _charge_with_bt(history, 3_000, disputed_intent, days_ago=5)
    dispute = history.dispute(disputed_charge, days_ago=3)
    history.balance_transaction(dispute["id"], -3_000, days_ago=3, category="dispute", fee=1_500)
    dollars, dollars_intent = _pay(shop, db, 2_000, days_ago=5, currency="usd")
    _charge_with_bt(history, 2_000, dollars_intent, days_ago=5, currency="usd", settlement="eur", rate=0.925, fee=90)
    late, late_intent = _pay(shop, db, 1_200, days_ago=5)
    _charge_with_bt(history, 1_200, late_intent, days_ago=5, bt_days_ago=4)  # captured a day later
    waiting, _ = _pay(shop, db, 800, days_ago=0.05)  # its BT has not appeared yet
    outside = history.charge(6_600, days_ago=2)  # a charge made outside PaidSignal's checkout
    history.balance_transaction(outside["id"], 6_600, days_ago=2, category="charge", fee=220)
    history.balance_transaction("", -500, days_ago=1, category="fee", type_="stripe_fee")  # e.g. Billing

    report = reconcile(session=db, account_id=account_id)

    kinds = {(d.kind, d.order_id, d.stripe_id) for d in report.differences}
    assert kinds == {
        ("refund_missed", refunded, missed["id"]),
        ("dispute_missed", disputed, dispute["id"]),
    }
    assert not report.reconciled and "2 difference(s)" in report.summary()
    assert [(i.stripe_id, i.stripe_amount) for i in report.outside] == [(outside["id"], 6_600)]
    assert [(i.order_id, i.paidsignal_amount) for i in report.waiting] == [(waiting, 800)]
    [settled] = report.settlement
    assert settled.order_id == dollars and settled.currency == "USD" and "1850 EUR" in settled.note
    assert "0.925" in settled.note
    assert report.fees == {"EUR": 170 + 1_500 + 90 + 220 + 500}
    by_day = {(r.day, r.currency): r for r in report.days}
    zone = rollups.account_zone(db, account_id)
    day_of = lambda days_ago: rollups.local_day(utcnow() - timedelta(days=days_ago), zone)  # noqa: E731
    assert by_day[(day_of(5), "USD")].stripe_gross == by_day[(day_of(5), "USD")].paidsignal_gross == 2_000
    assert by_day[(day_of(4), "EUR")].stripe_refunds == 1_000 and by_day[(day_of(4), "EUR")].paidsignal_refunds == 0
    assert all(r.paidsignal_gross == r.stripe_gross for r in report.days if r.day < _today(shop, db))
    assert late not in {i.order_id for i in report.differences + report.waiting}
    # Revenue is not reduced by fees: PaidSignal's gross is what was paid.
    assert sum(r.paidsignal_gross for r in report.days) == 4_900 + 3_000 + 2_000 + 1_200 + 800

    # The missed webhooks arrive (or the catch-up applies them): nothing is left but the payment still waiting.
    charge = stripe_object(
        "charge", id=refunded_charge["id"], amount=4_900, amount_captured=4_900, amount_refunded=1_000,
        refunded=False, currency="eur", payment_intent=refunded_intent, metadata={},
    )  # fmt: skip
    deliver(shop, db, "charge.refunded", charge)
    deliver(shop, db, "charge.dispute.created", dispute)
    report = reconcile(session=db, account_id=account_id)

    assert report.differences == [] and report.reconciled
    yesterday = _today(shop, db) - timedelta(days=1)
    assert report.reconciled_through == yesterday  # today waits for the late payment's BT
    assert report.summary() == f"Reconciled to the cent through {yesterday.isoformat()}."
    stored = last_reconciliation(session=db, account_id=account_id)
    assert stored is not None and stored.reconciled_through == yesterday and stored.fees == report.fees
    assert order_service.get_order(db, account_id, disputed).disputed


def test_a_restricted_key_without_balance_read_is_told_the_permission(shop: Shop, db: Session) -> None:
    message = "Having the 'rak_balance_read' permission would allow this request to continue."
    shop.recorder.fail_next("/v1/balance_transactions", 403, stripe_error(403, message))
    with pytest.raises(MissingPermission, match="set “Balance” to Read"):
        reconcile(session=db, account_id=shop.account.id or 0)
    with pytest.raises(ValidationFailed):
        reconcile(session=db, account_id=shop.account.id or 0, days=91)


def test_a_stored_report_that_is_not_readable_reads_as_none(shop: Shop, db: Session) -> None:
    from sqlmodel import select

    from app.models import StripeSync

    row = db.exec(select(StripeSync)).one()
    row.reconciliation = {"start": "not a date"}
    db.add(row)
    db.commit()
    assert last_reconciliation(session=db, account_id=shop.account.id or 0) is None


def test_a_refund_of_a_payment_older_than_the_period_is_matched_to_its_order(shop: Shop, db: Session) -> None:
    history = History(shop.recorder)
    order_id, intent = _pay(shop, db, 4_900, days_ago=60)
    charge = history.charge(4_900, days_ago=60, payment_intent=intent)  # its BT is before the period
    refund = history.refund(charge, 900, days_ago=2)
    history.balance_transaction(refund["id"], -900, days_ago=2, category="refund")

    report = reconcile(session=db, account_id=shop.account.id or 0)
    assert [(d.kind, d.order_id) for d in report.differences] == [("refund_missed", order_id)]
    assert report.outside == []

    refunded = stripe_object(
        "charge", id=charge["id"], amount=4_900, amount_captured=4_900, amount_refunded=900, refunded=False,
        currency="eur", payment_intent=intent, metadata={},
    )  # fmt: skip
    deliver(shop, db, "charge.refunded", refunded)
    report = reconcile(session=db, account_id=shop.account.id or 0)
    assert report.reconciled and report.outside == [] and report.reconciled_through == _today(shop, db)
