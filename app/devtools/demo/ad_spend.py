"""The demo's ad spend: each day's clicks and cost per paid campaign, imported as one CSV through the spend service
(preview, then import), as a marketer uploads it on /spend."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.db import write_lock
from app.devtools.demo.shop import DemoCampaign
from app.services import spend
from app.services.currency import format_major
from app.services.permissions import Actor


@dataclass(frozen=True)
class SpendRow:
    day: date
    campaign_public_id: str
    amount: int  # EUR cents
    impressions: int
    clicks: int


def day_spend(
    rng: random.Random, day: date, made: list[DemoCampaign], campaign_sessions: dict[str, int]
) -> list[SpendRow]:
    """A day's spend of each paid campaign that brought sessions: a few more clicks than sessions, at about its CPC."""
    rows = []
    for campaign in made:
        sessions = campaign_sessions.get(campaign.public_id, 0)
        if campaign.cpc and sessions:
            clicks = int(sessions * rng.uniform(1.05, 1.3))
            amount = int(clicks * campaign.cpc * rng.uniform(0.85, 1.15))
            rows.append(SpendRow(day, campaign.public_id, amount, clicks * rng.randint(35, 80), clicks))
    return rows


def import_spend(session: Session, actor: Actor, rows: list[SpendRow]) -> None:
    """The rows as one CSV, previewed and imported."""
    if not rows:
        return
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["date", "campaign", "spend", "currency", "impressions", "clicks"])
    for row in rows:
        writer.writerow([row.day.isoformat(), row.campaign_public_id, format_major(row.amount, "EUR"), "EUR",
                         row.impressions, row.clicks])  # fmt: skip
    with write_lock:
        preview = spend.parse_spend_csv(text.getvalue(), session=session, account_id=actor.account_id)
        if preview.invalid:
            raise RuntimeError(f"demo spend CSV has {preview.invalid} invalid rows")
        spend.import_spend(session=session, actor=actor, rows=preview.rows, source="csv")
        session.commit()
