"""The date range a dashboard URL chose (``?range=&start=&end=&compare=&model=``), read the same way by the pages'
states and by the overview's early figures (``app/api/endpoints/overview_kpis.py``): unknown values fall back to the
defaults, so both resolve one URL to the same range."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from app.presenters.metrics import COMPARE_LABELS, MODEL_LABELS, PRESET_LABELS
from app.services import dashboard
from app.services.attribution import AttributionModel
from app.services.metrics import Compare, Preset

DEFAULT_PRESET = Preset.LAST_28_DAYS.value
DEFAULT_MODEL = AttributionModel.LAST_TOUCH.value


def parse_date(text: str) -> date | None:
    """A YYYY-MM-DD date from a URL or a form, or None when it is empty or not a date."""
    try:
        return date.fromisoformat(text.strip()) if text and text.strip() else None
    except ValueError:
        return None


def date_text(value: Any) -> str:
    """A date from the URL or a form as YYYY-MM-DD, or "" when it is not one."""
    parsed = parse_date(str(value or ""))
    return parsed.isoformat() if parsed else ""


def pick(value: Any, allowed: Collection[str], default: str) -> str:
    """``value`` from the URL or a select when it is one of ``allowed``, else ``default``."""
    text = str(value or "")
    return text if text in allowed else default


@dataclass(frozen=True)
class RangeChoice:
    preset: str
    start: str  # YYYY-MM-DD, custom ranges only
    end: str
    compare: str
    model: str

    def dashboard_range(self) -> dashboard.DashboardRange:
        return dashboard.DashboardRange(
            preset=Preset(self.preset),
            compare=Compare(self.compare),
            model=AttributionModel(self.model),
            start=date.fromisoformat(self.start) if self.start else None,
            end=date.fromisoformat(self.end) if self.end else None,
        )


def range_choice(params: Mapping[str, Any]) -> RangeChoice:
    """The range, comparison and model of ``?range=&start=&end=&compare=&model=``; unknown values fall back to the
    defaults (last 28 days vs the previous period, last touch)."""
    return RangeChoice(
        preset=pick(params.get("range"), PRESET_LABELS, DEFAULT_PRESET),
        start=date_text(params.get("start")),
        end=date_text(params.get("end")),
        compare=pick(params.get("compare"), COMPARE_LABELS, Compare.PREVIOUS.value),
        model=pick(params.get("model"), MODEL_LABELS, DEFAULT_MODEL),
    )
