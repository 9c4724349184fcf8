"""Usage and cost per account: plans and their limits, LLM calls and their cost, API requests counted in memory and
flushed to ``api_usage_daily``, and the usage reports (one account for its owners and admins, every account for staff).

LLM cost comes from litellm's price catalogue (``completion_cost``), or from ``LLM_INPUT_COST_PER_MTOK`` /
``LLM_OUTPUT_COST_PER_MTOK`` for a model the catalogue does not know (registered with ``litellm.register_model``
by ``app.integrations.llm``). Days and the month are UTC calendar days and months.

The package: ``meters`` (LLM calls and events stored, recorded as they happen), ``plans`` (plans, the assistant's
budget, limits used), ``api_counter`` (the in-memory API request counter and its flush), ``daily`` (usage per account
and day, the range a report covers), ``reports`` (the account's and the platform's reports), ``export`` (the CSV).
This module exports what the rest of the code uses.
"""

from __future__ import annotations

from app.services.usage.api_counter import ApiUsageCounter, Slot, count_api_request, flush_api_usage
from app.services.usage.daily import MAX_RANGE_DAYS, UsageDay, UsageFigures, usage_range
from app.services.usage.export import CSV_COLUMNS, usage_csv
from app.services.usage.meters import (
    count_stored_events,
    events_stored,
    llm_cost_this_month,
    month_start,
    record_llm_call,
)
from app.services.usage.plans import DEFAULT_PLAN, PLANS, LimitUse, Plan, check_llm_budget, limits_used, plan_of
from app.services.usage.reports import (
    ADMINS_ONLY,
    STAFF_ONLY,
    TOP_ACCOUNTS,
    TOP_QUESTIONS,
    AccountUsage,
    AccountUsageTotal,
    ApiUsageRow,
    PlatformUsage,
    QuestionCost,
    UserLlmUsage,
    account_usage,
    platform_usage,
    require_staff,
)

__all__ = [
    "ADMINS_ONLY",
    "CSV_COLUMNS",
    "DEFAULT_PLAN",
    "MAX_RANGE_DAYS",
    "PLANS",
    "STAFF_ONLY",
    "TOP_ACCOUNTS",
    "TOP_QUESTIONS",
    "AccountUsage",
    "AccountUsageTotal",
    "ApiUsageCounter",
    "ApiUsageRow",
    "LimitUse",
    "Plan",
    "PlatformUsage",
    "QuestionCost",
    "Slot",
    "UsageDay",
    "UsageFigures",
    "UserLlmUsage",
    "account_usage",
    "check_llm_budget",
    "count_api_request",
    "count_stored_events",
    "events_stored",
    "flush_api_usage",
    "limits_used",
    "llm_cost_this_month",
    "month_start",
    "plan_of",
    "platform_usage",
    "record_llm_call",
    "require_staff",
    "usage_csv",
    "usage_range",
]
