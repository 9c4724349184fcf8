"""A shop with known campaigns, versions, sessions, orders, refunds and spend, written straight to the tables: the
dataset the metrics and alert tests work out their answers from."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from app.models import AdSpend, Campaign, CampaignVersion, Order, Payment, Refund, VisitSession
from app.models.base import new_public_id
from app.services import metrics
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
