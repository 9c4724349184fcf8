"""The one query every read of synced platform figures starts from: campaign-level daily rows of an account over a
range, with their platform campaign (its mapping) and connection (its platform) joined."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Select
from sqlalchemy import select as sa_select
from sqlmodel import col

from app.models import AdConnection, PlatformCampaign, PlatformDaily, ReportLevel


def campaign_days(*columns: Any, account_id: int, start: date, end: date) -> Select[Any]:
    """``SELECT columns`` over the campaign-level rows of days ``[start, end]`` (add ``group_by``/``where``)."""
    return (
        sa_select(*columns)
        .select_from(PlatformDaily)
        .join(
            PlatformCampaign,
            (col(PlatformCampaign.connection_id) == col(PlatformDaily.connection_id))
            & (col(PlatformCampaign.external_id) == col(PlatformDaily.external_id)),
        )
        .join(AdConnection, col(AdConnection.id) == col(PlatformDaily.connection_id))
        .where(
            col(PlatformDaily.account_id) == account_id,
            col(PlatformDaily.level) == ReportLevel.CAMPAIGN.value,
            col(PlatformDaily.day) >= start,
            col(PlatformDaily.day) <= end,
        )
    )
