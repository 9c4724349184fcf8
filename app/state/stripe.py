"""Settings → Stripe: the account's Stripe connection, its webhook endpoint and the synced catalogue.

The secret key and the webhook signing secret go from the submitted form straight to the service: they are never
kept in a state var (the forms are reset on submit), and only the service's hint (``sk_test_…abcd``) comes back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app import routes
from app.db import session_scope
from app.lib.formatting import format_count, format_money
from app.services import stripe_connection as stripe_service
from app.services.stripe_connection import WEBHOOK_EVENTS as WEBHOOK_EVENTS  # for the page
from app.services.stripe_sync import backfill as backfill_service
from app.services.stripe_sync import catchup as catchup_service
from app.services.stripe_sync import reconcile as reconcile_service
from app.services.stripe_sync.status import SyncStatus, sync_status
from app.state.base import AppState
from app.state.format import format_time
from app.state.toasts import toast

INTERVALS = {"day": "per day", "week": "per week", "month": "per month", "year": "per year"}


class ReconItem(TypedDict):
    kind: str  # the kind's words (reconcile.KINDS)
    day: str
    stripe_id: str
    order_id: str
    order_url: str
    paidsignal: str  # the amounts as the account writes money, "—" when a side has none
    stripe: str
    note: str


def recon_item(item: reconcile_service.Item, locale: str) -> ReconItem:
    def money(amount: int | None) -> str:
        return "—" if amount is None else format_money(amount, item.currency, locale)

    return ReconItem(
        kind=reconcile_service.KINDS.get(item.kind, item.kind),
        day=item.day.isoformat(),
        stripe_id=item.stripe_id or "—",
        order_id=item.order_id,
        order_url=routes.order_url(item.order_id) if item.order_id else "",
        paidsignal=money(item.paidsignal_amount),
        stripe=money(item.stripe_amount),
        note=item.note,
    )


class PriceItem(TypedDict):
    price_id: str
    product: str
    nickname: str
    amount: str
    billing: str


def _billing(interval: str | None, count: int | None) -> str:
    if not interval:
        return "one-time"
    if count and count > 1:
        return f"every {count} {interval}s"
    return INTERVALS.get(interval, f"per {interval}")


def price_item(price: stripe_service.PriceRow, locale: str) -> PriceItem:
    return PriceItem(
        price_id=price.stripe_id,
        product=price.product_name,
        nickname=price.nickname,
        amount="custom amount"
        if price.unit_amount is None
        else format_money(price.unit_amount, price.currency, locale),
        billing=_billing(price.recurring_interval, price.recurring_interval_count),
    )


def _run_import(account_id: int) -> str:
    """The import, on a worker thread of its own (it calls Stripe page after page)."""
    with session_scope() as session:
        result = backfill_service.run_backfill(session=session, account_id=account_id)
    return result.message if result is not None else ""


def _field(form: Any, name: str) -> str:
    # Anything but a dict (only a crafted event sends one) reads as an empty form, which the service refuses.
    return str(form.get(name, "")) if isinstance(form, dict) else ""


class StripeState(AppState):
    loaded: bool = False
    connected: bool = False
    stripe_account_id: str = ""
    stripe_account_name: str = ""
    key_hint: str = ""
    livemode: bool = False
    has_webhook_secret: bool = False
    connected_at: str = ""
    catalog_synced_at: str = ""
    last_webhook_at: str = ""
    product_count: int = 0
    price_count: int = 0
    catalogue_text: str = ""  # "1 product, 2 prices"
    prices: list[PriceItem] = []
    webhook_url: str = ""

    # Inline messages of the two forms; their keys remount (and so empty) the password inputs after a submit.
    connect_error: str = ""
    secret_error: str = ""
    sync_note: str = ""
    form_key: int = 0
    syncing: bool = False

    # Nothing missed (services/stripe_sync): the last catch-up of Stripe's events and a retention gap.
    checking: bool = False
    catchup_text: str = ""
    catchup_ok: bool = True
    gap_text: str = ""
    # The history import: its status, and the progress line shown while it runs.
    backfill_status: str = ""
    backfill_text: str = ""
    backfill_days: int = 0
    history_error: str = ""
    # The last reconciliation against Stripe's balance transactions.
    reconciling: bool = False
    recon_summary: str = ""
    recon_ok: bool = False
    recon_checked: str = ""
    recon_differences: list[ReconItem] = []
    recon_listed: list[ReconItem] = []  # outside PaidSignal, waiting for Stripe, another settlement currency
    recon_fees: str = ""

    def _refresh(self) -> None:
        def load(
            s: Session,
        ) -> tuple[
            stripe_service.ConnectionRow | None,
            list[stripe_service.PriceRow],
            SyncStatus,
            reconcile_service.Reconciliation | None,
        ]:
            account_id = self._actor(s).account_id
            status = stripe_service.connection_status(session=s, account_id=account_id)
            prices = stripe_service.list_prices(session=s, account_id=account_id) if status else []
            report = reconcile_service.last_reconciliation(session=s, account_id=account_id)
            return status, prices, sync_status(session=s, account_id=account_id), report

        result, _error = self._run(load)
        status, prices, sync, report = result or (None, [], None, None)
        if sync is not None:
            self._show_sync(sync)
        self._show_reconciliation(report)
        self.loaded = True
        self.webhook_url = stripe_service.webhook_url(self.account_id) if self.account_id else ""
        self.connected = status is not None
        self.prices = [price_item(p, self.account_locale) for p in prices]
        if status is None:
            self.stripe_account_id = self.stripe_account_name = self.key_hint = ""
            self.connected_at = self.catalog_synced_at = self.last_webhook_at = ""
            self.livemode = self.has_webhook_secret = False
            self.product_count = self.price_count = 0
            self.catalogue_text = ""
            return
        tz = self.account_timezone
        self.stripe_account_id = status.stripe_account_id
        self.stripe_account_name = status.stripe_account_name
        self.key_hint = status.key_hint
        self.livemode = status.livemode
        self.has_webhook_secret = status.has_webhook_secret
        self.connected_at = format_time(status.connected_at, tz)
        self.catalog_synced_at = format_time(status.catalog_synced_at, tz)
        self.last_webhook_at = format_time(status.last_webhook_at, tz)
        self.product_count, self.price_count = status.products, status.prices
        self.catalogue_text = self._catalogue(status.products, status.prices)

    @rx.event
    def load_stripe(self) -> None:
        """on_load of /settings/stripe."""
        self.connect_error = self.secret_error = self.sync_note = ""
        self.syncing = False
        self._refresh()

    @rx.event
    def connect_stripe(self, form: dict[str, Any]) -> Any:
        """Check the key with Stripe, store it with the webhook secret, and sync the catalogue.

        Args:
            form: ``secret_key`` and ``webhook_secret`` (optional) from the connect form.
        """
        self.connect_error = self.sync_note = ""
        self.form_key += 1
        secret_key, webhook_secret = _field(form, "secret_key"), _field(form, "webhook_secret")
        result, error = self._run(
            lambda s: stripe_service.connect_stripe(
                session=s, actor=self._actor(s), secret_key=secret_key, webhook_secret=webhook_secret
            )
        )
        if error or result is None:
            self.connect_error = error or "Stripe could not be connected."
            return toast.error(self.connect_error)
        self._refresh()
        name = result.connection.stripe_account_name or result.connection.stripe_account_id or "your Stripe account"
        if result.sync_error:
            self.sync_note = result.sync_error
            return [toast.warning(f"Connected to {name}. {result.sync_error}"), StripeState.run_history_import]
        return [
            toast.success(
                f"Connected to {name}: {self._catalogue(result.connection.products, result.connection.prices)} "
                "synced; importing its history."
            ),
            StripeState.run_history_import,
        ]

    def _show_sync(self, sync: SyncStatus) -> None:
        tz = self.account_timezone
        self.catchup_ok = sync.catchup_ok
        self.catchup_text = (
            f"{format_time(sync.catchup_at, tz)}: {sync.catchup_message}" if sync.catchup_at else "not checked yet"
        )
        self.gap_text = (
            f"Stripe no longer lists events from {format_time(sync.gap_from, tz)} to {format_time(sync.gap_to, tz)} "
            "(30-day retention): import the history to close the gap."
            if sync.gap_from and sync.gap_to
            else ""
        )
        self.backfill_status = sync.backfill_status
        self.backfill_days = sync.backfill_days
        counts = f"{sync.backfill_seen} Stripe object(s) read, {sync.backfill_imported} order(s) imported"
        if sync.backfill_status == "requested":
            self.backfill_text = f"Waiting to import {sync.backfill_days} day(s) of history…"
        elif sync.backfill_status == "running":
            phase = f"Importing {sync.backfill_phase}" if sync.backfill_phase else "Importing"
            self.backfill_text = f"{phase}: {counts}…"
        elif sync.backfill_status in {"done", "failed"}:
            when = format_time(sync.backfill_finished_at, tz)
            self.backfill_text = f"{when}: {sync.backfill_message}"
        else:
            self.backfill_text = "No history imported yet."

    def _show_reconciliation(self, report: reconcile_service.Reconciliation | None) -> None:
        loc = self.account_locale
        if report is None:
            self.recon_summary, self.recon_ok, self.recon_checked = "Not reconciled yet.", False, ""
            self.recon_differences, self.recon_listed, self.recon_fees = [], [], ""
            return
        self.recon_summary = report.summary()
        self.recon_ok = report.reconciled and report.reconciled_through is not None
        self.recon_checked = format_time(report.checked_at, self.account_timezone)
        self.recon_differences = [recon_item(i, loc) for i in report.differences]
        self.recon_listed = [recon_item(i, loc) for i in [*report.outside, *report.waiting, *report.settlement]]
        fees = ", ".join(format_money(amount, currency, loc) for currency, amount in report.fees.items())
        self.recon_fees = f"Stripe fees in this period: {fees} (shown, never subtracted from revenue)." if fees else ""

    @rx.event
    def reconcile_with_stripe(self) -> Iterator[Any]:
        """Compare the last 30 days with Stripe's balance transactions now."""
        if self.reconciling:
            return
        self.reconciling = True
        yield
        try:
            report, error = self._run(lambda s: reconcile_service.reconcile_now(session=s, actor=self._actor(s)))
        finally:
            self.reconciling = False
        if error or report is None:
            yield toast.error(error or "Stripe could not be reconciled.")
            return
        self._show_reconciliation(report)
        yield (toast.success if report.reconciled else toast.warning)(report.summary())

    def _refresh_sync(self) -> None:
        def load(s: Session) -> SyncStatus:
            return sync_status(session=s, account_id=self._actor(s).account_id)

        sync, _error = self._run(load)
        if sync is not None:
            self._show_sync(sync)

    @rx.event
    def import_history(self, form: dict[str, Any]) -> Any:
        """Ask for the last N days of Stripe history as imported orders, then run it with its progress shown.

        Args:
            form: ``days`` from the import form.
        """
        self.history_error = ""
        raw = _field(form, "days").strip()
        if not raw.isdigit():
            self.history_error = "Enter a number of days, e.g. 90."
            return toast.error(self.history_error)
        days = int(raw)
        _, error = self._run(lambda s: backfill_service.request_backfill(session=s, actor=self._actor(s), days=days))
        if error:
            self.history_error = error
            return toast.error(error)
        self._refresh_sync()
        return StripeState.run_history_import

    @rx.event(background=True)
    async def run_history_import(self) -> AsyncIterator[Any]:
        """Run the requested import here (the job would pick it up too; one of them claims it) while the page
        shows its progress every half second."""
        async with self:
            account_id = self._account_internal_id()
        if account_id is None:
            return
        task = asyncio.get_running_loop().run_in_executor(None, _run_import, account_id)
        while not task.done():
            await asyncio.sleep(0.5)
            async with self:
                self._refresh_sync()
        result = await task
        async with self:
            self._refresh()
        if result:
            yield toast.success(result)

    def _account_internal_id(self) -> int | None:
        found, _error = self._run(lambda s: self._actor(s).account_id)
        return found

    @rx.event
    def check_stripe_now(self) -> Iterator[Any]:
        """List Stripe's events since the last check and apply the ones whose webhook never arrived."""
        if self.checking:
            return
        self.checking = True
        yield
        try:
            result, error = self._run(lambda s: catchup_service.check_stripe_now(session=s, actor=self._actor(s)))
        finally:
            self.checking = False
        self._refresh()
        if error or result is None:
            yield toast.error(error or "Stripe could not be checked.")
            return
        yield toast.success(result.message)

    def _catalogue(self, products: int, prices: int) -> str:
        loc = self.account_locale
        return f"{format_count(products, 'product', loc)} and {format_count(prices, 'price', loc)}"

    @rx.event
    def save_webhook_secret(self, form: dict[str, Any]) -> Any:
        """Replace the webhook signing secret (``whsec_…``) of the connected account.

        Args:
            form: ``webhook_secret`` from the secret form.
        """
        self.secret_error = ""
        self.form_key += 1
        secret = _field(form, "webhook_secret")
        _, error = self._run(
            lambda s: stripe_service.set_webhook_secret(session=s, actor=self._actor(s), webhook_secret=secret)
        )
        if error:
            self.secret_error = error
            return toast.error(error)
        self._refresh()
        return toast.success("Webhook signing secret saved: Stripe's events are verified with it from now on.")

    @rx.event
    def disconnect_stripe(self) -> Any:
        """Forget the key and the webhook secret; orders, payments and the catalogue stay."""
        _, error = self._run(lambda s: stripe_service.disconnect_stripe(session=s, actor=self._actor(s)))
        self._refresh()
        if error:
            return toast.error(error)
        return toast.success("Stripe disconnected: the key and the webhook secret are forgotten; orders stay.")

    @rx.event
    def sync_catalog(self) -> Iterator[Any]:
        """Copy every product and price from Stripe again (the button shows a spinner meanwhile)."""
        if self.syncing:
            return
        self.syncing = True
        yield
        try:
            result, error = self._run(lambda s: stripe_service.sync_catalog(session=s, actor=self._actor(s)))
        finally:
            self.syncing = False
        self._refresh()
        if error or result is None:
            yield toast.error(error or "The catalogue could not be synced.")
            return
        self.sync_note = ""
        yield toast.success(f"Synced {self._catalogue(result.products, result.prices)} from Stripe.")
