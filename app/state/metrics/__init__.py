"""Dashboard states: the range picker shared by the overview and the explorer (``date_range``), the overview of ``/``
(``overview``), the metrics explorer of ``/metrics`` (``explorer``) and a campaign's versions compared
(``versions``). They hold UI state and call ``services.dashboard`` / ``services.metrics``; text, charts and the CSV
come from ``app.presenters``. The range, comparison, model and the explorer's choices live in the URL, so a view can
be shared (the handlers only change the URL).

Pages and components import from here: the states, and the labels and item types their controls need.
"""

from __future__ import annotations

from app.presenters.explorer import ColumnItem, OptionItem
from app.presenters.metrics import (
    COMPARE_LABELS,
    DIMENSION_LABELS,
    GROUP_OPTIONS,
    MODEL_LABELS,
    PRESET_LABELS,
    SMALL_SAMPLE_HINT,
    BlendedLine,
    CampaignLine,
    KpiItem,
    PairLine,
    VersionLine,
)
from app.state.metrics.date_range import RangeChoice, RangeState, range_choice
from app.state.metrics.explorer import (
    ALL,
    CHANNEL_GROUPS,
    CHANNELS,
    LOOKBACKS,
    PLATFORM_OPTIONS,
    ExplorerChoice,
    ExplorerState,
    explorer_choice,
)
from app.state.metrics.overview import DashboardState
from app.state.metrics.versions import VersionComparisonState

__all__ = [
    "ALL",
    "CHANNELS",
    "CHANNEL_GROUPS",
    "COMPARE_LABELS",
    "DIMENSION_LABELS",
    "GROUP_OPTIONS",
    "LOOKBACKS",
    "MODEL_LABELS",
    "PLATFORM_OPTIONS",
    "PRESET_LABELS",
    "SMALL_SAMPLE_HINT",
    "BlendedLine",
    "CampaignLine",
    "ColumnItem",
    "DashboardState",
    "ExplorerChoice",
    "ExplorerState",
    "KpiItem",
    "OptionItem",
    "PairLine",
    "RangeChoice",
    "RangeState",
    "VersionComparisonState",
    "VersionLine",
    "explorer_choice",
    "range_choice",
]
