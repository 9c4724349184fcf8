"""What the paged lists with filters in the URL share (orders, conversion deliveries): the status, campaign and
From/To filters read from and written to the URL, and "Load more" through the service's cursor."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import reflex as rx

from app.state.base import CampaignOption, next_page
from app.state.format import date_text, parse_date

# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"


@dataclass(frozen=True)
class ListFilters:
    """The filters as the service takes them (``None``: not filtered)."""

    status: str | None
    campaign: str | None
    since: date | None
    until: date | None


def _chosen(value: str) -> str | None:
    return None if value == ALL else value


class FilteredListMixin(rx.State, mixin=True):
    """A paged list whose filters live in the URL, so a filtered view can be shared and the back button works: each
    filter is a redirect to a new URL, read back by the page's on_load (``_read_filters``). A mixin, so each list's
    state has its own copy.

    The state using it gives ``_list_url`` (the list's URL with these filters), ``_page`` (a page after a cursor)
    and ``_append`` (show a further page), its statuses (``_known_statuses``) and what its rows are (``_noun``).
    """

    total: int = 0
    next_cursor: str = ""
    loaded: bool = False
    loading_more: bool = False
    error: str = ""
    status_filter: str = ALL
    campaign_filter: str = ALL
    since: str = ""
    until: str = ""
    campaign_options: list[CampaignOption] = []

    @rx.var
    def has_more(self) -> bool:
        return self.next_cursor != ""

    def _list_url(self, filters: dict[str, str]) -> str:
        raise NotImplementedError

    def _page(self, cursor: str | None) -> tuple[Any, str | None]:
        raise NotImplementedError

    def _append(self, found: Any) -> None:
        raise NotImplementedError

    def _known_statuses(self) -> Collection[str]:
        raise NotImplementedError

    def _noun(self) -> str:
        """What the rows are, for "More … could not be loaded"."""
        raise NotImplementedError

    def _filter_values(self) -> dict[str, str]:
        """The filters as they stand, by their URL builder's parameter names (a list with more adds its own)."""
        return {
            "status": self.status_filter,
            "campaign": self.campaign_filter,
            "since": self.since,
            "until": self.until,
        }

    def _url(self, **changes: str) -> str:
        values = self._filter_values() | changes
        return self._list_url({name: "" if value == ALL else value for name, value in values.items()})

    def _read_filters(self, campaign_options: list[CampaignOption]) -> None:
        """The filters from the URL (?status=&campaign=&from=&to=); unknown values are ignored."""
        params = self.router.url.query_parameters
        status = str(params.get("status", ""))
        self.status_filter = status if status in self._known_statuses() else ALL
        self.since, self.until = date_text(params.get("from")), date_text(params.get("to"))
        self.campaign_options = campaign_options
        campaign = str(params.get("campaign", ""))
        self.campaign_filter = campaign if campaign in {c["public_id"] for c in campaign_options} else ALL

    def _filters(self) -> ListFilters:
        return ListFilters(
            status=_chosen(self.status_filter),
            campaign=_chosen(self.campaign_filter),
            since=parse_date(self.since),
            until=parse_date(self.until),
        )

    @rx.event
    def load_more(self) -> Iterator[Any]:
        """Append the next page."""
        yield from next_page(self, self._page, self._append, self._noun())

    @rx.event
    def filter_status(self, status: str) -> Any:
        return rx.redirect(self._url(status=status if status in self._known_statuses() else ALL))

    @rx.event
    def filter_campaign(self, campaign: str) -> Any:
        known = {c["public_id"] for c in self.campaign_options}
        return rx.redirect(self._url(campaign=campaign if campaign in known else ALL))

    @rx.event
    def filter_dates(self, form: dict[str, Any]) -> Any:
        """Apply the From/To dates (days in the account's timezone, both included)."""
        form = form if isinstance(form, dict) else {}
        return rx.redirect(self._url(since=date_text(form.get("from")), until=date_text(form.get("to"))))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(self._list_url({}))
