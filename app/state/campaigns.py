"""The campaigns list (its search, filters and page live in the URL) and the form that starts a new campaign; the
constants the campaign pages show (statuses, platforms, channel groups). The editor is ``state.campaign_editor``.

Every change goes through app.services.campaigns, which checks the role; the UI only hides controls.
"""

from __future__ import annotations

import math
from typing import Any

import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.formatting import format_count
from app.models import CampaignStatus, Channel, ChannelGroup
from app.presenters.campaigns import CampaignItem as CampaignItem
from app.presenters.campaigns import campaign_item
from app.services import campaigns as campaign_service
from app.services.campaigns import CHANNEL_GROUP_LABELS
from app.services.paging import MAX_PAGE_NUMBER
from app.state.base import AppState
from app.state.toasts import toast

PER_PAGE = 20
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
CHANNELS = [c.value for c in Channel]
CHANNEL_GROUPS = [g.value for g in ChannelGroup]
STATUSES = [s.value for s in CampaignStatus]
CHANNEL_GROUP_OPTIONS = list(CHANNEL_GROUP_LABELS.items())  # (group, label), for the pages' menus


def _choice(value: str, allowed: list[str]) -> str:
    return value if value in allowed else ALL


class CampaignsState(AppState):
    """The campaigns list of ``/campaigns`` and the new-campaign form."""

    campaigns: list[CampaignItem] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    search: str = ""
    status_filter: str = ALL
    channel_filter: str = ALL
    group_filter: str = ALL
    new_channel: str = Channel.META.value
    new_channel_group: str = campaign_service.default_channel_group(Channel.META.value)
    error: str = ""
    loaded: bool = False

    @rx.var
    def filtered(self) -> bool:
        return bool(self.search) or any(f != ALL for f in (self.status_filter, self.channel_filter, self.group_filter))

    @rx.var
    def total_text(self) -> str:
        return format_count(self.total, "campaign", self.account_locale)

    def _url(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        group: str | None = None,
        page: int = 1,
    ) -> str:
        status = self.status_filter if status is None else status
        channel = self.channel_filter if channel is None else channel
        group = self.group_filter if group is None else group
        return routes.campaigns_url(
            q=self.search if search is None else search,
            status="" if status == ALL else status,
            channel="" if channel == ALL else channel,
            group="" if group == ALL else group,
            page=page,
        )

    def _refresh(self) -> None:
        def page(s: Session, number: int) -> campaign_service.CampaignPage:
            return campaign_service.list_campaigns(
                session=s,
                account_id=self._actor(s).account_id,
                search=self.search,
                status=None if self.status_filter == ALL else self.status_filter,
                channel=None if self.channel_filter == ALL else self.channel_filter,
                channel_group=None if self.group_filter == ALL else self.group_filter,
                page=number,
                per_page=PER_PAGE,
            )

        def load(s: Session) -> campaign_service.CampaignPage:
            found = page(s, self.page)
            last = max(1, math.ceil(found.total / PER_PAGE))
            # A shared link to a page that no longer exists: show the last one.
            return page(s, last) if self.page > last else found

        result, error = self._run(load)
        self.loaded = True
        if error or result is None:
            self.campaigns, self.total, self.pages = [], 0, 1
            self.error = error or ""
            return
        self.total, self.page = result.total, result.page
        self.pages = max(1, math.ceil(result.total / PER_PAGE))
        self.campaigns = [campaign_item(row) for row in result.rows]

    @rx.event
    def load_campaigns(self) -> None:
        """on_load: the filters come from the URL (?q=&status=&channel=&page=)."""
        params = self.router.url.query_parameters
        self.search = " ".join(str(params.get("q", "")).split())
        self.status_filter = _choice(str(params.get("status", "")), STATUSES)
        self.channel_filter = _choice(str(params.get("channel", "")), CHANNELS)
        self.group_filter = _choice(str(params.get("group", "")), CHANNEL_GROUPS)
        try:
            self.page = min(max(1, int(params.get("page", "1"))), MAX_PAGE_NUMBER)
        except ValueError:
            self.page = 1
        self.error = ""
        self._refresh()

    @rx.event
    def search_campaigns(self, form: dict[str, Any]) -> Any:
        return rx.redirect(self._url(search=" ".join(str(form.get("q", "")).split())))

    @rx.event
    def filter_status(self, status: str) -> Any:
        return rx.redirect(self._url(status=status))

    @rx.event
    def filter_channel(self, channel: str) -> Any:
        return rx.redirect(self._url(channel=channel))

    @rx.event
    def filter_group(self, group: str) -> Any:
        return rx.redirect(self._url(group=group))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(routes.CAMPAIGNS)

    @rx.event
    def previous_page(self) -> Any:
        return rx.redirect(self._url(page=max(1, self.page - 1)))

    @rx.event
    def next_page(self) -> Any:
        return rx.redirect(self._url(page=min(self.pages, self.page + 1)))

    @rx.event
    def set_new_channel(self, channel: str) -> None:
        """Choosing the platform moves the channel group to its usual one (it can be changed after)."""
        self.new_channel = channel
        self.new_channel_group = campaign_service.default_channel_group(channel)

    @rx.event
    def set_new_channel_group(self, group: str) -> None:
        self.new_channel_group = group

    @rx.event
    def create_campaign(self, form: dict[str, Any]) -> Any:
        """Create a campaign in status draft and open its editor."""
        self.error = ""
        created, error = self._run(
            lambda s: campaign_service.create_campaign(
                session=s,
                actor=self._actor(s),
                name=str(form.get("name", "")),
                channel=self.new_channel,
                channel_group=self.new_channel_group,
            )
        )
        if error or created is None:
            self.error = error or "The campaign could not be created."
            return toast.error(self.error)
        return [
            toast.success(f"Campaign {created.name} created: add its matching rules, then publish v1."),
            rx.redirect(routes.campaign_url(created.public_id)),
        ]
