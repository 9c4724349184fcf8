"""A shop with known campaigns, versions, sessions, orders, refunds and spend, written straight to the tables: the
dataset the metrics and alert tests work out their answers from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.models import AdSpend, Campaign, CampaignVersion, Order, Payment, Refund, VisitSession
from app.models.base import new_public_id
from app.services import metrics, rollups
from app.services.campaigns import default_channel_group
from app.services.metrics import MetricsQuery
from tests.utils.factories import make_owner


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class World:
    """A shop in Europe/Paris with campaigns A (meta; v1, then v2 from 2026-03-10) and B (google; v1)."""

    def __init__(self, db: Session) -> None:
        self.db = db
        account, _, self.actor = make_owner(db)
        self.account_id = account.id or 0
        self.a = self._campaign("Spring sale", "meta")
        self.b = self._campaign("Search", "google")
        self.a1 = self._version(self.a, 1, utc(2026, 1, 1))
        self.a2 = self._version(self.a, 2, utc(2026, 3, 10, 8))
        self.b1 = self._version(self.b, 1, utc(2026, 1, 1))
        self.sessions = 0
        db.commit()

    def _campaign(self, name: str, channel: str) -> Campaign:
        campaign = Campaign(public_id=new_public_id("cmp"), account_id=self.account_id, name=name, channel=channel,
                            channel_group=default_channel_group(channel), status="active")  # fmt: skip
        self.db.add(campaign)
        self.db.flush()
        return campaign

    def _version(self, campaign: Campaign, number: int, at: datetime) -> CampaignVersion:
        version = CampaignVersion(public_id=new_public_id("cv"), account_id=self.account_id, campaign_id=campaign.id,
                                  number=number, config={}, published_at=at)  # type: ignore[arg-type]  # fmt: skip
        self.db.add(version)
        self.db.flush()
        return version

    def visit(self, at: datetime, version: CampaignVersion | None, visitor: str) -> str:
        """A session that started at ``at``, tagged with ``version`` (None: direct); returns its key."""
        self.sessions += 1
        key = f"s{self.sessions}"
        self.db.add(VisitSession(
            account_id=self.account_id, session_key=key, visitor_key=visitor, started_at=at,
            last_event_at=at, campaign_id=version.campaign_id if version else None,
            campaign_version_id=version.id if version else None,
        ))  # fmt: skip
        return key

    def order(
        self,
        paid_at: datetime,
        credits: dict[str, list[tuple[CampaignVersion | None, str]]],
        *,
        amount: int,
        currency: str = "EUR",
        email: str | None = None,
        items: list[tuple[str, str, int, int]] | None = None,
        mode: str = "payment",
        session: str | None = None,
        visitor: str | None = None,
    ) -> Order:
        """``credits``: model -> [(version or None, share)]; items: (product, price, unit amount, quantity);
        ``session`` / ``visitor``: the checkout's session key and visitor id (the session it converted)."""
        items = items or [("prod_shoe", "price_shoe", amount, 1)]
        models = {
            model: [
                {"campaign_id": v.campaign_id if v else None, "campaign_version_id": v.id if v else None, "share": s}
                for v, s in entries
            ]
            for model, entries in credits.items()
        }
        last = models["last_touch"][0]
        order = Order(
            public_id=new_public_id("ord"), account_id=self.account_id, request_key=new_public_id("rq", 40),
            mode=mode, status="paid", currency=currency, amount_paid=amount, event_id=new_public_id("ev"),
            customer_email=email, campaign_id=last["campaign_id"], campaign_version_id=last["campaign_version_id"],
            attribution={"models": models, "touches": []}, success_url="https://s/t", cancel_url="https://s/c",
            items=[{"product": p, "price": pr, "unit_amount": u, "quantity": q} for p, pr, u, q in items],
            created_at=paid_at - timedelta(minutes=5), paid_at=paid_at, session_key=session, visitor_id=visitor,
        )  # fmt: skip
        self.db.add(order)
        self.db.flush()
        kind = "first" if mode == "subscription" else "one_off"
        self.db.add(Payment(account_id=self.account_id, order_id=order.id, stripe_key=new_public_id("pi"), kind=kind,
                            amount=amount, currency=currency, paid_at=paid_at))  # fmt: skip
        return order

    def renewal(self, order: Order, at: datetime, amount: int) -> None:
        self.db.add(Payment(account_id=self.account_id, order_id=order.id, stripe_key=new_public_id("in"),
                            kind="renewal", amount=amount, currency=order.currency, paid_at=at))  # fmt: skip

    def refund(self, order: Order, at: datetime, amount: int) -> None:
        self.db.add(Refund(account_id=self.account_id, order_id=order.id, charge_id="ch", stripe_event_id="ev",
                           amount=amount, currency=order.currency, refunded_at=at))  # fmt: skip

    def spend(self, day: date, campaign: Campaign, amount: int, currency: str = "EUR") -> None:
        self.db.add(AdSpend(account_id=self.account_id, day=day, campaign_id=campaign.id, currency=currency,
                            amount=amount, impressions=1000, clicks=50))  # type: ignore[arg-type]  # fmt: skip

    def report(self, start: date, end: date, **options: Any) -> metrics.MetricsReport:
        query = MetricsQuery(start=start, end=end, **options)
        return metrics.metrics(session=self.db, account_id=self.account_id, query=query)


def all_models(version: CampaignVersion | None) -> dict[str, list[tuple[CampaignVersion | None, str]]]:
    """An order's credits when every attribution model gives the whole order to ``version`` (None: direct)."""
    return {m: [(version, "1")] for m in rollups.MODELS}


def known_answers_world(db: Session) -> World:
    """The metrics tests' dataset: a DST weekend in Paris, a month end, every attribution model, products, a USD
    order, a subscription renewal, a partial refund and spend; its answers are worked out in tests/services/
    test_metrics.py. Rolled up."""
    w = World(db)
    a1, a2, b1 = w.a1, w.a2, w.b1
    # DST starts in Paris on 2026-03-29 at 02:00 (UTC+1 → UTC+2).
    w.visit(utc(2026, 3, 28, 22, 59), a2, "v1")  # 23:59 on the 28th
    s2 = w.visit(utc(2026, 3, 28, 23, 30), a2, "v1")  # 00:30 on the 29th
    s3 = w.visit(utc(2026, 3, 29, 21, 59), a2, "v2")  # 23:59 on the 29th (UTC+2 now)
    w.visit(utc(2026, 3, 29, 22, 30), b1, "v2")  # 00:30 on the 30th
    s5 = w.visit(utc(2026, 3, 30, 9), None, "v3")  # direct
    w.visit(utc(2026, 3, 30, 10), None, "v3")  # the same visitor again that day: 2 sessions, 1 visitor
    # A month end: 23:30 UTC on Jan 31 is Feb 1 in Paris.
    w.visit(utc(2026, 1, 31, 23, 30), a1, "v4")
    w.visit(utc(2026, 1, 31, 22, 30), a1, "v4")  # 23:30 on Jan 31

    # Orders, each checked out in a session of that weekend (so 3 of its 5 sessions converted). Linear splits the
    # Mar 29 order three ways.
    linear = {
        "last_touch": [(b1, "1")], "first_touch": [(a2, "1")], "linear": [(a2, "1/3"), (b1, "1/3"), (None, "1/3")],
        "position_based": [(a2, "2/5"), (b1, "2/5"), (None, "1/5")], "time_decay": [(b1, "1")],
    }  # fmt: skip
    w.mar29 = w.order(utc(2026, 3, 29, 10), linear, amount=10_000, email="ann@example.com", session=s2,
                      items=[("prod_shoe", "price_shoe", 4_000, 1), ("prod_sock", "price_sock", 1_000, 1)])  # fmt: skip
    w.mar30 = w.order(utc(2026, 3, 29, 22, 30), all_models(a2), amount=3_000, email="ANN@example.com ",
                      session=s3)  # 00:30 Mar 30  # fmt: skip
    w.usd = w.order(utc(2026, 3, 30, 12), all_models(None), amount=2_500, currency="USD", session=s5)
    w.sub = w.order(utc(2026, 2, 28, 22, 30), all_models(a1), amount=1_500, email="bob@example.com",
                    mode="subscription")  # 23:30 Feb 28  # fmt: skip
    w.renewal(w.sub, utc(2026, 3, 28, 23, 30), 1_500)  # 00:30 Mar 29 (still UTC+1 then)
    w.refund(w.mar29, utc(2026, 3, 31, 8), 2_000)  # partial refund, on Mar 31
    w.spend(date(2026, 3, 29), w.a, 5_000)
    w.spend(date(2026, 3, 30), w.b, 2_000)
    w.spend(date(2026, 3, 9), w.a, 700)  # A's v1 was live then (v2 from Mar 10)
    db.commit()
    rollups.rebuild(db, w.account_id)
    return w
