"""Events the ingest endpoint does not keep are counted by reason and origin (``ingest_drop_daily``): what the
assistant's ``install_status`` reports."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select
from starlette.testclient import TestClient

from app import runtime
from app.jobs.flush_api_usage import flush_api_usage
from app.models import IngestDropDaily
from app.services import assistant_tools, keys
from app.services.usage.drops import MAX_ORIGINS, OTHER_ORIGINS, DropCounter
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"
WWW = "https://www.shop.example.com"


@pytest.fixture
def shop(db: Session) -> Iterator[tuple[str, object]]:
    _, _, owner = make_owner(db)
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    runtime.current().rate_limiter.reset()
    runtime.current().ingest_drops.discard()
    yield publishable, owner
    runtime.current().ingest_drops.discard()
    runtime.current().rate_limiter.reset()


def _post(client: TestClient, key: str, origin: str, user_agent: str, *events: dict[str, object]) -> int:
    response = client.post(
        f"/api/v1/events?key={key}",
        content=json.dumps({"events": list(events)}),
        headers={"Origin": origin, "Content-Type": "text/plain", "User-Agent": user_agent},
    )
    return response.status_code


def test_dropped_events_are_counted_by_reason_and_origin(client: TestClient, db: Session, shop: tuple) -> None:
    key, owner = shop
    assert _post(client, key, WWW, DESKTOP_UA, event("page_view")) == 403
    assert _post(client, key, WWW, DESKTOP_UA, event("page_view")) == 403
    headless = DESKTOP_UA.replace("Chrome/", "HeadlessChrome/")
    assert _post(client, key, SHOP, headless, event("page_view"), event("page_view")) == 200
    denied = event("page_view", consent={"analytics": False})
    assert _post(client, key, SHOP, DESKTOP_UA, denied, event("page_view")) == 200
    assert "drop row(s)" in flush_api_usage()
    rows = db.exec(select(IngestDropDaily)).all()
    assert sorted((r.reason, r.origin, r.count) for r in rows) == [
        ("bot", SHOP, 2),
        ("consent_denied", SHOP, 1),
        ("wrong_origin", WWW, 2),
    ]
    status = assistant_tools.run_tool(db, owner, "install_status", {})
    assert status["dropped"] == {"bot": {SHOP: 2}, "consent_denied": {SHOP: 1}, "wrong_origin": {WWW: 2}}
    assert status["events_received"]["total"] == 1 and status["page_origins_seen"] == {SHOP: 1}
    assert status["status"] == "received"
    assert _post(client, key, WWW, DESKTOP_UA, event("page_view")) == 403
    flush_api_usage()  # adds to the day's row
    db.expire_all()
    assert db.exec(select(IngestDropDaily.count).where(IngestDropDaily.reason == "wrong_origin")).one() == 3


def test_the_origins_counted_in_memory_are_bounded() -> None:
    counter = DropCounter()
    for n in range(MAX_ORIGINS + 30):
        counter.count(1, "wrong_origin", f"https://site{n}.example")
    counter.count(1, "wrong_origin", "https://site0.example")
    counter.count(2, "wrong_origin", "https://mine.example")
    pending = counter.pending()
    assert len(pending) == MAX_ORIGINS + 2
    counts = {origin: n for (account, _, _, origin), n in pending.items() if account == 1}
    assert counts[OTHER_ORIGINS] == 30 and counts["https://site0.example"] == 2
    counter.take()
    counter.count(1, "wrong_origin", "https://new.example")  # a flush starts the bound again
    assert [slot[3] for slot in counter.pending()] == ["https://new.example"]
