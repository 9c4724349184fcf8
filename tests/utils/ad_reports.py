"""The reporting side of the ad platforms, for :class:`tests.utils.ad_platforms.AdPlatforms` (one local server for
every Meta and Google route, so one base URL setting serves both directions).

Meta Graph API (``META_GRAPH_BASE``), as documented: ``GET /{v}/act_{id}`` (name, currency, timezone_name);
``GET /{v}/act_{id}/insights`` (``level``, ``time_range``, ``time_increment=1``, ``limit``) answering daily rows in
the documented shape with string metrics, ``actions``/``action_values`` repeating purchases under several action
types, and ``paging`` whose ``cursors.after`` is present on every page and ``next`` (carrying the access token, as
Meta's does) only when more follows; ``POST`` the same edge → ``{"report_run_id"}``; ``GET /{v}/{run}`` →
``async_status`` ("Job Running" for :attr:`meta_run_polls` polls, then "Job Completed"); ``GET /{v}/{run}/insights``.
Errors are Meta's ``{"error": {message, type, code, error_subcode, fbtrace_id}}``: 190 for a token in
``bad_tokens``; throttles are injected with ``fail_next``.

Google Ads API (``GOOGLE_ADS_API_BASE``): ``POST /{v}/customers/{cid}/googleAds:searchStream`` with a GAQL query
(``FROM customer|campaign|ad_group|ad_group_ad``, ``segments.date BETWEEN``), answering an array of batches of
camelCase results (int64 as strings, zero metrics omitted); 401 UNAUTHENTICATED without an access token the token
route issued; 403 PERMISSION_DENIED when a customer reached through a manager lacks ``login-customer-id``.

Figures are kept at ad level (:attr:`meta_rows`, :attr:`google_rows`) and summed up to the level asked for, as the
platforms do.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from tests.utils.stripe_fakes import RecordedRequest, Reply

_META_LEVEL_KEYS = {
    "campaign": ("campaign_id", "campaign_name"),
    "adset": ("campaign_id", "campaign_name", "adset_id", "adset_name"),
    "ad": ("campaign_id", "campaign_name", "adset_id", "adset_name", "ad_id", "ad_name"),
}
_GOOGLE_LEVEL_KEYS = {
    "campaign": ("campaign_id", "campaign_name"),
    "ad_group": ("campaign_id", "campaign_name", "ad_group_id", "ad_group_name"),
    "ad_group_ad": ("campaign_id", "campaign_name", "ad_group_id", "ad_group_name", "ad_id", "ad_name"),
}


def meta_row(day: str, campaign: tuple[str, str], adset: tuple[str, str], ad: tuple[str, str], *, spend: str,
             impressions: int = 1000, clicks: int = 20, purchases: int = 0, value: str = "0",
             types: tuple[str, ...] = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase"),
             ) -> dict[str, Any]:  # fmt: skip
    """An ad-level daily row; the purchases repeat under every action type in ``types``, as Meta repeats them."""
    return {
        "date": day, "campaign_id": campaign[0], "campaign_name": campaign[1], "adset_id": adset[0],
        "adset_name": adset[1], "ad_id": ad[0], "ad_name": ad[1], "spend": spend, "impressions": impressions,
        "clicks": clicks,
        "actions": dict.fromkeys(types, purchases) if purchases else {},
        "action_values": dict.fromkeys(types, value) if purchases else {},
    }  # fmt: skip


def google_row(day: str, campaign: tuple[str, str], ad_group: tuple[str, str], ad: tuple[str, str], *,
               cost_micros: int, impressions: int = 1000, clicks: int = 20, conversions: float = 0.0,
               value: float = 0.0) -> dict[str, Any]:  # fmt: skip
    return {
        "date": day, "campaign_id": campaign[0], "campaign_name": campaign[1], "ad_group_id": ad_group[0],
        "ad_group_name": ad_group[1], "ad_id": ad[0], "ad_name": ad[1], "cost_micros": cost_micros,
        "impressions": impressions, "clicks": clicks, "conversions": conversions, "conversions_value": value,
    }  # fmt: skip


class ReportingRoutes:
    """Mixed into AdPlatforms: the reporting routes and their data."""

    bad_tokens: set[str]
    issued: set[str]
    url: str

    def reset_reporting(self) -> None:
        self.meta_accounts: dict[str, dict[str, str]] = {}
        self.meta_rows: list[dict[str, Any]] = []
        self.meta_page_size = 2
        self.meta_run_polls = 1
        self.meta_runs: dict[str, dict[str, Any]] = {}
        self.google_customers: dict[str, dict[str, str]] = {}
        self.google_managers: dict[str, str] = {}  # customer id -> the manager it must be reached through
        self.google_rows: list[dict[str, Any]] = []
        self.google_batch_size = 2

    # -- Meta --------------------------------------------------------------------------------------------------------

    def _reporting(self, request: RecordedRequest) -> Reply | None:
        match = re.fullmatch(r"/(v\d+\.\d+)/act_(\d+)(/insights)?", request.path)
        if match:
            return self._meta_account(request, match.group(1), match.group(2), bool(match.group(3)))
        match = re.fullmatch(r"/(v\d+\.\d+)/(\d+)(/insights)?", request.path)
        if match and match.group(2) in self.meta_runs:
            return self._meta_run(request, match.group(1), match.group(2), bool(match.group(3)))
        match = re.fullmatch(r"/v\d+/customers/(\d+)/googleAds:searchStream", request.path)
        if match and request.method == "POST":
            return self._search_stream(request, match.group(1))
        return None

    def _meta_token_error(self, request: RecordedRequest) -> Reply | None:
        token = request.query.get("access_token", "")
        if not token or token in self.bad_tokens:
            return Reply(400, {"error": {"message": "Error validating access token: Session has expired.",
                                         "type": "OAuthException", "code": 190, "error_subcode": 463,
                                         "fbtrace_id": secrets.token_urlsafe(9)}})  # fmt: skip
        return None

    def _meta_account(self, request: RecordedRequest, version: str, account: str, insights: bool) -> Reply:
        refused = self._meta_token_error(request)
        if refused:
            return refused
        if account not in self.meta_accounts:
            return Reply(400, {"error": {"message": f"Unsupported get request. Object with ID 'act_{account}' does "
                                         "not exist, cannot be loaded due to missing permissions, or does not "
                                         "support this operation.", "type": "GraphMethodException", "code": 100,
                                         "error_subcode": 33, "fbtrace_id": "x"}})  # fmt: skip
        info = self.meta_accounts[account]
        if not insights:
            return Reply(200, {"id": f"act_{account}", **info})
        params = dict(request.query)
        if request.method == "POST":
            params.update(request.form)
            run_id = str(900_000 + len(self.meta_runs) + 1)
            self.meta_runs[run_id] = {"params": params, "account": account, "polls": 0}
            return Reply(200, {"report_run_id": run_id})
        return self._meta_page(version, f"act_{account}/insights", account, params, request)

    def _meta_run(self, request: RecordedRequest, version: str, run_id: str, insights: bool) -> Reply:
        refused = self._meta_token_error(request)
        if refused:
            return refused
        run = self.meta_runs[run_id]
        if not insights:
            run["polls"] += 1
            done = run["polls"] > self.meta_run_polls
            return Reply(200, {"id": run_id, "account_id": run["account"],
                               "async_status": "Job Completed" if done else "Job Running",
                               "async_percent_completion": 100 if done else 50})  # fmt: skip
        params = {**run["params"], **{k: v for k, v in request.query.items() if k in {"after", "limit"}}}
        return self._meta_page(version, f"{run_id}/insights", run["account"], params, request)

    def _meta_page(self, version: str, edge: str, account: str, params: dict[str, str],
                   request: RecordedRequest) -> Reply:  # fmt: skip
        level = params.get("level", "campaign")
        time_range = json.loads(params.get("time_range") or "{}")
        since, until = date.fromisoformat(time_range["since"]), date.fromisoformat(time_range["until"])
        currency = self.meta_accounts[account]["currency"]
        rows = _meta_aggregate(
            [r for r in self.meta_rows if since <= date.fromisoformat(r["date"]) <= until], level, currency
        )
        start = int(params.get("after") or 0)
        page = rows[start : start + self.meta_page_size]
        end = start + len(page)
        paging: dict[str, Any] = {"cursors": {"before": str(start), "after": str(end)}}  # after on every page
        if end < len(rows):
            query = {"access_token": request.query.get("access_token", ""), "limit": self.meta_page_size,
                     "after": str(end)}  # fmt: skip
            if not edge.startswith(tuple(self.meta_runs)):
                query.update({k: params[k] for k in ("level", "fields", "time_range", "time_increment") if k in params})
            paging["next"] = f"{self.url}/{version}/{edge}?{urlencode(query)}"
        return Reply(200, {"data": page, "paging": paging})

    # -- Google ------------------------------------------------------------------------------------------------------

    def _search_stream(self, request: RecordedRequest, customer: str) -> Reply:
        auth = request.header("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in self.issued:
            return Reply(
                401,
                {
                    "error": {
                        "code": 401,
                        "status": "UNAUTHENTICATED",
                        "message": "Request is missing required authentication credential.",
                    }
                },
            )
        if customer not in self.google_customers:
            return Reply(
                403,
                _ads_failure(
                    403,
                    "PERMISSION_DENIED",
                    "authorizationError",
                    "USER_PERMISSION_DENIED",
                    "User doesn't have permission to access customer.",
                ),
            )
        manager = self.google_managers.get(customer)
        if manager and request.header("login-customer-id") != manager:
            return Reply(403, _ads_failure(403, "PERMISSION_DENIED", "authorizationError", "USER_PERMISSION_DENIED",
                                           "User doesn't have permission to access customer. Note: If you're "
                                           "accessing a client customer, the manager's customer id must be set "
                                           "in the 'login-customer-id' header."))  # fmt: skip
        gaql = str(request.json().get("query") or "")
        resource = re.search(r"\bFROM\s+(\w+)", gaql)
        info = self.google_customers[customer]
        if resource is None:
            return Reply(
                400,
                _ads_failure(
                    400, "INVALID_ARGUMENT", "queryError", "PROHIBITED_RESOURCE_TYPE_IN_SELECT_CLAUSE", "bad query"
                ),
            )
        if resource.group(1) == "customer":
            results = [{"customer": {"resourceName": f"customers/{customer}", **info}}]
        else:
            between = re.search(r"BETWEEN '(\d{4}-\d{2}-\d{2})' AND '(\d{4}-\d{2}-\d{2})'", gaql)
            assert between, gaql
            since, until = date.fromisoformat(between.group(1)), date.fromisoformat(between.group(2))
            rows = [r for r in self.google_rows if since <= date.fromisoformat(r["date"]) <= until]
            results = _google_aggregate(rows, resource.group(1), customer, info["currencyCode"])
        batches = [
            {"results": results[i : i + self.google_batch_size], "fieldMask": "customer.currencyCode,campaign.id",
             "requestId": secrets.token_hex(8)}
            for i in range(0, max(len(results), 1), self.google_batch_size)
        ]  # fmt: skip
        batches[-1]["queryResourceConsumption"] = "100"
        return Reply(200, batches)


def _ads_failure(code: int, status: str, kind: str, value: str, message: str, **extra: Any) -> dict[str, Any]:
    detail = {
        "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
        "errors": [{"errorCode": {kind: value}, "message": message}],
        "requestId": secrets.token_hex(8),
    }
    detail.update(extra)
    return {"error": {"code": code, "message": "The caller does not have permission" if code == 403 else message,
                      "status": status, "details": [detail]}}  # fmt: skip


def google_quota_error(retry_seconds: int) -> dict[str, Any]:
    """The documented 429: RESOURCE_EXHAUSTED with a GoogleAdsFailure quotaError and a retryDelay."""
    return _ads_failure(429, "RESOURCE_EXHAUSTED", "quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED",
                        "Too many requests. Retry in 30 seconds.",
                        quotaErrorDetails={"rateScope": "DEVELOPER", "rateName": "Requests per developer per day",
                                           "retryDelay": f"{retry_seconds}s"})  # fmt: skip


def meta_throttle_error(code: int = 80000, subcode: int = 2446079) -> dict[str, Any]:
    return {"error": {"message": "There have been too many calls from this ad-account. Wait a bit and try again.",
                      "type": "OAuthException", "code": code, "error_subcode": subcode, "is_transient": True,
                      "error_user_title": "Ad Account Has Too Many API Calls",
                      "error_user_msg": "There have been too many calls from this ad-account.",
                      "fbtrace_id": secrets.token_urlsafe(9)}}  # fmt: skip


def _meta_aggregate(rows: list[dict[str, Any]], level: str, currency: str) -> list[dict[str, Any]]:
    keys = _META_LEVEL_KEYS[level]
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["date"], r["campaign_id"], r["adset_id"], r["ad_id"])):
        key = (row["date"], *(row[k] for k in keys))
        out = grouped.setdefault(key, {**{k: row[k] for k in keys}, "spend": Decimal(0), "impressions": 0, "clicks": 0,
                                       "actions": {}, "action_values": {}, "date": row["date"]})  # fmt: skip
        out["spend"] += Decimal(row["spend"])
        out["impressions"] += row["impressions"]
        out["clicks"] += row["clicks"]
        for t, n in row["actions"].items():
            out["actions"][t] = out["actions"].get(t, 0) + n
        for t, v in row["action_values"].items():
            out["action_values"][t] = out["action_values"].get(t, Decimal(0)) + Decimal(v)
    result = []
    for out in grouped.values():
        item = {k: out[k] for k in keys}
        item.update({"account_currency": currency, "spend": f"{out['spend']:.2f}",
                     "impressions": str(out["impressions"]), "clicks": str(out["clicks"]),
                     "date_start": out["date"], "date_stop": out["date"]})  # fmt: skip
        if out["actions"]:
            item["actions"] = [
                {"action_type": t, "value": str(n), "7d_click": str(n)} for t, n in out["actions"].items()
            ]
            item["action_values"] = [{"action_type": t, "value": str(v)} for t, v in out["action_values"].items()]
        result.append(item)
    return result


def _google_aggregate(rows: list[dict[str, Any]], resource: str, customer: str, currency: str) -> list[dict[str, Any]]:
    keys = _GOOGLE_LEVEL_KEYS[resource]
    grouped: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: (r["date"], r["campaign_id"], r["ad_group_id"], r["ad_id"])):
        key = (row["date"], *(row[k] for k in keys))
        out = grouped.setdefault(key, {**{k: row[k] for k in keys}, "date": row["date"], "cost": 0, "impressions": 0,
                                       "clicks": 0, "conversions": 0.0, "value": 0.0})  # fmt: skip
        out["cost"] += row["cost_micros"]
        out["impressions"] += row["impressions"]
        out["clicks"] += row["clicks"]
        out["conversions"] += row["conversions"]
        out["value"] += row["conversions_value"]
    results = []
    for out in grouped.values():
        every = {"costMicros": str(out["cost"]), "impressions": str(out["impressions"]), "clicks": str(out["clicks"]),
                 "conversions": out["conversions"], "conversionsValue": out["value"]}  # fmt: skip
        # Zero metrics are left out of the JSON, as proto3 does: readers must default them to 0.
        metrics: dict[str, Any] = {name: value for name, value in every.items() if value not in ("0", 0, 0.0)}
        result: dict[str, Any] = {
            "customer": {"resourceName": f"customers/{customer}", "currencyCode": currency},
            "campaign": {"resourceName": f"customers/{customer}/campaigns/{out['campaign_id']}",
                         "id": out["campaign_id"], "name": out["campaign_name"]},
            "segments": {"date": out["date"]},
            "metrics": metrics,
        }  # fmt: skip
        if "ad_group_id" in out:
            result["adGroup"] = {"resourceName": f"customers/{customer}/adGroups/{out['ad_group_id']}",
                                 "id": out["ad_group_id"], "name": out["ad_group_name"]}  # fmt: skip
        if "ad_id" in out:
            result["adGroupAd"] = {"ad": {"id": out["ad_id"], "name": out["ad_name"]}}
        results.append(result)
    return results
