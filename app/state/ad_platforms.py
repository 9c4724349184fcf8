"""Settings → Ad platforms: the account's Meta and Google Ads reporting connections; connect, test, disconnect.

Secrets go from the submitted form straight to the service: never kept in a state var (the forms are remounted
empty after every submit); only the service's hint (••••abcd) comes back.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app.services import ad_connections as connection_service
from app.services import platform_mapping
from app.services.ad_connections import LABELS, ConnectionRow
from app.services.ad_connections import connection_fields as connection_fields  # the page lays out each form
from app.state.base import AppState
from app.state.campaign_platforms import SPEND_DAYS, PlatformCampaignItem, platform_campaign_item
from app.state.format import format_time
from app.state.toasts import toast

PLATFORMS = [p.value for p in LABELS]
PLATFORM_LABELS = {p.value: label for p, label in LABELS.items()}
SYNC_KINDS = {"backfill": "Backfill", "hourly": "Hourly sync", "nightly": "Nightly sync"}


class ConnectionItem(TypedDict):
    public_id: str
    platform: str
    label: str
    ad_account_id: str
    ad_account_name: str
    currency: str
    timezone: str
    credentials_hint: str
    checked_at: str
    last_synced_at: str
    last_error: str
    progress: str
    timezone_note: str


def progress_text(row: ConnectionRow, tz: str) -> str:
    """``Backfill: 4 of 9 steps (Meta report 50 %)``, and the wait after a rate limit; "" when idle."""
    if not row.sync_kind:
        return ""
    text = f"{SYNC_KINDS.get(row.sync_kind, row.sync_kind)}: {row.sync_done} of {row.sync_total} steps"
    if row.sync_percent:
        text += f" (Meta report {row.sync_percent} %)"
    if row.retry_at is not None:
        text += f"; goes on at {format_time(row.retry_at, tz)}"
    return text


def connection_item(row: ConnectionRow, tz: str) -> ConnectionItem:
    note = ""
    if row.account_timezone_differs:
        note = (
            f"Figures are per day of the ad account's timezone ({row.timezone}), not this account's ({tz}): "
            "daily figures cannot be re-bucketed."
        )
    return ConnectionItem(
        public_id=row.public_id,
        platform=row.platform,
        label=PLATFORM_LABELS.get(row.platform, row.platform),
        ad_account_id=row.ad_account_id,
        ad_account_name=row.ad_account_name,
        currency=row.currency,
        timezone=row.timezone,
        credentials_hint=row.credentials_hint,
        checked_at=format_time(row.checked_at, tz),
        last_synced_at=format_time(row.last_synced_at, tz) or "not yet",
        last_error=row.last_error,
        progress=progress_text(row, tz),
        timezone_note=note,
    )


def read_form(form: Any, platform: str) -> tuple[dict[str, str], dict[str, str]]:
    """The settings and secrets of a submitted connect form (anything but a dict reads as an empty form)."""
    form = form if isinstance(form, dict) else {}
    fields = connection_service.connection_fields(platform)
    settings = {f.name: str(form.get(f"{platform}_{f.name}", "")) for f in fields if not f.secret}
    secrets = {f.name: str(form.get(f"{platform}_{f.name}", "")) for f in fields if f.secret}
    return settings, secrets


class AdPlatformsState(AppState):
    connections: list[ConnectionItem] = []
    # Every platform campaign with its spend of the last 30 days; unmapped first (nothing is silently dropped).
    platform_campaigns: list[PlatformCampaignItem] = []
    loaded: bool = False
    # Per platform: the last refusal (the platform's words), and a key that remounts (empties) its form.
    errors: dict[str, str] = {}
    form_key: int = 0
    tested_id: str = ""
    test_ok: bool = False
    test_message: str = ""

    def _refresh(self) -> None:
        def load(s: Session) -> tuple[list[ConnectionRow], list[platform_mapping.PlatformCampaignRow]]:
            account_id = self._actor(s).account_id
            today = date.today()
            campaigns = platform_mapping.list_platform_campaigns(
                session=s, account_id=account_id, since=today - timedelta(days=SPEND_DAYS - 1), until=today
            )
            return connection_service.list_connections(session=s, account_id=account_id), campaigns

        result, _error = self._run(load)
        rows, campaigns = result or ([], [])
        self.connections = [connection_item(r, self.account_timezone) for r in rows]
        self.platform_campaigns = [platform_campaign_item(r, self.account_locale) for r in campaigns]
        self.loaded = True

    @rx.event
    def load_ad_platforms(self) -> None:
        """on_load of /settings/ad-platforms."""
        self.errors = {}
        self.tested_id = self.test_message = ""
        self._refresh()

    @rx.event
    def refresh_progress(self) -> None:
        """Read the sync's progress again (the page's refresh button)."""
        self._refresh()

    @rx.event
    def connect_platform(self, form: dict[str, Any]) -> Any:
        """Test the credentials with the platform and store them; the backfill starts.

        Args:
            form: ``platform`` and the platform's ``<platform>_<field>`` inputs.
        """
        self.form_key += 1
        platform = str(form.get("platform", "")) if isinstance(form, dict) else ""
        if platform not in PLATFORM_LABELS:
            return toast.error("Choose Meta or Google Ads.")
        settings, secrets = read_form(form, platform)
        row, error = self._run(
            lambda s: connection_service.connect(
                session=s, actor=self._actor(s), platform=platform, settings=settings, credentials=secrets
            )
        )
        self.errors = {**self.errors, platform: error or ""}
        if error or row is None:
            return toast.error(error or "The platform could not be connected.")
        self._refresh()
        return toast.success(
            f"Connected to {row.ad_account_name or row.ad_account_id} ({row.currency}, {row.timezone}); the last "
            "90 days are being fetched."
        )

    @rx.event
    def test_platform(self, public_id: str) -> Any:
        """Ask the platform again with the stored credentials; show its answer under the connection."""
        result, error = self._run(
            lambda s: connection_service.test_connection(session=s, actor=self._actor(s), public_id=str(public_id))
        )
        self.tested_id = str(public_id)
        self.test_ok = result is not None and result.ok
        self.test_message = result.message if result is not None else error or "The test failed."
        self._refresh()
        return toast.success(self.test_message) if self.test_ok else toast.error(self.test_message)

    @rx.event
    def disconnect_platform(self, public_id: str) -> Any:
        """Remove the connection and its synced figures."""
        _, error = self._run(
            lambda s: connection_service.disconnect(session=s, actor=self._actor(s), public_id=str(public_id))
        )
        if error:
            return toast.error(error)
        self._refresh()
        return toast.success("Disconnected; its synced figures were removed.")
