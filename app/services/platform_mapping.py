"""Which PaidSignal campaign each ad platform campaign counts for: found from landing URLs that carry the platform's
campaign id (``utm_id``, and Google's own ``gad_campaignid``), or chosen once on the campaign page (suggested by
name). Platform campaigns mapped to nothing are listed with their spend, so no synced spend is silently dropped.

Mapping decides where synced spend lands (``ad_spend``, see services/spend) and what the platform-vs-verified view
compares. A campaign's platform campaigns share one currency: spend of two currencies cannot be added.
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.models import AdConnection, AdPlatform, Campaign, MappedBy, PlatformCampaign, PlatformDaily, VisitSession
from app.models.ads import ReportLevel
from app.services import synced_spend
from app.services.errors import NotFound, ValidationFailed
from app.services.permissions import Actor, Permission, require

SUGGEST_RATIO = 0.5


@dataclass(frozen=True)
class PlatformCampaignRow:
    ref: str  # "meta:1201": the platform and its campaign id (one connection per platform and account)
    platform: str
    external_id: str
    name: str
    campaign_public_id: str
    campaign_name: str
    mapped_by: str
    # Spend per currency over the range asked for (minor units), never added across currencies.
    spend: dict[str, int]


def ref_of(platform: str, external_id: str) -> str:
    return f"{platform}:{external_id}"


def _parse_ref(ref: str) -> tuple[str, str]:
    platform, _, external_id = (ref or "").partition(":")
    if platform not in {p.value for p in AdPlatform} or not external_id:
        raise ValidationFailed("Choose a platform campaign (meta:<id> or google:<id>).", field="platform_campaign")
    return platform, external_id


def _currency(session: Session, platform_campaign: PlatformCampaign) -> str:
    return session.exec(select(AdConnection.currency).where(AdConnection.id == platform_campaign.connection_id)).one()


def _check_currency(session: Session, account_id: int, campaign_id: int, currency: str) -> str | None:
    """A problem when the campaign already has platform campaigns in another currency; else None."""
    others = session.exec(
        select(AdConnection.currency)
        .join(PlatformCampaign, col(PlatformCampaign.connection_id) == col(AdConnection.id))
        .where(PlatformCampaign.account_id == account_id, PlatformCampaign.campaign_id == campaign_id)
    ).all()
    wrong = sorted({c for c in others if c != currency})
    if wrong:
        return (
            f"This campaign already counts platform spend in {wrong[0]}; spend in {currency} cannot be added to it. "
            "Map this platform campaign to another campaign."
        )
    return None


def _span(session: Session, platform_campaign: PlatformCampaign) -> tuple[date | None, date | None]:
    first, last = session.exec(
        select(func.min(PlatformDaily.day), func.max(PlatformDaily.day)).where(
            PlatformDaily.connection_id == platform_campaign.connection_id,
            PlatformDaily.campaign_external_id == platform_campaign.external_id,
        )
    ).one()
    return first, last


def _apply(session: Session, platform_campaign: PlatformCampaign) -> None:
    first, last = _span(session, platform_campaign)
    if first is not None and last is not None:
        synced_spend.replace_synced_spend(
            session=session, account_id=platform_campaign.account_id, start=first, end=last
        )


def auto_map(session: Session, account_id: int) -> int:
    """Map the unmapped platform campaigns whose id landing URLs carried: to the PaidSignal campaign most of those
    sessions were matched to. Manual mappings are never changed. Returns how many were mapped."""
    unmapped = session.exec(
        select(PlatformCampaign, AdConnection.platform, AdConnection.currency)
        .join(AdConnection, col(AdConnection.id) == col(PlatformCampaign.connection_id))
        .where(
            PlatformCampaign.account_id == account_id,
            col(PlatformCampaign.campaign_id).is_(None),
            col(PlatformCampaign.mapped_by).is_(None),  # unmapped by hand: stays so
        )
    ).all()
    if not unmapped:
        return 0
    ids = {p.external_id for p, _, _ in unmapped}
    seen: dict[tuple[str, str], Counter[int]] = {}
    found = session.execute(
        sa_select(col(VisitSession.utm_id), col(VisitSession.gad_campaignid), col(VisitSession.campaign_id)).where(
            col(VisitSession.account_id) == account_id,
            col(VisitSession.campaign_id).is_not(None),
            col(VisitSession.utm_id).in_(ids) | col(VisitSession.gad_campaignid).in_(ids),
        )
    ).all()
    for utm_id, gad_campaignid, campaign_id in found:
        if utm_id in ids:
            for platform in ("meta", "google"):
                seen.setdefault((platform, utm_id), Counter())[int(campaign_id)] += 1
        if gad_campaignid in ids and gad_campaignid != utm_id:
            seen.setdefault(("google", gad_campaignid), Counter())[int(campaign_id)] += 1
    mapped = 0
    for platform_campaign, platform, currency in unmapped:
        counts = seen.get((str(platform), platform_campaign.external_id))
        if not counts:
            continue
        campaign_id = min(counts, key=lambda c: (-counts[c], c))
        if _check_currency(session, account_id, campaign_id, str(currency)):
            continue
        platform_campaign.campaign_id = campaign_id
        platform_campaign.mapped_by = MappedBy.URL
        session.add(platform_campaign)
        session.flush()
        _apply(session, platform_campaign)
        mapped += 1
    return mapped


def _find(session: Session, account_id: int, ref: str) -> PlatformCampaign:
    platform, external_id = _parse_ref(ref)
    found = session.exec(
        select(PlatformCampaign)
        .join(AdConnection, col(AdConnection.id) == col(PlatformCampaign.connection_id))
        .where(
            PlatformCampaign.account_id == account_id,
            AdConnection.platform == platform,
            PlatformCampaign.external_id == external_id,
        )
    ).first()
    if found is None:
        raise NotFound("No platform campaign with this id in this account.", field="platform_campaign")
    return found


def map_campaign(*, session: Session, actor: Actor, ref: str, campaign_public_id: str) -> None:
    """Count a platform campaign for a PaidSignal campaign (chosen by hand: URL ids never override it)."""
    require(actor, Permission.EDIT_MARKETING)
    platform_campaign = _find(session, actor.account_id, ref)
    campaign_id = session.exec(
        select(Campaign.id).where(Campaign.account_id == actor.account_id, Campaign.public_id == campaign_public_id)
    ).first()
    if campaign_id is None:
        raise NotFound("No campaign with this id in this account.", field="campaign")
    if platform_campaign.campaign_id != campaign_id:
        problem = _check_currency(session, actor.account_id, campaign_id, _currency(session, platform_campaign))
        if problem:
            raise ValidationFailed(problem, field="platform_campaign")
    platform_campaign.campaign_id = campaign_id
    platform_campaign.mapped_by = MappedBy.MANUAL
    session.add(platform_campaign)
    session.flush()
    _apply(session, platform_campaign)


def unmap_campaign(*, session: Session, actor: Actor, ref: str) -> None:
    """Stop counting a platform campaign for any campaign (its synced spend leaves ``ad_spend``). It stays unmapped:
    URL ids do not map it again until it is mapped by hand."""
    require(actor, Permission.EDIT_MARKETING)
    platform_campaign = _find(session, actor.account_id, ref)
    platform_campaign.campaign_id = None
    platform_campaign.mapped_by = MappedBy.MANUAL
    session.add(platform_campaign)
    session.flush()
    _apply(session, platform_campaign)


def list_platform_campaigns(
    *, session: Session, account_id: int, since: date, until: date, campaign_id: int | None = None
) -> list[PlatformCampaignRow]:
    """Every platform campaign of the account (or those mapped to ``campaign_id``), with its spend over the range
    per currency; unmapped ones first, then by name."""
    query = (
        select(PlatformCampaign, AdConnection.platform, Campaign.public_id, Campaign.name)
        .join(AdConnection, col(AdConnection.id) == col(PlatformCampaign.connection_id))
        .join(Campaign, col(Campaign.id) == col(PlatformCampaign.campaign_id), isouter=True)
        .where(PlatformCampaign.account_id == account_id)
    )
    if campaign_id is not None:
        query = query.where(PlatformCampaign.campaign_id == campaign_id)
    rows = session.exec(query).all()
    spend: dict[tuple[int, str], dict[str, int]] = {}
    for connection_id, external_id, currency, amount in session.execute(
        sa_select(
            col(PlatformDaily.connection_id),
            col(PlatformDaily.external_id),
            col(PlatformDaily.currency),
            func.sum(PlatformDaily.spend),
        )
        .where(
            col(PlatformDaily.account_id) == account_id,
            col(PlatformDaily.level) == ReportLevel.CAMPAIGN.value,
            col(PlatformDaily.day) >= since,
            col(PlatformDaily.day) <= until,
        )
        .group_by(col(PlatformDaily.connection_id), col(PlatformDaily.external_id), col(PlatformDaily.currency))
    ).all():
        spend.setdefault((int(connection_id), str(external_id)), {})[str(currency)] = int(amount or 0)
    result = [
        PlatformCampaignRow(
            ref=ref_of(str(platform), p.external_id),
            platform=str(platform),
            external_id=p.external_id,
            name=p.name,
            campaign_public_id=str(public_id or ""),
            campaign_name=str(name or ""),
            mapped_by=str(p.mapped_by or "") if p.campaign_id else "",
            spend=spend.get((p.connection_id, p.external_id), {}),
        )
        for p, platform, public_id, name in rows
    ]
    return sorted(result, key=lambda r: (bool(r.campaign_public_id), r.name.casefold(), r.ref))


def suggestions(*, session: Session, account_id: int, campaign_public_id: str) -> list[PlatformCampaignRow]:
    """Unmapped platform campaigns whose names look like the campaign's, closest first."""
    name = session.exec(
        select(Campaign.name).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
    ).first()
    if name is None:
        raise NotFound("No campaign with this id in this account.", field="campaign")
    key = " ".join(name.split()).casefold()
    today = date.today()
    unmapped = [
        r
        for r in list_platform_campaigns(session=session, account_id=account_id, since=date(2000, 1, 1), until=today)
        if not r.campaign_public_id
    ]
    scored = [(difflib.SequenceMatcher(None, key, " ".join(r.name.split()).casefold()).ratio(), r) for r in unmapped]
    return [r for score, r in sorted(scored, key=lambda item: -item[0]) if score >= SUGGEST_RATIO]
