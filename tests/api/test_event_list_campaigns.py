"""``GET /api/v1/events`` says what each event's session matched (added fields; the existing ones are unchanged)."""

from __future__ import annotations

import json

from sqlmodel import Session
from starlette.testclient import TestClient

from app import runtime
from app.services import campaigns, install, keys
from tests.utils.events import DESKTOP_UA, event
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"
SPRING = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]}


def test_listed_events_carry_the_matched_campaign_and_version(client: TestClient, db: Session) -> None:
    account, _, owner = make_owner(db)
    made = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta", config=SPRING)
    version = campaigns.publish_draft(session=db, actor=owner, campaign_public_id=made.public_id)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    runtime.current().rate_limiter.reset()
    batch = [
        event(visitor_id="ann", session_id="s1", utm_campaign="spring", gclid="G-1"),
        event(visitor_id="bob", session_id="s2", utm_campaign="winter"),
        event(visitor_id="cy", session_id="s3"),
    ]
    sent = client.post(
        f"/api/v1/events?key={publishable}",
        content=json.dumps({"events": batch}),
        headers={"Origin": SHOP, "Content-Type": "text/plain;charset=UTF-8", "User-Agent": DESKTOP_UA},
    )
    assert sent.json()["accepted"] == 3
    install.record_test_event(account_id=account.id or 0, user_agent=DESKTOP_UA)

    listed = client.get("/api/v1/events", headers={"Authorization": f"Bearer {secret}"}).json()["events"]
    by_visitor = {e["visitor_id"]: e for e in listed}
    ann = by_visitor["ann"]
    assert (ann["campaign_match"], ann["campaign"], ann["campaign_name"]) == ("matched", made.public_id, "Spring sale")
    assert (ann["campaign_version"], ann["campaign_version_number"]) == (version.public_id, 1)
    assert ann["utm_campaign"] == "spring" and ann["received_at"] and ann["timestamp"]  # existing fields kept
    assert by_visitor["bob"]["campaign_match"] == "unmatched" and "campaign" not in by_visitor["bob"]
    assert by_visitor["cy"]["campaign_match"] == "direct"
    test = by_visitor["paidsignal-test"]
    assert test["source"] == "test" and "campaign_match" not in test  # a test event has no session
