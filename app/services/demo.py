"""Demo data: a shop with campaigns, versions, pixels and ``days`` days of traffic, orders, renewals, refunds and ad
spend, made by driving the real services, so a newcomer sees a living dashboard (``python -m app.cli seed-demo``).

- Traffic goes through the ingest pipeline the events API uses (parse, enrich with bot check and ``fbc``, the
  writer's ``write_requests`` deriving visitors, sessions, campaign/version tags and touches), one transaction per
  simulated day. The pipeline refuses events older than 7 days when they arrive now, so each day is replayed with
  the clock of that day (``now`` = the end of the simulated day).
- Orders are created as checkout creates them (with ``attribution.snapshot`` taken at checkout time); no Stripe is
  reachable offline, so the money arrives as signed Stripe webhook payloads (``checkout.session.completed``,
  ``customer.subscription.*``, ``invoice.paid`` renewals, ``charge.refunded``) delivered to
  ``stripe_webhooks.receive_webhook`` with the account's webhook secret, exactly as the webhook endpoint does. The
  catalogue arrives the same way (``product.created`` / ``price.created``).
- Ad spend is imported as a CSV through ``services/spend`` (preview, then import).
- Campaign versions are published through ``services/campaigns``, then their publish time is moved back into the
  simulated past (the only direct write: a real shop's history cannot be made otherwise). Pixels are created and
  attached through ``services/pixels`` and left disabled (demo credentials; nothing is sent to Meta or Google).
- Finally ``rollups.rebuild`` so the dashboard reads the daily rollups at once.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from app import runtime
from app.db import write_lock
from app.models import Account, CampaignVersion, Membership, Order, Role, StripeConnection, User
from app.models.base import new_public_id, utcnow
from app.services import accounts, attribution, campaigns, ingest, keys, pixels, rollups, spend
from app.services.checkout import META_ACCOUNT, META_EVENT, META_ORDER, META_VISITOR
from app.services.crypto import encrypt_secret
from app.services.errors import Conflict
from app.services.permissions import Actor
from app.services.stripe_webhooks import receive_webhook
from app.settings import get_settings

DEMO_EMAIL = "demo@example.com"
DEMO_ACCOUNT = "Demo Shop"
DEMO_TIMEZONE = "Europe/Berlin"
DEMO_STRIPE_KEY = "sk_test_demo_offline_paidsignal_0000"
SHOP = "https://demo-shop.example"
WARMUP_DAYS = 30
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
)
PATHS = ("/", "/shop", "/shop/sneakers", "/shop/socks", "/shop/caps", "/about", "/journal/autumn-edit")
# product id, name, price id, amount (EUR cents), monthly?
CATALOGUE = (
    ("prod_demo_sneakers", "Sneakers", "price_demo_sneakers", 8_900, False),
    ("prod_demo_socks", "Socks (3 pairs)", "price_demo_socks", 1_900, False),
    ("prod_demo_cap", "Cap", "price_demo_cap", 2_900, False),
    ("prod_demo_club", "Sock club", "price_demo_club_monthly", 1_500, True),
)
# name, channel, utm_source, utm_medium, utm_campaign, click id, traffic weight, conversion multiplier, versions, CPC
CAMPAIGNS = (
    ("Autumn sale", "meta", "facebook", "paid_social", "autumn-sale", "fbclid", 5, 1.0, 3, 110),
    ("Brand search", "google", "google", "cpc", "brand", "gclid", 4, 1.8, 1, 90),
    ("Shopping feed", "google", "google", "cpc", "shopping", "gclid", 5, 1.1, 2, 80),
    ("Creators", "tiktok", "tiktok", "paid_social", "creators", "ttclid", 4, 0.5, 2, 70),
    ("Newsletter", "email", "newsletter", "email", "newsletter", None, 2, 2.0, 1, 0),
)


@dataclass
class DemoResult:
    account_slug: str
    account_id: str
    email: str
    password: str
    start: date
    end: date
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def find_demo_account(session: Session) -> Account | None:
    """The account the demo user owns, if the demo was seeded before."""
    return session.exec(
        select(Account)
        .join(Membership, col(Membership.account_id) == col(Account.id))
        .join(User, col(User.id) == col(Membership.user_id))
        .where(User.email == DEMO_EMAIL, Membership.role == Role.OWNER.value)
    ).first()


def delete_demo(session: Session) -> bool:
    """Delete the demo user and every account it owns (the database cascades to their data)."""
    user = session.exec(select(User).where(User.email == DEMO_EMAIL)).first()
    if user is None:
        return False
    owned = session.exec(
        select(Membership.account_id).where(Membership.user_id == user.id, Membership.role == Role.OWNER.value)
    ).all()
    with write_lock:
        session.exec(delete(Account).where(col(Account.id).in_(owned)))  # type: ignore[call-overload]
        session.exec(delete(User).where(col(User.id) == user.id))  # type: ignore[call-overload]
        session.commit()
    return True


# --- Stripe as it would call us -------------------------------------------------------------------------------------


class _Stripe:
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
        stamp = int(time.time())  # the signature is fresh; the event's own time is in the past
        digest = hmac.new(self.secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256).hexdigest()
        result = receive_webhook(
            session=self.session,
            account_public_id=self.account_public_id,
            payload=payload,
            signature=f"t={stamp},v1={digest}",
        )
        if result.outcome not in {"applied", "ignored"}:
            raise RuntimeError(f"demo webhook {type_} was not applied: {result.outcome} {result.message}")
        self.delivered += 1


# --- the seeder -----------------------------------------------------------------------------------------------------


@dataclass
class _Sub:
    order: Order
    subscription: str
    customer: str
    amount: int
    next_at: datetime
    churn_at: datetime | None


def seed_demo(
    *,
    session: Session,
    days: int = 90,
    sessions_per_day: int = 300,
    reset: bool = False,
    password: str | None = None,
    seed: int = 7,
    log: Callable[[str], None] = lambda _line: None,
) -> DemoResult:
    """Create the demo account and its history; see the module docstring. Refuses when it exists (``reset``
    deletes and recreates it)."""
    started = time.perf_counter()
    if days < 1 or days > 400:
        raise Conflict("days must be between 1 and 400.")
    if find_demo_account(session) is not None or session.exec(select(User).where(User.email == DEMO_EMAIL)).first():
        if not reset:
            raise Conflict(
                f"A demo account already exists (owner {DEMO_EMAIL}); run seed-demo --reset to delete and recreate it."
            )
        delete_demo(session)
        log(f"deleted the previous demo account of {DEMO_EMAIL}")
    rng = random.Random(seed)
    password = password or f"demo-{secrets.token_urlsafe(9)}"
    zone = ZoneInfo(DEMO_TIMEZONE)
    now = utcnow()
    today = now.astimezone(zone).date()
    first_day = today - timedelta(days=days - 1)
    counts: dict[str, int] = {}

    # account, owner, keys
    with write_lock:
        account, user = accounts.signup(session=session, account_name=DEMO_ACCOUNT, email=DEMO_EMAIL,
                                        password=password, timezone=DEMO_TIMEZONE)  # fmt: skip
        session.flush()
        assert account.id is not None and user.id is not None
        actor = Actor(user_id=user.id, account_id=account.id, role=Role.OWNER)
        key = keys.create_key(session=session, actor=actor, kind="publishable", label="Demo shop", origins=[SHOP])
        session.commit()
    account_id = account.id
    # the gatekeeper's check of the shop's key, as for a request from the shop's origin
    identity = keys.authenticate_publishable_key(session=session, raw=key.plaintext, origin=SHOP)

    # Stripe: a connection with a webhook secret (the key is a placeholder: nothing calls Stripe offline)
    webhook_secret = f"whsec_demo_{secrets.token_hex(16)}"
    with write_lock:
        session.add(
            StripeConnection(
                account_id=account_id,
                secret_key_encrypted=encrypt_secret(DEMO_STRIPE_KEY),
                key_hint="sk_test_…0000 (offline demo)",
                webhook_secret_encrypted=encrypt_secret(webhook_secret),
                stripe_account_id="acct_demo",
                stripe_account_name="Demo Shop (offline demo)",
                catalog_synced_at=now,
            )
        )
        session.commit()
    runtime.current().webhook_secrets.clear()
    stripe = _Stripe(session, account.public_id, webhook_secret)
    start_at = datetime.combine(first_day - timedelta(days=WARMUP_DAYS + 2), datetime.min.time(), zone)
    for product, name, price, amount, monthly in CATALOGUE:
        stripe.send("product.created", {"id": product, "object": "product", "name": name, "active": True}, start_at)
        stripe.send(
            "price.created",
            {"id": price, "object": "price", "product": product, "currency": "eur", "unit_amount": amount,
             "active": True, "type": "recurring" if monthly else "one_time",
             "recurring": {"interval": "month", "interval_count": 1} if monthly else None},
            start_at,
        )  # fmt: skip

    # campaigns and versions (published now through the service, then moved back to their simulated dates)
    made = []
    with write_lock:
        for priority, (name, channel, source, medium, key_value, click, weight, mult, versions, cpc) in enumerate(
            CAMPAIGNS
        ):
            row = campaigns.create_campaign(session=session, actor=actor, name=name, channel=channel,
                                            priority=100 + priority)  # fmt: skip
            schedule = []
            for number in range(1, versions + 1):
                config = {
                    "matching_rules": [{"conditions": [{"field": "utm_campaign", "op": "equals", "value": key_value}]}],
                    "budget": {"amount": cpc * 400, "currency": "EUR", "period": "daily"} if cpc else None,
                    "targets": {"target_cpa": 2_500 if cpc else None, "min_roas": 2.0 if cpc else None},
                    "notes": "Launch creative." if number == 1 else f"v{number}: new creative and a sharper offer.",
                }
                version = campaigns.publish(session=session, actor=actor, campaign_public_id=row.public_id,
                                            config=config, change_note=config["notes"])  # fmt: skip
                offset = -WARMUP_DAYS if number == 1 else (days * (number - 1)) // versions
                published = datetime.combine(first_day + timedelta(days=offset), datetime.min.time(), zone) - (
                    timedelta(days=1) if number == 1 else timedelta(hours=-9)
                )
                session.exec(
                    update(CampaignVersion)  # type: ignore[call-overload]
                    .where(col(CampaignVersion.public_id) == version.public_id)
                    .values(published_at=published.astimezone(UTC))
                )
                schedule.append((published.astimezone(UTC), mult * rng.uniform(0.75, 1.3)))
            campaign = campaigns.get_campaign(session, account_id, row.public_id)
            made.append({"public_id": row.public_id, "id": campaign.id, "channel": channel, "utm": (source, medium,
                         key_value), "click": click, "weight": weight, "schedule": schedule, "cpc": cpc})  # fmt: skip
        session.commit()
    runtime.current().campaign_matchers.clear()
    counts["campaigns"] = len(made)
    counts["versions"] = sum(len(c["schedule"]) for c in made)

    # pixels: Meta on the Meta campaign, GA4 for everything; disabled (demo credentials)
    with write_lock:
        meta = pixels.create_pixel(session=session, actor=actor, provider="meta", name="Meta (demo)",
                                   settings={"pixel_id": "123456789012345"},
                                   credentials={"access_token": "EAAdemo0000000000"})  # fmt: skip
        ga4 = pixels.create_pixel(session=session, actor=actor, provider="ga4", name="GA4 (demo)",
                                  settings={"measurement_id": "G-DEMO12345"},
                                  credentials={"api_secret": "demo-secret-0000"}, is_default=True)  # fmt: skip
        for c in made:
            if c["channel"] == "meta":
                pixels.attach_pixel(session=session, actor=actor, campaign_public_id=c["public_id"],
                                    pixel_public_id=meta.public_id)  # fmt: skip
        for pixel in (meta, ga4):
            pixels.update_pixel(session=session, actor=actor, pixel_public_id=pixel.public_id, enabled=False)
        session.commit()
    counts["pixels"] = 2

    # the days
    visitors: list[tuple[str, str, str]] = []  # (visitor id, user agent, ip)
    subs: list[_Sub] = []
    refunds_due: list[tuple[datetime, Order, str | None, int]] = []  # (when, order, payment intent, amount)
    spend_rows: list[tuple[date, str, int, int, int]] = []
    totals = dict.fromkeys(("events", "sessions", "orders", "subscriptions", "renewals", "refunds", "churned"), 0)
    window_refund = False
    # A month before the window only brings subscribers (about 1 % of a day's sessions, each subscribing), so
    # renewals happen from the first days of the window on, as in a shop that has been running for a while.
    for offset in range(-WARMUP_DAYS, days):
        day = first_day + timedelta(days=offset)
        warmup = offset < 0
        day_start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        day_end = min(day_start + timedelta(days=1), now - timedelta(seconds=30))
        if day_end <= day_start:
            break
        weekday = (1.0, 1.0, 1.0, 1.05, 1.0, 0.8, 0.85)[day.weekday()]
        n_sessions = int(sessions_per_day * weekday * (0.85 + 0.3 * offset / max(1, days)) * rng.uniform(0.9, 1.1))
        n_sessions = max(1, int(n_sessions * (day_end - day_start) / timedelta(days=1)))
        if warmup:
            n_sessions = max(1, sessions_per_day // 100)
        requests: list[tuple[tuple[str, str], list[dict[str, Any]]]] = []
        checkouts: list[dict[str, Any]] = []
        clicks_by_campaign: dict[str, int] = {}
        for _ in range(n_sessions):
            at = day_start + timedelta(seconds=rng.uniform(0, (day_end - day_start).total_seconds() - 900))
            if visitors and rng.random() < 0.35:
                visitor, agent, ip = rng.choice(visitors[-4000:])
                returning = True
            else:
                visitor = str(uuid.UUID(int=rng.getrandbits(128)))
                agent = rng.choice(USER_AGENTS)
                ip = f"198.51.100.{rng.randint(1, 254)}"
                visitors.append((visitor, agent, ip))
                returning = False
            session_id = str(uuid.UUID(int=rng.getrandbits(128)))
            landing_fields: dict[str, Any] = {}
            mult = 0.6
            r = rng.random()
            live = [c for c in made if c["schedule"][0][0] <= at]
            if r < 0.6 and live:
                campaign = rng.choices(live, weights=[c["weight"] for c in live])[0]
                mult = next(m for p, m in reversed(campaign["schedule"]) if p <= at) if any(
                    p <= at for p, _ in campaign["schedule"]) else 1.0  # fmt: skip
                source, medium, utm_campaign = campaign["utm"]
                landing_fields = {"utm_source": source, "utm_medium": medium, "utm_campaign": utm_campaign}
                if campaign["click"]:
                    landing_fields[campaign["click"]] = secrets.token_urlsafe(18)
                clicks_by_campaign[campaign["public_id"]] = clicks_by_campaign.get(campaign["public_id"], 0) + 1
            elif r < 0.8:
                landing_fields = {"referrer": "https://www.google.com/"}
                mult = 0.9
            path = rng.choice(PATHS)
            query = "&".join(f"{k}={v}" for k, v in landing_fields.items() if k != "referrer")
            events: list[dict[str, Any]] = []

            def event(
                type_: str,
                when: datetime,
                out: list[dict[str, Any]] = events,
                visitor: str = visitor,
                session_id: str = session_id,
                **fields: Any,
            ) -> None:
                out.append({"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "type": type_,
                            "timestamp": when.isoformat(), "visitor_id": visitor, "session_id": session_id,
                            **fields})  # fmt: skip

            event("page_view", at, url=f"{SHOP}{path}" + (f"?{query}" if query else ""), **landing_fields)
            pages = 1
            while rng.random() < 0.55 and pages < 8:
                at += timedelta(seconds=rng.randint(8, 90))
                event("page_view" if rng.random() < 0.5 else "view_item", at, url=f"{SHOP}{rng.choice(PATHS)}")
                pages += 1
            converts = warmup or rng.random() < 0.032 * mult * (1.4 if returning else 1.0)
            if converts or rng.random() < 0.07:
                at += timedelta(seconds=rng.randint(10, 60))
                event("add_to_cart", at, url=f"{SHOP}/cart")
            if converts:
                at += timedelta(seconds=rng.randint(20, 120))
                event("begin_checkout", at, url=f"{SHOP}/cart")
                subscription = warmup or rng.random() < 0.25
                if subscription:
                    items = [CATALOGUE[3]]
                    quantities = [1]
                else:
                    items = rng.sample(CATALOGUE[:3], k=rng.choice((1, 1, 2)))
                    quantities = [rng.choice((1, 1, 2)) for _ in items]
                paid = at + timedelta(seconds=rng.randint(60, 300))
                amount = sum(i[3] * q for i, q in zip(items, quantities, strict=True))
                purchase_id = str(uuid.UUID(int=rng.getrandbits(128)))
                events.append({"event_id": purchase_id, "type": "purchase", "timestamp": paid.isoformat(),
                               "visitor_id": visitor, "session_id": session_id, "url": f"{SHOP}/thanks",
                               "value": amount, "currency": "EUR"})  # fmt: skip
                checkouts.append({"visitor": visitor, "session": session_id, "at": at, "paid": paid,
                                  "items": items, "quantities": quantities, "amount": amount, "event_id": purchase_id,
                                  "subscription": subscription, "agent": agent, "ip": ip,
                                  "email": f"buyer-{visitor[:8]}@example.net"})  # fmt: skip
            requests.append(((agent, ip), events))
            totals["sessions"] += 1
            totals["events"] += len(events)

        # the day's traffic through the ingest pipeline, with the clock of that day
        clock = day_end
        with write_lock:
            by_client: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
            for (agent, ip), events in requests:
                result = ingest.IngestResult()
                parsed = ingest.parse_events(events, now=clock, result=result)
                context = ingest.IngestContext(account_id=account_id, source=ingest.Source.BROWSER,
                                               key_id=identity.key_id, user_agent=agent, ip=ip)  # fmt: skip
                rows = ingest.enrich(parsed, context, now=clock, result=result)
                if result.errors or result.dropped:
                    raise RuntimeError(f"demo events refused: {result.as_dict()}")
                by_client.setdefault((agent, ip), []).append(rows)
            ingest.write_requests(session, account_id, [rows for groups in by_client.values() for rows in groups])
            session.commit()

        # orders as checkout makes them, then Stripe's webhooks
        for item in checkouts:
            order = _create_order(session, account_id, item)
            totals["orders"] += 1
            customer = f"cus_demo_{secrets.token_hex(7)}"
            cs = f"cs_demo_{secrets.token_hex(12)}"
            metadata = {META_ORDER: order.public_id, META_EVENT: order.event_id, META_ACCOUNT: account.public_id,
                        META_VISITOR: item["visitor"]}  # fmt: skip
            completed: dict[str, Any] = {
                "id": cs, "object": "checkout.session", "client_reference_id": order.public_id,
                "metadata": metadata, "mode": order.mode, "status": "complete", "payment_status": "paid",
                "amount_total": item["amount"], "currency": "eur", "customer": customer,
                "customer_details": {"email": item["email"]}, "customer_email": item["email"],
                "payment_intent": None, "subscription": None, "invoice": None,
            }  # fmt: skip
            payment_intent = None
            if item["subscription"]:
                sub = f"sub_demo_{secrets.token_hex(10)}"
                completed |= {"subscription": sub, "invoice": f"in_demo_{secrets.token_hex(10)}"}
                stripe.send("customer.subscription.created", _subscription_object(sub, customer, metadata,
                            item["paid"], "active"), item["paid"])  # fmt: skip
                churn = item["paid"] + timedelta(days=rng.randint(20, 200)) if rng.random() < 0.35 else None
                subs.append(_Sub(order, sub, customer, item["amount"], item["paid"] + timedelta(days=30), churn))
                totals["subscriptions"] += 1
            else:
                payment_intent = f"pi_demo_{secrets.token_hex(10)}"
                completed["payment_intent"] = payment_intent
            stripe.send("checkout.session.completed", completed, item["paid"])
            first_in_window = not warmup and not window_refund  # refunded a day later: the KPI is never empty
            window_refund = window_refund or first_in_window
            if rng.random() < 0.055 or first_in_window:
                days_later = 1 if first_in_window else rng.randint(1, 14)
                refund_at = item["paid"] + timedelta(days=days_later, hours=rng.randint(0, 20))
                amount = item["amount"] if rng.random() < 0.7 else item["amount"] // 2
                refunds_due.append((refund_at, order, payment_intent, amount))

        # renewals, cancellations and refunds that fall on this day
        for sub in subs:
            while sub.next_at < day_end and (sub.churn_at is None or sub.next_at < sub.churn_at):
                if sub.next_at >= day_start - timedelta(days=1):
                    invoice = f"in_demo_{secrets.token_hex(10)}"
                    stripe.send("invoice.paid", _invoice_object(invoice, sub, sub.next_at), sub.next_at)
                    totals["renewals"] += 1
                sub.next_at += timedelta(days=30)
            if sub.churn_at is not None and day_start <= sub.churn_at < day_end:
                metadata = {META_ORDER: sub.order.public_id}
                stripe.send("customer.subscription.deleted", _subscription_object(sub.subscription, sub.customer,
                            metadata, sub.churn_at, "canceled"), sub.churn_at)  # fmt: skip
                totals["churned"] += 1
        for due in [d for d in refunds_due if day_start <= d[0] < day_end]:
            refund_at, order, payment_intent, amount = due
            stripe.send("charge.refunded", {
                "id": f"ch_demo_{secrets.token_hex(10)}", "object": "charge", "amount": order.amount_paid or amount,
                "amount_refunded": amount, "currency": "eur", "payment_intent": payment_intent,
                "metadata": {META_ORDER: order.public_id}, "refunded": amount >= (order.amount_paid or amount),
            }, refund_at)  # fmt: skip
            totals["refunds"] += 1

        for campaign in made:
            sessions = clicks_by_campaign.get(campaign["public_id"], 0)
            if campaign["cpc"] and sessions and not warmup:
                clicks = int(sessions * rng.uniform(1.05, 1.3))
                amount = int(clicks * campaign["cpc"] * rng.uniform(0.85, 1.15))
                spend_rows.append((day, campaign["public_id"], amount, clicks * rng.randint(35, 80), clicks))
        log(f"{day}: {n_sessions} sessions, {len(checkouts)} orders")

    # ad spend: one CSV, previewed and imported as on /spend
    if spend_rows:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["date", "campaign", "spend", "currency", "impressions", "clicks"])
        for day, campaign_id, amount, impressions, clicks in spend_rows:
            writer.writerow([day.isoformat(), campaign_id, f"{amount / 100:.2f}", "EUR", impressions, clicks])
        with write_lock:
            preview = spend.parse_spend_csv(text.getvalue(), session=session, account_id=account_id)
            if preview.invalid:
                raise RuntimeError(f"demo spend CSV has {preview.invalid} invalid rows")
            spend.import_spend(session=session, actor=actor, rows=preview.rows, source="csv")
            session.commit()
    totals["spend_rows"] = len(spend_rows)

    with write_lock:
        rollups.rebuild(session, account_id)
    counts |= totals
    counts["webhooks"] = stripe.delivered
    return DemoResult(account.slug, account.public_id, DEMO_EMAIL, password, first_day, today, counts,
                      time.perf_counter() - started)  # fmt: skip


def _create_order(session: Session, account_id: int, item: dict[str, Any]) -> Order:
    """An order as ``checkout`` creates it when the buyer starts checkout (attribution snapshot at that moment);
    Stripe's Checkout Session itself is not called (offline), its webhook completes the order."""
    at: datetime = item["at"]
    snapshot = attribution.snapshot(session=session, account_id=account_id, visitor_key=item["visitor"], at=at)
    last_touch = snapshot["models"][attribution.AttributionModel.LAST_TOUCH][0]
    snapshot.update({"user_agent": item["agent"], "ip": item["ip"], "consent": None})
    public_id = new_public_id("ord")
    order = Order(
        public_id=public_id,
        account_id=account_id,
        request_key=f"demo-{secrets.token_hex(16)}",
        mode="subscription" if item["subscription"] else "payment",
        currency="EUR",
        amount_expected=item["amount"],
        items=[
            {"price": price, "product": product, "quantity": quantity, "unit_amount": amount}
            for (product, _name, price, amount, _monthly), quantity in zip(
                item["items"], item["quantities"], strict=True
            )
        ],
        event_id=item["event_id"],
        visitor_id=item["visitor"],
        session_key=item["session"],
        customer_email=item["email"],
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


def _subscription_object(
    sub: str, customer: str, metadata: dict[str, str], at: datetime, status: str
) -> dict[str, Any]:
    return {
        "id": sub, "object": "subscription", "status": status, "customer": customer, "metadata": metadata,
        "cancel_at_period_end": False, "current_period_end": int((at + timedelta(days=30)).timestamp()),
        "canceled_at": int(at.timestamp()) if status == "canceled" else None,
        "items": {"object": "list", "data": [{"id": f"si_{sub[9:]}", "price": {"id": CATALOGUE[3][2]}}]},
    }  # fmt: skip


def _invoice_object(invoice: str, sub: _Sub, at: datetime) -> dict[str, Any]:
    return {
        "id": invoice, "object": "invoice", "billing_reason": "subscription_cycle", "status": "paid",
        "amount_paid": sub.amount, "currency": "eur", "customer": sub.customer,
        "status_transitions": {"paid_at": int(at.timestamp())},
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": sub.subscription, "metadata": {META_ORDER: sub.order.public_id}}},
        "payments": {"object": "list", "data": [{"payment": {"type": "payment_intent",
                                                             "payment_intent": f"pi_demo_{secrets.token_hex(10)}"}}]},
    }  # fmt: skip
