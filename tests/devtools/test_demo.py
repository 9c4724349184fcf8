"""The demo seeder: a week of demo data through the real services shows orders, refunds, renewals and spend on the
dashboard's figures (rollups equal to the raw tables), the owner can log in, and a second run refuses unless reset."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select

from app.devtools import demo
from app.models import Order, Payment, Refund, StripeEvent, Touch, VisitSession
from app.services import accounts
from app.services import metrics as metric_service
from app.services.errors import Conflict

PASSWORD = "demo-password-0123"


def test_seed_demo_for_a_week_shows_a_living_dashboard(db: Session) -> None:
    made = demo.seed_demo(session=db, days=7, password=PASSWORD)
    account = demo.find_demo_account(db)
    assert account is not None and account.id is not None
    assert made.account_id == account.public_id and made.password == PASSWORD
    assert made.end - made.start == timedelta(days=6)

    # the raw data came through the pipelines: sessions tagged with campaign versions, touches, signed webhooks
    sessions = db.exec(select(func.count()).select_from(VisitSession).where(VisitSession.account_id == account.id))
    tagged = db.exec(
        select(func.count(func.distinct(VisitSession.campaign_version_id))).where(
            VisitSession.account_id == account.id, col(VisitSession.campaign_version_id).is_not(None)
        )
    ).one()
    assert sessions.one() == made.counts["sessions"] and tagged >= 5  # five campaigns, some with a second version
    assert db.exec(select(func.count()).select_from(Touch).where(Touch.account_id == account.id)).one() > 0
    outcomes = set(db.exec(select(StripeEvent.outcome).where(StripeEvent.account_id == account.id)).all())
    assert outcomes == {"applied"}
    assert db.exec(select(func.count()).select_from(Refund).where(Refund.account_id == account.id)).one() > 0
    renewals = db.exec(select(func.count()).select_from(Payment).where(Payment.kind == "renewal")).one()
    assert renewals == made.counts["renewals"] > 0
    attributed = db.exec(select(func.count()).where(col(Order.campaign_id).is_not(None))).one()
    assert attributed > 0

    # the dashboard's figures for the week, from the rollups and from the raw tables
    query = metric_service.MetricsQuery(
        start=made.start, end=made.end, dimension=metric_service.Dimension.CAMPAIGN,
        compare=metric_service.Compare.NONE,
    )  # fmt: skip
    report = metric_service.metrics(session=db, account_id=account.id, query=query, source="rollup")
    raw = metric_service.metrics(session=db, account_id=account.id, query=query, source="raw")
    assert metric_service.figure_dict(report.total.figures) == metric_service.figure_dict(raw.total.figures)
    total = report.total.figures
    eur = total.money["EUR"]
    assert total.sessions > 1_000 and total.orders > 0 and total.renewals > 0
    assert eur.gross > 0 and eur.refunds > 0 and eur.renewal_revenue > 0 and eur.spend > 0
    assert eur.net == eur.gross + eur.renewal_revenue - eur.refunds
    assert total.roas("EUR") is not None and total.cpa("EUR") is not None
    campaign_rows = [r for r in report.rows if r.label != "Direct / unmatched"]
    assert len(campaign_rows) == 5 and sum(1 for r in campaign_rows if r.figures.money.get("EUR", None)) >= 4

    # the owner logs in with the printed password
    user = accounts.authenticate(session=db, email=demo.DEMO_EMAIL, password=PASSWORD)
    assert user.email == demo.DEMO_EMAIL


def test_seed_demo_refuses_twice_and_resets(db: Session) -> None:
    first = demo.seed_demo(session=db, days=1, sessions_per_day=40, password=PASSWORD)
    with pytest.raises(Conflict, match="--reset"):
        demo.seed_demo(session=db, days=1, sessions_per_day=40)
    second = demo.seed_demo(session=db, days=1, sessions_per_day=40, reset=True, password=PASSWORD)
    assert second.account_id != first.account_id
    account = demo.find_demo_account(db)
    assert account is not None and account.public_id == second.account_id
    # nothing of the first demo account is left
    orders = db.exec(select(Order.account_id)).all()
    assert set(orders) <= {account.id}
