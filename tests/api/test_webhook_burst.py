"""A burst of Stripe deliveries (a sale, a renewal day) at the production server: far more concurrent signed webhooks
than the database pool has connections, all answered, each effect stored once, and the pool never runs dry.

The server is ``reflex run --env prod --backend-only`` (granian, the job runner on) on the test database, so this
runs on SQLite, libSQL and PostgreSQL alike. Speed is measured in ``bench/webhooks.py``, not here.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
from sqlmodel import Session, col, func, select

from app.models import Order, Payment, StripeEvent
from tests.utils.payments import WEBHOOK_SECRET, Shop, make_shop, session_of, start_checkout
from tests.utils.server import free_port, server_env, start_server
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

BURST = 80  # concurrent deliveries: well above the old pool (5 + 10 overflow) and anyio's 40 threads


def _burst(url: str, bodies: list[bytes]) -> list[httpx.Response | Exception]:
    """Every body from its own thread, released at once; the answers in the order of ``bodies``."""
    answers: list[httpx.Response | Exception] = [RuntimeError("not sent")] * len(bodies)
    start = threading.Barrier(len(bodies))

    def deliver(index: int) -> None:
        body = bodies[index]
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)}
        with httpx.Client(timeout=60) as client:
            start.wait()
            try:
                answers[index] = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                answers[index] = error

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _summary(answers: list[httpx.Response | Exception]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for answer in answers:
        key = (
            f"{answer.status_code} {answer.json().get('outcome') if answer.status_code == 200 else answer.text[:80]}"
            if isinstance(answer, httpx.Response)
            else type(answer).__name__
        )
        seen[key] = seen.get(key, 0) + 1
    return seen


def test_a_burst_of_webhooks_is_all_answered_and_applied_once(
    db: Session, stripe_api: StripeRecorder, tmp_path: Path
) -> None:
    shop: Shop = make_shop(db, stripe_api)
    orders = [start_checkout(shop, db) for _ in range(BURST)]
    bodies = [
        stripe_event(
            "checkout.session.completed",
            stripe_api.complete_session(session_of(shop, db, order)["id"], amount_total=4_900, currency="eur"),
        )
        for order in orders
    ]
    db.commit()

    port = free_port()
    env = server_env(
        port,
        tmp_path,
        DATABASE_URL=os.environ["DATABASE_URL"],
        SECRET_KEY=os.environ["SECRET_KEY"],  # the shop's signing secret is encrypted with it
        STRIPE_API_BASE=stripe_api.url,
        # The account's signing secret is cached for KEY_CACHE_SECONDS: a burst longer than that meets deliveries
        # that read the account and deliveries that do not, the mix that once stalled the pool. Short here.
        KEY_CACHE_SECONDS="0.2",
    )
    server = start_server(port, tmp_path, env, backend_only=True, timeout=180)
    try:
        url = f"{server.base}/api/v1/stripe/webhook/{shop.account.public_id}"
        first = _burst(url, bodies)
        assert _summary(first) == {"200 applied": BURST}, server.log_tail()
        again = _burst(url, bodies)  # Stripe's retries of the same events, freshly signed
        assert _summary(again) == {"200 duplicate": BURST}, server.log_tail()
    finally:
        server.stop()
    log = server.log.read_text(errors="replace")
    assert "QueuePool limit" not in log
    assert "holding a database connection" not in log

    db.expire_all()
    db.rollback()
    events = db.exec(select(StripeEvent.deliveries, StripeEvent.outcome)).all()
    assert sorted(events) == [(2, "applied")] * BURST
    paid = db.exec(
        select(Order.public_id, Order.status, Order.amount_paid).where(col(Order.public_id).in_(orders))
    ).all()
    assert {(status, amount) for _, status, amount in paid} == {("paid", 4_900)}
    assert len(paid) == BURST
    assert db.exec(select(func.count()).select_from(Payment)).one() == BURST
