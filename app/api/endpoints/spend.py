"""``/api/v1/spend``: record ad spend per day and campaign, and list what is stored (secret key)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api.deps import SecretKeyDep, SessionDep
from app.api.params import Cursor, Limit, day
from app.api.schemas import ErrorResponse, SpendImported, SpendItemOut, SpendList, SpendRequest
from app.services import spend as spend_service
from app.services.permissions import key_actor

router = APIRouter(tags=["spend"])
_ERRORS: dict[int | str, dict[str, Any]] = {k: {"model": ErrorResponse} for k in (401, 403, 404, 422)}


@router.post("/spend", response_model=SpendImported, responses=_ERRORS)
def record_spend(body: SpendRequest, identity: SecretKeyDep, session: SessionDep) -> SpendImported:
    """Store each entry's spend for its day and campaign. A day already stored for that campaign is replaced (never
    added to), so sending a day again is safe. All entries or none: a wrong one is a 422 naming its field, as
    ``entries[3].spend``."""
    result = spend_service.record_spend(
        session=session,
        actor=key_actor(identity.account_id),
        entries=[entry.model_dump() for entry in body.entries],
    )
    return SpendImported(inserted=result.inserted, replaced=result.replaced, kept_synced=result.kept_synced)


@router.get("/spend", response_model=SpendList, responses=_ERRORS)
def list_spend(
    identity: SecretKeyDep,
    session: SessionDep,
    since: Annotated[date | None, day("first day (YYYY-MM-DD)")] = None,
    until: Annotated[date | None, day("last day (inclusive)")] = None,
    campaign: Annotated[str | None, Query(max_length=32, description="campaign id (cmp_…)")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SpendList:
    """Stored spend, newest day first; pass ``next_cursor`` as ``cursor`` for the next page."""
    page = spend_service.list_spend(
        session=session,
        account_id=identity.account_id,
        since=since,
        until=until,
        campaign_public_id=campaign,
        limit=limit,
        cursor=cursor,
    )
    return SpendList(
        spend=[
            SpendItemOut(
                date=row.day,
                campaign=row.campaign_public_id,
                campaign_name=row.campaign_name,
                currency=row.currency,
                amount=row.amount,
                spend=spend_service.spend_text(row.amount, row.currency),
                impressions=row.impressions,
                clicks=row.clicks,
                source=row.source,
                imported_at=row.imported_at,
                replaced_amount=row.replaced_amount,
                replaced_currency=row.replaced_currency or None,
                replaced_source=row.replaced_source or None,
            )
            for row in page.rows
        ],
        total=page.total,
        next_cursor=page.next_cursor,
    )
