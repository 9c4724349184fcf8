"""Meta Conversions API: the internal conversion as one ``Purchase`` server event.

``POST {META_GRAPH_BASE}/{META_API_VERSION}/{pixel_id}/events?access_token=…`` with ``{"data": [event]}``. The
``event_id`` is the one the browser pixel used (``fbq(…, {eventID})``), so Meta keeps one of the pair.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from app.integrations.conversion import Conversion
from app.integrations.hashing import meta_hash
from app.integrations.outbound import Outbound, Outcome, Skip
from app.settings import get_settings

# An event_time older than this fails Meta's whole request: such events are skipped, never sent.
MAX_AGE = timedelta(days=7)


def user_data(conversion: Conversion) -> dict[str, Any]:
    """``user_data``: e-mail, phone and external id normalised and hashed (browser hashes pass through);
    IP, user agent, fbc and fbp as they are (Meta forbids hashing them)."""
    user = conversion.get("user") or {}
    country = user.get("phone_country_code")  # a calling code; none is guessed
    data: dict[str, Any] = {}
    clear_values = (("em", user.get("email")), ("ph", user.get("phone")), ("external_id", user.get("external_id")))
    for field, clear in clear_values:
        hashed = meta_hash(field, str(clear), country_code=country) if clear else None
        values = [hashed] if hashed else []
        values += [h for h in (user.get("hashed") or {}).get(field, []) if h not in values]
        if values:
            data[field] = values
    for key, name in (("ip", "client_ip_address"), ("user_agent", "client_user_agent"), ("fbc", "fbc"), ("fbp", "fbp")):
        value = user.get(key)
        if value:
            data[name] = value
    return data


def build(conversion: Conversion, settings: dict[str, str], secrets: dict[str, str], *, test: bool,
          now: datetime, delivery_id: str) -> Outbound:  # fmt: skip
    if conversion["kind"] == "refund":
        raise Skip("Meta has no refund event: refunds are netted in PaidSignal's own figures.")
    event_time = datetime.fromisoformat(conversion["event_time"])
    if now - event_time > MAX_AGE:
        raise Skip(f"The conversion is older than 7 days ({event_time:%Y-%m-%d %H:%M} UTC): Meta refuses such events.")
    code = settings.get("test_event_code")
    if test and not code:
        raise Skip("Test mode needs the pixel's test event code (Events Manager → Test events).")
    items = conversion.get("items") or []
    custom: dict[str, Any] = {
        "value": conversion["value"],
        "currency": conversion["currency"],
        "content_type": "product",
        "content_ids": [item["id"] for item in items],
        "contents": [{"id": item["id"], "quantity": item["quantity"], "item_price": item["price"]} for item in items],
        "order_id": conversion["order_id"],
    }
    for key in ("content_name", "content_category"):
        if conversion.get(key):
            custom[key] = conversion[key]
    users = user_data(conversion)
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(event_time.timestamp()),
        "event_id": conversion["event_id"],
    }
    if conversion["kind"] == "renewal":
        # Charged automatically, no visitor on the site: Meta's action source for that is system_generated (no
        # event_source_url). subscription_id is a customer information parameter, sent unhashed.
        event["action_source"] = "system_generated"
        if conversion.get("subscription"):
            users["subscription_id"] = conversion["subscription"]
    else:
        event["action_source"] = "website"
        event["event_source_url"] = conversion.get("event_source_url")
    event["user_data"] = users
    event["custom_data"] = custom
    body: dict[str, Any] = {"data": [event]}
    if test:
        # Only in test mode: Meta says to remove test_event_code from production payloads.
        body["test_event_code"] = code
    config = get_settings()
    url = f"{config.meta_graph_base}/{config.meta_api_version}/{settings['pixel_id']}/events"
    return Outbound("POST", f"{url}?access_token={secrets['access_token']}", body, check_ok=_received)


def _received(status: int, body: str) -> tuple[Outcome, str]:
    try:
        data = json.loads(body)
    except ValueError:
        return "sent", f"HTTP {status}"
    received = data.get("events_received") if isinstance(data, dict) else None
    if received == 0:
        return "dead", f"Meta received 0 events: {data.get('messages') or body[:300]}"
    return "sent", f"events_received={received}, fbtrace_id={data.get('fbtrace_id', '')}"
