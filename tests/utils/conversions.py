"""Builders for conversion tests: a shop's four pixels pointed at the recording ad-platform server, a paid order
through signed webhooks, and draining the outbox the way the job does."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlmodel import Session, select

from app.models import ConversionDelivery
from app.services import pixels
from app.services.conversion_sender import SendReport, send_due
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.payments import Shop, deliver, session_of, start_checkout

META_PIXEL = "123456789012345"
META_TOKEN = "EAAtestaccesstoken0123456789"
GA_ID = "G-TEST1234"
GA_SECRET = "ga-api-secret-0123"
WEBHOOK_SECRET = "hook-signing-secret-0123"
BUYER = {
    "customer_email": "John_Smith@gmail.com",
    "fbc": "fb.1.1732000000000.IwAR2CaseSensitiveClickId",
    "fbp": "fb.1.1732000000123.1234567890",
    "ga_client_id": "555.1732000000",
    # GA4's session id is the session's start (unix seconds): a session that started just now, as the buyer's.
    "ga_session_id": str(int(time.time())),
    "visitor_id": "v_buyer_0001",
    "session_id": "s_buyer_0001",
}


def make_pixels(
    db: Session, shop: Shop, platforms: AdPlatforms, *, events: list[str] | None = None, test_mode: bool = False
) -> dict[str, str]:
    """The account's default pixels, one per provider; returns provider → pixel id."""
    specs: list[tuple[str, dict[str, str], dict[str, str]]] = [
        ("meta", {"pixel_id": META_PIXEL, **({"test_event_code": "TEST4242"} if test_mode else {})},
         {"access_token": META_TOKEN}),
        ("ga4", {"measurement_id": GA_ID}, {"api_secret": GA_SECRET}),
        ("google_ads", {"operating_account_id": "123-456-7890", "conversion_action_id": "987654321"},
         {"oauth_client_id": "client-id-0123", "oauth_client_secret": "client-secret-0123",
          "refresh_token": "1//refresh-token-0123"}),
        ("webhook", {"url": f"{platforms.url}/hooks/shop"}, {"signing_secret": WEBHOOK_SECRET}),
    ]  # fmt: skip
    made = {}
    for provider, settings, credentials in specs:
        row = pixels.create_pixel(
            session=db, actor=shop.actor, provider=provider, name=f"{provider} pixel", settings=settings,
            credentials=credentials, events=events or ["purchase"], is_default=True, test_mode=test_mode,
        )  # fmt: skip
        made[provider] = row.public_id
    db.commit()
    return made


def pay(shop: Shop, db: Session, *, amount: int = 4_900, created: int | None = None, **fields: Any) -> str:
    """A one-off checkout (with the buyer's ids) completed and paid through a signed webhook; the order id."""
    order_id = start_checkout(shop, db, **{**BUYER, **fields})
    checkout_id = session_of(shop, db, order_id)["id"]
    completed = shop.recorder.complete_session(checkout_id, amount_total=amount, currency="eur")
    deliver(shop, db, "checkout.session.completed", completed, created=created)
    return order_id


def send_as_job(holder: str = "test-sender") -> SendReport:
    """One ``send_due`` on a thread of its own, as the job runner calls it: not on the test's thread, whose session
    may hold a connection (the sender takes the write lock holding none, which ``strict_lock_order`` checks)."""
    with ThreadPoolExecutor(1, thread_name_prefix="send-conversions") as job:
        return job.submit(send_due, holder=holder).result()


def drain(holder: str = "test-sender", *, rounds: int = 50, pause: float = 0.06) -> SendReport:
    """Send until nothing is due any more (retries come due after the tests' tiny backoff)."""
    total = SendReport()
    for _ in range(rounds):
        report = send_as_job(holder)
        total.claimed += report.claimed
        total.outcomes.update(report.outcomes)
        if not report.claimed:
            with Session_() as session:
                waiting = session.exec(
                    select(ConversionDelivery.id).where(ConversionDelivery.status.in_(("pending", "retrying")))  # type: ignore[attr-defined]
                ).first()
            if waiting is None:
                break
            time.sleep(pause)
    return total


def sent_events(platforms: AdPlatforms, path_prefix: str) -> list[dict[str, Any]]:
    """Every event the recorder received under ``path_prefix``, in order, whatever request carried it: Meta's
    ``data`` items, the Data Manager's and GA4's ``events`` (GA4's with the request's ``client_id`` added)."""
    out: list[dict[str, Any]] = []
    for body in platforms.bodies(path_prefix):
        if "data" in body:
            out.extend(body["data"])
        elif "client_id" in body:
            out.extend({**event, "client_id": body["client_id"]} for event in body["events"])
        else:
            out.extend(body.get("events") or [])
    return out


def Session_() -> Session:  # noqa: N802 (reads like the class it returns)
    from app.db import get_engine

    return Session(get_engine())


def deliveries(db: Session) -> list[ConversionDelivery]:
    db.expire_all()
    return list(db.exec(select(ConversionDelivery).order_by(ConversionDelivery.id)).all())  # type: ignore[arg-type]
