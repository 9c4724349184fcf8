"""The metrics service: every figure the dashboard, the metrics API, alerts and the assistant show, in one place.

Measures: sessions, visitors, converted sessions (sessions whose checkout got paid), conversion rate (converted
sessions / sessions: one population, never above 100 %), orders, new and returning customers, gross revenue (first
and one-off payments), renewals and their revenue, refunds, net revenue (gross + renewals − refunds), AOV (gross /
orders), ad spend, ROAS (net / spend), CPA (spend / orders; None without spend), refund rate (refunds / (gross +
renewals)). Dimensions: campaign, version, channel (the ad platform), channel_group, product, price, day, week,
month, and the ad platforms' ad_set and ad (``ads``: their own rollups, the synced names). Money is integer minor
units per currency and never summed across currencies; a ratio whose base is zero is None ("n/a"), never an error.

Figures come from the daily rollups (``services/rollups``) for the default lookback, or are computed from the raw
tables with the same per-day functions (any lookback, and ``source="raw"`` for checks and benchmarks): the two
agree by construction. Visitors are distinct per day and summed over days (visitor-days).

The modules: ``periods`` (ranges and comparison periods), ``figures`` (what is measured), ``sources`` (rows from
rollups or raw tables), ``grouping`` (dimensions, keys and labels, summing), ``query`` (``metrics``), ``windows``
(exact time windows, for alerts), ``versions`` (a campaign's versions compared), ``confidence`` (how sure a
difference between two versions is), ``ltv`` (lifetime value, payback and cohorts of the customers acquired, from
``services/lifetime``). This package exports their public names, so callers import ``app.services.metrics`` alone.
"""

from __future__ import annotations

from app.services.metrics import confidence
from app.services.metrics.ads import AD_DIMENSIONS, NONE_KEY
from app.services.metrics.blended import Blended, blended
from app.services.metrics.figures import (
    Delta,
    Figures,
    MetricsReport,
    MetricsRow,
    Money,
    delta,
    figure_dict,
    has_figures,
    ratio,
)
from app.services.metrics.grouping import DIRECT, DIRECT_LABEL, IMPORTED, IMPORTED_LABEL, TIME_DIMENSIONS, Dimension
from app.services.metrics.ltv import (
    HORIZONS,
    LTV_DIMENSIONS,
    CohortReport,
    LtvFigures,
    LtvQuery,
    LtvReport,
    cohort_dict,
    cohorts,
    lifetime_value,
    ltv_dict,
)
from app.services.metrics.periods import (
    MAX_DAYS,
    Compare,
    Period,
    Preset,
    account_today,
    comparison_period,
    resolve_period,
)
from app.services.metrics.query import (
    MetricsQuery,
    OverviewReports,
    SharedReads,
    metrics,
    overview_reports,
    public_ids,
)
from app.services.metrics.versions import (
    SEASONALITY_NOTE,
    SMALL_SAMPLE_ORDERS,
    SMALL_SAMPLE_SESSIONS,
    VersionPair,
    VersionReport,
    VersionWindow,
    pair_dict,
    pair_summary,
    report_dict,
    version_comparison,
    version_report,
)
from app.services.metrics.windows import WindowFigures, window_figures

__all__ = [
    "AD_DIMENSIONS",
    "DIRECT",
    "DIRECT_LABEL",
    "HORIZONS",
    "IMPORTED",
    "IMPORTED_LABEL",
    "LTV_DIMENSIONS",
    "MAX_DAYS",
    "NONE_KEY",
    "SEASONALITY_NOTE",
    "SMALL_SAMPLE_ORDERS",
    "SMALL_SAMPLE_SESSIONS",
    "TIME_DIMENSIONS",
    "Blended",
    "CohortReport",
    "Compare",
    "Delta",
    "Dimension",
    "Figures",
    "LtvFigures",
    "LtvQuery",
    "LtvReport",
    "MetricsQuery",
    "MetricsReport",
    "MetricsRow",
    "Money",
    "OverviewReports",
    "Period",
    "Preset",
    "SharedReads",
    "VersionPair",
    "VersionReport",
    "VersionWindow",
    "WindowFigures",
    "account_today",
    "blended",
    "cohort_dict",
    "cohorts",
    "comparison_period",
    "confidence",
    "delta",
    "figure_dict",
    "has_figures",
    "lifetime_value",
    "ltv_dict",
    "metrics",
    "overview_reports",
    "pair_dict",
    "pair_summary",
    "public_ids",
    "ratio",
    "report_dict",
    "resolve_period",
    "version_comparison",
    "version_report",
    "window_figures",
]
