"""Google Ads conversions through the Data Manager API (``UploadClickConversions`` is closed to new integrations).

``POST {GOOGLE_DATAMANAGER_BASE}/v1/events:ingest`` with an OAuth access token (scope ``…/auth/datamanager``,
refreshed from the shop's refresh token at ``GOOGLE_OAUTH_TOKEN_URL``). ``transactionId`` is Google's dedup key;
``validateOnly`` is the dry run used in test mode. Also the CSV Google Ads imports for offline click conversions.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app import runtime
from app.integrations.conversion import Conversion
from app.integrations.hashing import google_hash
from app.integrations.outbound import Outbound, Outcome, Refused, Skip
from app.lib.csv_export import csv_text
from app.settings import get_settings

# Google Ads imports click conversions up to 90 days after the click (not after the conversion: see age_start).
MAX_AGE = timedelta(days=90)
SCOPE = "https://www.googleapis.com/auth/datamanager"


class TokenCache:
    """Access tokens per (OAuth client, refresh token) in this process (its runtime's, app/runtime.py), each until a
    minute before it expires."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, cache_key: str) -> str | None:
        with self._lock:
            cached = self._tokens.get(cache_key)
        return cached[0] if cached and cached[1] > time.monotonic() else None

    def put(self, cache_key: str, token: str, expires_in: int) -> None:
        with self._lock:
            self._tokens[cache_key] = (token, time.monotonic() + max(0, expires_in - 60))


def access_token(secrets: dict[str, str]) -> str:
    """An OAuth access token for the Data Manager API, cached until a minute before it expires."""
    cache_key = hashlib.sha256(f"{secrets['oauth_client_id']}:{secrets['refresh_token']}".encode()).hexdigest()
    tokens = runtime.current().google_tokens
    cached = tokens.get(cache_key)
    if cached is not None:
        return cached
    settings = get_settings()
    form = {
        "grant_type": "refresh_token",
        "client_id": secrets["oauth_client_id"],
        "client_secret": secrets["oauth_client_secret"],
        "refresh_token": secrets["refresh_token"],
    }
    try:
        response = httpx.post(settings.google_oauth_token_url, data=form, timeout=settings.conversions_timeout_seconds)
    except httpx.HTTPError as error:
        raise Refused(f"Google's token endpoint could not be reached: {error}", outcome="retry") from error
    if response.status_code != 200:
        outcome: Outcome = "retry" if response.status_code >= 500 or response.status_code == 429 else "dead"
        try:
            data = response.json()
            detail = f"{data.get('error', '')}: {data.get('error_description', '')}"
        except ValueError:
            detail = response.text[:200]
        hint = " Reconnect Google (the refresh token was revoked or expired)." if "invalid_grant" in detail else ""
        raise Refused(
            f"Google refused the OAuth token refresh (HTTP {response.status_code}) {detail}.{hint}",
            outcome=outcome, status=response.status_code, body=response.text[:2000],
        )  # fmt: skip
    data = response.json()
    token = str(data["access_token"])
    tokens.put(cache_key, token, int(data.get("expires_in") or 3600))
    return token


def _consent(consent: dict[str, Any]) -> dict[str, str]:
    return {
        name: "CONSENT_GRANTED" if consent[key] else "CONSENT_DENIED"
        for key, name in (("ad_user_data", "adUserData"), ("ad_personalization", "adPersonalization"))
        if consent.get(key) is not None
    }


def _digits(account: str) -> str:
    return account.replace("-", "").strip()


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Which click id an event carries when the visit had several: Google Ads refuses gbraid together with wbraid, and
# a gclid is the most precise. One rule for the Data Manager events and the CSV.
CLICK_ID_PRECEDENCE = ("gclid", "wbraid", "gbraid")


def click_id(clicks: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The one click id to send, ``(kind, value)``, in the order gclid > wbraid > gbraid; None without any."""
    for kind in CLICK_ID_PRECEDENCE:
        value = (clicks or {}).get(kind)
        if value:
            return kind, str(value)
    return None


def age_start(conversion: Mapping[str, Any], event_time: datetime) -> datetime:
    """Where Google's 90 days start: the ad click (the touch that carried the click id) when known, else the
    conversion itself. Refunds restate a conversion Google already took: their own time counts."""
    if conversion.get("kind") != "refund" and conversion.get("click_at"):
        return min(event_time, datetime.fromisoformat(str(conversion["click_at"])))
    return event_time


def build(conversion: Conversion, settings: dict[str, str], secrets: dict[str, str], *, test: bool,
          now: datetime, delivery_id: str) -> Outbound:  # fmt: skip
    """A conversion as one Data Manager event. A refund is an adjustment: the sale's event again, with the same
    ``transactionId`` and the value left after the refunds (``0`` once all is refunded); Google overwrites the
    recorded value and currency and keeps the count (developers.google.com/data-manager/api/devguides/events/
    google-ads/conversion-adjustments)."""
    refund = conversion["kind"] == "refund"
    event_time = datetime.fromisoformat(conversion["event_time"])
    start = age_start(conversion, event_time)
    if not refund and now - start > MAX_AGE:
        what = "The ad click" if start < event_time else "The conversion"
        raise Skip(f"{what} was on {start:%Y-%m-%d}, more than 90 days ago: Google Ads no longer takes it.")
    click = click_id(conversion.get("clicks"))
    user = conversion.get("user") or {}
    identifiers: list[dict[str, str]] = []
    email = google_hash("email", str(user["email"])) if user.get("email") else None
    if email:
        identifiers.append({"emailAddress": email})
    phone = None
    if user.get("phone"):
        phone = google_hash("phone", str(user["phone"]), country_code=user.get("phone_country_code"))
    if phone:
        identifiers.append({"phoneNumber": phone})
    if click is None and not identifiers:
        raise Skip("No Google click id (gclid, gbraid, wbraid) and no e-mail: Google Ads cannot match this sale.")
    if refund:
        if conversion.get("remaining_value") is None or not conversion.get("sale_time"):
            raise Skip("This refund was recorded without the sale's remaining value: no adjustment can be built.")
        # The adjustment repeats the sale's required fields; Google keeps the recorded time and identifiers.
        timestamp = datetime.fromisoformat(str(conversion["sale_time"]))
        value = conversion["remaining_value"]
    else:
        timestamp, value = event_time, conversion["value"]
    event: dict[str, Any] = {
        "transactionId": conversion["transaction_id"],
        "eventTimestamp": rfc3339(timestamp),
        "eventSource": "WEB",
        "conversionValue": value,
        "currency": conversion["currency"],
    }
    if click is not None:
        event["adIdentifiers"] = {click[0]: click[1]}
    if identifiers:
        event["userData"] = {"userIdentifiers": identifiers}
    consent = _consent(conversion.get("consent") or {})
    if consent:
        event["consent"] = consent
    destination: dict[str, Any] = {
        "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": _digits(settings["operating_account_id"])},
        "productDestinationId": settings["conversion_action_id"],
    }
    if settings.get("login_account_id"):
        destination["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": _digits(settings["login_account_id"])}
    body: dict[str, Any] = {"destinations": [destination], "encoding": "HEX", "events": [event]}
    if test:
        body["validateOnly"] = True
    token = access_token(secrets)
    url = f"{get_settings().google_datamanager_base}/v1/events:ingest"
    return Outbound("POST", url, body, headers={"Authorization": f"Bearer {token}"})


def click_conversions_csv(rows: list[dict[str, Any]], *, conversion_name: str) -> str:
    """The CSV Google Ads → Conversions → Uploads takes for offline click conversions (times in UTC).

    ``rows``: ``gclid``/``gbraid``/``wbraid`` (one is used, as ``click_id`` picks it), ``time`` (aware datetime),
    ``value`` (major units), ``currency``. Rows without a click id are left out: Google cannot match them from a
    click upload.
    """
    header = ["Google Click ID", "GBRAID", "WBRAID", "Conversion Name", "Conversion Time",
              "Conversion Value", "Conversion Currency", "Order ID"]  # fmt: skip
    lines = []
    for row in rows:
        click = click_id(row)
        if click is None:
            continue
        kind, value = click
        lines.append([
            value if kind == "gclid" else "",
            value if kind == "gbraid" else "",
            value if kind == "wbraid" else "",
            conversion_name,
            row["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            row["value"],
            row["currency"],
            row.get("order_id", ""),
        ])  # fmt: skip
    return csv_text(header, lines, preamble=["Parameters:TimeZone=+0000"])
