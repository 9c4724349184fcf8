"""Lifetime value and cohorts on a generated shop whose answers this test works out on its own, from the list of
what it generated (never from the tables): subscriptions with monthly renewals and cancellations, repeat orders that
other campaigns brought back, refunds months later, a customer acquired by two touches, a customer imported from
Stripe's history, two currencies; the rollup equals the live computation, incrementally too."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlmodel import Session, select

from app.models import AcquisitionValue, CampaignVersion, CustomerDirty, CustomerValue, Order, Subscription
from app.models.base import new_public_id
from app.services import lifetime, rollups
from app.services.errors import NotFound, ValidationFailed
from app.services.metrics import Dimension, LtvQuery, cohort_dict, cohorts, lifetime_value, ltv_dict
from tests.utils.world import World, all_models, utc

PARIS = ZoneInfo("Europe/Paris")
TODAY = date(2027, 1, 20)
START, END = date(2026, 1, 1), TODAY


@dataclass
class Customer:
    email: str
    first_at: datetime
    currency: str
    credits: dict[str, list[tuple[CampaignVersion | None, str]]]
    product: str
    subscription: bool = False
    imported: bool = False
    ended_at: datetime | None = None
    events: list[tuple[datetime, str, int]] = field(default_factory=list)  # (when, currency, +payment / −refund)

    @property
    def first_day(self) -> date:
        return self.first_at.astimezone(PARIS).date()

    def offset(self, at: datetime) -> int:
        return (at.astimezone(PARIS).date() - self.first_day).days


@dataclass
class Shop:
    world: World
    customers: list[Customer]
    spend: list[tuple[date, int, int, str]]  # day, campaign id, amount, currency


def _version_live(w: World, campaign: str, at: datetime) -> CampaignVersion:
    if campaign == "b":
        return w.b1
    return w.a1 if at < utc(2026, 3, 10, 8) else w.a2


def generate(db: Session, seed: int = 23) -> Shop:
    """A year of customers in Paris; everything written is also noted in ``Shop.customers``."""
    w = World(db)
    rng = random.Random(seed)
    customers: list[Customer] = []

    def order(c: Customer, at: datetime, credits: Any, amount: int, *, first: bool) -> Order:
        mode = "subscription" if c.subscription and first else "payment"
        made = w.order(at, credits, amount=amount, currency=c.currency, email=c.email if first else c.email.upper(),
                       mode=mode, items=[(c.product, f"price_{c.product}", amount, 1)])  # fmt: skip
        c.events.append((at, c.currency, amount))
        return made

    for n in range(40):
        first_at = utc(2026, 1, 1) + timedelta(days=rng.randrange(0, 365), hours=rng.randrange(0, 24))
        source = rng.choice(["a", "b", None])
        version = _version_live(w, source, first_at) if source else None
        c = Customer(
            email=f"c{n}@shop.test",
            first_at=first_at,
            currency="USD" if n % 7 == 3 else "EUR",
            credits=all_models(version),
            product=rng.choice(["prod_shoe", "prod_sock", "prod_club"]),
            subscription=n % 3 == 0,
        )
        if n == 5:  # acquired by two touches: Spring sale v2 first, then Search (last touch)
            c.first_at, c.currency = utc(2026, 4, 2, 10), "EUR"
            both = [(w.a2, "1/2"), (w.b1, "1/2")]
            c.credits = {"last_touch": [(w.b1, "1")], "first_touch": [(w.a2, "1")], "linear": both,
                         "position_based": both, "time_decay": [(w.b1, "1")]}  # fmt: skip
        first = order(c, c.first_at, c.credits, rng.choice([1_500, 2_900, 4_900]), first=True)
        if n == 7:  # imported from Stripe's history: its snapshot says Spring sale, but it is never attributed
            c.imported = first.imported = True
            c.credits = all_models(w.a2)
            first.attribution = {"models": {m: [{"campaign_id": w.a.id, "campaign_version_id": w.a2.id,
                                                 "share": "1"}] for m in rollups.MODELS}}  # fmt: skip
            db.add(first)
        if c.subscription:
            renewals = rng.randrange(0, 11)
            at = c.first_at
            for _ in range(renewals):
                at += timedelta(days=30)
                if at >= utc(2027, 1, 20):
                    break
                w.renewal(first, at, 1_900)
                c.events.append((at, c.currency, 1_900))
            if renewals < 8 and at + timedelta(days=15) < utc(2027, 1, 20):
                c.ended_at = at + timedelta(days=15)
            db.add(Subscription(account_id=w.account_id, stripe_id=new_public_id("sub"), order_id=first.id,
                                status="canceled" if c.ended_at else "active", canceled_at=c.ended_at))  # fmt: skip
        else:
            for _ in range(rng.randrange(0, 3)):  # repeat orders, brought back by whatever campaign
                at = c.first_at + timedelta(days=rng.randrange(3, 200), hours=5)
                if at < utc(2027, 1, 20):
                    back = all_models(rng.choice([w.a2, w.b1, None]))
                    order(c, at, back, rng.choice([900, 2_500]), first=False)
        if rng.random() < 0.35:  # a refund months later
            at = c.first_at + timedelta(days=rng.randrange(20, 160))
            if at < utc(2027, 1, 20):
                w.refund(first, at, 700)
                c.events.append((at, c.currency, -700))
        customers.append(c)
    spend: list[tuple[date, int, int, str]] = []
    day = START
    while day < TODAY:
        for campaign in (w.a, w.b):
            amount = rng.randrange(0, 2_500)
            if amount:
                w.spend(day, campaign, amount)
                spend.append((day, campaign.id or 0, amount, "EUR"))
        day += timedelta(days=7)
    w.spend(date(2026, 6, 1), w.b, 500, "USD")
    spend.append((date(2026, 6, 1), w.b.id or 0, 500, "USD"))
    db.commit()
    rollups.rebuild(db, w.account_id)
    lifetime.rebuild(db, w.account_id)
    return Shop(w, customers, spend)


# --- the answers, worked out from the generated list ---------------------------------------------------------------


def acquisition(c: Customer, model: str) -> list[tuple[str, str, Fraction]]:
    """(campaign key, version key, share) of the customer's acquisition."""
    if c.imported:
        return [("imported", "imported", Fraction(1))]
    return [
        (str(v.campaign_id) if v else "0", str(v.id) if v else "0", Fraction(share)) for v, share in c.credits[model]
    ]


def expected_rows(shop: Shop, dimension: Dimension, model: str = "last_touch") -> dict[str, dict[str, Any]]:
    w = shop.world
    channel = {str(w.a.id): "meta", str(w.b.id): "google", "0": "direct", "imported": "imported"}
    customers: dict[str, Fraction] = defaultdict(Fraction)
    eligible: dict[tuple[str, int], Fraction] = defaultdict(Fraction)
    nets: dict[tuple[str, str, int], Fraction] = defaultdict(Fraction)
    for c in shop.customers:
        for campaign, version, share in acquisition(c, model):
            key = {
                Dimension.CAMPAIGN: campaign,
                Dimension.VERSION: version,
                Dimension.CHANNEL: channel[campaign],
                Dimension.PRODUCT: c.product,
                Dimension.MONTH: c.first_day.replace(day=1).isoformat(),
            }[dimension]
            customers[key] += share
            for n in lifetime.CHECKPOINTS:
                if c.first_day <= TODAY - timedelta(days=n):
                    eligible[(key, n)] += share
                    for at, currency, amount in c.events:
                        if c.offset(at) < n:
                            nets[(key, currency, n)] += share * amount
    spend: dict[tuple[str, str], int] = defaultdict(int)
    for day, campaign_id, amount, currency in shop.spend:
        if dimension is Dimension.PRODUCT:
            continue
        version = w.b1.id if campaign_id == w.b.id else (w.a1.id if day < date(2026, 3, 10) else w.a2.id)
        key = {
            Dimension.CAMPAIGN: str(campaign_id),
            Dimension.VERSION: str(version),
            Dimension.CHANNEL: channel[str(campaign_id)],
            Dimension.MONTH: day.replace(day=1).isoformat(),
        }[dimension]
        spend[(key, currency)] += amount
    out: dict[str, dict[str, Any]] = {}
    for key, count in customers.items():
        row: dict[str, Any] = {"customers": float(count), "money": {}}
        for code in ("EUR", "USD"):
            ltv = {n: float(nets[(key, code, n)] / eligible[(key, n)]) if eligible[(key, n)] else None
                   for n in lifetime.CHECKPOINTS}  # fmt: skip
            cost = spend.get((key, code), 0)
            cpa = float(cost / count) if cost else None
            payback = None
            if cpa is not None:
                payback = next((n for n in lifetime.CHECKPOINTS if ltv[n] is not None and ltv[n] >= cpa), None)
            row["money"][code] = {"ltv": ltv, "cpa": cpa, "payback_days": payback}
        out[key] = row
    return out


def close(actual: float | None, wanted: float | None) -> bool:
    """Equal up to the largest-remainder rounding of a fractional customer's money (under one minor unit)."""
    if actual is None or wanted is None:
        return actual is wanted
    return abs(actual - wanted) <= 1.0


def check(shop: Shop, dimension: Dimension, source: str, model: str = "last_touch") -> None:
    w = shop.world
    query = LtvQuery(start=START, end=END, dimension=dimension, model=model)
    report = lifetime_value(session=w.db, account_id=w.account_id, query=query, source=source, today=TODAY)
    wanted = expected_rows(shop, dimension, model)
    got = {r.key: r.figures for r in report.rows}
    for key, row in wanted.items():
        figures = got[key]
        assert figures.customers == pytest.approx(row["customers"]), key
        for code, money in row["money"].items():
            if code not in figures.money:
                assert all(v is None or v == 0 for v in money["ltv"].values()) and money["cpa"] is None, (key, code)
                continue
            for n in lifetime.CHECKPOINTS:
                assert close(figures.ltv(code, n), money["ltv"][n]), (key, code, n)
            assert close(figures.cpa(code), money["cpa"]), (key, code)
            assert figures.payback_days(code) == money["payback_days"], (key, code)
    total = report.total.figures
    assert total.customers == pytest.approx(len(shop.customers))


@pytest.fixture
def shop(db: Session) -> Shop:
    return generate(db)


@pytest.mark.parametrize("source", ["rollup", "live"])
@pytest.mark.parametrize("dimension", [Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.PRODUCT,
                                       Dimension.MONTH])  # fmt: skip
def test_lifetime_value_matches_the_answers_worked_out_from_the_generated_list(
    shop: Shop, dimension: Dimension, source: str
) -> None:
    check(shop, dimension, source)


def test_a_customer_of_two_touches_is_split_under_multi_touch_models(shop: Shop) -> None:
    w = shop.world
    check(shop, Dimension.VERSION, "live", model="linear")
    query = LtvQuery(start=date(2026, 4, 2), end=date(2026, 4, 2), dimension=Dimension.VERSION, model="linear")
    report = lifetime_value(session=w.db, account_id=w.account_id, query=query, today=TODAY)
    assert report.source == "live"  # not the default model: computed live, and said so
    rows = {r.key: r.figures.customers for r in report.rows if r.figures.customers}
    assert rows[str(w.a2.id)] == pytest.approx(0.5) and rows[str(w.b1.id)] == pytest.approx(0.5)
    assert sum(rows.values()) == pytest.approx(1)  # credits sum to one customer


def test_imported_customers_are_their_own_bucket(shop: Shop) -> None:
    w = shop.world
    query = LtvQuery(start=START, end=END, dimension=Dimension.CAMPAIGN)
    report = lifetime_value(session=w.db, account_id=w.account_id, query=query, today=TODAY)
    imported = next(r for r in report.rows if r.key == "imported")
    assert imported.figures.customers == 1 and imported.label == "Imported from Stripe"
    assert imported.figures.cpa("EUR") is None  # never credited, no spend
    only_a = lifetime_value(session=w.db, account_id=w.account_id, today=TODAY,
                            query=LtvQuery(start=START, end=END, campaign=w.a.public_id))  # fmt: skip
    assert "imported" not in {r.key for r in only_a.rows}
    data = ltv_dict(imported.figures)
    assert data["money"]["EUR"]["payback"] == "n/a" and data["money"]["EUR"]["cpa"] is None


def test_money_is_never_summed_across_currencies(shop: Shop) -> None:
    w = shop.world
    report = lifetime_value(session=w.db, account_id=w.account_id, today=TODAY,
                            query=LtvQuery(start=START, end=END, dimension=None))  # fmt: skip
    usd = sum(amount for c in shop.customers for _at, code, amount in c.events if code == "USD")
    eur = sum(amount for c in shop.customers for _at, code, amount in c.events if code == "EUR")
    assert report.total.figures.money["USD"].net_total == usd and report.total.figures.money["EUR"].net_total == eur
    assert report.currencies == ["EUR", "USD"]


def test_cohorts_match_the_worked_out_grid(shop: Shop) -> None:
    w = shop.world
    for source in ("rollup", "live"):
        report = cohorts(session=w.db, account_id=w.account_id, start=START, end=END, source=source, today=TODAY)
        months = {row.month: row for row in report.rows}
        for month in {c.first_day.replace(day=1) for c in shop.customers}:
            members = [c for c in shop.customers if c.first_day.replace(day=1) == month]
            row = months[month]
            assert row.customers_micro == len(members) * rollups.MICRO
            for m in range(1, 13):
                old = [c for c in members if c.first_day <= TODAY - timedelta(days=30 * m)]
                cell = row.cells[m - 1]
                if not old:
                    assert cell is None
                    continue
                assert cell is not None
                for code in ("EUR", "USD"):
                    net = sum(a for c in old for at, cur, a in c.events if cur == code and c.offset(at) < 30 * m)
                    assert close(cell.net_per_customer(code), net / len(old) if code in report.currencies else None)
                subscribers = [c for c in old if c.subscription]
                active = [c for c in subscribers if c.ended_at is None or c.offset(c.ended_at) >= 30 * m]
                assert cell.active_share == (len(active) / len(subscribers) if subscribers else None)


def test_cohorts_filter_by_campaign_and_channel(shop: Shop) -> None:
    w = shop.world
    only_b = cohorts(session=w.db, account_id=w.account_id, start=START, end=END, campaign=w.b.public_id, today=TODAY)
    wanted = sum(1 for c in shop.customers if not c.imported and c.credits["last_touch"][0][0] in (w.b1,))
    assert sum(r.customers_micro for r in only_b.rows) == wanted * rollups.MICRO
    google = cohorts(session=w.db, account_id=w.account_id, start=START, end=END, channel="google", today=TODAY)
    assert sum(r.customers_micro for r in google.rows) == wanted * rollups.MICRO


def _table(db: Session, account_id: int) -> list[Any]:
    """Both tables: per customer, and summed per first-order day and version."""
    db.expire_all()
    rows = [*db.exec(select(CustomerValue).where(CustomerValue.account_id == account_id)),
            *db.exec(select(AcquisitionValue).where(AcquisitionValue.account_id == account_id))]  # fmt: skip
    return sorted(((type(row).__name__, *row.model_dump().items()) for row in rows), key=repr)


def test_incremental_updates_in_any_order_equal_a_rebuild(shop: Shop) -> None:
    w = shop.world
    db = w.db
    rebuilt = _table(db, w.account_id)
    assert rebuilt
    db.execute(delete(CustomerValue).where(CustomerValue.account_id == w.account_id))
    db.execute(delete(AcquisitionValue).where(AcquisitionValue.account_id == w.account_id))
    db.commit()
    orders = list(db.exec(select(Order).where(Order.account_id == w.account_id)))
    random.Random(5).shuffle(orders)
    for order in orders:
        rollups.mark_order_dirty(db, order)  # what the webhook does, in its transaction
        db.commit()
        if random.Random(order.id).random() < 0.3:
            lifetime.refresh_dirty(db)
    lifetime.refresh_dirty(db)
    assert _table(db, w.account_id) == rebuilt
    assert not db.exec(select(CustomerDirty)).all()


def test_a_late_earlier_order_moves_the_acquisition(db: Session) -> None:
    w = World(db)
    later = w.order(utc(2026, 5, 1, 12), all_models(w.b1), amount=1_000, email="dee@shop.test")
    db.commit()
    rollups.mark_order_dirty(db, later)
    db.commit()
    lifetime.refresh_dirty(db)
    query = LtvQuery(start=START, end=END, dimension=Dimension.CAMPAIGN)

    def customers() -> dict[str, float]:
        report = lifetime_value(session=db, account_id=w.account_id, query=query, source="rollup", today=TODAY)
        return {r.key: r.figures.customers for r in report.rows if r.figures.customers}

    assert customers() == {str(w.b.id): 1}
    earlier = w.order(utc(2026, 4, 1, 12), all_models(w.a2), amount=1_000, email="Dee@shop.test")
    db.commit()
    rollups.mark_order_dirty(db, earlier)  # Stripe reports the older order only now
    db.commit()
    lifetime.refresh_dirty(db)
    assert customers() == {str(w.a.id): 1}
    live = lifetime_value(session=db, account_id=w.account_id, query=query, source="live", today=TODAY)
    assert {r.key: r.figures.customers for r in live.rows if r.figures.customers} == {str(w.a.id): 1}


def test_bad_choices_are_refused(shop: Shop) -> None:
    w = shop.world

    def run(**options: Any) -> None:
        source = options.pop("source", "auto")
        query = LtvQuery(**{"start": START, "end": END, **options})
        lifetime_value(session=w.db, account_id=w.account_id, query=query, source=source, today=TODAY)

    with pytest.raises(ValidationFailed, match="model must be one of"):
        run(model="data_driven")
    with pytest.raises(ValidationFailed, match="lookback must be one of"):
        run(lookback_days=3)
    with pytest.raises(ValidationFailed, match="dimension must be one of"):
        run(dimension=Dimension.DAY)
    with pytest.raises(ValidationFailed, match="kept for last_touch"):
        run(lookback_days=7, source="rollup")
    with pytest.raises(NotFound):
        run(campaign="cmp_nope")


def test_the_rollup_equals_the_live_computation(shop: Shop) -> None:
    w = shop.world
    for dimension in [None, Dimension.CAMPAIGN, Dimension.VERSION, Dimension.CHANNEL, Dimension.PRODUCT,
                      Dimension.MONTH]:  # fmt: skip
        query = LtvQuery(start=START, end=END, dimension=dimension)
        rolled, live = (
            lifetime_value(session=w.db, account_id=w.account_id, query=query, source=source, today=TODAY)
            for source in ("rollup", "live")
        )
        assert (rolled.source, live.source) == ("rollup", "live")
        assert [(r.key, ltv_dict(r.figures)) for r in rolled.rows] == [(r.key, ltv_dict(r.figures)) for r in live.rows]
        assert ltv_dict(rolled.total.figures) == ltv_dict(live.total.figures)
    grids = [cohorts(session=w.db, account_id=w.account_id, start=START, end=END, source=s, today=TODAY)
             for s in ("rollup", "live")]  # fmt: skip
    assert cohort_dict(grids[0]) == cohort_dict(grids[1])
