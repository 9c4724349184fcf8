"""Event payloads for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def event(type: str = "page_view", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "type": type,
        "timestamp": datetime.now(UTC).isoformat(),
        "visitor_id": "v-1",
        "session_id": "s-1",
        "url": "https://shop.example.com/",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}
