"""The history backfill against the recording Stripe API: paid Checkout Sessions, charges, refunds, disputes and
subscription invoices become orders marked imported, in their own bucket, never sent to an ad platform, and a second
run counts nothing twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from app.models import ConversionDelivery, Order, Payment, Refund, StripeSync
from app.models.base import utcnow
from app.services import metrics, rollups
from app.services import orders as order_service
from app.services.metrics import Dimension, MetricsQuery
from app.services.stripe_sync.backfill import request_backfill, run_backfill
from app.services.stripe_sync.catchup import catch_up_all
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import make_pixels, pay
from tests.utils.payments import Shop, deliver, make_shop
from tests.utils.stripe_fakes import StripeRecorder, stripe_error, stripe_object
from tests.utils.stripe_history import History

pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _seed(shop: Shop) -> dict[str, dict]:  # type: ignore[type-arg]
    history = History(shop.recorder)
    session = history.checkout(2_500, days_ago=10)
    [session_charge] = [c for c in shop.recorder.history["charges"] if c["payment_intent"] == session["payment_intent"]]
    outside = history.charge(7_000, days_ago=8)
    refund = history.refund(outside, 1_000, days_ago=7)
    dispute = history.dispute(session_charge, days_ago=5)
    first, _ = history.subscription_invoice("sub_History0001", 1_500, days_ago=40, reason="subscription_create")
    renewal, _ = history.subscription_invoice("sub_History0001", 1_500, days_ago=10, reason="subscription_cycle")
    history.charge(9_900, days_ago=200)  # older than the days asked for
    return {"session": session, "outside": outside, "refund": refund, "dispute": dispute, "first": first,
            "renewal": renewal}  # fmt: skip


def _imported(db: Session) -> list[Order]:
    db.expire_all()
    return list(db.exec(select(Order).where(col(Order.imported)).order_by(col(Order.created_at))).all())


def _counts(db: Session) -> tuple[int, int, int, int]:
    db.expire_all()
    return (
        db.exec(select(func.count()).select_from(Order)).one(),
        db.exec(select(func.count()).select_from(Payment)).one(),
        db.exec(select(func.count()).select_from(Refund)).one(),
        db.exec(select(func.coalesce(func.sum(Payment.amount), 0))).one(),
    )


def test_connecting_asks_for_the_history_and_the_job_imports_it(shop: Shop, db: Session) -> None:
    seeded = _seed(shop)
    row = db.exec(select(StripeSync)).one()
    assert (row.backfill_status, row.backfill_days) == ("requested", 90)

    db.commit()
    catch_up_all(session=db)

    orders = _imported(db)
    assert [o.mode for o in orders] == ["subscription", "payment", "payment"]
    subscription, from_session, outside = orders
    assert subscription.subscription_id == "sub_History0001" and subscription.amount_paid == 3_000
    assert from_session.checkout_session_id == seeded["session"]["id"] and from_session.amount_paid == 2_500
    assert from_session.disputed and from_session.dispute_status == "needs_response"
    assert outside.amount_paid == 7_000 and outside.amount_refunded == 1_000 and outside.status == "partially_refunded"
    assert all(o.campaign_id is None and o.campaign_version_id is None and o.attribution == {} for o in orders)
    # Every charge is linked to its payment (reconciliation matches on it), none became an order of its own.
    assert db.exec(select(func.count()).where(col(Payment.charge_id).is_(None))).one() == 0
    db.expire_all()
    row = db.exec(select(StripeSync)).one()
    assert row.backfill_status == "done" and row.backfill_imported == 3 and row.backfill_seen >= 8
    assert "Imported 3 order(s)" in row.backfill_message


def test_running_again_counts_nothing_twice(shop: Shop, db: Session) -> None:
    _seed(shop)
    account_id = shop.account.id or 0
    first = run_backfill(session=db, account_id=account_id)
    before = _counts(db)
    assert first is not None and first.imported == 3

    request_backfill(session=db, actor=shop.actor, days=365)
    again = run_backfill(session=db, account_id=account_id)

    assert again is not None and again.imported == 1  # only the 200-day-old charge is new in a year's history
    orders, payments, refunds, money = _counts(db)
    assert (orders, payments, refunds, money) == (before[0] + 1, before[1] + 1, before[2], before[3] + 9_900)
    request_backfill(session=db, actor=shop.actor, days=365)
    assert run_backfill(session=db, account_id=account_id).imported == 0  # type: ignore[union-attr]
    assert _counts(db) == (orders, payments, refunds, money)


def test_an_order_paidsignal_knows_is_left_as_it_is(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    order_id = pay(shop, db, amount=4_900)
    own = order_service.get_order(db, shop.account.id or 0, order_id)
    session = shop.recorder.sessions[own.checkout_session_id or ""]
    History(shop.recorder).charge(4_900, days_ago=0, payment_intent=session["payment_intent"])
    before = _counts(db)

    result = run_backfill(session=db, account_id=shop.account.id or 0)

    assert result is not None and result.imported == 0 and _counts(db) == before
    db.expire_all()
    own = order_service.get_order(db, shop.account.id or 0, order_id)
    assert not own.imported
    assert db.exec(select(Payment.charge_id).where(Payment.order_id == own.id)).one()  # the link was filled in


def test_imported_orders_are_never_sent_to_ad_platforms(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms, events=["purchase", "renewal"])
    seeded = _seed(shop)
    run_backfill(session=db, account_id=shop.account.id or 0)
    assert db.exec(select(func.count()).select_from(ConversionDelivery)).one() == 0

    # A later refund webhook of an imported order does not send anything either.
    charge = stripe_object(
        "charge", id=seeded["outside"]["id"], amount=7_000, amount_captured=7_000, amount_refunded=3_000,
        refunded=False, currency="eur", payment_intent=seeded["outside"]["payment_intent"], metadata={},
    )  # fmt: skip
    assert deliver(shop, db, "charge.refunded", charge).outcome == "applied"

    assert db.exec(select(func.count()).select_from(ConversionDelivery)).one() == 0
    assert _imported(db)[2].amount_refunded == 3_000


def test_imported_orders_have_their_own_bucket_in_orders_and_metrics(shop: Shop, db: Session) -> None:
    _seed(shop)
    account_id = shop.account.id or 0
    run_backfill(session=db, account_id=account_id)
    db.commit()
    while rollups.refresh_dirty(db):
        pass

    page = order_service.list_orders(session=db, account_id=account_id)
    assert {(r.campaign, r.imported) for r in page.orders} == {("Imported from Stripe", True)}
    assert order_service.list_orders(session=db, account_id=account_id, campaign_public_id="imported").total == 3

    today = utcnow().date()
    query = MetricsQuery(start=today - timedelta(days=60), end=today, dimension=Dimension.CAMPAIGN)
    for source in ("rollup", "raw"):
        report = metrics.metrics(session=db, account_id=account_id, query=query, source=source)
        rows = {r.label: r for r in report.rows}
        assert set(rows) == {"Imported from Stripe"}, source
        money = rows["Imported from Stripe"].figures.money["EUR"]
        assert (money.gross, money.renewal_revenue, money.refunds) == (2_500 + 7_000 + 1_500, 1_500, 1_000)
        assert rows["Imported from Stripe"].key == str(rollups.IMPORTED)
    assert metrics.public_ids(db, account_id, Dimension.CAMPAIGN)[str(rollups.IMPORTED)] == "imported"
    # Alerts read a campaign's figures by its id: the imported money is under none of them.
    window = metrics.window_figures(
        session=db, account_id=account_id, start=utcnow() - timedelta(days=60), end=utcnow()
    )
    assert set(window.campaigns) == {rollups.IMPORTED} and 0 not in window.campaigns


def test_a_restricted_key_without_charges_read_fails_the_import_with_the_permission(shop: Shop, db: Session) -> None:
    _seed(shop)
    message = "Having the 'rak_charge_read' permission would allow this request to continue."
    shop.recorder.fail_next("/v1/charges", 403, stripe_error(403, message))

    result = run_backfill(session=db, account_id=shop.account.id or 0)

    assert result is not None and "set “Charges” to Read" in result.message
    db.expire_all()
    row = db.exec(select(StripeSync)).one()
    assert row.backfill_status == "failed" and "rak_charge_read" in row.backfill_message


def test_an_import_reaching_back_past_a_retention_gap_closes_it(shop: Shop, db: Session) -> None:
    row = db.exec(select(StripeSync)).one()
    now = int(utcnow().timestamp())
    row.gap_from, row.gap_to = now - 40 * 86_400, now - 30 * 86_400
    db.add(row)
    db.commit()
    request_backfill(session=db, actor=shop.actor, days=30)
    run_backfill(session=db, account_id=shop.account.id or 0)
    db.expire_all()
    assert db.exec(select(StripeSync.gap_from)).one() is not None  # 30 days do not reach back 40

    request_backfill(session=db, actor=shop.actor, days=45)
    run_backfill(session=db, account_id=shop.account.id or 0)
    db.expire_all()
    assert db.exec(select(StripeSync.gap_from, StripeSync.gap_to)).one() == (None, None)


def test_a_subscription_whose_first_invoice_is_on_a_later_page_counts_every_invoice(shop: Shop, db: Session) -> None:
    """Stripe lists newest first, 100 a page: the first invoice of a long subscription comes on the last page. The
    import applies every listed object oldest first, so the first invoice opens the order and no renewal is taken
    for it (which would drop the real first payment as a repeat)."""
    history = History(shop.recorder)
    first, _ = history.subscription_invoice("sub_LongRunning01", 1_500, days_ago=85, reason="subscription_create")
    for n in range(100):
        invoice = stripe_object(
            "invoice", id=f"in_Renewal{n:04d}", status="paid", amount_paid=1_500, currency="eur",
            billing_reason="subscription_cycle", created=history.now - (84 - n * 0.8) * 86_400 // 1,
            subscription=None, customer_email="subscriber@example.com",
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"subscription": "sub_LongRunning01", "metadata": {}}},
            status_transitions={"paid_at": None},
        )  # fmt: skip
        invoice["created"] = int(invoice["created"])
        shop.recorder.add_history("invoices", invoice)

    result = run_backfill(session=db, account_id=shop.account.id or 0)

    assert result is not None and result.imported == 1  # the subscription; its first charge is linked to it
    [order] = [o for o in _imported(db) if o.subscription_id == "sub_LongRunning01"]
    kinds = db.exec(select(Payment.kind, Payment.invoice_id).where(Payment.order_id == order.id)).all()
    assert len(kinds) == 101 and order.amount_paid == 101 * 1_500
    assert [invoice for kind, invoice in kinds if kind == "first"] == [first["id"]]


def test_a_subscription_begun_before_the_imported_days_keeps_its_renewals_as_renewals(shop: Shop, db: Session) -> None:
    history = History(shop.recorder)
    history.subscription_invoice("sub_OlderThanWindow", 1_500, days_ago=100, reason="subscription_create")
    history.subscription_invoice("sub_OlderThanWindow", 1_500, days_ago=70, reason="subscription_cycle")
    history.subscription_invoice("sub_OlderThanWindow", 1_500, days_ago=40, reason="subscription_cycle")

    run_backfill(session=db, account_id=shop.account.id or 0)  # 90 days: the first invoice is not in them

    [order] = _imported(db)
    assert order.status == "paid" and order.amount_paid == 3_000
    kinds = db.exec(select(Payment.kind).where(Payment.order_id == order.id)).all()
    assert sorted(kinds) == ["renewal", "renewal"]


def test_imported_orders_carry_their_line_items_so_products_and_prices_count_them(shop: Shop, db: Session) -> None:
    """A Checkout Session's line items (all of them, past the 10 Stripe embeds) and a subscription invoice's priced
    line become the imported order's items, as checkout stores them: by product and price, the imported money is
    split by the items' amounts, in the rollups and in raw alike."""
    recorder = shop.recorder
    mug = recorder.add_price(product="prod_HistoryMug", unit_amount=1_000)
    cap = recorder.add_price(product="prod_HistoryCap", unit_amount=500)
    plan = recorder.add_price(product="prod_HistoryPlan", unit_amount=1_500, recurring={"interval": "month"})
    stickers = [recorder.add_price(product="prod_HistorySticker", unit_amount=100) for _ in range(11)]
    history = History(recorder)
    two = history.checkout(2_500, days_ago=10, lines=[(mug, 2), (cap, 1)])
    many = history.checkout(1_100, days_ago=9, lines=[(price, 1) for price in stickers])
    history.subscription_invoice("sub_HistoryItems01", 1_500, days_ago=8, reason="subscription_create", price=plan)
    history.charge(700, days_ago=7)  # a charge alone has no items

    account_id = shop.account.id or 0
    assert run_backfill(session=db, account_id=account_id).imported == 4  # type: ignore[union-attr]
    db.commit()
    by_session = {o.checkout_session_id: o for o in _imported(db) if o.checkout_session_id}
    assert by_session[two["id"]].items == [
        {"price": mug["id"], "product": "prod_HistoryMug", "quantity": 2, "unit_amount": 1_000},
        {"price": cap["id"], "product": "prod_HistoryCap", "quantity": 1, "unit_amount": 500},
    ]
    assert [i["price"] for i in by_session[many["id"]].items] == [p["id"] for p in stickers]
    assert recorder.requests_to(f"/v1/checkout/sessions/{many['id']}/line_items", "GET")  # the 11th was asked for
    subscription = db.exec(select(Order).where(Order.subscription_id == "sub_HistoryItems01")).one()
    assert subscription.items == [
        {"price": plan["id"], "product": "prod_HistoryPlan", "quantity": 1, "unit_amount": 1_500}
    ]
    charge_only = [o for o in _imported(db) if not o.checkout_session_id and not o.subscription_id]
    assert [o.items for o in charge_only] == [[]]

    while rollups.refresh_dirty(db):
        pass
    today = utcnow().date()
    query = MetricsQuery(start=today - timedelta(days=30), end=today, dimension=Dimension.PRODUCT)
    for source in ("rollup", "raw"):
        report = metrics.metrics(session=db, account_id=account_id, query=query, source=source)
        gross = {r.key: r.figures.money["EUR"].gross for r in report.rows if "EUR" in r.figures.money}
        assert gross["prod_HistoryMug"] == 2_000 and gross["prod_HistoryCap"] == 500, (source, gross)
        assert gross["prod_HistorySticker"] == 1_100 and gross["prod_HistoryPlan"] == 1_500, (source, gross)


def test_importing_again_gives_items_to_orders_imported_without_them(shop: Shop, db: Session) -> None:
    """Orders imported before imports read line items had none: a new import fills them in (and the rollups by
    product follow); an order with items, or PaidSignal's own, is not changed."""
    recorder = shop.recorder
    mug = recorder.add_price(product="prod_LaterMug", unit_amount=1_000)
    plan = recorder.add_price(product="prod_LaterPlan", unit_amount=1_500, recurring={"interval": "month"})
    history = History(recorder)
    history.checkout(2_000, days_ago=10, lines=[(mug, 2)])
    history.subscription_invoice("sub_LaterItems01", 1_500, days_ago=8, reason="subscription_create", price=plan)
    account_id = shop.account.id or 0
    run_backfill(session=db, account_id=account_id)
    for order in _imported(db):
        order.items = []
        db.add(order)
    db.commit()
    while rollups.refresh_dirty(db):
        pass
    today = utcnow().date()
    query = MetricsQuery(start=today - timedelta(days=30), end=today, dimension=Dimension.PRODUCT)
    assert {r.key for r in metrics.metrics(session=db, account_id=account_id, query=query).rows} <= {"", "none"}

    request_backfill(session=db, actor=shop.actor, days=30)
    assert run_backfill(session=db, account_id=account_id).imported == 0  # type: ignore[union-attr]
    db.commit()
    assert sorted(i["product"] for o in _imported(db) for i in o.items) == ["prod_LaterMug", "prod_LaterPlan"]
    while rollups.refresh_dirty(db):
        pass
    for source in ("rollup", "raw"):
        report = metrics.metrics(session=db, account_id=account_id, query=query, source=source)
        gross = {r.key: r.figures.money["EUR"].gross for r in report.rows if "EUR" in r.figures.money}
        assert (gross.get("prod_LaterMug"), gross.get("prod_LaterPlan")) == (2_000, 1_500), (source, gross)
