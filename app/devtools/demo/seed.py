"""The demo seeder's run: refuse or reset an existing demo, then the named steps in order (owner and key, Stripe and
its catalogue, campaigns, pixels, then day by day traffic, orders with their webhooks, renewals and refunds, spend),
and the rollups last."""

from __future__ import annotations

import random
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from app.db import write_lock
from app.devtools.demo.account import connect_stripe, create_campaigns, create_owner_and_key, create_pixels
from app.devtools.demo.ad_spend import SpendRow, day_spend, import_spend
from app.devtools.demo.shop import DEMO_EMAIL, DEMO_TIMEZONE, WARMUP_DAYS, Visitor
from app.devtools.demo.stripe_events import OrderBook, create_order
from app.devtools.demo.traffic import ingest_day, session_count, simulate_day
from app.models import Account, Membership, Role, User
from app.models.base import utcnow
from app.services import lifetime, rollups
from app.services.errors import Conflict

MAX_DAYS = 400
TOTALS = ("events", "sessions", "orders", "subscriptions", "renewals", "refunds", "churned")


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
        session.execute(delete(Account).where(col(Account.id).in_(owned)))
        session.execute(delete(User).where(col(User.id) == user.id))
        session.commit()
    return True


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
    """Create the demo account and its history (see ``app.devtools.demo``). Refuses when it exists (``reset``
    deletes and recreates it).

    Raises:
        Conflict: ``days`` is out of range, or the demo exists and ``reset`` is not set.
    """
    started = time.perf_counter()
    if days < 1 or days > MAX_DAYS:
        raise Conflict(f"days must be between 1 and {MAX_DAYS}.")
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

    account, actor, identity = create_owner_and_key(session, password)
    catalogue_at = datetime.combine(first_day - timedelta(days=WARMUP_DAYS + 2), datetime.min.time(), zone)
    stripe = connect_stripe(session, account, now=now, catalogue_at=catalogue_at)
    made = create_campaigns(session, actor, rng, first_day=first_day, days=days)
    counts = {"campaigns": len(made), "versions": sum(len(c.schedule) for c in made)}
    counts["pixels"] = create_pixels(session, actor, made)

    visitors: list[Visitor] = []
    book = OrderBook(stripe, account.public_id, rng)
    spend_rows: list[SpendRow] = []
    totals: Counter[str] = Counter(dict.fromkeys(TOTALS, 0))
    for offset in range(-WARMUP_DAYS, days):
        day = first_day + timedelta(days=offset)
        warmup = offset < 0
        day_start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        day_end = min(day_start + timedelta(days=1), now - timedelta(seconds=30))
        if day_end <= day_start:
            break
        sessions = session_count(rng, sessions_per_day=sessions_per_day, day=day, offset=offset, days=days,
                                 length=day_end - day_start, warmup=warmup)  # fmt: skip
        traffic = simulate_day(rng, sessions=sessions, day_start=day_start, day_end=day_end, warmup=warmup,
                               made=made, visitors=visitors, totals=totals)  # fmt: skip
        ingest_day(session, actor.account_id, identity.key_id, traffic, clock=day_end)
        for checkout in traffic.checkouts:
            order = create_order(session, actor.account_id, checkout)
            totals["orders"] += 1
            book.pay(order, checkout, warmup=warmup, totals=totals)
        book.settle_day(day_start, day_end, totals)
        if not warmup:
            spend_rows += day_spend(rng, day, made, traffic.campaign_sessions)
        log(f"{day}: {sessions} sessions, {len(traffic.checkouts)} orders")

    import_spend(session, actor, spend_rows)
    totals["spend_rows"] = len(spend_rows)
    with write_lock:
        rollups.rebuild(session, actor.account_id)
        lifetime.rebuild(session, actor.account_id)
    counts |= totals
    counts["webhooks"] = stripe.delivered
    return DemoResult(account.slug, account.public_id, DEMO_EMAIL, password, first_day, today, counts,
                      time.perf_counter() - started)  # fmt: skip
