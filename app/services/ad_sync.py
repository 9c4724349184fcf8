"""The daily sync of what the ad platforms report: a backfill on connect, today and yesterday every hour, the last
``ADS_NIGHTLY_DAYS`` every night (platforms revise recent figures).

A sync is a list of units (level × range of days, newest range first) kept on the connection with the cursor of the
unit under way (Meta's next page, or its report run), so a rate limit, a quota or a crash resumes where it stopped.
Each request's rows are stored at once (a later sync of a day replaces that day's row); when a unit completes, rows
of its days the platform no longer reports are removed, and campaign-level units refresh the platform campaigns and
the synced spend (which wins over CSV/API spend of the same campaign and day; see services/spend).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.integrations import google_ads_reports, meta_ads
from app.integrations.ad_reports import ReportError, ReportRow
from app.models import AdConnection, AdPlatform, PlatformCampaign, PlatformDaily, ReportLevel
from app.models.base import table_of, utcnow
from app.services import platform_mapping, synced_spend
from app.services.crypto import BadToken, decrypt_secret
from app.services.errors import ServiceError, ValidationFailed
from app.settings import get_settings

LEVELS = (ReportLevel.CAMPAIGN.value, ReportLevel.ADSET.value, ReportLevel.AD.value)
CHUNK_DAYS = 30
MAX_WAIT_SECONDS = 6 * 3600.0
NIGHTLY_HOUR = 3  # the nightly sync runs after 03:00 of the ad account's timezone
SyncStatus = Literal["done", "waiting", "idle", "failed"]


@dataclass(frozen=True)
class SyncResult:
    status: SyncStatus
    message: str = ""
    rows: int = 0


class _Wait(Exception):
    """A Meta report run is not done yet: ask again after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"waiting {seconds:g} s for Meta's report run")
        self.seconds = seconds


def _zone(connection: AdConnection) -> ZoneInfo:
    try:
        return ZoneInfo(connection.timezone or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def ad_account_today(connection: AdConnection, now: datetime) -> date:
    return now.astimezone(_zone(connection)).date()


def _next_night(connection: AdConnection, now: datetime) -> datetime:
    local = now.astimezone(_zone(connection))
    night = datetime.combine(local.date(), time(NIGHTLY_HOUR), tzinfo=local.tzinfo)
    return night if night > local else night + timedelta(days=1)


def plan(kind: str, since: date, until: date) -> dict[str, Any]:
    """A sync's state: every (level, since, until) unit to fetch, newest range first, campaign level first."""
    units: list[list[str]] = []
    end = until
    while end >= since:
        start = max(since, end - timedelta(days=CHUNK_DAYS - 1))
        units.extend([level, start.isoformat(), end.isoformat()] for level in LEVELS)
        end = start - timedelta(days=1)
    return {"kind": kind, "units": units, "done": 0, "total": len(units), "cursor": {}, "percent": 0, "attempts": 0}


def schedule_backfill(connection: AdConnection, *, now: datetime | None = None) -> None:
    """Plan the backfill of ``ADS_BACKFILL_DAYS`` (a new connection); the hourly and nightly syncs follow it."""
    now = now or utcnow()
    today = ad_account_today(connection, now)
    connection.sync_state = plan("backfill", today - timedelta(days=get_settings().ads_backfill_days - 1), today)
    connection.hourly_due_at = now + timedelta(hours=1)
    connection.nightly_due_at = _next_night(connection, now)
    connection.retry_at = None


def _take_due_window(connection: AdConnection, now: datetime) -> None:
    if connection.sync_state:
        return
    today = ad_account_today(connection, now)
    if connection.nightly_due_at is not None and connection.nightly_due_at <= now:
        days = get_settings().ads_nightly_days
        connection.sync_state = plan("nightly", today - timedelta(days=days - 1), today)
        connection.nightly_due_at = _next_night(connection, now)
        connection.hourly_due_at = now + timedelta(hours=1)  # the nightly sync covers today and yesterday
    elif connection.hourly_due_at is not None and connection.hourly_due_at <= now:
        connection.sync_state = plan("hourly", today - timedelta(days=1), today)
        connection.hourly_due_at = now + timedelta(hours=1)


def due_connection_ids(session: Session, *, now: datetime | None = None) -> list[int]:
    """Connections with work to do now (a sync under way or a window due), not waiting out a rate limit."""
    now = now or utcnow()
    found = session.exec(
        select(AdConnection.id).where(
            col(AdConnection.retry_at).is_(None) | (col(AdConnection.retry_at) <= now),
            col(AdConnection.sync_state).is_not(None)
            | (col(AdConnection.hourly_due_at) <= now)
            | (col(AdConnection.nightly_due_at) <= now),
        )
    ).all()
    return sorted(int(i) for i in found if i is not None)


def sync_connection(
    session: Session, connection: AdConnection, *, now: datetime | None = None, max_requests: int = 200
) -> SyncResult:
    """Go on with the connection's sync: up to ``max_requests`` requests, committing after each; stops early to
    wait out a rate limit or a report run (``retry_at``), and is called again by the job."""
    now = now or utcnow()
    if connection.retry_at is not None and connection.retry_at > now:
        return SyncResult("waiting", connection.last_error)
    _take_due_window(connection, now)
    if not connection.sync_state:
        return SyncResult("idle")
    try:
        secrets = connection_secrets(connection)
    except ServiceError as error:
        return _stop(session, connection, now, error.message, MAX_WAIT_SECONDS, "failed")
    stored = 0
    for _ in range(max_requests):
        state = copy.deepcopy(connection.sync_state or {})
        units = state.get("units") or []
        if not units:
            break
        try:
            level, since_text, until_text = units[0]
            unit = (str(level), date.fromisoformat(since_text), date.fromisoformat(until_text))
            cursor: dict[str, Any] = state.setdefault("cursor", {})
            cursor.setdefault("started_at", utcnow().isoformat())
            datetime.fromisoformat(str(cursor["started_at"]))
            if unit[0] not in LEVELS:
                raise ValueError(unit[0])
        except (TypeError, ValueError, AttributeError):
            # Stored state this version cannot read must not stop the sync for good: start the window again.
            connection.sync_state = None
            connection.hourly_due_at = connection.nightly_due_at = now
            return _stop(session, connection, now, "The sync's saved progress was unreadable; it starts again.",
                         0, "failed")  # fmt: skip
        try:
            rows, finished = _advance(connection, unit, cursor, secrets, state)
        except _Wait as wait:
            connection.sync_state = state
            if wait.seconds > 0:
                connection.retry_at = utcnow() + timedelta(seconds=wait.seconds)
                session.add(connection)
                session.commit()
                return SyncResult("waiting", str(wait), stored)
            continue
        except ReportError as error:
            return _refused(session, connection, state, error)
        stored += _store(session, connection, rows)
        if finished:
            _complete_unit(session, connection, unit, datetime.fromisoformat(cursor["started_at"]))
            state["units"] = units[1:]
            state["done"] = int(state.get("done") or 0) + 1
            state["cursor"], state["percent"] = {}, 0
        state["attempts"] = 0
        connection.sync_state = state
        session.add(connection)
        session.commit()
    if connection.sync_state and connection.sync_state.get("units"):
        return SyncResult("waiting", "more to fetch", stored)
    connection.sync_state = None
    connection.last_synced_at = utcnow()
    connection.last_error = ""
    connection.retry_at = None
    session.add(connection)
    session.commit()
    return SyncResult("done", "", stored)


def _stop(session: Session, connection: AdConnection, now: datetime, message: str, wait: float,
          status: SyncStatus) -> SyncResult:  # fmt: skip
    connection.last_error = message
    connection.retry_at = now + timedelta(seconds=wait)
    session.add(connection)
    session.commit()
    return SyncResult(status, message)


def _refused(session: Session, connection: AdConnection, state: dict[str, Any], error: ReportError) -> SyncResult:
    """Throttles, quotas and network trouble: wait (the platform's estimate, else doubling) and resume at the same
    cursor. Refused credentials: wait for new ones (connecting again restarts the sync). Anything else: this unit is
    skipped, so one bad request cannot stop the sync forever; the error stays visible."""
    now = utcnow()
    if error.kind in {"throttled", "unreachable"}:
        attempts = int(state.get("attempts") or 0) + 1
        state["attempts"] = attempts
        base = get_settings().ads_retry_base_seconds
        wait = error.retry_after if error.retry_after is not None else base * 2 ** (attempts - 1)
        connection.sync_state = state
        return _stop(session, connection, now, str(error), min(wait, MAX_WAIT_SECONDS), "waiting")
    if error.kind == "auth":
        connection.sync_state = state
        return _stop(session, connection, now, str(error), MAX_WAIT_SECONDS, "failed")
    units = state.get("units") or []
    state["units"], state["cursor"], state["percent"] = units[1:], {}, 0
    state["done"] = int(state.get("done") or 0) + 1
    connection.sync_state = state
    connection.last_error = str(error)
    session.add(connection)
    session.commit()
    return SyncResult("failed", str(error))


def _advance(connection: AdConnection, unit: tuple[str, date, date], cursor: dict[str, Any],
             secrets: dict[str, str], state: dict[str, Any]) -> tuple[list[ReportRow], bool]:  # fmt: skip
    """One request of the unit; its rows and whether the unit is complete."""
    level, since, until = unit
    if connection.platform == AdPlatform.GOOGLE.value:
        rows = google_ads_reports.report(
            connection.ad_account_id, secrets, dict(connection.settings or {}), level=level, since=since, until=until
        )
        return rows, True
    token = secrets["access_token"]
    currency = connection.currency
    settings = get_settings()
    if cursor.get("run_id"):
        run_id = str(cursor["run_id"])
        if not cursor.get("ready"):
            status = meta_ads.report_status(run_id, token)
            if status.failed:
                cursor.pop("run_id", None)
                raise ReportError(f"Meta's report run failed ({status.error or status.status}); it is started "
                                  "again.", kind="unreachable")  # fmt: skip
            if not status.done:
                state["percent"] = max(0, min(100, status.percent))
                raise _Wait(settings.ads_report_poll_seconds)
            cursor["ready"] = True
        rows, next_url = meta_ads.report_page(run_id, token, level=level, currency=currency,
                                              next_url=str(cursor.get("next") or ""))  # fmt: skip
    elif cursor.get("async") or (until - since).days + 1 > settings.ads_meta_async_days:
        cursor["run_id"] = meta_ads.start_report(connection.ad_account_id, token, level=level, since=since,
                                                 until=until)  # fmt: skip
        return [], False
    else:
        try:
            rows, next_url = meta_ads.insights_page(connection.ad_account_id, token, level=level, since=since,
                                                    until=until, currency=currency,
                                                    next_url=str(cursor.get("next") or ""))  # fmt: skip
        except ReportError as error:
            if error.kind != "too_much":
                raise
            cursor.clear()
            cursor.update({"async": True, "started_at": utcnow().isoformat()})
            return [], False
    cursor["next"] = next_url
    return rows, not next_url


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _store(session: Session, connection: AdConnection, rows: list[ReportRow]) -> int:
    """Upsert the rows: a day already stored for this campaign, ad set or ad is replaced."""
    assert connection.id is not None
    now = utcnow()
    values: dict[tuple[str, str, date], dict[str, Any]] = {}
    for row in rows:
        if not row.external_id or not row.campaign_id:
            continue
        values[(row.level, row.external_id, row.day)] = {
            "connection_id": connection.id,
            "level": row.level,
            "external_id": row.external_id,
            "day": row.day,
            "account_id": connection.account_id,
            "campaign_external_id": row.campaign_id,
            "adset_external_id": row.adset_id,
            "name": row.name[:400],
            "currency": (row.currency or connection.currency)[:3],
            "spend": row.spend,
            "impressions": row.impressions,
            "clicks": row.clicks,
            "purchases_micro": row.purchases_micro,
            "purchase_value": row.purchase_value,
            "purchase_action_type": row.purchase_action_type[:64],
            "synced_at": now,
        }
    if not values:
        return 0
    statement = _insert(session)(table_of(PlatformDaily))
    keys = ("connection_id", "level", "external_id", "day")
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in next(iter(values.values())) if name not in keys},
    )
    rows_list = list(values.values())
    for start in range(0, len(rows_list), 500):
        session.execute(statement, rows_list[start : start + 500])
    return len(rows_list)


def _complete_unit(session: Session, connection: AdConnection, unit: tuple[str, date, date],
                   started_at: datetime) -> None:  # fmt: skip
    level, since, until = unit
    session.execute(
        delete(PlatformDaily).where(
            col(PlatformDaily.connection_id) == connection.id,
            col(PlatformDaily.level) == level,
            col(PlatformDaily.day) >= since,
            col(PlatformDaily.day) <= until,
            col(PlatformDaily.synced_at) < started_at,
        )
    )
    if level == ReportLevel.CAMPAIGN.value:
        refresh_platform_campaigns(session, connection, since, until)
        platform_mapping.auto_map(session, connection.account_id)
        synced_spend.replace_synced_spend(session=session, account_id=connection.account_id, start=since, end=until)


def refresh_platform_campaigns(session: Session, connection: AdConnection, since: date, until: date) -> None:
    """Add the platform campaigns first seen in these days; keep their names current (the newest day's name)."""
    assert connection.id is not None
    latest = session.exec(
        select(PlatformDaily.external_id, PlatformDaily.name, func.max(PlatformDaily.day))
        .where(
            PlatformDaily.connection_id == connection.id,
            PlatformDaily.level == ReportLevel.CAMPAIGN.value,
            col(PlatformDaily.day) >= since,
            col(PlatformDaily.day) <= until,
        )
        .group_by(col(PlatformDaily.external_id), col(PlatformDaily.name))
    ).all()
    names: dict[str, tuple[date, str]] = {}
    for external_id, name, day in latest:
        if external_id not in names or day > names[external_id][0]:
            names[external_id] = (day, name)
    known = {
        p.external_id: p
        for p in session.exec(
            select(PlatformCampaign).where(
                PlatformCampaign.connection_id == connection.id, col(PlatformCampaign.external_id).in_(list(names))
            )
        ).all()
    }
    for external_id, (_, name) in names.items():
        campaign = known.get(external_id)
        if campaign is None:
            session.add(PlatformCampaign(account_id=connection.account_id, connection_id=connection.id,
                                         external_id=external_id, name=name))  # fmt: skip
        elif name and campaign.name != name:
            campaign.name = name
            session.add(campaign)
    session.flush()


def connection_secrets(connection: AdConnection) -> dict[str, str]:
    """The decrypted secrets; a ValidationFailed (not a crash) when SECRET_KEY changed without a rotation."""
    try:
        data = json.loads(decrypt_secret(connection.credentials_encrypted))
    except BadToken as error:
        raise ValidationFailed(f"{error}; connect the platform again.", field="credentials") from error
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def forget_connection(session: Session, connection: AdConnection) -> None:
    """Delete a connection and its figures; synced spend falls back to what CSV/API had for those days."""
    span = session.exec(
        select(func.min(PlatformDaily.day), func.max(PlatformDaily.day)).where(
            PlatformDaily.connection_id == connection.id
        )
    ).one()
    session.execute(delete(PlatformDaily).where(col(PlatformDaily.connection_id) == connection.id))
    session.execute(delete(PlatformCampaign).where(col(PlatformCampaign.connection_id) == connection.id))
    session.delete(connection)
    session.flush()
    if span[0] is not None:
        synced_spend.replace_synced_spend(session=session, account_id=connection.account_id, start=span[0], end=span[1])
