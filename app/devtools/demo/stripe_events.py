"""Orders and the money for them, as the shop and Stripe would make them: an order as checkout creates it, then
Stripe's signed webhooks (checkout completed, subscriptions, renewals, cancellations, refunds) delivered to the real
webhook service. No Stripe is reachable offline, so the events are built here and signed with the account's secret."""

from __future__ import annotations

import json
import random
import secrets
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.db import write_lock
from app.devtools.demo.shop import SHOP, SUBSCRIPTION, Checkout, RefundDue, Subscriber
from app.integrations.signed_webhook import signature
from app.models import Order, OrderMode
from app.models.base import new_public_id
from app.services import attribution
from app.services.checkout import META_ACCOUNT, META_EVENT, META_ORDER, META_VISITOR
from app.services.stripe_webhooks import receive_webhook
from app.settings import get_settings


class DemoStripe:
    """Signs and delivers webhook events for the demo account, through the real webhook service."""

    def __init__(self, session: Session, account_public_id: str, secret: str) -> None:
        self.session = session
        self.account_public_id = account_public_id
        self.secret = secret
        self.delivered = 0

    def send(self, type_: str, obj: dict[str, Any], at: datetime) -> None:
        event = {
            "id": f"evt_demo_{secrets.token_hex(12)}",
            "object": "event",
            "type": type_,
            "api_version": get_settings().stripe_api_version,
            "created": int(at.timestamp()),
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": obj},
        }
        payload = json.dumps(event, separators=(",", ":")).encode()
        # Stripe's scheme (our own webhooks sign the same way); the signature is fresh, the event's time is past.
        result = receive_webhook(
            session=self.session,
            account_public_id=self.account_public_id,
            payload=payload,
            signature=signature(self.secret, int(time.time()), payload),
        )
        if result.outcome not in {"applied", "ignored"}:
            raise RuntimeError(f"demo webhook {type_} was not applied: {result.outcome} {result.message}")
        self.delivered += 1


def create_order(session: Session, account_id: int, checkout: Checkout) -> Order:
    """An order as ``checkout`` creates it when the buyer starts checkout (attribution snapshot at that moment);
    Stripe's Checkout Session itself is not called (offline), its webhook completes the order."""
    at = checkout.at
    visitor = checkout.visitor
    snapshot = attribution.snapshot(session=session, account_id=account_id, visitor_key=visitor.visitor_id, at=at)
    last_touch = snapshot["models"][attribution.AttributionModel.LAST_TOUCH][0]
    snapshot.update({"user_agent": visitor.user_agent, "ip": visitor.ip, "consent": None})
    public_id = new_public_id("ord")
    order = Order(
        public_id=public_id,
        account_id=account_id,
        request_key=f"demo-{secrets.token_hex(16)}",
        mode=OrderMode.SUBSCRIPTION if checkout.subscription else OrderMode.PAYMENT,
        currency="EUR",
        amount_expected=checkout.amount,
        items=[
            {"price": item.price_id, "product": item.product_id, "quantity": quantity, "unit_amount": item.amount}
            for item, quantity in zip(checkout.items, checkout.quantities, strict=True)
        ],
        event_id=checkout.event_id,
        visitor_id=visitor.visitor_id,
        session_key=checkout.session_id,
        customer_email=checkout.email,
        campaign_id=last_touch["campaign_id"],
        campaign_version_id=last_touch["campaign_version_id"],
        attribution=snapshot,
        success_url=f"{SHOP}/thanks?order={public_id}",
        cancel_url=f"{SHOP}/cart",
        created_at=at,
        status_changed_at=at,
    )
    with write_lock:
        session.add(order)
        session.commit()
    session.refresh(order)
    return order


class OrderBook:
    """What the orders of the demo still owe: subscriptions to renew or cancel, refunds to make. ``refund_in_window``:
    the first order of the window is refunded a day later, so the refund KPI is never empty."""

    def __init__(self, stripe: DemoStripe, account_public_id: str, rng: random.Random) -> None:
        self.stripe = stripe
        self.account_public_id = account_public_id
        self.rng = rng
        self.subscribers: list[Subscriber] = []
        self.refunds_due: list[RefundDue] = []
        self.refund_in_window = False

    def pay(self, order: Order, checkout: Checkout, *, warmup: bool, totals: Counter[str]) -> None:
        """Stripe's webhooks for a paid checkout (a new subscription first), and maybe a refund to come."""
        rng = self.rng
        customer = f"cus_demo_{secrets.token_hex(7)}"
        cs = f"cs_demo_{secrets.token_hex(12)}"
        metadata = {META_ORDER: order.public_id, META_EVENT: order.event_id, META_ACCOUNT: self.account_public_id,
                    META_VISITOR: checkout.visitor.visitor_id}  # fmt: skip
        completed: dict[str, Any] = {
            "id": cs, "object": "checkout.session", "client_reference_id": order.public_id,
            "metadata": metadata, "mode": order.mode, "status": "complete", "payment_status": "paid",
            "amount_total": checkout.amount, "currency": "eur", "customer": customer,
            "customer_details": {"email": checkout.email}, "customer_email": checkout.email,
            "payment_intent": None, "subscription": None, "invoice": None,
        }  # fmt: skip
        payment_intent = None
        if checkout.subscription:
            sub = f"sub_demo_{secrets.token_hex(10)}"
            completed |= {"subscription": sub, "invoice": f"in_demo_{secrets.token_hex(10)}"}
            self.stripe.send("customer.subscription.created", subscription_object(sub, customer, metadata,
                             checkout.paid, "active"), checkout.paid)  # fmt: skip
            churn = checkout.paid + timedelta(days=rng.randint(20, 200)) if rng.random() < 0.35 else None
            self.subscribers.append(
                Subscriber(order, sub, customer, checkout.amount, checkout.paid + timedelta(days=30), churn)
            )
            totals["subscriptions"] += 1
        else:
            payment_intent = f"pi_demo_{secrets.token_hex(10)}"
            completed["payment_intent"] = payment_intent
        self.stripe.send("checkout.session.completed", completed, checkout.paid)
        first_in_window = not warmup and not self.refund_in_window
        self.refund_in_window = self.refund_in_window or first_in_window
        if rng.random() < 0.055 or first_in_window:
            days_later = 1 if first_in_window else rng.randint(1, 14)
            refund_at = checkout.paid + timedelta(days=days_later, hours=rng.randint(0, 20))
            amount = checkout.amount if rng.random() < 0.7 else checkout.amount // 2
            self.refunds_due.append(RefundDue(refund_at, order, payment_intent, amount))

    def settle_day(self, day_start: datetime, day_end: datetime, totals: Counter[str]) -> None:
        """The renewals, cancellations and refunds that fall on the day ``[day_start, day_end)``."""
        for sub in self.subscribers:
            while sub.next_at < day_end and (sub.churn_at is None or sub.next_at < sub.churn_at):
                if sub.next_at >= day_start - timedelta(days=1):
                    invoice = f"in_demo_{secrets.token_hex(10)}"
                    self.stripe.send("invoice.paid", invoice_object(invoice, sub, sub.next_at), sub.next_at)
                    totals["renewals"] += 1
                sub.next_at += timedelta(days=30)
            if sub.churn_at is not None and day_start <= sub.churn_at < day_end:
                metadata = {META_ORDER: sub.order.public_id}
                self.stripe.send("customer.subscription.deleted", subscription_object(sub.subscription, sub.customer,
                                 metadata, sub.churn_at, "canceled"), sub.churn_at)  # fmt: skip
                totals["churned"] += 1
        for due in [d for d in self.refunds_due if day_start <= d.at < day_end]:
            order, amount = due.order, due.amount
            self.stripe.send("charge.refunded", {
                "id": f"ch_demo_{secrets.token_hex(10)}", "object": "charge", "amount": order.amount_paid or amount,
                "amount_refunded": amount, "currency": "eur", "payment_intent": due.payment_intent,
                "metadata": {META_ORDER: order.public_id}, "refunded": amount >= (order.amount_paid or amount),
            }, due.at)  # fmt: skip
            totals["refunds"] += 1


def subscription_object(sub: str, customer: str, metadata: dict[str, str], at: datetime, status: str) -> dict[str, Any]:
    return {
        "id": sub, "object": "subscription", "status": status, "customer": customer, "metadata": metadata,
        "cancel_at_period_end": False, "current_period_end": int((at + timedelta(days=30)).timestamp()),
        "canceled_at": int(at.timestamp()) if status == "canceled" else None,
        "items": {"object": "list", "data": [{"id": f"si_{sub[9:]}", "price": {"id": SUBSCRIPTION.price_id}}]},
    }  # fmt: skip


def invoice_object(invoice: str, sub: Subscriber, at: datetime) -> dict[str, Any]:
    return {
        "id": invoice, "object": "invoice", "billing_reason": "subscription_cycle", "status": "paid",
        "amount_paid": sub.amount, "currency": "eur", "customer": sub.customer,
        "status_transitions": {"paid_at": int(at.timestamp())},
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": sub.subscription, "metadata": {META_ORDER: sub.order.public_id}}},
        "payments": {"object": "list", "data": [{"payment": {"type": "payment_intent",
                                                             "payment_intent": f"pi_demo_{secrets.token_hex(10)}"}}]},
    }  # fmt: skip
