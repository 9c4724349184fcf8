"""Connections to the ad platforms' reporting (Meta Insights, Google Ads): one per platform and account.

Secrets are encrypted at rest like pixel credentials (Fernet, key derived from SECRET_KEY) and never returned: rows
show a hint. Connecting tests the credentials with the platform first (the ad account's name, currency and timezone
come back, or the platform's refusal in its own words) and then schedules the backfill.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session, col, select

from app.integrations import google_ads_reports, meta_ads
from app.integrations.ad_reports import AdAccountInfo, ReportError
from app.models import AdConnection, AdPlatform
from app.models.base import new_public_id, utcnow
from app.services import ad_sync
from app.services.ad_sync import connection_secrets as connection_secrets  # the page tests and sync read it
from app.services.crypto import encrypt_secret
from app.services.errors import NotFound, ValidationFailed
from app.services.permissions import Actor, Permission, require

_CUSTOMER_ID = (r"^\d{3}-?\d{3}-?\d{4}$", "a Google Ads customer id, e.g. 123-456-7890")
# Per platform: setting -> (required, pattern, what it looks like); secret -> required.
SETTINGS: dict[AdPlatform, dict[str, tuple[bool, str, str]]] = {
    AdPlatform.META: {"ad_account_id": (True, r"^(act_)?\d{5,20}$", "digits, with or without act_, e.g. act_1234567")},
    AdPlatform.GOOGLE: {
        "customer_id": (True, *_CUSTOMER_ID),
        "login_customer_id": (False, r"^\d{3}-?\d{3}-?\d{4}$", "a manager account id, e.g. 123-456-7890"),
    },
}
SECRETS: dict[AdPlatform, dict[str, bool]] = {
    AdPlatform.META: {"access_token": True},
    AdPlatform.GOOGLE: {"oauth_client_id": True, "oauth_client_secret": True, "refresh_token": True,
                        "developer_token": False},
}  # fmt: skip
LABELS = {AdPlatform.META: "Meta", AdPlatform.GOOGLE: "Google Ads"}


@dataclass(frozen=True)
class ConnectionField:
    name: str
    required: bool
    hint: str
    secret: bool


def connection_fields(platform: str) -> list[ConnectionField]:
    """The settings, then the secrets, a platform's connection form asks for."""
    kind = _platform(platform)
    fields = [ConnectionField(n, required, hint, False) for n, (required, _, hint) in SETTINGS[kind].items()]
    return fields + [ConnectionField(n, req, "at least 8 characters", True) for n, req in SECRETS[kind].items()]


@dataclass(frozen=True)
class ConnectionRow:
    public_id: str
    platform: str
    ad_account_id: str
    settings: dict[str, str]
    credentials_hint: str
    ad_account_name: str
    currency: str
    timezone: str
    checked_at: datetime | None
    last_synced_at: datetime | None
    last_error: str
    # The sync in progress: what it is ("backfill", "hourly", "nightly"), steps done of all, and a Meta report's %.
    sync_kind: str
    sync_done: int
    sync_total: int
    sync_percent: int
    retry_at: datetime | None
    account_timezone_differs: bool


def _platform(value: str) -> AdPlatform:
    try:
        return AdPlatform(value)
    except ValueError as error:
        raise ValidationFailed(
            f"platform must be one of {', '.join(p.value for p in AdPlatform)}.", field="platform"
        ) from error


def _clean_settings(platform: AdPlatform, settings: dict[str, Any]) -> dict[str, str]:
    spec = SETTINGS[platform]
    unknown = sorted(set(settings) - set(spec))
    if unknown:
        raise ValidationFailed(f"Unknown setting {unknown[0]!r} for {LABELS[platform]}.", field=unknown[0])
    clean: dict[str, str] = {}
    for name, (required, pattern, looks_like) in spec.items():
        value = str(settings.get(name) or "").strip()
        if not value:
            if required:
                raise ValidationFailed(f"{name} is required for {LABELS[platform]}: {looks_like}.", field=name)
            continue
        if not re.match(pattern, value):
            raise ValidationFailed(f"{name} {value!r} does not look right: expected {looks_like}.", field=name)
        clean[name] = value.removeprefix("act_").replace("-", "")
    return clean


def _clean_secrets(platform: AdPlatform, credentials: dict[str, Any]) -> dict[str, str]:
    spec = SECRETS[platform]
    unknown = sorted(set(credentials) - set(spec))
    if unknown:
        raise ValidationFailed(f"Unknown credential {unknown[0]!r} for {LABELS[platform]}.", field=unknown[0])
    clean: dict[str, str] = {}
    for name, required in spec.items():
        value = str(credentials.get(name) or "").strip()
        if not value and not required:
            continue
        if len(value) < 8:
            raise ValidationFailed(f"{name} is required for {LABELS[platform]} (at least 8 characters).", field=name)
        clean[name] = value
    return clean


def _ad_account_id(platform: AdPlatform, settings: dict[str, str]) -> str:
    return settings["ad_account_id"] if platform is AdPlatform.META else settings["customer_id"]


def fetch_account_info(platform: AdPlatform, ad_account_id: str, settings: dict[str, str],
                       secrets: dict[str, str]) -> AdAccountInfo:  # fmt: skip
    """Ask the platform about the ad account; ReportError with its refusal in plain words."""
    if platform is AdPlatform.META:
        return meta_ads.ad_account(ad_account_id, secrets["access_token"])
    return google_ads_reports.customer(ad_account_id, secrets, settings)


def _check_info(platform: AdPlatform, info: AdAccountInfo) -> None:
    if len(info.currency) != 3:
        raise ValidationFailed(f"{LABELS[platform]} did not say the ad account's currency.", field="platform")
    try:
        ZoneInfo(info.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationFailed(
            f"{LABELS[platform]} gave an unknown timezone {info.timezone!r} for the ad account.", field="platform"
        ) from error


def connect(*, session: Session, actor: Actor, platform: str, settings: dict[str, Any],
            credentials: dict[str, Any]) -> ConnectionRow:  # fmt: skip
    """Test the credentials with the platform, then store them (replacing this platform's connection) and schedule
    the backfill. A refusal is a ValidationFailed carrying the platform's words; nothing is stored then."""
    require(actor, Permission.EDIT_MARKETING)
    kind = _platform(platform)
    clean = _clean_settings(kind, settings)
    secrets = _clean_secrets(kind, credentials)
    ad_account_id = _ad_account_id(kind, clean)
    try:
        info = fetch_account_info(kind, ad_account_id, clean, secrets)
    except ReportError as error:
        raise ValidationFailed(str(error), field="credentials") from error
    _check_info(kind, info)
    connection = session.exec(
        select(AdConnection).where(AdConnection.account_id == actor.account_id, AdConnection.platform == kind)
    ).first()
    if connection is None or connection.ad_account_id != ad_account_id:
        if connection is not None:
            ad_sync.forget_connection(session, connection)  # another ad account: its figures go with it
        connection = AdConnection(
            public_id=new_public_id("adc"), account_id=actor.account_id, platform=kind, ad_account_id=ad_account_id
        )
    connection.settings = {k: v for k, v in clean.items() if k not in {"ad_account_id", "customer_id"}}
    connection.credentials_encrypted = encrypt_secret(json.dumps(secrets))
    connection.credentials_hint = f"••••{next(iter(secrets.values()))[-4:]}"
    _store_info(connection, info)
    connection.last_error = ""
    connection.retry_at = None
    ad_sync.schedule_backfill(connection)
    session.add(connection)
    session.flush()
    return _row(session, connection)


def _store_info(connection: AdConnection, info: AdAccountInfo) -> None:
    connection.ad_account_name = info.name[:200]
    connection.currency = info.currency
    connection.timezone = info.timezone
    connection.checked_at = utcnow()


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str  # the ad account's name, currency and timezone, or the platform's refusal in its words


def test_connection(*, session: Session, actor: Actor, public_id: str) -> ConnectionTest:
    """Ask the platform again with the stored credentials. A refusal is an answer, not an error: it is also kept
    as the connection's last error (so the page shows it until a sync or test succeeds)."""
    require(actor, Permission.EDIT_MARKETING)
    connection = get_connection(session=session, account_id=actor.account_id, public_id=public_id)
    kind = AdPlatform(connection.platform)
    try:
        info = fetch_account_info(kind, connection.ad_account_id, connection.settings, connection_secrets(connection))
        _check_info(kind, info)
    except (ReportError, ValidationFailed) as error:
        connection.last_error = error.message if isinstance(error, ValidationFailed) else str(error)
        session.add(connection)
        session.flush()
        return ConnectionTest(False, connection.last_error)
    _store_info(connection, info)
    connection.last_error = ""
    session.add(connection)
    session.flush()
    return ConnectionTest(True, f"Connected to {info.name} — {info.currency}, {info.timezone}.")


def disconnect(*, session: Session, actor: Actor, public_id: str) -> None:
    """Remove a connection with its synced figures (spend it synced goes back to what CSV/API had, if anything)."""
    require(actor, Permission.EDIT_MARKETING)
    connection = get_connection(session=session, account_id=actor.account_id, public_id=public_id)
    ad_sync.forget_connection(session, connection)


def get_connection(*, session: Session, account_id: int, public_id: str) -> AdConnection:
    connection = session.exec(
        select(AdConnection).where(AdConnection.account_id == account_id, AdConnection.public_id == public_id)
    ).first()
    if connection is None:
        raise NotFound("No ad platform connection with this id in this account.", field="connection")
    return connection


def list_connections(*, session: Session, account_id: int) -> list[ConnectionRow]:
    found = session.exec(
        select(AdConnection).where(AdConnection.account_id == account_id).order_by(col(AdConnection.platform))
    ).all()
    return [_row(session, c) for c in found]


def _row(session: Session, connection: AdConnection) -> ConnectionRow:
    from app.models import Account

    state = connection.sync_state or {}
    account_tz = session.exec(select(Account.timezone).where(Account.id == connection.account_id)).first() or "UTC"
    return ConnectionRow(
        public_id=connection.public_id,
        platform=str(connection.platform),
        ad_account_id=connection.ad_account_id,
        settings={str(k): str(v) for k, v in (connection.settings or {}).items()},
        credentials_hint=connection.credentials_hint,
        ad_account_name=connection.ad_account_name,
        currency=connection.currency,
        timezone=connection.timezone,
        checked_at=connection.checked_at,
        last_synced_at=connection.last_synced_at,
        last_error=connection.last_error,
        sync_kind=str(state.get("kind") or ""),
        sync_done=int(state.get("done") or 0) if isinstance(state.get("done"), int) else 0,
        sync_total=int(state.get("total") or 0) if isinstance(state.get("total"), int) else 0,
        sync_percent=int(state.get("percent") or 0) if isinstance(state.get("percent"), int) else 0,
        retry_at=connection.retry_at,
        account_timezone_differs=bool(connection.timezone) and connection.timezone != account_tz,
    )
