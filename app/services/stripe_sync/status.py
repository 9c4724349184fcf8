"""What the settings page and the API show of the sync: the last catch-up, a retention gap, the backfill's
progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, select

from app.models import StripeSync


@dataclass(frozen=True)
class SyncStatus:
    catchup_at: datetime | None
    catchup_ok: bool
    catchup_message: str
    gap_from: datetime | None
    gap_to: datetime | None
    backfill_status: str  # "" | requested | running | done | failed
    backfill_days: int
    backfill_phase: str
    backfill_seen: int
    backfill_imported: int
    backfill_message: str
    backfill_finished_at: datetime | None

    @property
    def backfill_active(self) -> bool:
        return self.backfill_status in {"requested", "running"}


def _when(unix: int | None) -> datetime | None:
    return datetime.fromtimestamp(unix, UTC) if unix is not None else None


def sync_status(*, session: Session, account_id: int) -> SyncStatus:
    row = session.exec(select(StripeSync).where(StripeSync.account_id == account_id)).first() or StripeSync(
        account_id=account_id
    )
    return SyncStatus(
        catchup_at=row.catchup_at,
        catchup_ok=row.catchup_ok,
        catchup_message=row.catchup_message,
        gap_from=_when(row.gap_from),
        gap_to=_when(row.gap_to),
        backfill_status=row.backfill_status,
        backfill_days=row.backfill_days,
        backfill_phase=row.backfill_phase,
        backfill_seen=row.backfill_seen,
        backfill_imported=row.backfill_imported,
        backfill_message=row.backfill_message,
        backfill_finished_at=row.backfill_finished_at,
    )
