"""The demo's visitors: each simulated day's sessions (landing from a campaign, a search or directly, browsing,
sometimes buying) as the events pixel.js would send, written through the ingest pipeline the events API uses, with
the clock of that day (the pipeline refuses events older than 7 days when they arrive now)."""

from __future__ import annotations

import random
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.db import write_lock
from app.devtools.demo.shop import CATALOGUE, PATHS, SHOP, SUBSCRIPTION, USER_AGENTS, Checkout, DemoCampaign, Visitor
from app.services import ingest
from app.services.sessions import derive_all_pending

WEEKDAY_TRAFFIC = (1.0, 1.0, 1.0, 1.05, 1.0, 0.8, 0.85)  # Monday first


@dataclass
class DayTraffic:
    """What one day's visitors did: their requests (a visitor and the events of one session), the checkouts they
    started, and the sessions each campaign brought (by public id)."""

    requests: list[tuple[Visitor, list[dict[str, Any]]]] = field(default_factory=list)
    checkouts: list[Checkout] = field(default_factory=list)
    campaign_sessions: dict[str, int] = field(default_factory=dict)


def session_count(
    rng: random.Random, *, sessions_per_day: int, day: date, offset: int, days: int, length: timedelta, warmup: bool
) -> int:
    """How many sessions the day brings: growing over the window, quieter at weekends, in proportion to ``length``
    for a day not over yet; during the warm-up only the subscribers (about 1 % of a day)."""
    n_sessions = int(
        sessions_per_day * WEEKDAY_TRAFFIC[day.weekday()] * (0.85 + 0.3 * offset / max(1, days)) * rng.uniform(0.9, 1.1)
    )
    n_sessions = max(1, int(n_sessions * length / timedelta(days=1)))
    if warmup:
        n_sessions = max(1, sessions_per_day // 100)
    return n_sessions


def simulate_day(
    rng: random.Random,
    *,
    sessions: int,
    day_start: datetime,
    day_end: datetime,
    warmup: bool,
    made: list[DemoCampaign],
    visitors: list[Visitor],
    totals: Counter[str],
) -> DayTraffic:
    """``sessions`` sessions between ``day_start`` and ``day_end``: a third from returning ``visitors`` (new ones are
    added to it); during the warm-up every session subscribes."""
    traffic = DayTraffic()
    for _ in range(sessions):
        visitor, events, checkout = _session(
            rng, day_start, day_end, warmup=warmup, made=made, visitors=visitors, campaigns=traffic.campaign_sessions
        )
        if checkout is not None:
            traffic.checkouts.append(checkout)
        traffic.requests.append((visitor, events))
        totals["sessions"] += 1
        totals["events"] += len(events)
    return traffic


def _session(
    rng: random.Random,
    day_start: datetime,
    day_end: datetime,
    *,
    warmup: bool,
    made: list[DemoCampaign],
    visitors: list[Visitor],
    campaigns: dict[str, int],
) -> tuple[Visitor, list[dict[str, Any]], Checkout | None]:
    """One session: who (a returning visitor a third of the time), where from, the pages seen, maybe a purchase."""
    at = day_start + timedelta(seconds=rng.uniform(0, (day_end - day_start).total_seconds() - 900))
    if visitors and rng.random() < 0.35:
        visitor = rng.choice(visitors[-4000:])
        returning = True
    else:
        visitor = Visitor(str(uuid.UUID(int=rng.getrandbits(128))), rng.choice(USER_AGENTS),
                          f"198.51.100.{rng.randint(1, 254)}")  # fmt: skip
        visitors.append(visitor)
        returning = False
    session_id = str(uuid.UUID(int=rng.getrandbits(128)))
    events: list[dict[str, Any]] = []

    def event(type_: str, when: datetime, **fields: Any) -> None:
        events.append({"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "type": type_,
                       "timestamp": when.isoformat(), "visitor_id": visitor.visitor_id, "session_id": session_id,
                       **fields})  # fmt: skip

    landing_fields, mult = _landing(rng, at, made, campaigns)
    path = rng.choice(PATHS)
    query = "&".join(f"{k}={v}" for k, v in landing_fields.items() if k != "referrer")
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
    if not converts:
        return visitor, events, None
    at += timedelta(seconds=rng.randint(20, 120))
    event("begin_checkout", at, url=f"{SHOP}/cart")
    checkout = _checkout(rng, visitor, session_id, at, subscription=warmup or rng.random() < 0.25)
    events.append({"event_id": checkout.event_id, "type": "purchase", "timestamp": checkout.paid.isoformat(),
                   "visitor_id": visitor.visitor_id, "session_id": session_id, "url": f"{SHOP}/thanks",
                   "value": checkout.amount, "currency": "EUR"})  # fmt: skip
    return visitor, events, checkout


def _landing(
    rng: random.Random, at: datetime, made: list[DemoCampaign], campaign_sessions: dict[str, int]
) -> tuple[dict[str, Any], float]:
    """Where a session comes from (a live campaign's ad, a search, or nowhere: direct) as the landing URL's fields,
    and how well it converts."""
    landing_fields: dict[str, Any] = {}
    mult = 0.6
    r = rng.random()
    live = [c for c in made if c.schedule[0][0] <= at]
    if r < 0.6 and live:
        campaign = rng.choices(live, weights=[c.weight for c in live])[0]
        mult = next(m for p, m in reversed(campaign.schedule) if p <= at) if any(
            p <= at for p, _ in campaign.schedule) else 1.0  # fmt: skip
        source, medium, utm_campaign = campaign.utm
        landing_fields = {"utm_source": source, "utm_medium": medium, "utm_campaign": utm_campaign}
        if campaign.click:
            landing_fields[campaign.click] = secrets.token_urlsafe(18)
        campaign_sessions[campaign.public_id] = campaign_sessions.get(campaign.public_id, 0) + 1
    elif r < 0.8:
        landing_fields = {"referrer": "https://www.google.com/"}
        mult = 0.9
    return landing_fields, mult


def _checkout(rng: random.Random, visitor: Visitor, session_id: str, at: datetime, *, subscription: bool) -> Checkout:
    """What a buyer takes to checkout at ``at``: the sock club alone, or one or two products."""
    if subscription:
        items = [SUBSCRIPTION]
        quantities = [1]
    else:
        items = rng.sample(CATALOGUE[:3], k=rng.choice((1, 1, 2)))
        quantities = [rng.choice((1, 1, 2)) for _ in items]
    paid = at + timedelta(seconds=rng.randint(60, 300))
    amount = sum(item.amount * quantity for item, quantity in zip(items, quantities, strict=True))
    purchase_id = str(uuid.UUID(int=rng.getrandbits(128)))
    return Checkout(visitor=visitor, session_id=session_id, at=at, paid=paid, items=items, quantities=quantities,
                    amount=amount, event_id=purchase_id, subscription=subscription,
                    email=f"buyer-{visitor.visitor_id[:8]}@example.net")  # fmt: skip


def ingest_day(session: Session, account_id: int, key_id: int, traffic: DayTraffic, *, clock: datetime) -> None:
    """The day's requests through the ingest pipeline (parse, enrich, write) as the events API runs it, in one
    transaction, with the clock of that day."""
    with write_lock:
        by_client: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        for visitor, events in traffic.requests:
            result = ingest.IngestResult()
            parsed = ingest.parse_events(events, now=clock, result=result)
            context = ingest.IngestContext(account_id=account_id, source=ingest.Source.BROWSER, key_id=key_id,
                                           user_agent=visitor.user_agent, ip=visitor.ip)  # fmt: skip
            rows = ingest.enrich(parsed, context, now=clock, result=result)
            if result.errors or result.dropped:
                raise RuntimeError(f"demo events refused: {result.as_dict()}")
            by_client.setdefault((visitor.user_agent, visitor.ip), []).append(rows)
        ingest.write_requests(session, account_id, [rows for groups in by_client.values() for rows in groups])
        derive_all_pending(session, account_id=account_id)  # the writer's pass, in the same transaction
        session.commit()
