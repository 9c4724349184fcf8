"""Test events ("Send a test event" on /install, stored with ``source=test``) are kept and listed, marked as tests,
but count nowhere: they derive no visitor, session or touch, so the rollups, the raw figures, the alert windows,
the assistant's figures, the overview's live counters and the plan's event count are the same before and after."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from app.models import Event, Order, Payment, Touch, Visitor, VisitSession
from app.models.base import new_public_id, utcnow
from app.services import assistant_tools, campaigns, install, metrics, rollups, usage
from app.services import events as event_service
from app.services.ingest import IngestContext, Source, ingest_now
from app.services.metrics import Compare, Dimension, MetricsQuery
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

SPRING = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]}


def _paid_order(db: Session, account_id: int, session_key: str, visitor: str) -> None:
    """An order checked out in ``session_key`` and paid a minute ago (as the Stripe webhook records it)."""
    now = utcnow()
    order = Order(
        public_id=new_public_id("ord"), account_id=account_id, request_key=new_public_id("rq", 40), mode="payment",
        status="paid", currency="EUR", amount_paid=4_900, event_id=new_public_id("ev"), visitor_id=visitor,
        session_key=session_key, attribution={}, success_url="https://s/t", cancel_url="https://s/c",
        items=[{"product": "prod_shoe", "price": "price_shoe", "unit_amount": 4_900, "quantity": 1}],
        created_at=now - timedelta(minutes=2), paid_at=now - timedelta(minutes=1),
    )  # fmt: skip
    db.add(order)
    db.flush()
    db.add(Payment(account_id=account_id, order_id=order.id, stripe_key=new_public_id("pi"), kind="one_off",
                   amount=4_900, currency="EUR", paid_at=order.paid_at))  # type: ignore[arg-type]  # fmt: skip
    db.commit()
    rollups.mark_order_dirty(db, order)
    db.commit()


def test_a_test_event_changes_no_figure_and_stays_listed(db: Session) -> None:
    account, _, actor = make_owner(db)
    account_id = account.id or 0
    made = campaigns.create_campaign(session=db, actor=actor, name="Spring sale", channel="meta", config=SPRING)
    campaigns.publish_draft(session=db, actor=actor, campaign_public_id=made.public_id)
    db.commit()
    ctx = IngestContext(account_id=account_id, source=Source.BROWSER, user_agent=DESKTOP_UA)
    ingest_now(
        [
            event(visitor_id="ann", session_id="s1", utm_campaign="spring", url="https://shop.example.com/?x=1"),
            event(visitor_id="bob", session_id="s2"),
        ],
        ctx,
    )
    _paid_order(db, account_id, "s1", "ann")
    rollups.refresh_dirty(db)

    def figures() -> dict[str, Any]:
        db.expire_all()
        today = metrics.account_today(db, account_id)
        query = MetricsQuery(start=today, end=today, dimension=Dimension.CHANNEL, compare=Compare.NONE)
        reports = {
            source: metrics.metrics(session=db, account_id=account_id, query=query, source=source)
            for source in ("rollup", "raw")
        }
        now = utcnow()
        window = metrics.window_figures(session=db, account_id=account_id, start=now - timedelta(hours=24), end=now)
        tool = assistant_tools.get_metrics(db, actor, preset="today", dimension="channel", compare="none")
        live = event_service.today_counts(session=db, account_id=account_id, timezone="Europe/Paris")
        return {
            **{
                source: [(r.key, metrics.figure_dict(r.figures)) for r in [report.total, *report.rows]]
                for source, report in reports.items()
            },
            "window": {c: metrics.figure_dict(f) for c, f in window.campaigns.items()},
            "assistant": (tool["total"], tool["rows"]),
            "live": (live.events, live.visitors, live.sessions),
            "usage": [(limit.key, limit.used) for limit in usage.limits_used(db, account_id)],
        }

    before = figures()
    total = before["rollup"][0][1]
    assert (total["sessions"], total["orders"], total["conversion_rate"]) == (2, 1.0, 0.5)
    assert before["live"] == (2, 2, 2)

    event_id = install.record_test_event(account_id=account_id, user_agent=DESKTOP_UA)
    rollups.refresh_dirty(db)

    assert figures() == before  # no session, no "direct" row, no visitor, no event counted anywhere
    db.expire_all()
    assert not db.exec(select(VisitSession).where(col(VisitSession.session_key).startswith("test-"))).all()
    assert not db.exec(select(Visitor).where(Visitor.visitor_key == "paidsignal-test")).all()
    assert not db.exec(select(Touch).where(col(Touch.session_key).startswith("test-"))).all()
    # It is stored, and listed first, marked as a test.
    assert db.exec(select(Event).where(Event.event_id == event_id)).one().source == Source.TEST
    listed = event_service.list_events(session=db, account_id=account_id, limit=5).events
    assert (listed[0]["event_id"], listed[0]["source"]) == (event_id, "test")
