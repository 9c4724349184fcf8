"""Kill the sender with -9 while Meta holds its request: nothing is lost, the delivery is sent again only after
its lease expires, by one other holder, with the same dedup id; everything else is sent exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlmodel import Session, select

from app.models import ConversionDelivery, DeliveryAttempt
from app.services.conversion_sender import send_due
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import deliveries, make_pixels, pay
from tests.utils.payments import make_shop
from tests.utils.stripe_fakes import StripeRecorder

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 5


def test_kill_mid_send_loses_nothing_and_resends_once_after_the_lease(
    db: Session, stripe_api: StripeRecorder, ad_platforms: AdPlatforms
) -> None:
    shop = make_shop(db, stripe_api)
    make_pixels(db, shop, ad_platforms)
    pay(shop, db)
    db.commit()
    ad_platforms.held_paths = ("/v26.0/",)
    ad_platforms.arrived_held.clear()
    ad_platforms.hold.set()
    env = {**os.environ, "CONVERSIONS_LEASE_SECONDS": str(LEASE_SECONDS)}
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.utils.sender_worker", "doomed"], cwd=ROOT, env=env, start_new_session=True
    )
    try:
        assert ad_platforms.arrived_held.wait(30), "the worker never reached Meta"
        # The other providers answer at once: wait until the worker recorded them, so only Meta is in doubt.
        deadline = time.monotonic() + 20
        while sum(d.status == "sent" for d in deliveries(db)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Meta has the request; the sender dies before it can read the answer.
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
        ad_platforms.hold.clear()
        ad_platforms.held_paths = ()
    meta = next(d for d in deliveries(db) if d.provider == "meta")
    assert meta.status == "pending" and meta.lease_holder == "doomed"
    killed_at = time.monotonic()

    # While the dead holder's lease runs, nobody else sends Meta's delivery.
    report = send_due(holder="survivor")
    assert all(d.provider != "meta" or d.status == "pending" for d in deliveries(db))
    assert len(ad_platforms.requests_to("/v26.0/")) == 1

    time.sleep(max(0.0, LEASE_SECONDS + 0.3 - (time.monotonic() - killed_at)))
    report = send_due(holder="survivor")
    assert report.claimed >= 1
    rows = deliveries(db)
    assert {d.status for d in rows} == {"sent"}, [(d.provider, d.status, d.reason) for d in rows]
    meta = next(d for d in rows if d.provider == "meta")
    with Session(db.get_bind()) as session:
        attempts = session.exec(
            select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == meta.id).order_by(DeliveryAttempt.id)
        ).all()
    assert [a.outcome for a in attempts] == ["interrupted", "sent"]
    assert [a.holder for a in attempts] == ["doomed", "survivor"]
    # Meta saw the request twice (the first one arrived before the kill), with the same event_id: Meta keeps one.
    event_ids = [b["data"][0]["event_id"] for b in ad_platforms.bodies("/v26.0/")]
    assert len(event_ids) == 2 and len(set(event_ids)) == 1
    # Every other provider got its conversion exactly once.
    assert len(ad_platforms.requests_to("/mp/collect")) == 1
    assert len(ad_platforms.requests_to("/v1/events:ingest")) == 1
    assert len(ad_platforms.requests_to("/hooks/")) == 1
    assert db.exec(select(ConversionDelivery)).all()
