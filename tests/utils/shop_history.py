"""A shop with two campaigns, orders with products, a refund, spend, conversion deliveries and alert events around
2026-03-29 - 31 and the week before: what the assistant and its tools are asked about."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from app.models import AlertEvent, ConversionDelivery, Order, StripeProduct
from app.models.base import new_public_id
from app.services import alerts, rollups
from tests.utils.world import World, all_models, utc

START, END = date(2026, 3, 29), date(2026, 3, 31)
CUSTOM = {"start": START.isoformat(), "end": END.isoformat()}


class Shop(World):
    big: Order  # paid 2026-03-29 (Search), partly refunded on the 31st
    small: Order
    usd: Order
    before: Order  # in the comparison period
    rule: alerts.RuleRow


def shop(db: Session, *, amount: int = 10_000, note: str = "Spring creative, 20 % off") -> Shop:
    """A shop (Europe/Paris) with campaigns A (meta, v1 → v2) and B (google), sessions, orders with products, a
    refund, spend, conversion deliveries and alert events around 2026-03-29 – 31, and the week before."""
    w = Shop(db)
    w.a1.config = {"notes": "Launch", "landing_url": "https://shop.example/spring"}
    w.a2.config = {"notes": note, "landing_url": "https://shop.example/spring", "targets": {"min_roas": 2.0}}
    w.a2.change_note = "New creative"
    w.a.active_version_id, w.b.active_version_id = w.a2.id, w.b1.id
    db.add_all([w.a, w.b, w.a1, w.a2])
    for n, (at, version) in enumerate(
        [
            (utc(2026, 3, 29, 9), w.a2),
            (utc(2026, 3, 29, 10), w.b1),
            (utc(2026, 3, 30, 9), None),
            (utc(2026, 3, 27, 9), w.a2),
        ]
    ):
        w.visit(at, version, f"visitor{n}")
    w.big = w.order(
        utc(2026, 3, 29, 12),
        all_models(w.b1),
        amount=amount,
        email="ann@example.com",
        items=[("prod_shoe", "price_shoe", amount - 1_000, 1), ("prod_sock", "price_sock", 1_000, 1)],
    )
    w.small = w.order(
        utc(2026, 3, 30, 12), all_models(w.a2), amount=3_000, items=[("prod_sock", "price_sock", 3_000, 1)]
    )
    w.usd = w.order(utc(2026, 3, 30, 13), all_models(None), amount=2_500, currency="USD")
    w.before = w.order(utc(2026, 3, 27, 12), all_models(w.a2), amount=8_000)
    w.refund(w.big, utc(2026, 3, 31, 8), 2_000)
    w.big.amount_refunded, w.big.status = 2_000, "partially_refunded"
    db.add(w.big)
    w.spend(date(2026, 3, 29), w.a, 5_000)
    w.spend(date(2026, 3, 30), w.b, 2_000)
    w.spend(date(2026, 3, 27), w.a, 4_000)
    db.add_all(
        [
            StripeProduct(account_id=w.account_id, stripe_id="prod_shoe", name="Trail shoe"),
            StripeProduct(account_id=w.account_id, stripe_id="prod_sock", name="Wool sock"),
        ]
    )
    for provider, status, order in [
        ("meta", "sent", w.big),
        ("meta", "dead", w.small),
        ("ga4", "sent", w.big),
        ("ga4", "retrying", w.small),
        ("webhook", "skipped", w.usd),
    ]:
        db.add(
            ConversionDelivery(
                public_id=new_public_id("cd"),
                account_id=w.account_id,
                order_id=order.id,
                pixel_name=f"{provider} pixel",
                provider=provider,
                kind="purchase",
                dedup_key=new_public_id("dk", 40),
                campaign_id=order.campaign_id,
                conversion={"amount": order.amount_paid, "currency": order.currency},
                event_time=order.paid_at or order.created_at,
                status=status,
                reason="HTTP 400: invalid token" if status == "dead" else "",
                attempts=1,
                created_at=order.paid_at or order.created_at,
            )
        )
    db.commit()
    w.rule = alerts.create_rule(
        session=db,
        actor=w.actor,
        data={
            "name": "ROAS watch",
            "campaign": w.a.public_id,
            "metric": "roas",
            "recipient_emails": "ops@shop.test",
            "min_sessions": 0,
        },
    )
    rule_id = alerts.get_rule(db, w.account_id, w.rule.public_id).id
    assert rule_id is not None
    for n, kind in enumerate(["fired", "resolved"]):
        db.add(
            AlertEvent(
                public_id=new_public_id("ae"),
                account_id=w.account_id,
                rule_id=rule_id,
                campaign_id=w.a.id,
                campaign_version_id=w.a2.id,
                kind=kind,
                metric="roas",
                value=1.2 + n,
                threshold=2.0,
                window_start=utc(2026, 3, 29),
                window_end=utc(2026, 3, 30),
                summary=f"ROAS {1.2 + n:.2f} vs 2.00",
                details={"currency": "EUR"},
                created_at=utc(2026, 3, 30, n),
            )
        )
    db.commit()
    rollups.rebuild(db, w.account_id)
    db.commit()
    return w
