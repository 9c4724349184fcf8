"""A campaign's versions compared: each version's figures over a window of the same length from the day it went live,
and when a window's volume is too small for its differences to mean much."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session

from app.services.errors import NotFound, ValidationFailed
from app.services.metrics.figures import Figures
from app.services.metrics.grouping import Dimension, campaign_names
from app.services.metrics.periods import MAX_DAYS, Compare, account_today
from app.services.metrics.query import MetricsQuery, metrics

# Below either volume a version's figures are a hint, not a verdict: differences between versions may be chance.
SMALL_SAMPLE_ORDERS = 30
SMALL_SAMPLE_SESSIONS = 1000


@dataclass
class VersionWindow:
    """One version's figures over its own window: the first ``days`` days it was live (all versions get windows of
    the same length, so v1 and v2 compare like for like; volumes are shown so small samples are visible)."""

    version_id: str
    number: int
    start: date
    end: date
    live_days: int
    figures: Figures

    @property
    def small_sample(self) -> bool:
        """Fewer than ``SMALL_SAMPLE_ORDERS`` orders or ``SMALL_SAMPLE_SESSIONS`` sessions in the window."""
        return self.figures.orders < SMALL_SAMPLE_ORDERS or self.figures.sessions < SMALL_SAMPLE_SESSIONS


def version_comparison(
    *, session: Session, account_id: int, campaign_public_id: str, days: int | None = None, model: str = "last_touch"
) -> list[VersionWindow]:
    """Each version of a campaign over aligned windows: from the day it went live, for ``days`` days (default: the
    shortest time any version was live, at most 90), clipped to today."""
    names = campaign_names(session, account_id)
    campaign_id = next((cid for cid, (pid, _n, _c) in names.campaigns.items() if pid == campaign_public_id), None)
    if campaign_id is None:
        raise NotFound("No campaign with this id.", field="campaign")
    today = account_today(session, account_id)
    schedule = names.active.get(campaign_id, [])
    spans = []
    for index, (first_day, version_id) in enumerate(schedule):
        next_day = schedule[index + 1][0] if index + 1 < len(schedule) else today + timedelta(days=1)
        spans.append((version_id, first_day, max(1, (next_day - first_day).days)))
    if not spans:
        return []
    length = days or min(90, min(live for _v, _s, live in spans))
    if not 1 <= length <= MAX_DAYS:
        raise ValidationFailed(f"days must be between 1 and {MAX_DAYS}.", field="days")
    windows = []
    for version_id, first_day, live in spans:
        end = min(first_day + timedelta(days=length - 1), today)
        query = MetricsQuery(
            start=first_day,
            end=end,
            model=model,
            compare=Compare.NONE,
            campaign=campaign_public_id,
            dimension=Dimension.VERSION,
        )
        report = metrics(session=session, account_id=account_id, query=query)
        row = next((r for r in report.rows if r.key == str(version_id)), None)
        pid, number, _cid = names.versions[version_id]
        windows.append(VersionWindow(pid, number, first_day, end, live, row.figures if row else Figures()))
    return windows
