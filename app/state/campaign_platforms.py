"""The campaign page's ad platform section: the platform campaigns that count for this campaign (found by URL ids
or chosen here once, suggested by name), and what they claim next to what was paid (see services/platform_vs_verified).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app.lib.formatting import format_money
from app.services import platform_mapping
from app.services.platform_mapping import PlatformCampaignRow
from app.state.base import AppState
from app.state.toasts import toast

PLATFORM_NAMES = {"meta": "Meta", "google": "Google Ads"}
SPEND_DAYS = 30


class PlatformCampaignItem(TypedDict):
    ref: str
    platform: str
    name: str
    label: str  # "Meta · Spring sale (1301)"
    spend: str  # the last 30 days, per currency
    mapped_by: str
    campaign_name: str


def spend_text(spend: dict[str, int], locale: str) -> str:
    return " · ".join(format_money(amount, currency, locale) for currency, amount in sorted(spend.items())) or "—"


def platform_campaign_item(row: PlatformCampaignRow, locale: str) -> PlatformCampaignItem:
    platform = PLATFORM_NAMES.get(row.platform, row.platform)
    return PlatformCampaignItem(
        ref=row.ref,
        platform=platform,
        name=row.name,
        label=f"{platform} · {row.name or row.external_id} ({row.external_id})",
        spend=spend_text(row.spend, locale),
        mapped_by={"url": "by URL ids", "manual": "chosen here"}.get(row.mapped_by, ""),
        campaign_name=row.campaign_name,
    )


class CampaignPlatformsState(AppState):
    platforms_loaded: bool = False
    platform_campaign_id: str = ""
    mapped: list[PlatformCampaignItem] = []
    # Unmapped platform campaigns to choose from: name-alike suggestions first.
    choices: list[PlatformCampaignItem] = []
    chosen_ref: str = ""

    def _campaign_from_path(self) -> str:
        return (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]

    def _reload_platforms(self) -> None:
        public_id = self.platform_campaign_id

        def load(s: Session) -> tuple[list[PlatformCampaignRow], list[PlatformCampaignRow]]:
            account_id = self._actor(s).account_id
            today = date.today()
            rows = platform_mapping.list_platform_campaigns(
                session=s, account_id=account_id, since=today - timedelta(days=SPEND_DAYS - 1), until=today
            )
            suggested = platform_mapping.suggestions(session=s, account_id=account_id, campaign_public_id=public_id)
            first = [r.ref for r in suggested]
            unmapped = sorted(
                (r for r in rows if not r.campaign_public_id),
                key=lambda r: (first.index(r.ref) if r.ref in first else len(first), r.name.casefold()),
            )
            return [r for r in rows if r.campaign_public_id == public_id], unmapped

        result, _error = self._run(load)
        mapped, unmapped = result or ([], [])
        self.mapped = [platform_campaign_item(r, self.account_locale) for r in mapped]
        self.choices = [platform_campaign_item(r, self.account_locale) for r in unmapped]
        if self.chosen_ref not in {c["ref"] for c in self.choices}:
            self.chosen_ref = self.choices[0]["ref"] if self.choices else ""
        self.platforms_loaded = True

    @rx.event
    def load_campaign_platforms(self) -> None:
        """on_load of /campaigns/[campaign_id]: its platform campaigns, and the ones it could take."""
        self.platform_campaign_id = self._campaign_from_path()
        self.chosen_ref = ""
        self._reload_platforms()

    @rx.event
    def set_chosen_ref(self, ref: str) -> None:
        self.chosen_ref = str(ref)

    @rx.event
    def map_chosen(self) -> Any:
        """Count the chosen platform campaign for this campaign (its synced spend lands here)."""
        ref, campaign = self.chosen_ref, self.platform_campaign_id
        _, error = self._run(
            lambda s: platform_mapping.map_campaign(
                session=s, actor=self._actor(s), ref=ref, campaign_public_id=campaign
            )
        )
        if error:
            return toast.error(error)
        self._reload_platforms()
        return toast.success("Mapped: its spend and claims now count for this campaign.")

    @rx.event
    def unmap(self, ref: str) -> Any:
        """Stop counting a platform campaign here (it stays unmapped until mapped by hand)."""
        _, error = self._run(lambda s: platform_mapping.unmap_campaign(session=s, actor=self._actor(s), ref=str(ref)))
        if error:
            return toast.error(error)
        self._reload_platforms()
        return toast.success("Unmapped: its synced spend no longer counts for this campaign.")
