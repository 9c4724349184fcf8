"""Ingest through nginx under concurrent load while one api process is killed (kill -9) and then both are restarted
one after the other: every event the cluster acknowledged is in PostgreSQL exactly once."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session

from app.db import get_engine
from tests.cluster.conftest import PORTS, Cluster, wait_until
from tests.utils.payments import BUYER_UA, ORIGIN, make_shop
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.cluster

SENDERS = 6
BATCH = 5


def _send(url: str, key: str, prefix: str, stop: threading.Event, acked: list[str], failures: Counter[str]) -> None:
    headers = {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN, "User-Agent": BUYER_UA}
    n = 0
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            ids = [f"{prefix}-{n + i}" for i in range(BATCH)]
            n += BATCH
            events = [{"event_id": event_id, "type": "page_view", "visitor_id": f"v{prefix}",
                       "session_id": f"s{prefix}", "url": f"{ORIGIN}/p/{event_id}"} for event_id in ids]  # fmt: skip
            try:
                response = client.post(
                    f"{url}/api/v1/events?key={key}", content=json.dumps({"events": events}), headers=headers
                )
            except httpx.HTTPError as error:
                failures[type(error).__name__] += 1
                continue
            if response.status_code in (200, 202) and response.json().get("accepted") == BATCH:
                acked.extend(ids)
            else:
                failures[str(response.status_code)] += 1


def test_every_acknowledged_event_is_stored_once_through_kill_and_rolling_restart(
    cluster: Cluster, _stripe_recorder: StripeRecorder
) -> None:
    with Session(get_engine(), expire_on_commit=False) as db:
        shop = make_shop(db, _stripe_recorder, name=f"Load {uuid.uuid4().hex[:6]}")
    acked: list[str] = []
    failures: Counter[str] = Counter()
    stop = threading.Event()
    senders = [
        threading.Thread(target=_send, args=(cluster.base, shop.publishable_key, f"e{n}", stop, acked, failures))
        for n in range(SENDERS)
    ]
    for sender in senders:
        sender.start()
    try:
        wait_until(lambda: len(acked) >= 500, f"the first 500 events acknowledged (refused: {failures})")
        killed = cluster.kill_api(PORTS["API1_PORT"])
        before = len(acked)
        wait_until(lambda: len(acked) >= before + 500, f"500 more events after kill -9 of {killed}")
        wait_until(lambda: _serves(PORTS["API1_PORT"]), "api 1 respawned")
        for port in (PORTS["API1_PORT"], PORTS["API2_PORT"]):  # the rolling restart
            cluster.restart_api(port)
            mark = len(acked)
            wait_until(lambda mark=mark: len(acked) >= mark + 200, f"200 more events after restarting {port}")
    finally:
        stop.set()
        for sender in senders:
            sender.join(timeout=60)
    with Session(get_engine()) as db:
        rows = db.execute(
            text("SELECT event_id, count(*) FROM event WHERE account_id = :account GROUP BY event_id"),
            {"account": shop.account.id},
        ).all()
    stored: dict[str, int] = {str(event_id): int(count) for event_id, count in rows}
    missing = [event_id for event_id in acked if event_id not in stored]
    twice = {event_id: count for event_id, count in stored.items() if count != 1}
    print(f"acknowledged {len(acked)} events, stored {len(stored)}; unacknowledged requests: {dict(failures)}")
    assert not missing, f"{len(missing)} acknowledged events are not stored, e.g. {missing[:5]}"
    assert not twice, f"events stored more than once: {list(twice.items())[:5]}"
    assert len(set(acked)) == len(acked)


def _serves(port: int) -> bool:
    from tests.utils.server import status

    return status(f"http://127.0.0.1:{port}/_ops/ready") == 200
