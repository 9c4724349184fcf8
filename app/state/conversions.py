"""Server-side conversions: the deliveries list (filters in the URL, per-status totals, "Load more" through the
service's cursor), one delivery's detail (checklist, conversion, request, attempts), "Send again" for dead or
retrying deliveries, and the Google Ads offline-conversion CSV.

The read models here are shared with the order page, which shows the same deliveries for one order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.formatting import format_money
from app.models import Provider
from app.services import conversions as conversion_service
from app.services import orders as order_service
from app.state.base import AppState
from app.state.format import format_time, parse_date
from app.state.lists import ALL as ALL
from app.state.lists import FilteredListMixin
from app.state.toasts import toast

PAGE_SIZE = 50
STATUSES = list(conversion_service.STATUSES)
PROVIDERS = [p.value for p in Provider]
PROVIDER_NAMES = {
    Provider.META.value: "Meta",
    Provider.GA4.value: "GA4",
    Provider.GOOGLE_ADS.value: "Google Ads",
    Provider.WEBHOOK.value: "Webhook",
}
DEFAULT_CONVERSION_NAME = "Purchase"
EXPORT_DAYS = 30


def pretty_json(value: Any) -> str:
    """JSON for reading: indented, non-ASCII kept, anything else (datetimes) as text."""
    if value is None or value == {}:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str, sort_keys=False)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


# --- read models ---------------------------------------------------------------------------------------------------


class DeliveryItem(TypedDict):
    delivery_id: str
    order_id: str
    order_url: str
    created_at: str
    provider: str
    provider_name: str
    pixel_name: str
    kind: str
    value: str
    campaign: str
    status: str
    attempts: int
    reason: str
    test: bool
    next_attempt_at: str
    replayable: bool


class CheckEntry(TypedDict):
    label: str
    state: str  # ok | warn | fail | info
    detail: str


class AttemptEntry(TypedDict):
    number: int
    started_at: str
    duration: str
    outcome: str
    http_status: str
    response_body: str
    message: str
    request: str  # pretty JSON, secrets already redacted by the service


class DeliveryView(TypedDict):
    """One delivery with everything the detail shows."""

    row: DeliveryItem
    checklist: list[CheckEntry]
    attempts: list[AttemptEntry]
    conversion: str  # pretty JSON
    last_request: str  # pretty JSON of the last attempt's request, "" before the first attempt


class StatusTotal(TypedDict):
    status: str
    count: int


def delivery_item(row: conversion_service.DeliveryRow, timezone: str, locale: str) -> DeliveryItem:
    return DeliveryItem(
        delivery_id=row.delivery_id,
        order_id=row.order_id,
        order_url=routes.order_url(row.order_id) if row.order_id else "",
        created_at=format_time(row.created_at, timezone),
        provider=row.provider,
        provider_name=PROVIDER_NAMES.get(row.provider, row.provider),
        pixel_name=row.pixel_name,
        kind=row.kind,
        value=format_money(row.amount, row.currency, locale) if row.currency else row.value,
        campaign=row.campaign,
        status=row.status,
        attempts=row.attempts,
        reason=row.reason,
        test=row.test,
        next_attempt_at=format_time(row.next_attempt_at, timezone, seconds=True),
        replayable=row.status in conversion_service.REPLAYABLE,
    )


def delivery_view(detail: conversion_service.DeliveryDetail, timezone: str, locale: str) -> DeliveryView:
    attempts = [
        AttemptEntry(
            number=a.number,
            started_at=format_time(a.started_at, timezone, seconds=True),
            duration=_duration(a.duration_ms),
            outcome=a.outcome,
            http_status=str(a.response_status) if a.response_status is not None else "—",
            response_body=a.response_body or "",
            message=a.message or "",
            request=pretty_json(a.request),
        )
        for a in detail.attempts
    ]
    return DeliveryView(
        row=delivery_item(detail.row, timezone, locale),
        checklist=[CheckEntry(label=c.label, state=c.state, detail=c.detail) for c in detail.checklist],
        attempts=attempts,
        conversion=pretty_json(detail.conversion),
        last_request=attempts[-1]["request"] if attempts else "",
    )


def _empty_item() -> DeliveryItem:
    return DeliveryItem(
        delivery_id="", order_id="", order_url="", created_at="", provider="", provider_name="", pixel_name="",
        kind="", value="", campaign="", status="", attempts=0, reason="", test=False, next_attempt_at="",
        replayable=False,
    )  # fmt: skip


def empty_view() -> DeliveryView:
    return DeliveryView(row=_empty_item(), checklist=[], attempts=[], conversion="", last_request="")


def replay_message(row: conversion_service.DeliveryRow) -> str:
    who = f"{PROVIDER_NAMES.get(row.provider, row.provider)} ({row.pixel_name})" if row.pixel_name else row.provider
    return f"The {row.kind} conversion for {who} is queued to be sent again now."


def send_again(state: Any, delivery_public_id: str, refresh: Callable[[str], None]) -> Iterator[Any]:
    """ "Send again" for a dead or retrying delivery (``yield from`` it in the state's event; the conversions page and
    an order's page both have it): ``state.replaying`` is shown meanwhile, ``refresh`` shows the delivery's new
    state, and a toast says what happened. The conversions service checks the role."""
    if state.replaying:
        return
    state.replaying = True
    yield
    try:
        row, error = state._run(
            lambda s: conversion_service.replay(session=s, actor=state._actor(s), delivery_public_id=delivery_public_id)
        )
    finally:
        state.replaying = False
    if error or row is None:
        yield toast.error(error or "The conversion could not be sent again.")
        return
    refresh(delivery_public_id)
    yield toast.success(replay_message(row))


# --- the page -------------------------------------------------------------------------------------------------------


class ConversionsState(FilteredListMixin, AppState):
    deliveries: list[DeliveryItem] = []
    totals: list[StatusTotal] = []
    provider_filter: str = ALL

    # The open delivery (a dialog).
    open_id: str = ""
    open_view: DeliveryView = empty_view()
    replaying: bool = False

    # The Google Ads CSV form.
    export_since: str = ""
    export_until: str = ""
    exporting: bool = False

    @rx.var
    def filtered(self) -> bool:
        return (
            self.status_filter != ALL
            or self.provider_filter != ALL
            or self.campaign_filter != ALL
            or bool(self.since or self.until)
        )

    @rx.var
    def detail_open(self) -> bool:
        return self.open_id != ""

    def _list_url(self, filters: dict[str, str]) -> str:
        return routes.conversions_url(**filters)

    def _filter_values(self) -> dict[str, str]:
        return super()._filter_values() | {"provider": self.provider_filter}

    def _known_statuses(self) -> list[str]:
        return STATUSES

    def _noun(self) -> str:
        return "conversions"

    def _page(self, cursor: str | None) -> tuple[conversion_service.DeliveryPage | None, str | None]:
        chosen = self._filters()
        provider = None if self.provider_filter == ALL else self.provider_filter

        def load(s: Session) -> conversion_service.DeliveryPage:
            account_id = self._actor(s).account_id
            start, end = order_service.day_range(
                session=s, account_id=account_id, since=chosen.since, until=chosen.until
            )
            return conversion_service.list_deliveries(
                session=s,
                account_id=account_id,
                provider=provider,
                status=chosen.status,
                campaign_public_id=chosen.campaign,
                since=start,
                until=end,
                limit=PAGE_SIZE,
                cursor=cursor,
            )

        return self._run(load)

    def _show_page(self, found: conversion_service.DeliveryPage) -> None:
        self.deliveries = [delivery_item(row, self.account_timezone, self.account_locale) for row in found.rows]
        self.total, self.next_cursor = found.total, found.next_cursor or ""
        self.totals = [StatusTotal(status=s, count=found.totals.get(s, 0)) for s in STATUSES]

    def _reload(self) -> None:
        self.error = ""
        found, error = self._page(None)
        self.loaded = True
        if error or found is None:
            self.deliveries, self.total, self.next_cursor = [], 0, ""
            self.totals = [StatusTotal(status=s, count=0) for s in STATUSES]
            self.error = error or "The conversions could not be loaded."
            return
        self._show_page(found)

    def _default_export_range(self) -> None:
        if self.export_since and self.export_until:
            return
        today = datetime.now(ZoneInfo(self.account_timezone or "UTC")).date()
        self.export_since = (today - timedelta(days=EXPORT_DAYS - 1)).isoformat()
        self.export_until = today.isoformat()

    @rx.event
    def load_conversions(self) -> None:
        """on_load: the filters come from the URL (?provider=&status=&campaign=&from=&to=); unknown values are
        ignored."""
        provider = str(self.router.url.query_parameters.get("provider", ""))
        self.provider_filter = provider if provider in PROVIDERS else ALL
        self._read_filters(self._campaign_options())
        self.open_id, self.open_view = "", empty_view()
        self._default_export_range()
        self._reload()

    def _append(self, found: Any) -> None:
        self.deliveries = [
            *self.deliveries,
            *(delivery_item(row, self.account_timezone, self.account_locale) for row in found.rows),
        ]
        self.total, self.next_cursor = found.total, found.next_cursor or ""
        self.totals = [StatusTotal(status=s, count=found.totals.get(s, 0)) for s in STATUSES]

    # the filter only this list has (the others are FilteredListMixin's)

    @rx.event
    def filter_provider(self, provider: str) -> Any:
        return rx.redirect(self._url(provider=provider if provider in PROVIDERS else ALL))

    # one delivery

    def _load_view(self, delivery_public_id: str) -> str | None:
        detail, error = self._run(
            lambda s: conversion_service.delivery_detail(
                session=s, account_id=self._actor(s).account_id, delivery_public_id=delivery_public_id
            )
        )
        if error or detail is None:
            return error or "This conversion could not be loaded."
        self.open_id = delivery_public_id
        self.open_view = delivery_view(detail, self.account_timezone, self.account_locale)
        return None

    @rx.event
    def open_delivery(self, delivery_public_id: str) -> Any:
        error = self._load_view(str(delivery_public_id))
        if error:
            self.open_id, self.open_view = "", empty_view()
            return toast.error(error)
        return None

    @rx.event
    def set_detail_open(self, is_open: bool) -> None:
        if not is_open:
            self.open_id, self.open_view = "", empty_view()

    @rx.event
    def replay(self, delivery_public_id: str) -> Iterator[Any]:
        """Send a dead or retrying delivery again (after fixing the pixel, say); the list and detail refresh."""
        yield from send_again(self, str(delivery_public_id), self._after_replay)

    def _after_replay(self, delivery_public_id: str) -> None:
        self._reload()
        if self.open_id == delivery_public_id:
            self._load_view(delivery_public_id)

    # the Google Ads CSV

    @rx.event
    def export_google_ads(self, form: dict[str, Any]) -> Any:
        """Download paid orders with a Google click id as Google Ads' offline click-conversion CSV."""
        form = form if isinstance(form, dict) else {}
        since, until = parse_date(str(form.get("from") or "")), parse_date(str(form.get("to") or ""))
        name = str(form.get("conversion_name") or "")
        if since is None or until is None:
            return toast.error("Choose both dates of the export (From and To).")
        self.export_since, self.export_until = since.isoformat(), until.isoformat()

        def build(s: Session) -> str:
            account_id = self._actor(s).account_id
            start, end = order_service.day_range(session=s, account_id=account_id, since=since, until=until)
            assert start is not None and end is not None
            return conversion_service.google_ads_csv(
                session=s, account_id=account_id, since=start, until=end, conversion_name=name
            )

        csv, error = self._run(build)
        if error or csv is None:
            return toast.error(error or "The export could not be built.")
        filename = f"google-ads-conversions-{since.isoformat()}-{until.isoformat()}.csv"
        return rx.download(data=csv, filename=filename, mime_type="text/csv")
