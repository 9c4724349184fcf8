"""A signed Stripe webhook through nginx pays an order; with two jobs processes running, the conversion reaches the
recording Meta server exactly once, and no two runs of a leased job overlap."""

from __future__ import annotations

import itertools
import uuid

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine
from app.jobs.runner import default_jobs
from app.services import pixels
from tests.cluster.conftest import EXTRA_JOBS_OPS_PORT, Cluster, wait_until
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import BUYER, META_PIXEL, META_TOKEN
from tests.utils.payments import WEBHOOK_SECRET, make_shop, session_of, start_checkout
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

pytestmark = pytest.mark.cluster


def _meta_requests(platforms: AdPlatforms) -> int:
    """Requests to the Meta pixel of this test (no other test makes a Meta pixel)."""
    return sum(1 for r in platforms.requests if META_PIXEL in r.path)


def _delivery_statuses(order_public_id: str) -> list[str]:
    with Session(get_engine()) as db:
        rows = db.execute(
            text("SELECT d.status FROM conversion_delivery d JOIN shop_order o ON o.id = d.order_id "
                 "WHERE o.public_id = :id"), {"id": order_public_id},
        ).scalars().all()  # fmt: skip
    return [str(status) for status in rows]


def test_a_paid_order_is_sent_to_meta_once_with_two_jobs_processes(
    cluster: Cluster, _stripe_recorder: StripeRecorder, _ad_platforms: AdPlatforms
) -> None:
    cluster.start_jobs(EXTRA_JOBS_OPS_PORT)
    with Session(get_engine(), expire_on_commit=False) as db:
        shop = make_shop(db, _stripe_recorder, name=f"Paying {uuid.uuid4().hex[:6]}")
        pixels.create_pixel(session=db, actor=shop.actor, provider="meta", name="Meta",
                            settings={"pixel_id": META_PIXEL}, credentials={"access_token": META_TOKEN},
                            events=["purchase"], is_default=True)  # fmt: skip
        db.commit()
        order_id = start_checkout(shop, db, **BUYER)
        checkout_id = session_of(shop, db, order_id)["id"]
    completed = _stripe_recorder.complete_session(checkout_id, amount_total=4_900, currency="eur")
    body = stripe_event("checkout.session.completed", completed)
    response = httpx.post(
        f"{cluster.base}/api/v1/stripe/webhook/{shop.account.public_id}",
        content=body,
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text

    with Session(get_engine()) as db:
        paid = db.execute(text("SELECT status FROM shop_order WHERE public_id = :id"), {"id": order_id}).scalar_one()
    assert paid == "paid"
    wait_until(lambda: _meta_requests(_ad_platforms) >= 1, "the conversion at Meta")
    # Marked sent once the one process that claimed it had Meta's answer: the other one never claimed it.
    wait_until(lambda: _delivery_statuses(order_id) == ["sent"], "the delivery marked sent")
    assert all(process.poll() is None for process in cluster.started), "the second jobs process stopped"
    assert _meta_requests(_ad_platforms) == 1
    with Session(get_engine()) as db:
        runs = db.execute(
            text("SELECT job_name, holder, started_at, finished_at FROM job_run WHERE outcome = 'ok' "
                 "ORDER BY job_name, started_at")
        ).all()  # fmt: skip
    leased = {spec.name for spec in default_jobs() if not spec.per_process}  # the others run in every process
    for previous, current in itertools.pairwise(run for run in runs if run.job_name in leased):
        if previous.job_name == current.job_name and previous.finished_at is not None:
            assert current.started_at >= previous.finished_at, f"two runs of {current.job_name} overlapped"
