"""Kill the server between receiving a webhook and committing it: Stripe retries, and the retry must land the
effect exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlmodel import Session, func, select

from app.models import Payment, StripeEvent
from app.services import orders as order_service
from tests.utils.payments import WEBHOOK_SECRET, Shop, make_shop, session_of, start_checkout
from tests.utils.server import free_port
from tests.utils.stripe_fakes import StripeRecorder, sign, stripe_event

ROOT = Path(__file__).resolve().parents[2]


def _worker(port: int, marker: Path | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.utils.webhook_worker", str(port)] + ([str(marker)] if marker else [])
    process = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ), start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the webhook worker did not start")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
    process.wait(timeout=10)


def test_kill_between_receive_and_commit_then_retry_lands_once(
    db: Session, stripe_api: StripeRecorder, tmp_path: Path
) -> None:
    shop: Shop = make_shop(db, stripe_api)
    order_id = start_checkout(shop, db)
    completed = stripe_api.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900)
    body = stripe_event("checkout.session.completed", completed)
    db.commit()

    marker = tmp_path / "paused"
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/stripe/webhook/{shop.account.public_id}"
    doomed = _worker(port, marker)
    try:
        with httpx.Client(timeout=30) as client:
            # Stripe sends; the server dies holding the uncommitted transaction; Stripe sees no answer.
            outcome: list[object] = []
            sender = threading.Thread(target=lambda: outcome.append(_post(client, url, body)), daemon=True)
            sender.start()
            deadline = time.monotonic() + 20
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.exists(), "the worker never reached the commit"
            _stop(doomed, signal.SIGKILL)
            sender.join(timeout=10)
            assert outcome and isinstance(outcome[0], Exception), outcome
    finally:
        _stop(doomed, signal.SIGKILL)

    db.expire_all()
    db.rollback()
    assert db.exec(select(func.count()).select_from(StripeEvent)).one() == 0
    assert order_service.get_order(db, shop.account.id or 0, order_id).status == "created"

    survivor = _worker(port)
    try:
        with httpx.Client(timeout=30) as client:
            retry = _post(client, url, body)
            again = _post(client, url, body)
    finally:
        _stop(survivor)
    assert isinstance(retry, httpx.Response) and retry.json()["outcome"] == "applied"
    assert isinstance(again, httpx.Response) and again.json()["outcome"] == "duplicate"
    db.expire_all()
    db.rollback()
    assert order_service.get_order(db, shop.account.id or 0, order_id).status == "paid"
    assert db.exec(select(Payment.amount)).all() == [4_900]
    assert db.exec(select(StripeEvent.deliveries)).all() == [2]


def _post(client: httpx.Client, url: str, body: bytes) -> httpx.Response | Exception:
    try:
        return client.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, WEBHOOK_SECRET)},
        )
    except httpx.HTTPError as error:
        return error
