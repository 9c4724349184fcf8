"""Google Ads API reporting: the customer's facts and daily figures per campaign, ad group and ad.

``POST {GOOGLE_ADS_API_BASE}/{GOOGLE_ADS_API_VERSION}/customers/{cid}/googleAds:searchStream`` with ``{"query"}``,
one GAQL query per level (``ad_group.*`` is not selectable ``FROM campaign``). The answer is an array of batches of
``results`` in camelCase; int64 metrics are strings, missing metrics mean 0. The OAuth access token comes from the
refresh token (scope ``…/auth/adwords``) at ``GOOGLE_OAUTH_TOKEN_URL``; ``login-customer-id`` is the manager
account; ``developer-token`` is optional since its sunset and sent only when given.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from app.integrations import google_ads
from app.integrations.ad_reports import AdAccountInfo, ReportError, ReportRow, micros, to_minor, whole
from app.integrations.outbound import Refused
from app.settings import get_settings

SCOPE = "https://www.googleapis.com/auth/adwords"
_METRICS = "metrics.cost_micros, metrics.impressions, metrics.clicks, metrics.conversions, metrics.conversions_value"
_QUERIES = {
    "campaign": ("campaign.id, campaign.name", "campaign"),
    "adset": ("campaign.id, campaign.name, ad_group.id, ad_group.name", "ad_group"),
    "ad": ("campaign.id, campaign.name, ad_group.id, ad_group.name, ad_group_ad.ad.id, ad_group_ad.ad.name",
           "ad_group_ad"),
}  # fmt: skip
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def query(level: str, since: date, until: date) -> str:
    """The GAQL of one level over days ``[since, until]``."""
    fields, resource = _QUERIES[level]
    return (
        f"SELECT customer.currency_code, {fields}, segments.date, {_METRICS} FROM {resource} "
        f"WHERE segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"
    )


def _find_retry_delay(value: Any) -> float | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "retryDelay":
                match = _DELAY.match(str(item))
                if match:
                    return float(match.group(1))
                if isinstance(item, dict) and "seconds" in item:
                    return float(whole(item["seconds"]))
            found = _find_retry_delay(item)
            if found is not None:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_retry_delay(item)
            if found is not None:
                return found
    return None


def _error_codes(error: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            for failure in detail.get("errors") or []:
                if isinstance(failure, dict) and isinstance(failure.get("errorCode"), dict):
                    codes.extend(f"{k}: {v}" for k, v in failure["errorCode"].items())
    return codes


def _error(status: int, data: Any) -> ReportError:
    if isinstance(data, list) and data and isinstance(data[0], dict):
        data = data[0]  # searchStream may wrap the error in the array of batches
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return ReportError(f"Google Ads answered HTTP {status}.", kind="unreachable" if status >= 500 else "failed")
    rpc_status = str(error.get("status") or "")
    codes = _error_codes(error)
    words = str(error.get("message") or "").strip()
    detail = f"{rpc_status}: {words}" + (f" ({'; '.join(codes)})" if codes else "")
    if status == 429 or rpc_status == "RESOURCE_EXHAUSTED" or any(c.startswith("quotaError") for c in codes):
        return ReportError(
            f"Google Ads quota reached — {detail}; the sync waits and goes on where it stopped.",
            kind="throttled",
            retry_after=_find_retry_delay(error),
        )
    if status in (401, 403) or rpc_status in {"UNAUTHENTICATED", "PERMISSION_DENIED"}:
        return ReportError(
            f"Google Ads refused the credentials — {detail}. Check the customer id, the manager "
            "(login-customer-id) and that the refresh token was granted the adwords scope by a user with access.",
            kind="auth",
        )
    return ReportError(f"Google Ads refused the request — {detail}", kind="unreachable" if status >= 500 else "failed")


def _token(secrets: dict[str, str]) -> str:
    try:
        return google_ads.access_token(secrets)
    except Refused as refused:
        raise ReportError(str(refused), kind="unreachable" if refused.outcome == "retry" else "auth") from refused


def search_stream(
    customer_id: str, secrets: dict[str, str], settings: dict[str, str], gaql: str
) -> list[dict[str, Any]]:
    """Every result row of a GAQL query (the batches of ``searchStream`` joined)."""
    config = get_settings()
    url = f"{config.google_ads_api_base}/{config.google_ads_api_version}/customers/{customer_id}/googleAds:searchStream"
    headers = {"Authorization": f"Bearer {_token(secrets)}", "Content-Type": "application/json"}
    if settings.get("login_customer_id"):
        headers["login-customer-id"] = settings["login_customer_id"]
    if secrets.get("developer_token"):
        headers["developer-token"] = secrets["developer_token"]
    try:
        response = httpx.post(url, content=json.dumps({"query": gaql}), headers=headers,
                              timeout=config.ads_timeout_seconds)  # fmt: skip
    except httpx.HTTPError as error:
        raise ReportError(f"Google Ads could not be reached: {error}", kind="unreachable") from error
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400:
        raise _error(response.status_code, data)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ReportError(f"Google Ads answered HTTP {response.status_code} without JSON batches.", kind="failed")
    results: list[dict[str, Any]] = []
    for batch in data:
        if isinstance(batch, dict) and "error" in batch:
            raise _error(response.status_code, batch)
        if isinstance(batch, dict):
            results.extend(r for r in batch.get("results") or [] if isinstance(r, dict))
    return results


def customer(customer_id: str, secrets: dict[str, str], settings: dict[str, str]) -> AdAccountInfo:
    """The customer's name, currency and timezone (what "Test connection" shows)."""
    gaql = "SELECT customer.descriptive_name, customer.currency_code, customer.time_zone FROM customer"
    rows = search_stream(customer_id, secrets, settings, gaql)
    found = rows[0].get("customer", {}) if rows else {}
    return AdAccountInfo(
        name=str(found.get("descriptiveName") or ""),
        currency=str(found.get("currencyCode") or "").upper(),
        timezone=str(found.get("timeZone") or ""),
    )


def report(
    customer_id: str, secrets: dict[str, str], settings: dict[str, str], *, level: str, since: date, until: date
) -> list[ReportRow]:
    """Daily rows of one level over days ``[since, until]``."""
    return [parse_row(level, r) for r in search_stream(customer_id, secrets, settings, query(level, since, until))]


def parse_row(level: str, result: dict[str, Any]) -> ReportRow:
    def part(name: str) -> dict[str, Any]:
        value = result.get(name)
        return value if isinstance(value, dict) else {}

    currency = str(part("customer").get("currencyCode") or "").upper()
    metrics = part("metrics")
    ad_group_ad = part("adGroupAd")
    ad = ad_group_ad.get("ad") if isinstance(ad_group_ad.get("ad"), dict) else {}
    assert isinstance(ad, dict)
    return ReportRow(
        level=level,
        day=date.fromisoformat(str(part("segments").get("date"))),
        campaign_id=str(part("campaign").get("id") or ""),
        campaign_name=str(part("campaign").get("name") or ""),
        adset_id=str(part("adGroup").get("id") or ""),
        adset_name=str(part("adGroup").get("name") or ""),
        ad_id=str(ad.get("id") or ""),
        ad_name=str(ad.get("name") or ""),
        currency=currency,
        # costMicros are millionths of the currency's major unit.
        spend=to_minor(Decimal(whole(metrics.get("costMicros"))).scaleb(-6), currency),
        impressions=whole(metrics.get("impressions")),
        clicks=whole(metrics.get("clicks")),
        purchases_micro=micros(metrics.get("conversions")),
        purchase_value=to_minor(metrics.get("conversionsValue"), currency),
    )
