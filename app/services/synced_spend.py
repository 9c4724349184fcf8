"""Synced spend: the ad platforms' daily figures (services/ad_sync) written into ``ad_spend``, where they win over a
CSV or API figure for the same campaign and day and keep it as the figure they replaced (shown on /spend). Split from
services/spend.py, which checks, imports and reads spend; this module is what the sync and the mapping call."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from app.models import AdConnection, AdSpend, PlatformCampaign, PlatformDaily, SpendSource
from app.models.base import utcnow
from app.models.metrics import SYNCED_SOURCES
from app.services.platform_rows import campaign_days


def _synced_totals(
    session: Session, account_id: int, start: date, end: date
) -> dict[tuple[date, int], tuple[str, int, int, int, str]]:
    """Per (day, PaidSignal campaign): the platforms' campaign-level spend of the platform campaigns mapped to it,
    as (currency, amount, impressions, clicks, source). Two currencies on one day of one campaign cannot be added:
    the larger amount's currency wins (mapping refuses a second currency, so this is only a safety net)."""
    found = session.execute(
        campaign_days(
            col(PlatformDaily.day),
            col(PlatformCampaign.campaign_id),
            col(PlatformDaily.currency),
            col(AdConnection.platform),
            func.sum(PlatformDaily.spend),
            func.sum(PlatformDaily.impressions),
            func.sum(PlatformDaily.clicks),
            account_id=account_id,
            start=start,
            end=end,
        )
        .where(col(PlatformCampaign.campaign_id).is_not(None))
        .group_by(
            col(PlatformDaily.day),
            col(PlatformCampaign.campaign_id),
            col(PlatformDaily.currency),
            col(AdConnection.platform),
        )
    ).all()
    per_currency: dict[tuple[date, int], dict[str, list[int]]] = {}
    platforms: dict[tuple[date, int], set[str]] = {}
    for day, campaign_id, currency, platform, amount, impressions, clicks in found:
        key = (day, int(campaign_id))
        totals = per_currency.setdefault(key, {}).setdefault(str(currency), [0, 0, 0])
        totals[0] += int(amount or 0)
        totals[1] += int(impressions or 0)
        totals[2] += int(clicks or 0)
        platforms.setdefault(key, set()).add(str(platform))
    result: dict[tuple[date, int], tuple[str, int, int, int, str]] = {}
    for key, currencies in per_currency.items():
        currency, (amount, impressions, clicks) = max(currencies.items(), key=lambda item: (item[1][0], item[0]))
        names = platforms[key]
        source = next(iter(names)) if len(names) == 1 else SpendSource.SYNC.value
        result[key] = (currency, amount, impressions, clicks, source)
    return result


def replace_synced_spend(*, session: Session, account_id: int, start: date, end: date) -> None:
    """Bring ``ad_spend`` of days ``[start, end]`` in line with the synced platform figures: a mapped campaign-day
    gets the platforms' spend (keeping a CSV/API figure it replaces as ``replaced_*``); a synced row whose platform
    campaign is no longer mapped (or reported) goes back to the figure it replaced, or away."""
    synced = _synced_totals(session, account_id, start, end)
    existing = {
        (row.day, row.campaign_id): row
        for row in session.exec(
            select(AdSpend).where(AdSpend.account_id == account_id, col(AdSpend.day) >= start, col(AdSpend.day) <= end)
        ).all()
    }
    now = utcnow()
    for key, (currency, amount, impressions, clicks, source) in synced.items():
        row = existing.get(key)
        if row is None:
            row = AdSpend(account_id=account_id, day=key[0], campaign_id=key[1], currency=currency, amount=amount)
        elif row.source not in SYNCED_SOURCES:
            row.replaced_amount, row.replaced_currency, row.replaced_source = row.amount, row.currency, row.source
        row.currency, row.amount, row.impressions, row.clicks = currency, amount, impressions, clicks
        row.source, row.imported_at = SpendSource(source), now
        session.add(row)
    for key, row in existing.items():
        if key in synced or row.source not in SYNCED_SOURCES:
            continue
        if row.replaced_amount is None:
            session.delete(row)
            continue
        row.amount, row.currency = row.replaced_amount, row.replaced_currency or row.currency
        row.source = SpendSource(row.replaced_source) if row.replaced_source in {"csv", "api"} else SpendSource.CSV
        row.impressions = row.clicks = None
        row.replaced_amount, row.replaced_currency, row.replaced_source = None, "", ""
        session.add(row)
    session.flush()
