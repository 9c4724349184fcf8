"""Meta Marketing API reporting: the ad account's facts and daily Insights at campaign, ad set and ad level.

``GET {META_GRAPH_BASE}/{META_ADS_API_VERSION}/act_{id}/insights`` with ``time_increment=1``, paged through
``paging.next`` (``after`` is present even on the last page: the end is when ``next`` is absent). Long ranges run
as an asynchronous report: ``POST`` the same edge → ``report_run_id``; ``GET /{run}`` until ``Job Completed``;
page through ``GET /{run}/insights``. Errors are keyed on Meta's ``code``, not the HTTP status.

Purchases: Meta repeats the same conversions under several action types, so exactly one is counted, never a sum:
``omni_purchase``, else ``purchase``, else ``offsite_conversion.fb_pixel_purchase``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from app.integrations.ad_reports import AdAccountInfo, ReportError, ReportRow, micros, to_minor, whole
from app.settings import get_settings

PURCHASE_TYPES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")
_LEVEL_FIELDS = {
    "campaign": ("campaign_id", "campaign_name"),
    "adset": ("campaign_id", "campaign_name", "adset_id", "adset_name"),
    "ad": ("campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id", "ad_name"),
}
_METRICS = ("spend", "impressions", "clicks", "actions", "action_values", "account_currency")
_THROTTLES = frozenset({4, 17, 32, 613, 80000, 80004})
_AUTH = frozenset({10, 102, 190, 200, 272, 294})
_TOO_MUCH = frozenset({(100, 1487534), (100, 1504018), (2, 1504038)})
PAGE_LIMIT = 500


@dataclass(frozen=True)
class RunStatus:
    status: str  # Job Not Started | Job Started | Job Running | Job Completed | Job Failed | Job Skipped
    percent: int
    error: str = ""

    @property
    def done(self) -> bool:
        return self.status == "Job Completed"

    @property
    def failed(self) -> bool:
        return self.status in {"Job Failed", "Job Skipped"}


def _base() -> str:
    settings = get_settings()
    return f"{settings.meta_graph_base}/{settings.meta_ads_api_version}"


def account_path(ad_account_id: str) -> str:
    return f"act_{ad_account_id}"


def _retry_after(headers: httpx.Headers) -> float | None:
    """Meta's estimate of when access comes back (``estimated_time_to_regain_access``, minutes), if it gave one."""
    longest: float | None = None
    for name in ("x-business-use-case-usage", "x-ad-account-usage"):
        try:
            data = json.loads(headers.get(name) or "null")
        except ValueError:
            continue
        entries: list[Any] = []
        if isinstance(data, dict):
            for value in data.values():
                entries.extend(value if isinstance(value, list) else [value])
            entries.append(data)
        for entry in entries:
            if isinstance(entry, dict):
                minutes = entry.get("estimated_time_to_regain_access")
                if isinstance(minutes, int | float) and minutes > 0:
                    longest = max(longest or 0.0, float(minutes) * 60)
                reset = entry.get("reset_time_duration")
                if isinstance(reset, int | float) and reset > 0:
                    longest = max(longest or 0.0, float(reset))
    return longest


def _error(status: int, data: Any, headers: httpx.Headers) -> ReportError:
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        text = json.dumps(data)[:200] if data is not None else ""
        return ReportError(
            f"Meta answered HTTP {status} {text}".strip(), kind="unreachable" if status >= 500 else "failed"
        )
    code = error.get("code")
    subcode = error.get("error_subcode")
    words = " — ".join(str(error[k]) for k in ("message", "error_user_title", "error_user_msg") if error.get(k))
    label = f"Meta error {code}" + (f"/{subcode}" if subcode else "")
    if code in _THROTTLES:
        return ReportError(
            f"{label}: Meta's rate limit was reached ({words}); the sync waits and goes on where it stopped.",
            kind="throttled",
            retry_after=_retry_after(headers),
        )
    if code in _AUTH:
        return ReportError(
            f"{label}: Meta refused the access token ({words}). Give a system-user token of a user assigned to this "
            "ad account, with the ads_read permission.",
            kind="auth",
        )
    if (code, subcode) in _TOO_MUCH:
        return ReportError(f"{label}: too much data for one request ({words}).", kind="too_much")
    return ReportError(f"{label}: {words or 'no message'}", kind="unreachable" if status >= 500 else "failed")


def _call(method: str, url: str, token: str, params: dict[str, Any] | None = None) -> Any:
    # httpx's ``params`` replace a URL's own query (a ``paging.next`` URL carries its cursor there): merge them.
    parts = urlsplit(url)
    query = {**dict(parse_qsl(parts.query, keep_blank_values=True)), **(params or {}), "access_token": token}
    url = urlunsplit(parts._replace(query=""))
    try:
        response = httpx.request(method, url, params=query, timeout=get_settings().ads_timeout_seconds)
    except httpx.HTTPError as error:
        raise ReportError(f"Meta could not be reached: {error}", kind="unreachable") from error
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code >= 400 or (isinstance(data, dict) and "error" in data):
        raise _error(response.status_code, data, response.headers)
    if not isinstance(data, dict):
        raise ReportError(f"Meta answered HTTP {response.status_code} without a JSON object.", kind="failed")
    return data


def ad_account(ad_account_id: str, token: str) -> AdAccountInfo:
    """The ad account's name, currency and timezone (what "Test connection" shows)."""
    data = _call("GET", f"{_base()}/{account_path(ad_account_id)}", token, {"fields": "name,currency,timezone_name"})
    return AdAccountInfo(
        name=str(data.get("name") or ""),
        currency=str(data.get("currency") or "").upper(),
        timezone=str(data.get("timezone_name") or ""),
    )


def insights_params(level: str, since: date, until: date) -> dict[str, str]:
    return {
        "level": level,
        "fields": ",".join((*_LEVEL_FIELDS[level], *_METRICS)),
        "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}, separators=(",", ":")),
        "time_increment": "1",
        "limit": str(PAGE_LIMIT),
    }


def _strip_token(url: str) -> str:
    """A ``paging.next`` URL without the access token (it is kept in the sync state, which is not encrypted)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _page(
    url: str, token: str, params: dict[str, Any] | None, level: str, currency: str
) -> tuple[list[ReportRow], str]:
    if params is None and not url.startswith(get_settings().meta_graph_base + "/"):
        raise ReportError("Meta's next page points elsewhere than the Graph API; not followed.", kind="failed")
    data = _call("GET", url, token, params)
    rows = [parse_row(level, item, currency) for item in data.get("data") or [] if isinstance(item, dict)]
    paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
    next_url = paging.get("next") if isinstance(paging, dict) else None
    return rows, _strip_token(str(next_url)) if next_url else ""


def insights_page(
    ad_account_id: str, token: str, *, level: str, since: date, until: date, currency: str, next_url: str = ""
) -> tuple[list[ReportRow], str]:
    """One page of daily Insights and the next page's URL ("" on the last page)."""
    if next_url:
        return _page(next_url, token, None, level, currency)
    url = f"{_base()}/{account_path(ad_account_id)}/insights"
    return _page(url, token, insights_params(level, since, until), level, currency)


def start_report(ad_account_id: str, token: str, *, level: str, since: date, until: date) -> str:
    """Start an asynchronous report run; its id."""
    url = f"{_base()}/{account_path(ad_account_id)}/insights"
    data = _call("POST", url, token, insights_params(level, since, until))
    run_id = str(data.get("report_run_id") or "")
    if not run_id:
        raise ReportError("Meta did not return a report_run_id for the report run.", kind="failed")
    return run_id


def report_status(run_id: str, token: str) -> RunStatus:
    data = _call("GET", f"{_base()}/{run_id}", token)
    error = " ".join(str(data[k]) for k in ("error_code", "error_subcode", "error_message") if data.get(k))
    return RunStatus(str(data.get("async_status") or ""), whole(data.get("async_percent_completion")), error)


def report_page(
    run_id: str, token: str, *, level: str, currency: str, next_url: str = ""
) -> tuple[list[ReportRow], str]:
    """One page of a completed report run's rows and the next page's URL ("" on the last page)."""
    if next_url:
        return _page(next_url, token, None, level, currency)
    return _page(f"{_base()}/{run_id}/insights", token, {"limit": str(PAGE_LIMIT)}, level, currency)


def _purchase(entries: Any) -> tuple[str, str]:
    """The one purchase action type counted and its value (never a sum across types)."""
    by_type = {str(e.get("action_type")): str(e.get("value") or "0") for e in entries or [] if isinstance(e, dict)}
    for kind in PURCHASE_TYPES:
        if kind in by_type:
            return kind, by_type[kind]
    return "", "0"


def parse_row(level: str, item: dict[str, Any], currency: str) -> ReportRow:
    """One Insights row (metrics are strings; ``spend`` is a decimal in the account currency)."""
    row_currency = str(item.get("account_currency") or currency).upper()
    kind, count = _purchase(item.get("actions"))
    value_entries = {
        str(e.get("action_type")): e.get("value") for e in item.get("action_values") or [] if isinstance(e, dict)
    }
    return ReportRow(
        level=level,
        day=date.fromisoformat(str(item.get("date_start"))),
        campaign_id=str(item.get("campaign_id") or ""),
        campaign_name=str(item.get("campaign_name") or ""),
        adset_id=str(item.get("adset_id") or ""),
        adset_name=str(item.get("adset_name") or ""),
        ad_id=str(item.get("ad_id") or ""),
        ad_name=str(item.get("ad_name") or ""),
        currency=row_currency,
        spend=to_minor(item.get("spend"), row_currency),
        impressions=whole(item.get("impressions")),
        clicks=whole(item.get("clicks")),
        purchases_micro=micros(count),
        purchase_value=to_minor(value_entries.get(kind), row_currency) if kind else 0,
        purchase_action_type=kind,
    )
