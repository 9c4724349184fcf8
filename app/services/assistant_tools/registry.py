"""The assistant's tools by name: each tool's arguments and implementation, ``run_tool`` (permission, arguments,
errors the model can correct), a function per tool, and the one-line summary of a call ("shows its work")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from app.lib.formatting import plural
from app.services.assistant_tools.activity_tools import alerts_result, conversions_result, orders_result
from app.services.assistant_tools.campaign_tools import campaigns_result
from app.services.assistant_tools.metric_tools import (
    claims_result,
    customer_value_result,
    metrics_result,
    top_products_result,
)
from app.services.assistant_tools.results import ToolResult
from app.services.assistant_tools.schemas import (
    AlertsArguments,
    CampaignsArguments,
    ClaimsArguments,
    ConversionsArguments,
    CustomerValueArguments,
    InstallArguments,
    MetricsArguments,
    NoArguments,
    OrderConversionsArguments,
    OrdersArguments,
    PixelStatusArguments,
    ProductsArguments,
    SearchDocsArguments,
    StripeStatusArguments,
    ToolArguments,
    VersionsArguments,
)
from app.services.assistant_tools.setup_tools import (
    alert_rules_result,
    install_result,
    keys_result,
    order_result,
    pixel_result,
    stripe_result,
)
from app.services.assistant_tools.support_tools import search_docs_result
from app.services.assistant_tools.version_tools import versions_result
from app.services.errors import ServiceError, ValidationFailed, validation_failed
from app.services.permissions import Actor, Permission, require

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tool:
    name: str
    arguments: type[ToolArguments]
    run: Callable[[Session, Actor, Any], ToolResult]


TOOLS: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool("get_metrics", MetricsArguments, metrics_result),
        Tool("list_campaigns", CampaignsArguments, campaigns_result),
        Tool("top_products", ProductsArguments, top_products_result),
        Tool("orders_and_refunds", OrdersArguments, orders_result),
        Tool("conversion_status", ConversionsArguments, conversions_result),
        Tool("alert_history", AlertsArguments, alerts_result),
        Tool("compare_versions", VersionsArguments, versions_result),
        Tool("platform_vs_verified", ClaimsArguments, claims_result),
        Tool("customer_value", CustomerValueArguments, customer_value_result),
        Tool("search_docs", SearchDocsArguments, search_docs_result),
        Tool("install_status", InstallArguments, install_result),
        Tool("api_keys", NoArguments, keys_result),
        Tool("stripe_status", StripeStatusArguments, stripe_result),
        Tool("pixel_status", PixelStatusArguments, pixel_result),
        Tool("order_conversions", OrderConversionsArguments, order_result),
        Tool("alert_rules", NoArguments, alert_rules_result),
    )
}
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)


def run_tool(session: Session, actor: Actor, name: str, arguments: dict[str, Any]) -> ToolResult:
    """Run one tool for ``actor``'s account. Never raises for the model's mistakes: an unknown tool, bad arguments,
    an id not found in this account all come back as ``{"error": "..."}``."""
    tool = TOOLS.get(name)
    if tool is None:
        return {"error": f"There is no tool {name!r}; the tools are {', '.join(TOOL_NAMES)}."}
    if not isinstance(arguments, dict):
        return {"error": "The arguments must be a JSON object."}
    try:
        require(actor, Permission.VIEW)
        try:
            parsed = tool.arguments.model_validate(arguments)
        except ValidationError as error:
            unknown = [str(e["loc"][0]) for e in error.errors() if e["type"] == "extra_forbidden" and e["loc"]]
            if unknown:
                allowed = ", ".join(tool.arguments.model_fields)
                raise ValidationFailed(
                    f"Unknown argument {unknown[0]!r}: {name} takes only {allowed} (and sees only this account).",
                    field=unknown[0],
                ) from error
            raise validation_failed(error) from error
        return tool.run(session, actor, parsed)
    except ServiceError as error:
        return {"error": error.message, **({"field": error.field} if error.field else {})}
    except Exception:
        log.exception("assistant tool %s failed with %r", name, arguments)
        return {"error": f"The {name} tool failed unexpectedly; answer without it or try other arguments."}


def get_metrics(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "get_metrics", arguments)


def list_campaigns(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "list_campaigns", arguments)


def top_products(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "top_products", arguments)


def orders_and_refunds(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "orders_and_refunds", arguments)


def conversion_status(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "conversion_status", arguments)


def alert_history(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "alert_history", arguments)


def compare_versions(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "compare_versions", arguments)


def platform_vs_verified(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "platform_vs_verified", arguments)


def customer_value(session: Session, actor: Actor, **arguments: Any) -> ToolResult:
    return run_tool(session, actor, "customer_value", arguments)


# --- one-line summaries ("shows its work") --------------------------------------------------------------------------


def _dates(query: dict[str, Any]) -> str:
    return f"{query['start']} – {query['end']}" if query.get("start") else ""


def summary(name: str, arguments: dict[str, Any], result: Any) -> str:
    """One line saying what a call looked at, e.g. ``metrics by campaign, 2026-11-01 – 2026-11-27, last touch``."""
    if not isinstance(result, dict) or "error" in result:
        message = result.get("error") if isinstance(result, dict) else "no result"
        return f"{name.replace('_', ' ')}: error — {message}"
    query = result.get("query", {})
    given = dict(query.get("filters", {}))
    if "campaign_name" in given:
        given["campaign"] = given.pop("campaign_name")
    filters = ", ".join(f"{k} {v}" for k, v in given.items())
    parts: list[str]
    if name == "get_metrics":
        parts = [
            f"metrics by {query.get('dimension') or 'total'}",
            _dates(query),
            str(query.get("model", "")).replace("_", " "),
        ]
        if query.get("comparison"):
            parts.append(f"vs {_dates(query['comparison'])}")
    elif name == "top_products":
        parts = [
            f"top products by {result.get('ranked_by', 'net revenue')}",
            _dates(query),
            str(query.get("model", "")).replace("_", " "),
        ]
    elif name == "list_campaigns":
        total = result.get("campaigns_total", 0)
        parts = [f"{len(result.get('campaigns', []))} of {total} {plural(total, 'campaign')} with versions"]
        parts += [f"{k} {v}" for k in ("search", "status", "channel") if (v := query.get(k))]
    elif name == "orders_and_refunds":
        parts = ["orders and refunds", _dates(query)]
    elif name == "conversion_status":
        parts = ["conversion deliveries", _dates(query)]
    elif name == "platform_vs_verified":
        parts = ["platform claims vs verified", _dates(query), str(query.get("model", "")).replace("_", " ")]
    elif name == "alert_history":
        total = result.get("events_total", 0)
        parts = [f"alert history, latest {len(result.get('events', []))} of {total} {plural(total, 'event')}"]
    elif name == "compare_versions":
        parts = [
            f"versions compared, {query.get('campaign_name', '')}",
            f"windows of {query.get('window_days', 0)} days",
            str(query.get("model", "")).replace("_", " "),
            f"winner at ≥ {round(float(query.get('winner_probability') or 0) * 100)}%",
        ]
    elif name == "customer_value":
        parts = [
            f"lifetime value by {query.get('dimension', 'campaign')}",
            f"customers first ordering {_dates(query)}",
            str(query.get("model", "")).replace("_", " "),
            "computed live" if query.get("source") == "live" else "",
        ]
    elif name == "search_docs":
        found = len(result.get("sections", []))
        parts = [f"docs search {query.get('search', '')!r}: {found} {plural(found, 'section')}"]
    elif name == "install_status":
        parts = [f"install status, last {query.get('days')} days: {result.get('status', '')}"]
    elif name == "api_keys":
        parts = [f"{len(result.get('keys', []))} API {plural(len(result.get('keys', [])), 'key')}"]
    elif name == "stripe_status":
        parts = ["Stripe connection" + ("" if result.get("connected") else ": not connected")]
        reconciliation = (result.get("sync") or {}).get("reconciliation")
        if isinstance(reconciliation, dict) and reconciliation.get("summary"):
            said = str(reconciliation["summary"]).rstrip(".")
            parts.append(said[:1].lower() + said[1:])
    elif name == "pixel_status":
        parts = [f"{len(result.get('pixels', []))} {plural(len(result.get('pixels', [])), 'pixel')} with deliveries"]
    elif name == "order_conversions":
        found = len(result.get("deliveries", []))
        parts = [f"conversions of order {query.get('order')}: {found} {plural(found, 'delivery', 'deliveries')}"]
    elif name == "alert_rules":
        parts = [f"{len(result.get('rules', []))} alert {plural(len(result.get('rules', [])), 'rule')}"]
    else:
        parts = [name]
    if filters:
        parts.append(filters)
    return ", ".join(p for p in parts if p)
