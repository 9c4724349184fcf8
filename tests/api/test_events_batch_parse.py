"""A batch of good events is checked in one pydantic-core call on the body's bytes (``ingest.validate_batch``);
anything else is read event by event as before. Both ways must store the same rows, and what the one call lets
through that the event-by-event way refuses (NaN, an infinite number) must fall back to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.api.body import loads
from app.services import ingest
from tests.utils.events import DESKTOP_UA, event

CTX = ingest.IngestContext(account_id=1, source=ingest.Source.BROWSER, user_agent=DESKTOP_UA, ip="203.0.113.9")
NOW = datetime.now(UTC)


def _both_ways(body: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    batch = ingest.validate_batch(body)
    assert batch is not None, "a batch of good events takes the one call"
    fast = ingest.prepare(list(batch.events), CTX, validated=True)
    raw_events, key = ingest.split_payload(loads(body))
    slow = ingest.prepare(raw_events, CTX)
    assert key == batch.key
    assert fast[0].as_dict() == slow[0].as_dict()
    for rows in (fast[1], slow[1]):
        for row in rows:
            row.pop("received_at")  # the clock of each call
    return fast[1], slow[1]


def test_the_one_call_stores_what_event_by_event_stores() -> None:
    events = [
        event(utm_campaign=" spring ", fbclid="AbC", referrer="https://facebook.com/", event_id="  padded-id  "),
        event(
            "purchase",
            value=1999,
            currency="eur",
            items=[{"product_id": "p1", "unit_amount": 1999}, {"price_id": "pr_1", "quantity": 2}],
            user_data={"em": "a" * 64, "ph": None},
            consent={"ad_user_data": True, "analytics": None},
            properties={"nested": {"list": [1, 2.5, "x", None, True]}, "unicode": "é✓"},
            timestamp=(NOW - timedelta(minutes=5)).astimezone().isoformat(),
        ),
        event(url="https://shop.example.com/?utm_id=123&gad_campaignid=456", session_id=None),
        event(url="http://[::1]:8080/p", ga_client_id="GA1.1.1.2", custom_field_absent=None),
        event("signup_step_2", fbc="fb.1.1.Other", fbp="fb.1.2.3", gclid="G-1", utm_term=""),
        event(consent={"analytics": False}),  # dropped for consent, both ways
    ]
    body = json.dumps({"events": events, "key": "ps_pk_x"}).encode()
    fast, slow = _both_ways(body)
    assert fast == slow
    assert len(fast) == 5 and fast[0]["event_id"] == "padded-id" and fast[0]["utm_campaign"] == "spring"
    assert fast[1]["items"] == [
        {"product_id": "p1", "quantity": 1, "unit_amount": 1999},
        {"price_id": "pr_1", "quantity": 2},
    ]
    assert fast[1]["currency"] == "EUR" and fast[2]["utm_id"] == "123" and fast[2]["gad_campaignid"] == "456"


@pytest.mark.parametrize(
    "body",
    [
        b'{"events":[{"event_id":"a","type":"page_view","properties":{"x":NaN}}]}',
        b'{"events":[{"event_id":"a","type":"page_view","properties":{"x":Infinity}}]}',
        b'{"events":[{"event_id":"a","type":"page_view","properties":{"x":1e999}}]}',
        b'{"events":[{"event_id":"a","type":"Page View"}]}',  # a bad event: listed on its own
        b'{"events":[{"event_id":"a","type":"page_view"}],"extra":1}',
        b'{"events":[]}',
        b'{"event_id":"a","type":"page_view"}',  # one event, not a batch
        b'[{"event_id":"a","type":"page_view"}]',
        b'{"events":[{"event_id":"a","type":"page_view"}],"key":5}',
        b"",
    ],
)
def test_anything_else_is_read_event_by_event(body: bytes) -> None:
    assert ingest.validate_batch(body) is None


def test_rows_hold_what_model_dump_gave() -> None:
    """Rows are built from the model's fields rather than ``model_dump``: the event's own fields must be exactly
    what ``model_dump(exclude_none=True)`` gave (nested items, consent and user data included)."""
    from app.services.events_schema import EventIn

    raw = event(
        "purchase",
        value=1999,
        currency="usd",
        items=[{"product_id": "p1", "unit_amount": 5}, {"price_id": "pr", "quantity": 3}],
        user_data={"em": "b" * 64, "ph": None, "external_id": "c" * 64},
        consent={"ad_user_data": False, "ad_personalization": None},
        properties={"a": [1, {"b": None}], "c": 2.5},
        fbp="fb.1.1.1",
        client_ip="198.51.100.1",
    )
    model = EventIn.model_validate(raw)
    expected = model.model_dump(
        exclude={"timestamp", "session_id", "client_user_agent", "client_ip"}, exclude_none=True
    )
    expected["user_data"] = {k: v for k, v in expected["user_data"].items() if v}
    _result, rows = ingest.prepare([raw], CTX)
    assert {k: v for k, v in rows[0].items() if k in EventIn.model_fields} == expected
