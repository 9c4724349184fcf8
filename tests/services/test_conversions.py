"""Server-side conversions over real HTTP: exact payloads to the recording Meta / GA4 / Data Manager / webhook
server for a paid order, a renewal and refunds; dedup ids; retries, Retry-After, dead letters, leases; consent,
age limits, test mode; diagnostics; the Google Ads CSV."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select, update

from app.integrations import hashing, signed_webhook
from app.models import ConversionDelivery, DeliveryAttempt, Event, Order
from app.models.base import utcnow
from app.services import conversion_sender, conversions, pixels
from app.services.errors import ValidationFailed
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import (
    BUYER,
    GA_ID,
    GA_SECRET,
    META_PIXEL,
    META_TOKEN,
    WEBHOOK_SECRET,
    deliveries,
    drain,
    make_pixels,
    pay,
    send_as_job,
    sent_events,
)
from tests.utils.payments import Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, random_id, stripe_object

EMAIL_HASH = (
    "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # Meta's vector for John_Smith@gmail.com
)


# Webhooks and the sender never wait for the write lock holding a connection (app/db.py).
pytestmark = pytest.mark.usefixtures("strict_lock_order")


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _order(db: Session, order_id: str) -> Order:
    db.expire_all()
    return db.exec(select(Order).where(Order.public_id == order_id)).one()


# --- hashing ----------------------------------------------------------------------------------------------------------


def test_hashing_matches_meta_and_google_published_vectors() -> None:
    for field, clear, expected, code in hashing.META_VECTORS:
        assert hashing.meta_hash(field, clear, country_code=code) == expected
    for kind, clear, expected, code in hashing.GOOGLE_VECTORS:
        assert hashing.google_hash(kind, clear, country_code=code) == expected
    assert hashing.meta_normalize("ph", "(650)555-1212", country_code="1") == "16505551212"
    assert hashing.meta_normalize("ph", "+44 020 7946 0958") == "4402079460958"
    assert hashing.google_normalize_email(" Jo.Hn+promo@GoogleMail.com ") == "john@googlemail.com"
    assert hashing.google_normalize_email("jo.hn+x@example.com") == "jo.hn+x@example.com"  # only Gmail drops them
    # A hash from the browser is never hashed again.
    assert hashing.meta_hash("em", EMAIL_HASH.upper()) == EMAIL_HASH
    assert hashing.hash_self_test() == []


def test_hashing_follows_metas_rules_for_the_other_fields() -> None:
    """Meta's customer information parameters: each field in Meta's own format, or nothing when it cannot be."""
    normalize = hashing.meta_normalize
    # A phone without a country code is not guessed ("1" matched US numbers to strangers elsewhere).
    assert normalize("ph", "(650)555-1212") == "" and hashing.meta_hash("ph", "0171 1234567") is None
    assert hashing.google_hash("phone", "(800)555-0100") is None
    assert normalize("ph", "0171 1234567", country_code="49") == "491711234567"
    assert normalize("ph", "16505551212", country_code="1") == "16505551212"  # already with its calling code
    # Country: the ISO 3166-1 alpha-2 code in lowercase; a name is not a code.
    assert normalize("country", " US ") == "us" and normalize("country", "United States") == ""
    # State: the two-letter code in lowercase; a state elsewhere in the same form as a city, never cut short.
    assert normalize("st", "CA") == "ca" and normalize("st", "Baden-Württemberg") == "badenwürttemberg"
    # Date of birth: YYYYMMDD (Meta's example, 19970216); a date whose day and month could swap is not guessed.
    assert normalize("db", "2/16/1997") == normalize("db", "1997-02-16") == normalize("db", "16.02.1997")
    assert normalize("db", "19970216") == "19970216" and normalize("db", "2/3/1997") == ""
    # ZIP: the first five digits in the US; others lowercase without spaces or dashes.
    assert normalize("zp", "94035-1234") == normalize("zp", "94035 1234") == "94035"
    assert normalize("zp", "SW1A 1AA") == "sw1a1aa"
    # City: lowercase letters of any script, no spaces or punctuation (Meta accepts UTF-8 letters).
    assert normalize("ct", "Menlo Park") == "menlopark" and normalize("ct", "Zürich") == "zürich"
    assert normalize("ge", "Female") == "f" and normalize("ge", "x") == ""
    # external_id: the same value on every channel, so not lowercased (pixel.js sends it as given).
    assert hashing.meta_hash("external_id", " User-ABC ") == hashing.sha256_hex("User-ABC")


# --- one paid order, every provider -------------------------------------------------------------------------------


def test_a_paid_order_reaches_every_provider_once_with_exact_payloads(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = start_checkout(shop, db, **BUYER, quantity=2)
    order = _order(db, order_id)
    order.attribution = {**order.attribution, "gclid": "Cj0KCQ-TestGclid"}
    db.add(order)
    db.commit()
    checkout = session_of(shop, db, order_id)
    completed = shop.recorder.complete_session(checkout["id"], amount_total=9_800, currency="eur")
    deliver(shop, db, "checkout.session.completed", completed)
    # Stripe repeats itself and reports the same money twice: still one conversion per pixel.
    deliver(shop, db, "checkout.session.completed", completed)
    intent = stripe_object("payment_intent", id=completed["payment_intent"], amount=9_800, amount_received=9_800,
                           currency="eur", metadata={"paidsignal_order_id": order_id})  # fmt: skip
    deliver(shop, db, "payment_intent.succeeded", intent)
    assert len(deliveries(db)) == 4 and {d.status for d in deliveries(db)} == {"pending"}

    report = drain()
    assert report.outcomes == {"sent": 4}, [(d.provider, d.reason) for d in deliveries(db)]
    order = _order(db, order_id)
    paid_at = int(order.paid_at.timestamp()) if order.paid_at else 0

    [meta_request] = ad_platforms.requests_to(f"/v26.0/{META_PIXEL}/events")
    assert meta_request.query["access_token"] == META_TOKEN
    assert meta_request.json() == {
        "data": [
            {
                "event_name": "Purchase",
                "event_time": paid_at,
                "event_id": order.event_id,
                "action_source": "website",
                "event_source_url": "https://shop.example.com/thanks",
                "user_data": {
                    "em": [EMAIL_HASH],
                    "client_ip_address": order.attribution["ip"],
                    "client_user_agent": order.attribution["user_agent"],
                    "fbc": BUYER["fbc"],  # never hashed, never lowercased
                    "fbp": BUYER["fbp"],
                },
                "custom_data": {
                    "value": 98.0,
                    "currency": "EUR",
                    "content_type": "product",
                    "content_ids": [order.items[0]["price"]],
                    "contents": [{"id": order.items[0]["price"], "quantity": 2, "item_price": 49.0}],
                    "order_id": order_id,
                },
            }
        ]
    }

    [ga_request] = ad_platforms.requests_to("/mp/collect")
    assert ga_request.query == {"measurement_id": GA_ID, "api_secret": GA_SECRET}
    assert ga_request.json() == {
        "client_id": BUYER["ga_client_id"],
        "timestamp_micros": int(order.paid_at.timestamp() * 1_000_000) if order.paid_at else 0,
        "events": [
            {
                "name": "purchase",
                "params": {
                    "transaction_id": order_id,
                    "value": 98.0,
                    "currency": "EUR",
                    "engagement_time_msec": 1,
                    "items": [
                        {"item_id": order.items[0]["price"], "item_name": "Sneakers", "price": 49.0, "quantity": 2}
                    ],
                    "session_id": BUYER["ga_session_id"],
                },
            }
        ],
    }

    [token_request] = ad_platforms.requests_to("/token")
    assert "grant_type=refresh_token" in token_request.body.decode()
    [ingest] = ad_platforms.requests_to("/v1/events:ingest")
    assert (ingest.header("Authorization") or "").startswith("Bearer ya29.test-")
    assert ingest.json() == {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1234567890"},
                "productDestinationId": "987654321",
            }
        ],
        "encoding": "HEX",
        "events": [
            {
                "transactionId": order_id,
                "eventTimestamp": order.paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if order.paid_at else "",
                "eventSource": "WEB",
                "conversionValue": 98.0,
                "currency": "EUR",
                "adIdentifiers": {"gclid": "Cj0KCQ-TestGclid"},
                # Google's normalisation (Gmail: no dots, no +tag) differs from Meta's, so the hash differs too.
                "userData": {"userIdentifiers": [{"emailAddress": hashing.sha256_hex("john_smith@gmail.com")}]},
            }
        ],
    }

    [hook] = ad_platforms.requests_to("/hooks/shop")
    signature = hook.header("PaidSignal-Signature") or ""
    assert signed_webhook.verify(WEBHOOK_SECRET, signature, hook.body, now=int(time.time()))
    assert not signed_webhook.verify("wrong-secret-0000", signature, hook.body, now=int(time.time()))
    body = hook.json()
    assert body["type"] == "conversion.purchase" and body["data"]["order_id"] == order_id
    assert body["data"]["user"]["em"] == [EMAIL_HASH] and "John_Smith" not in hook.body.decode()

    # Nothing more is due and a second pass sends nothing.
    assert drain().claimed == 0
    assert len(ad_platforms.requests) == 5  # 4 deliveries + 1 token refresh


def test_meta_event_id_equals_the_browser_purchase_event_id(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = pay(shop, db)
    order = _order(db, order_id)
    # What pixel.js's paidsignal('purchase') stores: our own purchase event with the order's event id.
    db.add(Event(account_id=shop.account.id or 0, event_id=order.event_id, type="purchase", occurred_at=utcnow(),
                 received_at=utcnow(), visitor_id=BUYER["visitor_id"]))  # fmt: skip
    db.commit()
    drain()
    [meta] = ad_platforms.bodies("/v26.0/")
    assert meta["data"][0]["event_id"] == order.event_id
    meta_delivery = next(d for d in deliveries(db) if d.provider == "meta")
    detail = conversions.delivery_detail(
        session=db, account_id=shop.account.id or 0, delivery_public_id=meta_delivery.public_id
    )
    checks = {c.label: c for c in detail.checklist}
    assert checks["Deduplication with the browser"].state == "ok"
    assert checks["fbc (Meta click id)"].state == "ok" and checks["User data hashing"].state == "ok"
    assert detail.attempts[0].request["url"].endswith("access_token=[redacted]")
    assert META_TOKEN not in json.dumps(detail.attempts[0].request)


# --- renewals and refunds -----------------------------------------------------------------------------------------


def _invoice(invoice_id: str, sub_id: str, order_id: str, reason: str, amount: int = 1_500) -> dict[str, object]:
    return stripe_object(
        "invoice", id=invoice_id, billing_reason=reason, amount_paid=amount, currency="eur", status="paid",
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"subscription": sub_id, "metadata": {"paidsignal_order_id": order_id}}},
    )  # fmt: skip


def test_a_renewal_is_sent_only_to_pixels_that_opt_in(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    made = make_pixels(db, shop, ad_platforms)
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["ga4"], events=["purchase", "renewal"])
    db.commit()
    order_id = start_checkout(shop, db, mode="subscription", **BUYER)
    sub_id, first, renewal = random_id("sub_"), random_id("in_"), random_id("in_")
    completed = shop.recorder.complete_session(
        session_of(shop, db, order_id)["id"], subscription=sub_id, invoice=first, amount_total=1_500
    )
    deliver(shop, db, "checkout.session.completed", completed)
    shop.recorder.add_invoice_payment(invoice=first, payment_intent="pi_first", amount_paid=1_500)
    deliver(shop, db, "invoice.paid", _invoice(first, sub_id, order_id, "subscription_create"))
    shop.recorder.add_invoice_payment(invoice=renewal, payment_intent="pi_renewal", amount_paid=1_500)
    deliver(shop, db, "invoice.paid", _invoice(renewal, sub_id, order_id, "subscription_cycle"))
    drain()
    rows = deliveries(db)
    assert sorted((d.provider, d.kind) for d in rows) == sorted(
        [("meta", "purchase"), ("ga4", "purchase"), ("google_ads", "purchase"), ("webhook", "purchase"),
         ("ga4", "renewal")]
    )  # fmt: skip
    assert all(d.status == "sent" or d.provider == "google_ads" for d in rows)
    ga = sent_events(ad_platforms, "/mp/collect")
    assert sorted(e["params"]["transaction_id"] for e in ga) == [order_id, f"{order_id}.{renewal}"]
    assert [e["params"]["value"] for e in ga] == [15.0, 15.0]
    # No gclid and only an e-mail: Google Ads still gets the first sale (matched on the hashed e-mail).
    assert next(d for d in rows if d.provider == "google_ads").status == "sent"


def _refund(shop: Shop, db: Session, order_id: str, refunded: int, amount: int) -> None:
    """Stripe's ``charge.refunded`` for the order's charge, ``refunded`` in total so far (cumulative)."""
    intent = _order(db, order_id).payment_intent_id or ""
    charge = stripe_object(
        "charge", id=f"ch_{intent[3:]}", amount=amount, amount_refunded=refunded, currency="eur",
        payment_intent=intent, metadata={"paidsignal_order_id": order_id},
    )  # fmt: skip
    deliver(shop, db, "charge.refunded", charge)


def _paid_with_click(shop: Shop, db: Session, *, quantity: int = 1, amount: int = 4_900) -> str:
    order_id = start_checkout(shop, db, **BUYER, quantity=quantity)
    order = _order(db, order_id)
    order.attribution = {**order.attribution, "gclid": "Cj0KCQ-TestGclid"}
    db.add(order)
    db.commit()
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=amount)
    deliver(shop, db, "checkout.session.completed", completed)
    return order_id


def test_a_partial_refund_that_is_not_whole_units_sends_ga4_its_value_only(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    """10.00 back on a 98.00 order of two 49.00 items: no item came back as far as anyone knows, so GA4 gets the
    refund's value and no items (it had both items, and GA4's item reports counted the whole order refunded)."""
    make_pixels(db, shop, ad_platforms)
    order_id = start_checkout(shop, db, **BUYER, quantity=2)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=9_800)
    deliver(shop, db, "checkout.session.completed", completed)
    _refund(shop, db, order_id, 1_000, 9_800)
    _refund(shop, db, order_id, 9_800, 9_800)
    _refund(shop, db, order_id, 1_000, 9_800)  # late and smaller: changes nothing
    drain()
    refunds = [d for d in deliveries(db) if d.kind == "refund"]
    assert sorted(d.provider for d in refunds) == ["ga4", "ga4", "google_ads", "google_ads", "webhook", "webhook"]
    ga = [b["events"][0] for b in ad_platforms.bodies("/mp/collect")]
    assert [e["name"] for e in ga] == ["purchase", "refund", "refund"]  # never a refund before its sale
    partial, full = ga[1]["params"], ga[2]["params"]
    # Weeks or minutes later, a refund is outside the checkout's GA session: no session_id.
    assert partial == {"transaction_id": order_id, "value": 10.0, "currency": "EUR", "engagement_time_msec": 1}
    assert full == {"transaction_id": order_id, "value": 88.0, "currency": "EUR", "engagement_time_msec": 1}
    ga_partial = next(d for d in refunds if d.provider == "ga4" and d.conversion["partial"])
    detail = conversions.delivery_detail(
        session=db, account_id=shop.account.id or 0, delivery_public_id=ga_partial.public_id
    )
    checks = {c.label: c for c in detail.checklist}
    assert checks["Refunded items"].state == "info" and "not whole units" in checks["Refunded items"].detail
    assert checks["GA session_id"].state == "info" and "Not sent" in checks["GA session_id"].detail
    # The webhook is told the same: 88.00 is not whole units either, so neither refund names items.
    hooks = [b for b in ad_platforms.bodies("/hooks/") if b["type"] == "conversion.refund"]
    assert [h["data"]["items"] for h in hooks] == [[], []]


def test_a_partial_refund_of_whole_units_names_those_items_for_ga4(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = start_checkout(shop, db, **BUYER, quantity=2)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=9_800)
    deliver(shop, db, "checkout.session.completed", completed)
    _refund(shop, db, order_id, 4_900, 9_800)  # one of the two 49.00 items
    drain()
    _refund(shop, db, order_id, 9_800, 9_800)  # and the other one
    drain()
    price = _order(db, order_id).items[0]["price"]
    refunds = [b["events"][0] for b in ad_platforms.bodies("/mp/collect") if b["events"][0]["name"] == "refund"]
    assert [r["params"] for r in refunds] == [
        {
            "transaction_id": order_id, "value": 49.0, "currency": "EUR", "engagement_time_msec": 1,
            "items": [{"item_id": price, "item_name": "Sneakers", "price": 49.0, "quantity": 1}],
        }
    ] * 2  # fmt: skip
    assert conversions.refunded_units([{"unit_amount": 2_500}, {"unit_amount": 2_500}], [1, 1], 2_500) is None
    assert conversions.refunded_units([{"unit_amount": 2_500}, {"unit_amount": 1_000}], [2, 3], 5_000) == [2, 0]


def test_a_ga4_refunds_checklist_speaks_of_the_refund_not_a_purchase(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = pay(shop, db, ga_session_id=None)  # gtag's session cookie was missing at checkout
    _refund(shop, db, order_id, 1_000, 4_900)
    drain()
    details = {
        d.kind: conversions.delivery_detail(session=db, account_id=shop.account.id or 0, delivery_public_id=d.public_id)
        for d in deliveries(db)
        if d.provider == "ga4"
    }
    purchase = {c.label: c.detail for c in details["purchase"].checklist}["GA session_id"]
    refund = {c.label: c.detail for c in details["refund"].checklist}["GA session_id"]
    assert purchase == "None: without it GA4 attributes the purchase to Unassigned/Direct."
    assert "purchase" not in refund and refund.startswith("Not sent: a refund comes without the buyer")


def test_google_ads_refunds_restate_the_sales_value_with_the_same_transaction_id(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    """Data Manager adjustments: the sale's transactionId again, with the value left after the refund; Google
    overwrites the value and keeps the count. The sale's required fields (time, identifiers) are repeated."""
    make_pixels(db, shop, ad_platforms)
    order_id = _paid_with_click(shop, db)
    _refund(shop, db, order_id, 1_000, 4_900)
    drain()
    _refund(shop, db, order_id, 4_900, 4_900)
    drain()
    paid_at = _order(db, order_id).paid_at
    assert paid_at is not None
    sale, partial, full = (b["events"] for b in ad_platforms.bodies("/v1/events:ingest"))
    same = {
        "transactionId": order_id,
        "eventTimestamp": paid_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "WEB",
        "currency": "EUR",
        "adIdentifiers": {"gclid": "Cj0KCQ-TestGclid"},
        "userData": {"userIdentifiers": [{"emailAddress": hashing.sha256_hex("john_smith@gmail.com")}]},
    }
    assert sale == [{**same, "conversionValue": 49.0}]
    assert partial == [{**same, "conversionValue": 39.0}]
    assert full == [{**same, "conversionValue": 0.0}]
    google = [d for d in deliveries(db) if d.provider == "google_ads" and d.kind == "refund"]
    assert [d.status for d in google] == ["sent", "sent"]


def test_a_google_refund_is_not_sent_when_its_sale_never_reached_google(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    """An adjustment whose transactionId matches no conversion would create a new one."""
    make_pixels(db, shop, ad_platforms)
    order_id = pay(shop, db, consent={"ad_user_data": True, "ad_personalization": True, "analytics": True})
    ad_platforms.fail_next("/v1/events:ingest", 400, {"error": {"code": 400, "message": "bad", "status": "X"}})
    drain()
    _refund(shop, db, order_id, 1_000, 4_900)
    drain()
    google = {d.kind: d for d in deliveries(db) if d.provider == "google_ads"}
    assert google["purchase"].status == "dead"
    assert google["refund"].status == "skipped" and "would create a new conversion" in google["refund"].reason
    assert len(ad_platforms.requests_to("/v1/events:ingest")) == 1  # only the sale's failed try


def _subscription_with_renewal(shop: Shop, db: Session) -> tuple[str, str, str]:
    """A subscription checkout paid (first invoice 15.00) and renewed once (15.00); (order, subscription, renewal)."""
    order_id = start_checkout(shop, db, mode="subscription", **BUYER)
    sub_id, first, renewal = random_id("sub_"), random_id("in_"), random_id("in_")
    completed = shop.recorder.complete_session(
        session_of(shop, db, order_id)["id"], subscription=sub_id, invoice=first, amount_total=1_500
    )
    deliver(shop, db, "checkout.session.completed", completed)
    shop.recorder.add_invoice_payment(invoice=first, payment_intent=f"pi_{first}", amount_paid=1_500)
    deliver(shop, db, "invoice.paid", _invoice(first, sub_id, order_id, "subscription_create"))
    shop.recorder.add_invoice_payment(invoice=renewal, payment_intent=f"pi_{renewal}", amount_paid=1_500)
    deliver(shop, db, "invoice.paid", _invoice(renewal, sub_id, order_id, "subscription_cycle"))
    return order_id, sub_id, renewal


def test_renewals_are_system_generated_for_meta_and_outside_the_ga_session(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    made = make_pixels(db, shop, ad_platforms)
    for provider in ("meta", "ga4"):
        pixels.update_pixel(
            session=db, actor=shop.actor, pixel_public_id=made[provider], events=["purchase", "renewal"]
        )
    db.commit()
    order_id, sub_id, renewal = _subscription_with_renewal(shop, db)
    drain()
    first_sale, event = sorted(sent_events(ad_platforms, "/v26.0/"), key=lambda e: renewal in e["event_id"])
    assert first_sale["action_source"] == "website" and "subscription_id" not in str(first_sale)
    # Charged automatically: system_generated, no page URL; subscription_id is user data, in clear.
    assert event["action_source"] == "system_generated" and "event_source_url" not in event
    assert event["user_data"]["subscription_id"] == sub_id
    assert "subscription_id" not in event["custom_data"] and event["event_id"].endswith(f".{renewal}")
    ga = {e["params"]["transaction_id"]: e["params"] for e in sent_events(ad_platforms, "/mp/")}
    assert ga[order_id]["session_id"] == BUYER["ga_session_id"]  # the purchase, inside the checkout's session
    assert "session_id" not in ga[f"{order_id}.{renewal}"]  # the renewal, a month later, is not


def test_a_purchase_paid_after_the_ga_session_ended_carries_no_session_id(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = start_checkout(shop, db, **BUYER)
    order = _order(db, order_id)
    started = datetime.fromisoformat(order.attribution["at"]) - timedelta(minutes=45)
    order.attribution = {**order.attribution, "at": started.isoformat()}  # checkout began 45 minutes ago
    db.add(order)
    db.commit()
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900)
    deliver(shop, db, "checkout.session.completed", completed)
    drain()
    [ga] = ad_platforms.bodies("/mp/collect")
    assert "session_id" not in ga["events"][0]["params"]
    delivery = next(d for d in deliveries(db) if d.provider == "ga4")
    detail = conversions.delivery_detail(
        session=db, account_id=shop.account.id or 0, delivery_public_id=delivery.public_id
    )
    assert {c.label: c.state for c in detail.checklist}["GA session_id"] == "info"


def test_live_meta_events_never_carry_the_pixels_test_event_code(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    made = make_pixels(db, shop, ad_platforms)
    # A code kept on a live pixel (from an earlier test session): live events must not carry it.
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["meta"],
                        settings={"pixel_id": META_PIXEL, "test_event_code": "TEST4242"})  # fmt: skip
    db.commit()
    pay(shop, db)
    drain()
    [live] = ad_platforms.bodies("/v26.0/")
    assert "test_event_code" not in live and live["data"][0]["custom_data"]["value"] == 49.0
    # "Send test event" goes out with the code, as a sample no one can take for a sale.
    result = conversion_sender.send_test(session=db, actor=shop.actor, pixel_public_id=made["meta"])
    assert result.ok and "Meta records it in this pixel's data" in result.message
    sample = ad_platforms.bodies("/v26.0/")[-1]
    assert sample["test_event_code"] == "TEST4242"
    custom = sample["data"][0]["custom_data"]
    assert custom["content_name"] == conversion_sender.TEST_LABEL and custom["order_id"].startswith("paidsignal-test")
    assert custom["content_ids"] == ["paidsignal-test"]


def test_one_google_click_id_per_event_gclid_then_wbraid_then_gbraid(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    """Google Ads refuses gbraid together with wbraid: the event and the CSV carry one, by the same rule."""
    make_pixels(db, shop, ad_platforms)
    both_brads, all_three = (start_checkout(shop, db, **BUYER) for _ in range(2))
    for order_id, clicks in (
        (both_brads, {"gbraid": "GBRAID-1", "wbraid": "WBRAID-1"}),
        (all_three, {"gclid": "GCLID-2", "gbraid": "GBRAID-2", "wbraid": "WBRAID-2"}),
    ):
        order = _order(db, order_id)
        order.attribution = {**order.attribution, **clicks}
        db.add(order)
        db.commit()
        completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900)
        deliver(shop, db, "checkout.session.completed", completed)
    drain()
    sent = {e["transactionId"]: e["adIdentifiers"] for e in sent_events(ad_platforms, "/v1/")}
    assert sent == {both_brads: {"wbraid": "WBRAID-1"}, all_three: {"gclid": "GCLID-2"}}
    now = datetime.now(UTC)
    csv = conversions.google_ads_csv(session=db, account_id=shop.account.id or 0, since=now - timedelta(days=1),
                                     until=now + timedelta(minutes=1))  # fmt: skip
    rows = {line.rsplit(",", 1)[1]: line.split(",")[:3] for line in csv.splitlines()[2:]}
    assert rows == {both_brads: ["", "", "WBRAID-1"], all_three: ["GCLID-2", "", ""]}


def test_google_ads_counts_its_90_days_from_the_ad_click(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    old_click, recent_click = (start_checkout(shop, db, **BUYER) for _ in range(2))
    for order_id, days in ((old_click, 95), (recent_click, 80)):
        order = _order(db, order_id)
        clicked = (utcnow() - timedelta(days=days)).isoformat()
        touch = {"at": clicked, "click_id_type": "gclid", "click_id": f"GCLID-{days}", "utm_source": "google"}
        order.attribution = {**order.attribution, "gclid": f"GCLID-{days}", "touches": [touch]}
        db.add(order)
        db.commit()
        completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900)
        deliver(shop, db, "checkout.session.completed", completed)
    drain()
    google = {d.order_id: d for d in deliveries(db) if d.provider == "google_ads"}
    old, recent = google[_order(db, old_click).id], google[_order(db, recent_click).id]
    assert old.status == "skipped" and "The ad click was on" in old.reason and "90 days" in old.reason
    assert recent.status == "sent"
    assert [b["events"][0]["transactionId"] for b in ad_platforms.bodies("/v1/events:ingest")] == [recent_click]
    detail = conversions.delivery_detail(session=db, account_id=shop.account.id or 0, delivery_public_id=old.public_id)
    age = {c.label: c for c in detail.checklist}["Age"]
    assert age.state == "fail" and "since the ad click" in age.detail


def test_google_ads_csv_values_a_subscription_by_its_first_payment(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    """Not the subscription's lifetime revenue (every renewal added up) at the first payment's time: the first
    payment, net of its own refunds (a renewal's refund is not this conversion's)."""
    order_id, _, renewal = _subscription_with_renewal(shop, db)
    order = _order(db, order_id)
    order.attribution = {**order.attribution, "gclid": "Cj0KCQ-TestGclid"}
    db.add(order)
    db.commit()
    charge = stripe_object("charge", id=random_id("ch_"), amount=1_500, amount_refunded=500, currency="eur",
                           payment_intent=f"pi_{renewal}")  # fmt: skip
    deliver(shop, db, "charge.refunded", charge)
    order = _order(db, order_id)
    assert (order.amount_paid, order.amount_refunded) == (3_000, 500)
    now = datetime.now(UTC)
    csv = conversions.google_ads_csv(session=db, account_id=shop.account.id or 0, since=now - timedelta(days=1),
                                     until=now + timedelta(minutes=1))  # fmt: skip
    [row] = csv.splitlines()[2:]
    assert row.split(",")[5:] == ["15.00", "EUR", order_id]


# --- failures -------------------------------------------------------------------------------------------------------


def test_provider_down_for_a_while_then_back_sends_every_conversion_exactly_once(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.down("/v26.0/")
    ad_platforms.down("/mp/collect")
    orders = [pay(shop, db, amount=4_900) for _ in range(3)]
    for _ in range(3):
        send_as_job("sender-a")
        time.sleep(0.12)
    rows = [d for d in deliveries(db) if d.provider in {"meta", "ga4"}]
    assert {d.status for d in rows} == {"retrying"} and all(d.attempts >= 2 for d in rows)
    assert "503" in rows[0].reason and "next try in" in rows[0].reason
    ad_platforms.up()
    drain()
    assert {d.status for d in deliveries(db)} == {"sent"}
    # Every order reached each provider (the refused tries carried them too: a request may carry several).
    assert sorted({e["custom_data"]["order_id"] for e in sent_events(ad_platforms, "/v26.0/")}) == sorted(orders)
    assert sorted({e["params"]["transaction_id"] for e in sent_events(ad_platforms, "/mp/collect")}) == sorted(orders)
    # Each conversion was answered 200/204 exactly once: the failed tries are attempts, not sends.
    with Session(db.get_bind()) as session:
        for delivery in deliveries(db):
            outcomes = [a.outcome for a in session.exec(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery.id))]  # fmt: skip
            assert outcomes.count("sent") == 1


def test_meta_400_is_dead_with_metas_message_and_can_be_replayed(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    made = make_pixels(db, shop, ad_platforms)
    ad_platforms.bad_tokens.add(META_TOKEN)
    pay(shop, db)
    drain()
    meta = next(d for d in deliveries(db) if d.provider == "meta")
    assert meta.status == "dead" and meta.attempts == 1
    assert "Invalid OAuth access token" in meta.reason and "HTTP 400" in meta.reason
    # The shop fixes its token, then replays from the UI.
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["meta"],
                        credentials={"access_token": "EAAnewtoken0123456789"})  # fmt: skip
    db.commit()
    conversions.replay(session=db, actor=shop.actor, delivery_public_id=meta.public_id)
    drain()
    meta = next(d for d in deliveries(db) if d.provider == "meta")
    assert (meta.status, meta.attempts) == ("sent", 2)
    with pytest.raises(ValidationFailed, match="Only dead or retrying"):
        conversions.replay(session=db, actor=shop.actor, delivery_public_id=meta.public_id)


def test_429_with_retry_after_is_honoured(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.fail_next("/mp/collect", 429, {"error": "rate limited"}, headers={"Retry-After": "2"})
    pay(shop, db)
    before = utcnow()
    send_as_job("sender-a")
    ga = next(d for d in deliveries(db) if d.provider == "ga4")
    assert ga.status == "retrying" and "Retry-After 2 s" in ga.reason
    assert ga.next_attempt_at >= before + timedelta(seconds=2)
    assert send_as_job("sender-a").claimed == 0  # not due yet, despite the tiny test backoff
    time.sleep(2.1)
    send_as_job("sender-a")
    assert next(d for d in deliveries(db) if d.provider == "ga4").status == "sent"
    assert len(ad_platforms.requests_to("/mp/collect")) == 2


def test_backoff_grows_exponentially_with_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.settings import get_settings

    monkeypatch.setenv("CONVERSIONS_RETRY_BASE_SECONDS", "30")
    monkeypatch.setenv("CONVERSIONS_RETRY_MAX_SECONDS", "3600")
    get_settings.cache_clear()
    try:
        delays = [[conversion_sender.backoff_seconds(n) for _ in range(200)] for n in (1, 2, 3, 10)]
        assert min(delays[0]) >= 15 and max(delays[0]) <= 30
        assert min(delays[1]) >= 30 and max(delays[1]) <= 60
        assert min(delays[2]) >= 60 and max(delays[2]) <= 120
        assert max(delays[3]) <= 3600  # capped
        assert len({round(d, 3) for d in delays[0]}) > 100  # jittered
        assert conversion_sender.backoff_seconds(1, retry_after=900) == 900
    finally:
        get_settings.cache_clear()


def test_revoked_google_refresh_token_is_dead_with_a_hint(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.revoked_tokens.add("1//refresh-token-0123")
    pay(shop, db)
    drain()
    google = next(d for d in deliveries(db) if d.provider == "google_ads")
    assert google.status == "dead" and "invalid_grant" in google.reason and "Reconnect Google" in google.reason
    assert not ad_platforms.requests_to("/v1/events:ingest")


def test_two_senders_at_once_never_send_the_same_delivery_twice(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    for _ in range(6):
        pay(shop, db)
    total = len(deliveries(db))
    results = []
    barrier = threading.Barrier(3)

    def sender(name: str) -> None:
        barrier.wait()
        results.append(conversion_sender.send_due(holder=name))

    threads = [threading.Thread(target=sender, args=(f"sender-{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.claimed for r in results) == total
    assert {d.status for d in deliveries(db)} == {"sent"}
    meta_ids = [e["event_id"] for e in sent_events(ad_platforms, "/v26.0/")]
    assert len(meta_ids) == len(set(meta_ids)) == 6


# --- rules: age, consent, test mode -------------------------------------------------------------------------------


def test_a_conversion_older_than_7_days_is_skipped_for_meta_never_sent(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms)
    order_id = start_checkout(shop, db, **BUYER)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900)
    deliver(shop, db, "checkout.session.completed", completed, created=int(time.time()) - 8 * 86400)
    drain()
    by = {d.provider: d for d in deliveries(db)}
    assert by["meta"].status == "skipped" and "older than 7 days" in by["meta"].reason
    assert by["ga4"].status == "skipped" and "72 hours" in by["ga4"].reason
    assert by["google_ads"].status == "sent" and by["webhook"].status == "sent"  # 90 days; the shop decides
    assert not ad_platforms.requests_to("/v26.0/") and not ad_platforms.requests_to("/mp/collect")


def test_denied_ad_consent_is_not_sent_to_ad_platforms(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    pay(shop, db, consent={"ad_user_data": False, "ad_personalization": False, "analytics": True})
    drain()
    by = {d.provider: d for d in deliveries(db)}
    assert by["meta"].status == by["google_ads"].status == "skipped"
    assert "denied consent" in by["meta"].reason
    assert by["ga4"].status == "sent" and by["webhook"].status == "sent"
    [ga] = ad_platforms.bodies("/mp/collect")
    assert ga["consent"] == {"ad_user_data": "DENIED", "ad_personalization": "DENIED"}
    assert not ad_platforms.requests_to("/v26.0/") and not ad_platforms.requests_to("/v1/events:ingest")


def test_test_mode_uses_each_providers_dry_run(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms, test_mode=True)
    pay(shop, db)
    drain()
    assert {d.status for d in deliveries(db)} == {"sent"} and all(d.test for d in deliveries(db))
    assert ad_platforms.bodies("/v26.0/")[0]["test_event_code"] == "TEST4242"
    assert ad_platforms.requests_to("/debug/mp/collect") and not ad_platforms.requests_to("/mp/collect")
    assert ad_platforms.bodies("/v1/events:ingest")[0]["validateOnly"] is True
    assert ad_platforms.bodies("/hooks/")[0]["test"] is True


def test_ga4_debug_validation_messages_make_the_delivery_dead(
    shop: Shop, db: Session, ad_platforms: AdPlatforms
) -> None:
    make_pixels(db, shop, ad_platforms, test_mode=True)
    ad_platforms.fail_next("/debug/mp/collect", 200, {"validationMessages": [
        {"fieldPath": "events", "description": "Event at index: [0] has invalid name [purchase!].",
         "validationCode": "NAME_INVALID"}]})  # fmt: skip
    pay(shop, db)
    drain()
    ga = next(d for d in deliveries(db) if d.provider == "ga4")
    assert ga.status == "dead" and "NAME_INVALID" in ga.reason


def test_meta_test_mode_needs_a_test_event_code(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    made = make_pixels(db, shop, ad_platforms)
    with pytest.raises(ValidationFailed, match="test event code"):
        pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["meta"], test_mode=True)


def test_send_test_event_for_each_provider(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    made = make_pixels(db, shop, ad_platforms)
    results = {
        provider: conversion_sender.send_test(session=db, actor=shop.actor, pixel_public_id=pixel_id)
        for provider, pixel_id in made.items()
    }
    assert not results["meta"].ok and "test event code" in results["meta"].message  # would be a live event
    assert results["ga4"].ok and "Valid" in results["ga4"].message
    assert results["google_ads"].ok and results["webhook"].ok
    assert ad_platforms.requests_to("/debug/mp/collect") and not ad_platforms.requests_to("/mp/collect")
    assert ad_platforms.bodies("/v1/events:ingest")[0]["validateOnly"] is True
    assert not db.exec(select(ConversionDelivery)).all()  # a test send stores no delivery


# --- reading back -------------------------------------------------------------------------------------------------


def test_list_filters_totals_and_pages(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    ad_platforms.bad_tokens.add(META_TOKEN)
    for _ in range(3):
        pay(shop, db)
    drain()
    account_id = shop.account.id or 0
    page = conversions.list_deliveries(session=db, account_id=account_id, limit=5)
    assert page.total == 12 and page.totals["sent"] == 9 and page.totals["dead"] == 3 and len(page.rows) == 5
    second = conversions.list_deliveries(session=db, account_id=account_id, limit=10, cursor=page.next_cursor)
    assert len(second.rows) == 7 and second.next_cursor is None
    assert not {r.delivery_id for r in page.rows} & {r.delivery_id for r in second.rows}
    dead = conversions.list_deliveries(session=db, account_id=account_id, status="dead")
    assert dead.total == 3 and {r.provider for r in dead.rows} == {"meta"}
    meta = conversions.list_deliveries(session=db, account_id=account_id, provider="meta")
    assert meta.total == 3 and meta.totals["dead"] == 3
    with pytest.raises(ValidationFailed, match="provider must be one of"):
        conversions.list_deliveries(session=db, account_id=account_id, provider="tiktok")
    other = make_shop(db, shop.recorder, name="Other shop")
    assert conversions.list_deliveries(session=db, account_id=other.account.id or 0).total == 0


def test_google_ads_csv_export(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    with_click = start_checkout(shop, db, **BUYER)
    order = _order(db, with_click)
    order.attribution = {**order.attribution, "gclid": "Cj0KCQ-TestGclid"}
    db.add(order)
    db.commit()
    completed = shop.recorder.complete_session(session_of(shop, db, with_click)["id"], amount_total=4_900)
    deliver(shop, db, "checkout.session.completed", completed)
    pay(shop, db)  # no click id: left out
    now = datetime.now(UTC)
    csv = conversions.google_ads_csv(session=db, account_id=shop.account.id or 0, since=now - timedelta(days=1),
                                     until=now + timedelta(minutes=1), conversion_name="Purchase")  # fmt: skip
    lines = csv.splitlines()
    assert lines[0] == "Parameters:TimeZone=+0000"
    assert (
        lines[1]
        == "Google Click ID,GBRAID,WBRAID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency,Order ID"
    )
    paid_at = _order(db, with_click).paid_at
    assert paid_at is not None
    assert lines[2] == f"Cj0KCQ-TestGclid,,,Purchase,{paid_at:%Y-%m-%d %H:%M:%S},49.00,EUR,{with_click}"
    assert len(lines) == 3


def test_sending_never_happens_inside_the_webhook(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    make_pixels(db, shop, ad_platforms)
    pay(shop, db)
    assert ad_platforms.requests == []  # the webhook only wrote the outbox
    db.exec(update(ConversionDelivery).values(status="pending"))  # type: ignore[call-overload]
    db.commit()


def test_google_ads_csv_neutralises_a_formula_conversion_name() -> None:
    from app.integrations.google_ads import click_conversions_csv

    text = click_conversions_csv(
        [{"gclid": "abc", "time": datetime(2026, 11, 2, tzinfo=UTC), "value": -1.5, "currency": "EUR"}],
        conversion_name="=cmd|' /C calc'!A0",
    )
    assert text.splitlines()[2] == "abc,,,'=cmd|' /C calc'!A0,2026-11-02 00:00:00,-1.5,EUR,"


def test_paying_webhooks_compile_no_new_statement_each(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> None:
    """app/db.py compiles each statement of the hot paths once and keeps it for the process's life: a paying webhook
    that writes deliveries must reuse module-level statements, not build (and so compile and keep) new ones per call,
    which would grow memory with every payment."""
    from app import db as app_db

    make_pixels(db, shop, ad_platforms)
    pay(shop, db)
    pay(shop, db)  # every statement shape of the path seen once
    kept = len(app_db._statements_in_use)
    for _ in range(3):
        pay(shop, db)
    assert len(app_db._statements_in_use) == kept
    assert db.exec(select(ConversionDelivery)).all()  # the deliveries were written
