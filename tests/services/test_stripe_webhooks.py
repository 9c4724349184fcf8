"""Webhook effects on orders, payments, refunds and subscriptions: signed payloads of the pinned API version built
from Stripe's own example objects, delivered in order, out of order and twice."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from app.models import Payment, Refund, StripeEvent, StripePrice, Subscription
from app.services import orders as order_service
from app.services import stripe_webhooks
from app.services.checkout import META_ORDER
from app.services.errors import NotFound
from tests.utils.payments import WEBHOOK_SECRET, Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, random_id, sign, stripe_event, stripe_object

# Webhooks and the sender never wait for the write lock holding a connection (app/db.py).
pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _status(shop: Shop, db: Session, order_id: str) -> str:
    db.expire_all()
    return order_service.get_order(db, shop.account.id or 0, order_id).status


def _paid_session(shop: Shop, db: Session, order_id: str) -> dict[str, Any]:
    checkout = session_of(shop, db, order_id)
    return shop.recorder.complete_session(checkout["id"], amount_total=4_900, currency="eur")


def _charge(order_id: str, payment_intent: str, *, refunded: int, amount: int = 4_900) -> dict[str, Any]:
    return stripe_object(
        "charge",
        id=f"ch_{payment_intent[3:]}",
        amount=amount,
        amount_captured=amount,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        currency="eur",
        payment_intent=payment_intent,
        metadata={META_ORDER: order_id},
    )


def test_one_off_payment_moves_the_order_to_paid_once(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    assert _status(shop, db, order_id) == "created"
    completed = _paid_session(shop, db, order_id)
    body = stripe_event("checkout.session.completed", completed)

    first = deliver(shop, db, "", {}, payload=body)
    again = deliver(shop, db, "", {}, payload=body)

    assert (first.outcome, again.outcome) == ("applied", "duplicate")
    assert first.order_id == order_id
    assert _status(shop, db, order_id) == "paid"
    detail = order_service.order_detail(session=db, account_id=shop.account.id or 0, order_public_id=order_id)
    assert detail.amount_paid == 4_900
    assert [p.amount for p in detail.payments] == [4_900]
    assert detail.payment_intent_id == completed["payment_intent"]
    stripe_rows = [e for e in detail.timeline if e.kind == "stripe"]
    assert len(stripe_rows) == 1 and stripe_rows[0].deliveries == 2
    assert "created → paid" in stripe_rows[0].message


def test_payment_intent_succeeded_after_checkout_does_not_count_the_money_twice(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    intent = stripe_object(
        "payment_intent",
        id=completed["payment_intent"],
        amount=4_900,
        amount_received=4_900,
        currency="eur",
        status="succeeded",
        latest_charge="ch_1",
        metadata={META_ORDER: order_id},
    )
    deliver(shop, db, "payment_intent.succeeded", intent)
    deliver(shop, db, "checkout.session.completed", completed)

    assert db.exec(select(func.count()).select_from(Payment)).one() == 1
    assert db.exec(select(Payment.charge_id)).one() == "ch_1"
    assert _status(shop, db, order_id) == "paid"


def test_a_free_checkout_without_payment_intent_is_paid_once(shop: Shop, db: Session) -> None:
    """No PaymentIntent and no invoice: the payment is keyed by the Checkout Session, whose id (66 characters in
    test mode, up to 255) does not fit the 64-character key as such (PostgreSQL refused it: a 500)."""
    order_id = start_checkout(shop, db)
    free = shop.recorder.complete_session(
        session_of(shop, db, order_id)["id"], payment_status="no_payment_required", payment_intent=None,
        amount_total=0, currency="eur",
    )  # fmt: skip
    body = stripe_event("checkout.session.completed", free)
    assert [deliver(shop, db, "", {}, payload=body).outcome for _ in range(2)] == ["applied", "duplicate"]
    assert _status(shop, db, order_id) == "paid"
    [payment] = db.exec(select(Payment)).all()
    assert (payment.amount, payment.payment_intent_id) == (0, None)
    assert payment.stripe_key.startswith("cs:") and len(payment.stripe_key) <= 64


def test_a_repeated_delivery_is_counted_by_the_claim_without_a_database_error(shop: Shop, db: Session) -> None:
    """The event id is claimed with one ``INSERT … ON CONFLICT``: a repeat is counted, no constraint error is
    raised and caught on the way (that path cost a rolled-back flush per duplicate)."""
    from sqlalchemy import event as sa_event

    from app.db import get_engine

    order_id = start_checkout(shop, db)
    body = stripe_event("checkout.session.completed", _paid_session(shop, db, order_id))
    ignored = stripe_event("customer.created", stripe_object("customer"))
    assert deliver(shop, db, "", {}, payload=body).outcome == "applied"
    assert deliver(shop, db, "", {}, payload=ignored).outcome == "ignored"
    errors: list[BaseException] = []
    engine = get_engine()

    def seen(context: Any) -> None:
        errors.append(context.original_exception)

    sa_event.listen(engine, "handle_error", seen)
    try:
        again = [deliver(shop, db, "", {}, payload=payload).outcome for payload in (body, ignored, body)]
    finally:
        sa_event.remove(engine, "handle_error", seen)
    assert again == ["duplicate"] * 3
    assert errors == []
    db.expire_all()
    assert sorted(db.exec(select(StripeEvent.type, StripeEvent.deliveries, StripeEvent.outcome)).all()) == [
        ("checkout.session.completed", 3, "applied"),
        ("customer.created", 2, "ignored"),
    ]
    assert len(db.exec(select(Payment)).all()) == 1


def test_a_delivery_to_a_cached_account_is_verified_without_the_database(shop: Shop, db: Session) -> None:
    """The endpoint verifies in its event loop when nothing needs the database or Stripe (no thread hop): only once
    the account's secret is cached, signature first as on the thread, and never for an invoice whose payment must be
    fetched from Stripe (those go by the thread, which fetches it before the transaction)."""
    order_id = start_checkout(shop, db)
    db.commit()
    account = shop.account.public_id

    def submit(body: bytes, signature: str | None) -> Any:
        return stripe_webhooks.submit_cached_webhook(account_public_id=account, payload=body, signature=signature)

    first = stripe_event("customer.created", stripe_object("customer"))
    assert submit(first, sign(first, WEBHOOK_SECRET)) is None  # not cached yet: the thread's path reads it
    deliver(shop, db, "customer.created", stripe_object("customer"), payload=first)  # caches the account's secret

    body = stripe_event("checkout.session.completed", _paid_session(shop, db, order_id))
    account_id = shop.account.id
    db.rollback()  # this test's own reads end here
    statements: list[int] = []

    def count(*_args: Any) -> None:
        statements.append(threading.get_ident())

    sa_event.listen(Engine, "before_cursor_execute", count)
    try:
        with pytest.raises(stripe_webhooks.InvalidSignature):
            submit(body, sign(body, "whsec_someone_else_000000"))
        invoice = _invoice(random_id("in_"), random_id("sub_"), order_id, "subscription_cycle")
        needs_fetch = stripe_event("invoice.paid", invoice)
        assert submit(needs_fetch, sign(needs_fetch, WEBHOOK_SECRET)) is None
        submitted = submit(body, sign(body, WEBHOOK_SECRET))
        assert submitted is not None and submitted[1] == account_id
        on_this_thread = [ident for ident in statements if ident == threading.get_ident()]
        result = submitted[0].result()
    finally:
        sa_event.remove(Engine, "before_cursor_execute", count)
    assert on_this_thread == []  # verified and queued without one statement here; the writer applied it
    assert result.outcome == "applied" and _status(shop, db, order_id) == "paid"
    assert db.exec(select(func.count()).select_from(StripeEvent)).one() == 2  # the forged one left nothing
    assert not shop.recorder.requests_to("/v1/invoice_payments")


def test_forged_and_stale_signatures_are_refused_and_change_nothing(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    body = stripe_event("checkout.session.completed", _paid_session(shop, db, order_id))
    cases = {
        "wrong secret": sign(body, "whsec_someone_else_000000"),
        "stale": sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301),
        "missing": None,
        "garbage": "t=abc,v1=zz",
    }
    for name, header in cases.items():
        with pytest.raises(stripe_webhooks.InvalidSignature) as caught:
            stripe_webhooks.receive_webhook(
                session=db, account_public_id=shop.account.public_id, payload=body, signature=header
            )
        assert caught.value.status_code == 400, name
    tampered = body.replace(b'"paid"', b'"unpaid"', 1)
    with pytest.raises(stripe_webhooks.InvalidSignature, match="No v1 signature matches"):
        stripe_webhooks.receive_webhook(
            session=db,
            account_public_id=shop.account.public_id,
            payload=tampered,
            signature=sign(body, WEBHOOK_SECRET),
        )
    assert _status(shop, db, order_id) == "created"
    assert db.exec(select(func.count()).select_from(StripeEvent)).one() == 0


def test_any_matching_v1_is_accepted_while_the_secret_rotates(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    body = stripe_event("checkout.session.completed", _paid_session(shop, db, order_id))
    header = sign(body, "whsec_the_old_secret_000000", extra_secrets=[WEBHOOK_SECRET])
    result = stripe_webhooks.receive_webhook(
        session=db, account_public_id=shop.account.public_id, payload=body, signature=header
    )
    assert result.outcome == "applied"


def test_unknown_account_is_404(db: Session) -> None:
    with pytest.raises(NotFound):
        stripe_webhooks.receive_webhook(session=db, account_public_id="acc_nobody", payload=b"{}", signature="t=1")


def test_expired_after_paid_never_moves_the_order_back(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    now = int(time.time())
    deliver(shop, db, "checkout.session.completed", completed, created=now)
    expired = {**completed, "status": "expired", "payment_status": "unpaid"}
    result = deliver(shop, db, "checkout.session.expired", expired, created=now - 10)
    assert result.outcome == "ignored"
    assert _status(shop, db, order_id) == "paid"


def test_an_abandoned_checkout_expires(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    checkout = session_of(shop, db, order_id)
    deliver(shop, db, "checkout.session.expired", {**checkout, "status": "expired"})
    assert _status(shop, db, order_id) == "expired"


def test_async_payment_pending_then_succeeded(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    checkout = session_of(shop, db, order_id)
    pending = {**checkout, "status": "complete", "payment_status": "unpaid", "amount_total": 4_900}
    deliver(shop, db, "checkout.session.completed", pending)
    assert _status(shop, db, order_id) == "pending"
    assert db.exec(select(func.count()).select_from(Payment)).one() == 0
    succeeded = {**pending, "payment_status": "paid", "payment_intent": "pi_async_1"}
    deliver(shop, db, "checkout.session.async_payment_succeeded", succeeded)
    assert _status(shop, db, order_id) == "paid"
    assert db.exec(select(Payment.amount)).all() == [4_900]


def test_async_payment_failed(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    checkout = session_of(shop, db, order_id)
    pending = {**checkout, "status": "complete", "payment_status": "unpaid"}
    deliver(shop, db, "checkout.session.completed", pending)
    deliver(shop, db, "checkout.session.async_payment_failed", pending)
    assert _status(shop, db, order_id) == "failed"
    # A late "completed" (pending) delivery cannot move it back.
    deliver(shop, db, "checkout.session.completed", pending)
    assert _status(shop, db, order_id) == "failed"


def test_partial_then_full_refund(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    deliver(shop, db, "checkout.session.completed", completed)
    intent = completed["payment_intent"]

    deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=1_000))
    assert _status(shop, db, order_id) == "partially_refunded"
    deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=4_900))
    assert _status(shop, db, order_id) == "refunded"
    # An older delivery with a smaller cumulative amount adds nothing.
    late = deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=1_000))
    assert late.outcome == "ignored"
    assert db.exec(select(Refund.amount).order_by(Refund.id)).all() == [1_000, 3_900]
    detail = order_service.order_detail(session=db, account_id=shop.account.id or 0, order_public_id=order_id)
    assert detail.row.amount_refunded == 4_900
    assert detail.payments[0].amount_refunded == 4_900


def test_the_history_says_amounts_in_major_units_in_the_accounts_locale(shop: Shop, db: Session) -> None:
    """A repeated refund said "Refunds of 1000 EUR … already recorded": minor units read as euros."""
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    paid = deliver(shop, db, "checkout.session.completed", completed)
    assert paid.message.startswith("Paid €49.00.")
    intent = completed["payment_intent"]
    refunded = deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=1_000))
    assert refunded.message.startswith(f"Refunded €10.00; €10.00 in total on ch_{intent[3:]}.")
    again = deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=1_000))
    assert again.outcome == "ignored"
    assert again.message == (
        f"Refunds of €10.00 on ch_{intent[3:]} are already recorded (the event says €10.00 in total)."
    )
    shop.account.locale = "de_DE"
    db.add(shop.account)
    db.commit()
    rest = deliver(shop, db, "charge.refunded", _charge(order_id, intent, refunded=4_900))
    assert rest.message.startswith(f"Refunded 39,00\xa0€; 49,00\xa0€ in total on ch_{intent[3:]}.")


def test_refund_before_checkout_completed_is_kept_and_shows_once_paid(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    now = int(time.time())
    refunded = deliver(shop, db, "charge.refunded", _charge(order_id, completed["payment_intent"], refunded=900))
    assert refunded.outcome == "applied"
    assert _status(shop, db, order_id) == "created"
    deliver(shop, db, "checkout.session.completed", completed, created=now - 60)
    assert _status(shop, db, order_id) == "partially_refunded"
    detail = order_service.order_detail(session=db, account_id=shop.account.id or 0, order_public_id=order_id)
    assert (detail.amount_paid, detail.row.amount_refunded) == (4_900, 900)


def test_dispute_is_noted(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db)
    completed = _paid_session(shop, db, order_id)
    deliver(shop, db, "checkout.session.completed", completed)
    dispute = stripe_object(
        "dispute", id="dp_1", charge="ch_x", payment_intent=completed["payment_intent"], status="needs_response"
    )
    deliver(shop, db, "charge.dispute.created", dispute)
    detail = order_service.order_detail(session=db, account_id=shop.account.id or 0, order_public_id=order_id)
    assert detail.disputed and detail.dispute_status == "needs_response"
    assert detail.row.status == "paid"


# --- subscriptions --------------------------------------------------------------------------------------------------


def _subscription(sub_id: str, order_id: str, status: str, price: str) -> dict[str, Any]:
    item = stripe_object("subscription_item", price=stripe_object("price", id=price), subscription=sub_id)
    return stripe_object(
        "subscription",
        id=sub_id,
        status=status,
        customer="cus_1",
        metadata={META_ORDER: order_id},
        items={"object": "list", "data": [item], "has_more": False, "url": "/v1/subscription_items"},
    )


def _invoice(invoice_id: str, sub_id: str, order_id: str, reason: str, amount: int = 1_500) -> dict[str, Any]:
    """An invoice of the pinned version: the subscription under ``parent``, no ``payment_intent``/``charge``."""
    return stripe_object(
        "invoice",
        id=invoice_id,
        billing_reason=reason,
        amount_paid=amount,
        currency="eur",
        status="paid",
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"subscription": sub_id, "metadata": {META_ORDER: order_id}},
        },
    )


def test_subscription_first_payment_and_two_renewals(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db, mode="subscription")
    sub_id = random_id("sub_")
    first_invoice = random_id("in_")
    completed = shop.recorder.complete_session(
        session_of(shop, db, order_id)["id"], subscription=sub_id, invoice=first_invoice, amount_total=1_500
    )
    now = int(time.time())
    # Stripe's order is not guaranteed: the subscription update arrives before its creation.
    deliver(shop, db, "customer.subscription.updated", _subscription(sub_id, order_id, "active", shop.price_monthly),
            created=now)  # fmt: skip
    created = deliver(
        shop, db, "customer.subscription.created", _subscription(sub_id, order_id, "incomplete", shop.price_monthly),
        created=now - 5,
    )  # fmt: skip
    assert created.outcome == "ignored"
    deliver(shop, db, "invoice.paid", _invoice(first_invoice, sub_id, order_id, "subscription_create"), created=now)
    deliver(shop, db, "checkout.session.completed", completed, created=now)

    renewals = []
    for n in range(2):
        invoice_id = random_id("in_")
        shop.recorder.add_invoice_payment(invoice=invoice_id, payment_intent=f"pi_renewal_{n}", amount_paid=1_500)
        renewals.append(deliver(shop, db, "invoice.paid", _invoice(invoice_id, sub_id, order_id, "subscription_cycle")))

    db.expire_all()
    payments = db.exec(select(Payment).order_by(Payment.id)).all()
    assert [p.kind for p in payments] == ["first", "renewal", "renewal"]
    assert [p.amount for p in payments] == [1_500, 1_500, 1_500]
    # The pinned version's invoices do not name their payment: it was fetched from Stripe for the renewals only.
    assert [p.payment_intent_id for p in payments[1:]] == ["pi_renewal_0", "pi_renewal_1"]
    fetched = shop.recorder.requests_to("/v1/invoice_payments")
    assert len(fetched) == 3  # the first invoice too: it had no link either
    subscription = db.exec(select(Subscription)).one()
    assert subscription.status == "active" and subscription.price_stripe_id == shop.price_monthly
    detail = order_service.order_detail(session=db, account_id=shop.account.id or 0, order_public_id=order_id)
    assert (detail.row.status, detail.amount_paid, detail.subscription_status) == ("paid", 4_500, "active")
    assert all(r.outcome == "applied" for r in renewals)


def test_a_canceled_subscription_stays_canceled(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db, mode="subscription")
    sub_id = random_id("sub_")
    now = int(time.time())
    deliver(shop, db, "customer.subscription.deleted", _subscription(sub_id, order_id, "canceled", shop.price_monthly),
            created=now)  # fmt: skip
    late = deliver(
        shop, db, "customer.subscription.updated", _subscription(sub_id, order_id, "active", shop.price_monthly),
        created=now + 1,
    )  # fmt: skip
    assert late.outcome == "ignored"
    assert db.exec(select(Subscription.status)).one() == "canceled"


def test_refund_of_a_renewal_is_matched_through_its_payment_intent(shop: Shop, db: Session) -> None:
    order_id = start_checkout(shop, db, mode="subscription")
    sub_id = random_id("sub_")
    invoice_id = random_id("in_")
    invoice = _invoice(invoice_id, sub_id, order_id, "subscription_create")
    invoice["payments"] = {
        "object": "list",
        "data": [{"payment": {"type": "payment_intent", "payment_intent": "pi_first"}}],
    }
    deliver(shop, db, "invoice.paid", invoice)
    charge = stripe_object("charge", id="ch_first", amount=1_500, amount_refunded=1_500, currency="eur",
                           payment_intent="pi_first", metadata={})  # fmt: skip
    deliver(shop, db, "charge.refunded", charge)
    assert _status(shop, db, order_id) == "refunded"
    assert not shop.recorder.requests_to("/v1/invoice_payments")


def test_events_of_orders_not_started_here_are_recorded_as_unlinked(shop: Shop, db: Session) -> None:
    foreign = stripe_object("checkout.session", id="cs_foreign", client_reference_id=None, metadata={})
    result = deliver(shop, db, "checkout.session.completed", foreign)
    assert result.outcome == "unlinked"
    ignored = deliver(shop, db, "customer.created", stripe_object("customer"))
    assert ignored.outcome == "ignored"
    assert db.exec(select(func.count()).select_from(StripeEvent)).one() == 2


def test_price_events_update_the_catalogue_newest_first(shop: Shop, db: Session) -> None:
    now = int(time.time())
    price = stripe_object("price", id="price_new", currency="usd", unit_amount=700, product="prod_x", recurring=None)
    deliver(shop, db, "price.updated", {**price, "unit_amount": 800}, created=now)
    deliver(shop, db, "price.created", price, created=now - 100)
    row = db.exec(select(StripePrice).where(StripePrice.stripe_id == "price_new")).one()
    assert (row.unit_amount, row.currency) == (800, "USD")


def test_one_account_cannot_touch_another_accounts_order(db: Session, stripe_api: StripeRecorder) -> None:
    shop_a = make_shop(db, stripe_api, name="Shop A")
    shop_b = make_shop(db, stripe_api, name="Shop B")
    order_a = start_checkout(shop_a, db)
    completed = _paid_session(shop_a, db, order_a)
    # Shop B's endpoint receives an event naming shop A's order (B's own Stripe account could never send it).
    result = deliver(shop_b, db, "checkout.session.completed", completed)
    assert result.outcome == "unlinked"
    assert _status(shop_a, db, order_a) == "created"


def test_a_renewal_and_its_refund_before_anything_links_them_are_applied_once_linked(shop: Shop, db: Session) -> None:
    """Old-shaped invoices carry no order metadata: they wait until the subscription's own event links them."""
    order_id = start_checkout(shop, db, mode="subscription")
    sub_id = random_id("sub_")
    old_invoice = stripe_object(
        "invoice", id="in_old_1", billing_reason=None, amount_paid=1_500, currency="eur", subscription=sub_id,
        payment_intent="pi_old_1", charge="ch_old_1", parent=None, subscription_details=None,
    )  # fmt: skip
    refund = stripe_object("charge", id="ch_old_1", amount=1_500, amount_refunded=500, currency="eur",
                           payment_intent="pi_old_1", metadata={})  # fmt: skip
    now = int(time.time())
    waiting = [
        deliver(shop, db, "invoice.payment_succeeded", old_invoice, created=now - 3, api_version="2017-08-15"),
        deliver(shop, db, "charge.refunded", refund, created=now - 2, api_version="2017-08-15"),
    ]
    assert [w.outcome for w in waiting] == ["unlinked", "unlinked"]
    assert _status(shop, db, order_id) == "created"

    deliver(shop, db, "customer.subscription.created", _subscription(sub_id, order_id, "active", shop.price_monthly))

    assert _status(shop, db, order_id) == "partially_refunded"
    db.expire_all()
    assert db.exec(select(Payment.kind, Payment.amount)).all() == [("first", 1_500)]
    assert db.exec(select(Refund.amount)).all() == [500]
    late = db.exec(select(StripeEvent).where(StripeEvent.link_key.is_not(None))).all()  # type: ignore[union-attr]
    assert {e.outcome for e in late} == {"applied"}
    assert all(e.message.startswith("Applied once its order was known") and e.payload is None for e in late)


def test_a_delivery_meeting_another_process_write_is_a_conflict_that_keeps_nothing(shop: Shop, db: Session) -> None:
    """Two workers apply ``customer.subscription.created`` and ``.updated`` at the same moment: both see no
    subscription row and insert one. The second used to be answered 200 "duplicate" with nothing kept, so Stripe
    never retried it and its status was lost; now it is a 409 that keeps nothing, and Stripe's retry applies it."""
    import json
    import threading

    from sqlalchemy import event as sa_event
    from sqlalchemy import text

    from app.db import get_engine
    from app.services.errors import Conflict

    engine = get_engine()
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite and libSQL have one writer: no other write can land between a delivery's reads and writes")
    order_id = start_checkout(shop, db, mode="subscription")
    sub_id = random_id("sub_")
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], subscription=sub_id,
                                               customer="cus_1", amount_total=1_500)  # fmt: skip
    deliver(shop, db, "checkout.session.completed", completed)  # the order knows its subscription and customer
    now = int(time.time())
    incomplete = _subscription(sub_id, order_id, "incomplete", shop.price_monthly)
    created = json.loads(stripe_event("customer.subscription.created", incomplete, created=now))
    active = _subscription(sub_id, order_id, "active", shop.price_monthly)
    updated = json.loads(stripe_event("customer.subscription.updated", active, created=now + 1))
    account_id = shop.account.id or 0
    results: dict[str, object] = {}
    holding, release = threading.Event(), threading.Event()

    def apply(name: str, event: dict[str, Any], hold: bool) -> None:
        with Session(engine, expire_on_commit=False) as session:
            if hold:  # the first worker has written, not yet committed

                @sa_event.listens_for(session, "before_commit")
                def _hold(_session: Session) -> None:
                    holding.set()
                    release.wait(30)

            try:
                results[name] = stripe_webhooks.apply_event(session=session, account_id=account_id, event=event)
            except Exception as error:
                results[name] = error

    first = threading.Thread(target=apply, args=("created", created, True))
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=apply, args=("updated", updated, False))
    second.start()
    deadline = time.monotonic() + 30
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    while True:
        blocked = db.exec(text(waiting)).one()[0]  # type: ignore[call-overload]
        db.rollback()  # PostgreSQL keeps one pg_stat_activity snapshot per transaction
        if blocked:
            break
        assert time.monotonic() < deadline, f"the second worker never waited for the first one's insert: {results}"
        time.sleep(0.05)
    release.set()
    first.join()
    second.join()

    assert getattr(results["created"], "outcome", results["created"]) == "applied"
    assert isinstance(results["updated"], Conflict), results["updated"]
    assert results["updated"].status_code == 409
    db.expire_all()
    assert db.exec(select(StripeEvent.type).where(StripeEvent.type.startswith("customer."))).all() == [  # type: ignore[attr-defined]
        "customer.subscription.created"
    ]
    retry = stripe_webhooks.apply_event(session=db, account_id=account_id, event=updated)
    assert retry.outcome == "applied"
    assert db.exec(select(Subscription.status)).one() == "active"


def _writer_held_until(gate: threading.Event, busy: threading.Event) -> stripe_webhooks.WebhookWriter:
    """A webhook writer whose transactions wait for ``gate`` (``busy`` is set once one does): what is submitted
    meanwhile forms the next group."""
    from app.db import get_engine

    def engine_after_gate() -> Engine:
        busy.set()
        gate.wait(10)
        return get_engine()

    return stripe_webhooks.WebhookWriter(engine_after_gate)


def test_webhooks_arriving_while_a_transaction_commits_share_the_next_one(shop: Shop, db: Session) -> None:
    """Group commit: the deliveries queued behind a transaction are applied in one, and none is answered before
    that transaction has committed."""
    from app.services.stripe_webhooks.delivery import Delivery

    orders = [start_checkout(shop, db) for _ in range(6)]
    events = [json.loads(stripe_event("checkout.session.completed", _paid_session(shop, db, o))) for o in orders]
    ignored = json.loads(stripe_event("customer.created", stripe_object("customer")))
    db.commit()
    account_id = shop.account.id or 0
    gate, busy = threading.Event(), threading.Event()
    writer = _writer_held_until(gate, busy)
    commits: list[list[bool]] = []
    futures: list[Future[stripe_webhooks.WebhookResult]] = []

    def before_commit(_session: Session) -> None:
        commits.append([future.done() for future in futures])

    sa_event.listen(Session, "before_commit", before_commit)
    try:
        futures.append(writer.submit_item(Delivery(account_id, events[0], {})))  # held by the gate
        assert busy.wait(10)
        futures.extend(writer.submit_item(Delivery(account_id, e, {})) for e in [*events[1:], ignored, events[1]])
        gate.set()
        results = [future.result(30) for future in futures]
    finally:
        sa_event.remove(Session, "before_commit", before_commit)
        writer.stop()
    assert [r.outcome for r in results] == ["applied"] * 6 + ["ignored", "duplicate"]
    assert [r.order_id for r in results[:6]] == orders
    assert (writer.transactions, writer.requests) == (2, 8)  # the first alone, the seven queued behind it in one
    assert commits == [[False] * 8, [True] + [False] * 7]  # answered only once committed
    db.expire_all()
    assert {_status(shop, db, o) for o in orders} == {"paid"}
    assert len(db.exec(select(Payment)).all()) == 6
    assert sorted(db.exec(select(StripeEvent.deliveries)).all()) == [1] * 6 + [2]


def test_a_delivery_that_fails_in_a_group_is_retried_alone_and_cannot_take_the_others_down(
    shop: Shop, db: Session
) -> None:
    from app.services.errors import Conflict
    from app.services.stripe_webhooks.delivery import Delivery

    orders = [start_checkout(shop, db) for _ in range(3)]
    events = [json.loads(stripe_event("checkout.session.completed", _paid_session(shop, db, o))) for o in orders]
    db.commit()
    account_id = shop.account.id or 0
    gate, busy = threading.Event(), threading.Event()
    writer = _writer_held_until(gate, busy)
    try:
        first = writer.submit_item(Delivery(account_id, events[0], {}))
        assert busy.wait(10)
        # No such account: its claim breaks the foreign key, and with it the group's transaction.
        doomed = writer.submit_item(Delivery(999_999, events[1], {}))
        rest = [writer.submit_item(Delivery(account_id, e, {})) for e in events[1:]]
        gate.set()
        assert first.result(30).outcome == "applied"
        with pytest.raises(Conflict):
            doomed.result(30)
        assert [future.result(30).outcome for future in rest] == ["applied", "applied"]
    finally:
        writer.stop()
    db.expire_all()
    assert {_status(shop, db, o) for o in orders} == {"paid"}
    assert len(db.exec(select(Payment)).all()) == 3
    assert sorted(db.exec(select(StripeEvent.account_id, StripeEvent.deliveries)).all()) == [(account_id, 1)] * 3


def test_an_order_is_written_only_over_the_status_it_was_read_with(shop: Shop, db: Session) -> None:
    """Webhook effects write the order with one UPDATE guarded by the status they computed from
    (orders.save): a writer holding an older copy (another process, on PostgreSQL) cannot move it back."""
    from datetime import UTC, datetime

    from app.db import get_engine, write_lock
    from app.models import Order

    order_id = start_checkout(shop, db)
    with Session(get_engine(), expire_on_commit=False) as stale:
        old = stale.exec(select(Order).where(Order.public_id == order_id)).one()
        stale.commit()  # it keeps its copy, status created
        deliver(shop, db, "checkout.session.completed", _paid_session(shop, db, order_id))
        assert _status(shop, db, order_id) == "paid"
        db.rollback()  # no read held while waiting for the write lock

        assert order_service.advance(old, order_service.OrderStatus.EXPIRED, datetime.now(UTC)) == "created → expired"
        with write_lock, pytest.raises(order_service.OrderMoved):
            order_service.save(stale, old)
        stale.rollback()
    assert _status(shop, db, order_id) == "paid"
