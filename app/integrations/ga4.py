"""GA4 Measurement Protocol: ``purchase`` for payments and ``refund`` for refunds, with the shop's gtag ids.

``POST {GA4_BASE}/mp/collect?measurement_id=…&api_secret=…``; test mode posts to ``/debug/mp/collect``, which
validates without recording and answers ``validationMessages``. ``transaction_id`` is GA4's dedup key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from app.integrations.conversion import Conversion
from app.integrations.outbound import Outbound, Outcome, Skip
from app.settings import get_settings

# GA4 backdates events by at most 72 hours (timestamp_micros); an older one would be dropped or misdated.
MAX_AGE = timedelta(hours=72)
# GA4 ends a session after 30 minutes without activity (its default), and joins a Measurement Protocol event to a
# session only when the event lies within it and is sent at most 24 hours after the session started
# (developers.google.com/analytics/devguides/collection/protocol/ga4/use-cases, "Session attribution").
SESSION_TIMEOUT = timedelta(minutes=30)
SESSION_REQUEST_WINDOW = timedelta(hours=24)


def fallback_client_id(seed: str) -> str:
    """A stable GA-shaped client id when the page had no ``_ga`` cookie (GA then reports the sale as direct)."""
    digest = int(hashlib.sha256(seed.encode()).hexdigest()[:16], 16)
    return f"{digest % 10**10}.{digest // 10**10 % 10**10}"


def build(conversion: Conversion, settings: dict[str, str], secrets: dict[str, str], *, test: bool,
          now: datetime, delivery_id: str) -> Outbound:  # fmt: skip
    event_time = datetime.fromisoformat(conversion["event_time"])
    if now - event_time > MAX_AGE:
        raise Skip(f"The conversion is older than 72 hours ({event_time:%Y-%m-%d %H:%M} UTC): GA4 cannot backdate it.")
    ga = conversion.get("ga") or {}
    items = [
        {"item_id": item["id"], **({"item_name": item["name"]} if item.get("name") else {}),
         "price": item["price"], "quantity": item["quantity"]}
        for item in conversion.get("items") or []
    ]  # fmt: skip
    params: dict[str, Any] = {
        "transaction_id": conversion["transaction_id"],
        "value": conversion["value"],
        "currency": conversion["currency"],
        "engagement_time_msec": 1,
    }
    if conversion["kind"] != "refund" or items:
        # A refund names items only when its amount is whole units of the order's items (conversions.refunded_units
        # decides); otherwise its value alone, so GA4's item reports never show items that did not come back.
        params["items"] = items
    if in_session(conversion, event_time, now):
        params["session_id"] = str(ga["session_id"])
    body: dict[str, Any] = {
        "client_id": ga.get("client_id") or fallback_client_id(conversion.get("visitor_id") or conversion["order_id"]),
        "timestamp_micros": int(event_time.timestamp() * 1_000_000),
        "events": [{"name": "refund" if conversion["kind"] == "refund" else "purchase", "params": params}],
    }
    consent = conversion.get("consent") or {}
    granted = {k: ("GRANTED" if consent[k] else "DENIED") for k in ("ad_user_data", "ad_personalization")
               if consent.get(k) is not None}  # fmt: skip
    if granted:
        body["consent"] = granted
    query = urlencode({"measurement_id": settings["measurement_id"], "api_secret": secrets["api_secret"]})
    path = "debug/mp/collect" if test else "mp/collect"
    return Outbound("POST", f"{get_settings().ga4_base}/{path}?{query}", body, check_ok=_validated if test else None)


def in_session(conversion: Conversion, event_time: datetime, now: datetime) -> bool:
    """Whether the event happened inside the checkout's GA session, so ``session_id`` may be sent.

    Only a purchase can: renewals and refunds happen without the buyer, days or weeks later. And only while the
    session lasts: the buyer's last hit before Stripe was the checkout (``ga.checkout_at``), so the session ends 30
    minutes after it; a purchase paid later (a slow bank transfer) is outside it. GA then counts the event for the
    user without stretching an ended session.
    """
    ga = conversion.get("ga") or {}
    if conversion["kind"] != "purchase" or not ga.get("session_id"):
        return False
    if not ga.get("checkout_at"):
        return True  # purchases stored before checkout_at was recorded
    if event_time > datetime.fromisoformat(str(ga["checkout_at"])) + SESSION_TIMEOUT:
        return False
    started = str(ga["session_id"])
    return not started.isdigit() or now - datetime.fromtimestamp(int(started), UTC) <= SESSION_REQUEST_WINDOW


def _validated(status: int, body: str) -> tuple[Outcome, str]:
    try:
        messages = json.loads(body).get("validationMessages") or []
    except (ValueError, AttributeError):
        return "dead", f"GA4's debug endpoint answered something unexpected: {body[:200]}"
    if messages:
        text = "; ".join(f"{m.get('fieldPath', '')}: {m.get('description', '')} ({m.get('validationCode', '')})"
                         for m in messages)  # fmt: skip
        return "dead", f"GA4 validation: {text}"
    return "sent", "Valid (GA4's debug endpoint checks the payload; test events are not recorded in reports)."
