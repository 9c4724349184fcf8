"""The orders list and the order page through their states: filters from the URL, pages through the cursor, the
Stripe timeline after a delivered webhook, and tenancy. Orders come from the checkout service and signed webhooks
(Stripe is the recording fake API)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.models import Role
from app.services import campaigns
from app.services.checkout import META_ORDER
from app.state.orders import ALL, OrderDetailState, OrdersState
from tests.utils.factories import add_member
from tests.utils.payments import Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.states import redirect_path, sign_in, substate, user_of, visit
from tests.utils.stripe_fakes import StripeRecorder, stripe_event, stripe_object


def _pay(shop: Shop, db: Session, order_id: str) -> str:
    """Complete the order's Checkout Session and deliver its signed ``checkout.session.completed``; returns the
    event body so a test can deliver it again."""
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900, currency="eur")
    body = stripe_event("checkout.session.completed", completed)
    assert deliver(shop, db, "", {}, payload=body).outcome == "applied"
    return body.decode()


def ids_of(detail: OrderDetailState) -> dict[str, str]:
    return {f["label"]: f["value"] for f in detail.ids}


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def test_empty_list_then_filters_from_the_url(root: State, db: Session, shop: Shop) -> None:
    sign_in(root, db, user_of(db, shop))
    orders = substate(root, OrdersState)
    visit(root, routes.ORDERS)
    orders.load_orders()
    assert orders.loaded and orders.orders == [] and orders.total == 0 and not orders.filtered

    paid = start_checkout(shop, db, customer_email="ada@example.com")
    waiting = [start_checkout(shop, db, quantity=n) for n in (2, 3)]
    _pay(shop, db, paid)
    orders.load_orders()
    assert orders.total == 3 and [o["order_id"] for o in orders.orders] == [*reversed(waiting), paid]
    row = orders.orders[-1]
    assert (row["status"], row["amount"], row["refunded"], row["customer_email"]) == (
        "paid",
        "€49.00",
        "",
        "ada@example.com",
    )
    assert row["url"] == routes.order_url(paid) and row["products"] == "Sneakers"
    assert orders.orders[0]["products"] == "Sneakers × 3" and orders.orders[0]["amount"] == "€147.00"

    visit(root, routes.orders_url(status="paid"))
    orders.load_orders()
    assert orders.status_filter == "paid" and orders.filtered
    assert [o["order_id"] for o in orders.orders] == [paid] and orders.total == 1
    visit(root, routes.orders_url(status="created"))
    orders.load_orders()
    assert {o["order_id"] for o in orders.orders} == set(waiting)

    # Days in the account's timezone (Europe/Paris), both ends included.
    today = date.today()
    visit(
        root,
        routes.orders_url(since=(today - timedelta(days=1)).isoformat(), until=(today + timedelta(days=1)).isoformat()),
    )
    orders.load_orders()
    assert orders.total == 3
    visit(root, routes.orders_url(since="2001-01-01", until="2001-01-31"))
    orders.load_orders()
    assert orders.orders == [] and orders.total == 0 and orders.error == ""
    visit(root, routes.orders_url(since="2001-02-01", until="2001-01-01"))
    orders.load_orders()
    assert orders.error == "The end date is before the start date." and orders.orders == []

    # Junk in the URL is ignored, not an error.
    visit(root, "/orders?status=bogus&from=yesterday&to=2001-13-45&campaign=cmp_nope")
    orders.load_orders()
    assert (orders.status_filter, orders.since, orders.until, orders.campaign_filter) == (ALL, "", "", ALL)
    assert orders.total == 3 and orders.error == ""

    # The handlers build shareable URLs.
    visit(root, routes.orders_url(status="paid"))
    orders.load_orders()
    spec = orders.filter_dates({"from": "2024-05-01", "to": "2024-05-31"})
    assert redirect_path(spec) == "/orders?status=paid&from=2024-05-01&to=2024-05-31"
    assert redirect_path(orders.filter_dates({"from": "junk", "to": ""})) == "/orders?status=paid"
    assert redirect_path(orders.filter_status(ALL)) == "/orders"
    assert redirect_path(orders.filter_status("refunded")) == "/orders?status=refunded"
    assert redirect_path(orders.clear_filters()) == "/orders"


def test_campaign_filter_lists_the_accounts_campaigns(root: State, db: Session, shop: Shop) -> None:
    row = campaigns.create_campaign(session=db, actor=shop.actor, name="Spring sale", channel="meta")
    db.commit()
    start_checkout(shop, db)
    sign_in(root, db, user_of(db, shop))
    orders = substate(root, OrdersState)
    visit(root, routes.orders_url(campaign=row.public_id))
    orders.load_orders()
    assert orders.campaign_options == [{"public_id": row.public_id, "name": "Spring sale"}]
    assert orders.campaign_filter == row.public_id and orders.orders == [] and orders.total == 0
    assert redirect_path(orders.filter_status("paid")) == f"/orders?status=paid&campaign={row.public_id}"
    assert redirect_path(orders.filter_campaign("cmp_someone_elses")) == "/orders"


def test_pages_through_the_cursor(root: State, db: Session, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.state.orders.PAGE_SIZE", 2)
    created = [start_checkout(shop, db, quantity=n) for n in range(1, 6)]
    sign_in(root, db, user_of(db, shop))
    orders = substate(root, OrdersState)
    visit(root, routes.ORDERS)
    orders.load_orders()
    assert len(orders.orders) == 2 and orders.total == 5 and orders.has_more
    while orders.has_more:
        list(orders.load_more())
        assert orders.loading_more is False
    assert [o["order_id"] for o in orders.orders] == list(reversed(created))
    assert orders.next_cursor == "" and list(orders.load_more()) == []


def test_detail_shows_the_timeline_after_a_delivered_webhook(root: State, db: Session, shop: Shop) -> None:
    order_id = start_checkout(shop, db, customer_email="ada@example.com")
    sign_in(root, db, user_of(db, shop))
    detail = substate(root, OrderDetailState)
    visit(root, routes.order_url(order_id))
    list(detail.load_order())
    assert detail.loaded and detail.not_found == "" and detail.status == "created"
    assert [(t["kind"], t["title"], t["outcome"]) for t in detail.timeline] == [
        ("order", "Checkout started", "created")
    ]
    assert detail.payments == [] and detail.amount_paid == "€0.00" and detail.amount_expected == "€49.00"

    body = _pay(shop, db, order_id)
    deliver(shop, db, "", {}, payload=body.encode())  # Stripe delivers again: one entry, two deliveries
    list(detail.load_order())
    assert detail.status == "paid" and detail.amount == "€49.00" and detail.paid_at != ""
    assert detail.customer_email == "ada@example.com"
    started, completed = detail.timeline
    assert started["title"] == "Checkout started"
    assert (completed["kind"], completed["title"], completed["outcome"], completed["deliveries"]) == (
        "stripe",
        "checkout.session.completed",
        "applied",
        2,
    )
    assert "created → paid" in completed["message"] and completed["stripe_event_id"].startswith("evt_")
    [payment] = detail.payments
    assert (payment["kind"], payment["amount"], payment["refunded"]) == ("one-off", "€49.00", "")
    assert payment["reference"] == ids_of(detail)["PaymentIntent"]
    assert [(i["product"], i["price_id"], i["quantity"], i["total"]) for i in detail.items] == [
        ("Sneakers", shop.price_one_off, 1, "€49.00")
    ]
    ids = ids_of(detail)
    assert ids["Checkout Session"].startswith("cs_test_") and ids["PaymentIntent"].startswith("pi_")
    # No touches: the whole credit goes to "direct" under every model.
    assert detail.touches == [] and {c["model"] for c in detail.credits} >= {"Last touch", "First touch", "Linear"}
    assert all(c["campaign"] == "" and c["share"] == "100%" for c in detail.credits)
    assert {f["label"] for f in detail.signals} >= {"Meta click (fbc)", "GA client id", "Consent"}


def test_another_accounts_order_is_not_found(root: State, db: Session, shop: Shop, stripe_api: StripeRecorder) -> None:
    other = make_shop(db, stripe_api, name="Other shop")
    theirs = start_checkout(other, db)
    mine = start_checkout(shop, db)
    viewer, _ = add_member(db, shop.account, Role.VIEWER)
    sign_in(root, db, viewer)  # any role may read orders
    detail = substate(root, OrderDetailState)
    visit(root, routes.order_url(theirs))
    list(detail.load_order())
    assert detail.loaded and detail.not_found == "No order with this id in this account."
    assert detail.timeline == []

    orders = substate(root, OrdersState)
    visit(root, routes.ORDERS)
    orders.load_orders()
    assert [o["order_id"] for o in orders.orders] == [mine]

    # Opening one of ours afterwards shows it (the spinner first, not the previous order's state).
    visit(root, routes.order_url(mine))
    steps = detail.load_order()
    next(steps)
    assert detail.loaded is False
    list(steps)
    assert detail.not_found == "" and detail.status == "created"


def test_signed_out_visitor_sees_nothing(root: State, db: Session, shop: Shop) -> None:
    start_checkout(shop, db)
    orders = substate(root, OrdersState)
    visit(root, routes.ORDERS)
    orders.load_orders()
    assert orders.orders == [] and orders.error == "Your session has ended; log in again."
    detail = substate(root, OrderDetailState)
    visit(root, routes.order_url("ord_x"))
    list(detail.load_order())
    assert detail.not_found == "Your session has ended; log in again."


def test_a_partial_refund_shows_in_the_list_and_on_the_order(root: State, db: Session, shop: Shop) -> None:
    order_id = start_checkout(shop, db)
    _pay(shop, db, order_id)
    intent = session_of(shop, db, order_id)["payment_intent"]
    charge = stripe_object(
        "charge",
        id=f"ch_{intent[3:]}",
        amount=4_900,
        amount_captured=4_900,
        amount_refunded=1_000,
        refunded=False,
        currency="eur",
        payment_intent=intent,
        metadata={META_ORDER: order_id},
    )
    assert deliver(shop, db, "charge.refunded", charge).outcome == "applied"
    sign_in(root, db, user_of(db, shop))
    orders = substate(root, OrdersState)
    visit(root, routes.orders_url(status="partially_refunded"))
    orders.load_orders()
    [row] = orders.orders
    assert (row["status"], row["amount"], row["refunded"]) == ("partially_refunded", "€49.00", "€10.00")
    detail = substate(root, OrderDetailState)
    visit(root, row["url"])
    list(detail.load_order())
    assert detail.refunded == "€10.00" and detail.payments[0]["refunded"] == "€10.00"
    assert [t["title"] for t in detail.timeline][-1] == "charge.refunded"


def test_amounts_read_in_the_accounts_locale(root: State, db: Session, shop: Shop) -> None:
    order_id = start_checkout(shop, db, quantity=100)
    shop.account.locale = "de_DE"
    db.add(shop.account)
    db.commit()
    sign_in(root, db, user_of(db, shop))
    orders = substate(root, OrdersState)
    visit(root, routes.ORDERS)
    orders.load_orders()
    assert orders.account_locale == "de_DE"
    assert [(o["order_id"], o["amount"]) for o in orders.orders] == [(order_id, "4.900,00\xa0€")]
    detail = substate(root, OrderDetailState)
    visit(root, routes.order_url(order_id))
    list(detail.load_order())
    assert detail.amount == detail.amount_expected == "4.900,00\xa0€" and detail.amount_paid == "0,00\xa0€"
    [item] = detail.items
    assert (item["quantity"], item["unit_amount"], item["total"]) == (100, "49,00\xa0€", "4.900,00\xa0€")
