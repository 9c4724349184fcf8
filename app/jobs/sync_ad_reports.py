"""Sync what the ad platforms report (Meta Insights, Google Ads) for every connection with work due: backfills,
hourly and nightly windows, and syncs that waited out a rate limit. Leased: one process at a time."""

from __future__ import annotations

from sqlmodel import Session

from app.db import get_engine
from app.models import AdConnection
from app.services import ad_sync


def sync_ad_reports() -> str | None:
    done: list[str] = []
    with Session(get_engine(), expire_on_commit=False) as session:
        for connection_id in ad_sync.due_connection_ids(session):
            connection = session.get(AdConnection, connection_id)
            if connection is None:
                continue
            result = ad_sync.sync_connection(session, connection)
            if result.status != "idle":
                done.append(f"{connection.public_id} {result.status} ({result.rows} rows)")
    return "; ".join(done) or None
