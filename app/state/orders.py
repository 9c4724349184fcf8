"""Orders: the list (its filters live in the URL, more rows come through the service's cursor) and one order's page
(summary, items, payments, the Stripe timeline, the attribution snapshot taken at checkout and the conversions
sent for it).

Orders change only through Stripe's signed webhooks, so no handler here writes one; the only write is "Send
again" for one of the order's conversions (the conversions service checks the role).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from fractions import Fraction
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.formatting import format_money, format_percent
from app.models import AttributionModel
from app.services import conversions as conversion_service
from app.services import orders as order_service
from app.services import pixels as pixel_service
from app.state.base import AppState
from app.state.conversions import DeliveryView, delivery_view, send_again
from app.state.format import format_time
from app.state.lists import ALL as ALL
from app.state.lists import FilteredListMixin

PAGE_SIZE = 50
STATUSES = list(order_service.STATUSES)
MODEL_LABELS = {
    AttributionModel.LAST_TOUCH.value: "Last touch",
    AttributionModel.FIRST_TOUCH.value: "First touch",
    AttributionModel.LINEAR.value: "Linear",
    AttributionModel.POSITION_BASED.value: "Position based",
    AttributionModel.TIME_DECAY.value: "Time decay",
}
PAID_STATUSES = ("paid", "partially_refunded", "refunded")
PAYMENT_KINDS = {"one_off": "one-off", "first": "first payment", "renewal": "renewal"}
CLICK_FIELDS = (
    ("fbc", "Meta click (fbc)"),
    ("fbp", "Meta browser (fbp)"),
    ("gclid", "Google click (gclid)"),
    ("gbraid", "gbraid"),
    ("wbraid", "wbraid"),
    ("ga_client_id", "GA client id"),
    ("ga_session_id", "GA session id"),
    ("user_agent", "User agent"),
    ("ip", "IP address"),
)


def _amount(amount: int | None, currency: str, locale: str) -> str:
    return "—" if amount is None else format_money(amount, currency, locale)


def _refunded(amount: int, currency: str, locale: str) -> str:
    return format_money(amount, currency, locale) if amount > 0 else ""


# --- list ----------------------------------------------------------------------------------------------------------


class OrderItem(TypedDict):
    order_id: str
    url: str
    created_at: str
    status: str
    amount: str
    refunded: str  # "" when nothing was refunded
    products: str
    campaign: str
    campaign_version: str
    customer_email: str
    imported: bool


def order_item(row: order_service.OrderRow, timezone: str, locale: str) -> OrderItem:
    return OrderItem(
        order_id=row.order_id,
        url=routes.order_url(row.order_id),
        created_at=format_time(row.created_at, timezone),
        status=row.status,
        amount=_amount(row.amount, row.currency, locale),
        refunded=_refunded(row.amount_refunded, row.currency, locale),
        products=row.products or "—",
        campaign=row.campaign,
        campaign_version=row.campaign_version,
        customer_email=row.customer_email or "",
        imported=row.imported,
    )


class OrdersState(FilteredListMixin, AppState):
    orders: list[OrderItem] = []

    @rx.var
    def filtered(self) -> bool:
        return self.status_filter != ALL or self.campaign_filter != ALL or bool(self.since or self.until)

    def _list_url(self, filters: dict[str, str]) -> str:
        return routes.orders_url(**filters)

    def _known_statuses(self) -> list[str]:
        return STATUSES

    def _noun(self) -> str:
        return "orders"

    def _page(self, cursor: str | None) -> tuple[order_service.OrderPage | None, str | None]:
        chosen = self._filters()

        def load(s: Session) -> order_service.OrderPage:
            account_id = self._actor(s).account_id
            start, end = order_service.day_range(
                session=s, account_id=account_id, since=chosen.since, until=chosen.until
            )
            return order_service.list_orders(
                session=s,
                account_id=account_id,
                status=chosen.status,
                since=start,
                until=end,
                campaign_public_id=chosen.campaign,
                limit=PAGE_SIZE,
                cursor=cursor,
            )

        return self._run(load)

    @rx.event
    def load_orders(self) -> None:
        """on_load: the filters come from the URL (?status=&from=&to=&campaign=); unknown values are ignored."""
        self._read_filters(self._campaign_options())
        self.error = ""
        found, error = self._page(None)
        self.loaded = True
        if error or found is None:
            self.orders, self.total, self.next_cursor = [], 0, ""
            self.error = error or "The orders could not be loaded."
            return
        self.orders = [order_item(row, self.account_timezone, self.account_locale) for row in found.orders]
        self.total, self.next_cursor = found.total, found.next_cursor or ""

    def _append(self, found: Any) -> None:
        self.orders = [
            *self.orders,
            *(order_item(row, self.account_timezone, self.account_locale) for row in found.orders),
        ]
        self.total, self.next_cursor = found.total, found.next_cursor or ""


# --- one order -----------------------------------------------------------------------------------------------------


class LineItem(TypedDict):
    product: str
    price_id: str
    quantity: int
    unit_amount: str
    total: str


class PaymentItem(TypedDict):
    kind: str
    amount: str
    refunded: str
    paid_at: str
    reference: str


class TimelineItem(TypedDict):
    at: str
    kind: str
    title: str
    outcome: str
    message: str
    deliveries: int
    stripe_event_id: str


class TouchItem(TypedDict):
    at: str
    source: str
    medium: str
    utm_campaign: str
    click_id_type: str
    campaign: str
    campaign_url: str
    campaign_version: str


class CreditItem(TypedDict):
    model: str
    campaign: str
    campaign_url: str
    campaign_version: str
    share: str


class FactItem(TypedDict):
    label: str
    value: str


def _share(text: Any, locale: str) -> str:
    """A stored share ("1/3") as a percentage ("33.3%")."""
    try:
        value = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return str(text)
    return format_percent(round(float(value), 3), locale, digits=None)


def _time_text(value: Any, timezone: str) -> str:
    try:
        return format_time(datetime.fromisoformat(str(value)), timezone)
    except ValueError:
        return str(value or "")


def _consent(consent: Any) -> str:
    if not isinstance(consent, dict) or not consent:
        return "not sent"
    return ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in consent.items())


def touches_of(attribution: dict[str, Any], timezone: str) -> list[TouchItem]:
    return [
        TouchItem(
            at=_time_text(t.get("at"), timezone),
            source=str(t.get("utm_source") or ""),
            medium=str(t.get("utm_medium") or ""),
            utm_campaign=str(t.get("utm_campaign") or ""),
            click_id_type=str(t.get("click_id_type") or ""),
            campaign=str(t.get("campaign_name") or t.get("campaign") or ""),
            campaign_url=routes.campaign_url(str(t["campaign"])) if t.get("campaign") else "",
            campaign_version=f"v{t['version_number']}"
            if t.get("version_number")
            else str(t.get("campaign_version") or ""),
        )
        for t in attribution.get("touches") or []
        if isinstance(t, dict)
    ]


def credits_of(attribution: dict[str, Any], locale: str) -> list[CreditItem]:
    models = attribution.get("models") or {}
    return [
        CreditItem(
            model=MODEL_LABELS.get(model, model),
            campaign=str(c.get("campaign_name") or c.get("campaign") or ""),
            campaign_url=routes.campaign_url(str(c["campaign"])) if c.get("campaign") else "",
            campaign_version=f"v{c['version_number']}"
            if c.get("version_number")
            else str(c.get("campaign_version") or ""),
            share=_share(c.get("share", ""), locale),
        )
        for model, credits in models.items()
        if isinstance(credits, list)
        for c in credits
        if isinstance(c, dict)
    ]


class OrderDetailState(AppState):
    order_public_id: str = ""
    loaded: bool = False
    not_found: str = ""

    status: str = ""
    mode: str = ""
    created_at: str = ""
    paid_at: str = ""
    amount: str = ""
    amount_expected: str = ""
    amount_paid: str = ""
    refunded: str = ""
    products: str = ""
    campaign: str = ""
    campaign_version: str = ""
    customer_email: str = ""
    subscription_id: str = ""
    subscription_status: str = ""
    disputed: bool = False
    dispute_status: str = ""

    ids: list[FactItem] = []
    items: list[LineItem] = []
    payments: list[PaymentItem] = []
    timeline: list[TimelineItem] = []
    touches: list[TouchItem] = []
    credits: list[CreditItem] = []
    signals: list[FactItem] = []

    # "Conversions sent": the order's deliveries, and why there are none.
    conversions: list[DeliveryView] = []
    has_pixels: bool = False
    replaying: bool = False

    @rx.var
    def is_paid(self) -> bool:
        return self.status in PAID_STATUSES

    def _public_id_from_path(self) -> str:
        return (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]

    def _open(self, public_id: str) -> None:
        self.order_public_id = public_id
        self.not_found = ""
        detail, error = self._run(
            lambda s: order_service.order_detail(
                session=s, account_id=self._actor(s).account_id, order_public_id=public_id
            )
        )
        self.loaded = True
        if error or detail is None:
            self.not_found = error or "Order not found."
            self.conversions = []
            return
        self._show(detail)
        self._load_conversions()

    def _load_conversions(self) -> None:
        public_id = self.order_public_id

        def load(s: Session) -> tuple[list[conversion_service.DeliveryDetail], bool]:
            account_id = self._actor(s).account_id
            found = conversion_service.order_deliveries(session=s, account_id=account_id, order_public_id=public_id)
            return found, bool(pixel_service.list_pixels(session=s, account_id=account_id))

        result, _error = self._run(load)
        found, self.has_pixels = result or ([], False)
        self.conversions = [delivery_view(d, self.account_timezone, self.account_locale) for d in found]

    def _show(self, detail: order_service.OrderDetail) -> None:
        tz, row, currency, loc = self.account_timezone, detail.row, detail.row.currency, self.account_locale
        self.status, self.mode = row.status, row.mode
        self.created_at = format_time(row.created_at, tz, seconds=True)
        self.paid_at = format_time(row.paid_at, tz, seconds=True)
        self.amount = _amount(row.amount, currency, loc)
        self.amount_expected = _amount(detail.amount_expected, currency, loc)
        self.amount_paid = format_money(detail.amount_paid, currency, loc)
        self.refunded = _refunded(row.amount_refunded, currency, loc)
        self.products = row.products or "—"
        self.campaign, self.campaign_version = row.campaign, row.campaign_version
        self.customer_email = row.customer_email or ""
        self.subscription_id = detail.subscription_id or ""
        self.subscription_status = detail.subscription_status or ""
        self.disputed, self.dispute_status = detail.disputed, detail.dispute_status or ""
        self.ids = [
            FactItem(label=label, value=value or "—")
            for label, value in (
                ("Event id", detail.event_id),
                ("Visitor id", detail.visitor_id),
                ("Checkout Session", detail.checkout_session_id),
                ("PaymentIntent", detail.payment_intent_id),
                ("Subscription", detail.subscription_id),
            )
        ]
        self.items = [
            LineItem(
                product=str(item.get("product") or item.get("price") or ""),
                price_id=str(item.get("price") or ""),
                quantity=int(item.get("quantity") or 1),
                unit_amount=_amount(item.get("unit_amount"), currency, loc),
                total=_amount(order_service.line_total(item), currency, loc),
            )
            for item in detail.items
        ]
        self.payments = [
            PaymentItem(
                kind=PAYMENT_KINDS.get(p.kind, p.kind),
                amount=format_money(p.amount, p.currency, loc),
                refunded=_refunded(p.amount_refunded, p.currency, loc),
                paid_at=format_time(p.paid_at, tz),
                reference=p.invoice_id or p.payment_intent_id or "",
            )
            for p in detail.payments
        ]
        self.timeline = [
            TimelineItem(
                at=format_time(t.at, tz, seconds=True),
                kind=t.kind,
                title=t.title,
                outcome=t.outcome,
                message=t.message,
                deliveries=t.deliveries,
                stripe_event_id=t.stripe_event_id,
            )
            for t in detail.timeline
        ]
        attribution = detail.attribution if isinstance(detail.attribution, dict) else {}
        self.touches = touches_of(attribution, tz)
        self.credits = credits_of(attribution, self.account_locale)
        self.signals = [
            *(FactItem(label=label, value=str(attribution.get(name) or "—")) for name, label in CLICK_FIELDS),
            FactItem(label="Consent", value=_consent(attribution.get("consent"))),
        ]

    @rx.event
    def replay_delivery(self, delivery_public_id: str) -> Iterator[Any]:
        """ "Send again" for one of this order's dead or retrying conversions; the section refreshes."""
        yield from send_again(self, str(delivery_public_id), lambda _delivery: self._load_conversions())

    @rx.event
    def load_order(self) -> Iterator[None]:
        """on_load of /orders/[order_id]."""
        public_id = self._public_id_from_path()
        if public_id != self.order_public_id:
            # Show the spinner, not the previously opened order, while this one loads.
            self.loaded = False
            yield
        self._open(public_id)
