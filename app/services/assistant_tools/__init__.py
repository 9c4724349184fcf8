"""The assistant's tools: what the model may ask for, as JSON-schema function definitions, and their implementations.

Every tool reads through the same services as the dashboard (never its own arithmetic), needs the VIEW permission,
and is scoped to ``actor.account_id`` alone: no tool takes an account. None writes anything. Results are plain
JSON data that repeat what was asked (the resolved dates, attribution model, filters) next to the figures, so an
answer can be checked against the dashboard. Money is integer minor units plus a ``*_formatted`` string with its
currency. Bad arguments come back as ``{"error": "..."}`` for the model to correct, never as an exception.

The modules: ``schemas`` (arguments and definitions), ``results`` (what results are made of), ``metric_tools``,
``campaign_tools``, ``activity_tools`` and ``version_tools`` (the tools), ``registry`` (tools by name, ``run_tool``,
``summary``). This package exports the public names, so callers import ``app.services.assistant_tools`` alone.
"""

from __future__ import annotations

from app.services.assistant_tools.registry import (
    TOOL_NAMES,
    TOOLS,
    Tool,
    alert_history,
    compare_versions,
    conversion_status,
    customer_value,
    get_metrics,
    list_campaigns,
    orders_and_refunds,
    platform_vs_verified,
    run_tool,
    summary,
    top_products,
)
from app.services.assistant_tools.results import ToolResult
from app.services.assistant_tools.schemas import DEFINITIONS

__all__ = [
    "DEFINITIONS",
    "TOOLS",
    "TOOL_NAMES",
    "Tool",
    "ToolResult",
    "alert_history",
    "compare_versions",
    "conversion_status",
    "customer_value",
    "get_metrics",
    "list_campaigns",
    "orders_and_refunds",
    "platform_vs_verified",
    "run_tool",
    "summary",
    "top_products",
]
