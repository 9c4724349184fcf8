"""Google Ads conversions through the Data Manager API (``UploadClickConversions`` is closed to new integrations).

``POST {GOOGLE_DATAMANAGER_BASE}/v1/events:ingest`` with an OAuth access token (scope ``…/auth/datamanager``,
refreshed from the shop's refresh token at ``GOOGLE_OAUTH_TOKEN_URL``). ``transactionId`` is Google's dedup key;
``validateOnly`` is the dry run used in test mode. Also the CSV Google Ads imports for offline click conversions.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.integrations.hashing import google_hash
from app.integrations.outbound import Outbound, Refused, Skip
from app.lib.csv_export import csv_text
from app.settings import get_settings

# Google Ads imports click conversions up to 90 days after the click.
MAX_AGE = timedelta(days=90)
SCOPE = "https://www.googleapis.com/auth/datamanager"

_tokens: dict[str, tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def access_token(secrets: dict[str, str]) -> str:
    """An OAuth access token for the Data Manager API, cached until a minute before it expires."""
    cache_key = hashlib.sha256(f"{secrets['oauth_client_id']}:{secrets['refresh_token']}".encode()).hexdigest()
    with _tokens_lock:
        cached = _tokens.get(cache_key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
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
        outcome = "retry" if response.status_code >= 500 or response.status_code == 429 else "dead"
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
    with _tokens_lock:
        _tokens[cache_key] = (token, time.monotonic() + max(0, int(data.get("expires_in") or 3600) - 60))
    return token


def forget_tokens() -> None:
    with _tokens_lock:
        _tokens.clear()


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


def build(conversion: dict[str, Any], settings: dict[str, str], secrets: dict[str, str], *, test: bool,
          now: datetime, delivery_id: str) -> Outbound:  # fmt: skip
    if conversion["kind"] == "refund":
        raise Skip("PaidSignal does not send conversion adjustments to Google Ads: refunds are netted in its figures.")
    event_time = datetime.fromisoformat(conversion["event_time"])
    if now - event_time > MAX_AGE:
        raise Skip(f"The conversion is older than 90 days ({event_time:%Y-%m-%d}): Google Ads no longer takes it.")
    clicks = {k: v for k, v in (conversion.get("clicks") or {}).items() if v and k in {"gclid", "gbraid", "wbraid"}}
    user = conversion.get("user") or {}
    identifiers: list[dict[str, str]] = []
    country = str(user.get("phone_country_code") or "1")
    if user.get("email"):
        identifiers.append({"emailAddress": google_hash("email", str(user["email"]))})
    if user.get("phone"):
        identifiers.append({"phoneNumber": google_hash("phone", str(user["phone"]), country_code=country)})
    if not clicks and not identifiers:
        raise Skip("No Google click id (gclid, gbraid, wbraid) and no e-mail: Google Ads cannot match this sale.")
    event: dict[str, Any] = {
        "transactionId": conversion["transaction_id"],
        "eventTimestamp": rfc3339(event_time),
        "eventSource": "WEB",
        "conversionValue": conversion["value"],
        "currency": conversion["currency"],
    }
    if clicks:
        event["adIdentifiers"] = clicks
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

    ``rows``: ``gclid``/``gbraid``/``wbraid`` (one is used), ``time`` (aware datetime), ``value`` (major units),
    ``currency``. Rows without a click id are left out: Google cannot match them from a click upload.
    """
    header = ["Google Click ID", "GBRAID", "WBRAID", "Conversion Name", "Conversion Time",
              "Conversion Value", "Conversion Currency", "Order ID"]  # fmt: skip
    lines = []
    for row in rows:
        click = next((k for k in ("gclid", "gbraid", "wbraid") if row.get(k)), None)
        if click is None:
            continue
        lines.append([
            row.get("gclid") if click == "gclid" else "",
            row.get("gbraid") if click == "gbraid" else "",
            row.get("wbraid") if click == "wbraid" else "",
            conversion_name,
            row["time"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            row["value"],
            row["currency"],
            row.get("order_id", ""),
        ])  # fmt: skip
    return csv_text(header, lines, preamble=["Parameters:TimeZone=+0000"])
