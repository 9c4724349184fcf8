"""The generic destination: the conversion as JSON, POSTed to the shop's URL and signed like Stripe signs ours.

Header ``PaidSignal-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "{t}.{raw body}" with the signing
secret>``. Receivers recompute it over the raw bytes, compare in constant time and reject old ``t`` values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

from app.integrations.conversion import Conversion
from app.integrations.outbound import Outbound

MAX_AGE = timedelta(days=3)
SIGNATURE_HEADER = "PaidSignal-Signature"


def signature(secret: str, timestamp: int, raw: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, raw: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (also used by the tests): any ``v1`` matches and ``t`` is recent."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [int(v) for k, v in parts if k == "t" and v.isdigit()]
    if not stamps or abs(now - stamps[0]) > tolerance:
        return False
    expected = signature(secret, stamps[0], raw).split("v1=", 1)[1]
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


def build(conversion: Conversion, settings: dict[str, str], secrets: dict[str, str], *, test: bool,
          now: datetime, delivery_id: str) -> Outbound:  # fmt: skip
    user = dict(conversion.get("user") or {})
    # No clear e-mail or phone leaves PaidSignal: the receiver gets the same SHA-256 Meta would.
    from app.integrations.meta_capi import user_data

    hashed = user_data(conversion)
    data = {k: v for k, v in conversion.items() if k != "user"}
    data["user"] = {
        "em": hashed.get("em", []), "ph": hashed.get("ph", []), "external_id": hashed.get("external_id", []),
        "ip": user.get("ip"), "user_agent": user.get("user_agent"), "fbc": user.get("fbc"), "fbp": user.get("fbp"),
    }  # fmt: skip
    body = {
        "id": delivery_id,
        "type": f"conversion.{conversion['kind']}",
        "created": int(now.timestamp()),
        "test": test,
        "data": data,
    }
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    header = signature(secrets["signing_secret"], int(now.timestamp()), raw)
    return Outbound("POST", settings["url"], body, headers={SIGNATURE_HEADER: header}, raw=raw, user_url=True)
