"""Orders: the list (filters in the URL, "Load more" through the cursor) and one order's page (summary, items,
payments, the Stripe timeline, the attribution snapshot and the conversions sent)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx

from app import routes
from app.components.conversions import delivery_body, delivery_summary, send_again_button
from app.components.forms import (
    campaign_and_date_filters,
    load_more_footer,
    select_input,
)
from app.components.layout import loading, no_match_card, template
from app.state.conversions import DeliveryView
from app.state.orders import (
    ALL,
    STATUSES,
    CreditItem,
    FactItem,
    LineItem,
    OrderDetailState,
    OrderItem,
    OrdersState,
    PaymentItem,
    TimelineItem,
    TouchItem,
)

ORDER_STATUS_COLORS = {
    "created": "gray",
    "pending": "amber",
    "failed": "red",
    "expired": "gray",
    "paid": "green",
    "partially_refunded": "orange",
    "refunded": "purple",
}
OUTCOME_COLORS = {"created": "blue", "applied": "green", "ignored": "gray", "unlinked": "amber", "duplicate": "gray"}


def order_status_badge(status: Any, **props: Any) -> rx.Component:
    return rx.badge(
        rx.match(status, *[(s, s.replace("_", " ")) for s in STATUSES], status),
        color_scheme=rx.match(status, *ORDER_STATUS_COLORS.items(), "gray"),
        variant="soft",
        **props,
    )


def hint(*children: Any, **props: Any) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray", **props)


def section(title: str, *children: rx.Component, id: str) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), *children, spacing="3", width="100%", align="start"),
        width="100%",
        id=id,
    )


# --- list ----------------------------------------------------------------------------------------------------------


def filters() -> rx.Component:
    return rx.hstack(
        select_input(
            [(ALL, "All statuses"), *[(s, s.replace("_", " ").capitalize()) for s in STATUSES]],
            value=OrdersState.status_filter,
            on_change=OrdersState.filter_status,
            id="filter-status",
        ),
        *campaign_and_date_filters(OrdersState, prefix="orders", all_value=ALL),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def order_row(order: OrderItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.code(order["order_id"], size="1"), href=order["url"], class_name="order-link")),
        rx.table.cell(rx.text(order["created_at"], size="2", white_space="nowrap")),
        rx.table.cell(order_status_badge(order["status"], class_name="order-status")),
        rx.table.cell(
            rx.text(order["amount"], size="2", white_space="nowrap", class_name="order-amount"),
            rx.cond(
                order["refunded"] != "",
                hint("refunded ", order["refunded"], class_name="order-refunded", white_space="nowrap"),
            ),
        ),
        rx.table.cell(rx.text(order["products"], size="2", class_name="order-products")),
        rx.table.cell(
            rx.cond(
                order["imported"],
                rx.badge(order["campaign"], color_scheme="gray", variant="soft", class_name="order-imported"),
                rx.cond(
                    order["campaign"] != "",
                    rx.text(order["campaign"], " ", rx.badge(order["campaign_version"], variant="outline"), size="2"),
                    hint("direct / none"),
                ),
            ),
            class_name="order-campaign",
        ),
        rx.table.cell(rx.text(order["customer_email"], size="2", class_name="order-email")),
        class_name="order-row",
    )


def orders_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Order", "Created", "Status", "Amount", "Products", "Campaign", "Customer")
                    ]
                )
            ),
            rx.table.body(rx.foreach(OrdersState.orders, order_row)),
            width="100%",
            id="orders-table",
        ),
        load_more_footer(
            shown=OrdersState.orders.length(),
            total=OrdersState.total,
            noun="orders",
            has_more=OrdersState.has_more,
            loading=OrdersState.loading_more,
            on_click=OrdersState.load_more,
            id="orders-total",
        ),
        spacing="3",
        width="100%",
    )


def empty_state() -> rx.Component:
    return rx.cond(
        OrdersState.filtered,
        no_match_card("orders", OrdersState.clear_filters),
        rx.card(
            rx.vstack(
                rx.icon("receipt", size=32, color=rx.color("gray", 9)),
                rx.heading("No orders yet", size="4"),
                rx.text(
                    "Connect ",
                    rx.link("Stripe", href=routes.SETTINGS_STRIPE, id="empty-stripe-link"),
                    " and start a checkout from your shop with ",
                    rx.code("paidsignal('checkout', …)"),
                    " (the snippet is on ",
                    rx.link("Install", href=routes.INSTALL, id="empty-install-link"),
                    "). Orders are paid once Stripe's signed webhook confirms the payment.",
                    color_scheme="gray",
                    text_align="center",
                    max_width="560px",
                ),
                align="center",
                spacing="3",
                padding="32px",
            ),
            id="orders-empty",
        ),
    )


@template(routes.ORDERS, "Orders", on_load=OrdersState.load_orders)
def orders_page() -> rx.Component:
    return rx.vstack(
        filters(),
        rx.cond(
            OrdersState.error != "",
            rx.callout(
                OrdersState.error, icon="triangle-alert", color_scheme="red", size="1", id="orders-error", width="100%"
            ),
        ),
        rx.cond(
            OrdersState.loaded,
            rx.cond(OrdersState.orders.length() == 0, empty_state(), orders_table()),
            loading(),
        ),
        spacing="4",
        width="100%",
    )


# --- one order -----------------------------------------------------------------------------------------------------


def facts_grid(items: rx.Var[Sequence[FactItem]], id: str) -> rx.Component:
    return rx.grid(
        rx.foreach(
            items,
            lambda f: rx.fragment(
                hint(f["label"]),
                rx.code(f["value"], size="1", word_break="break-all", width="fit-content", class_name="fact-value"),
            ),
        ),
        columns="160px 1fr",
        spacing="2",
        align="center",
        width="100%",
        id=id,
    )


def summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(rx.code(OrderDetailState.order_public_id), size="5", id="order-id"),
                order_status_badge(OrderDetailState.status, id="order-status", size="2"),
                rx.badge(OrderDetailState.mode, variant="outline", color_scheme="gray"),
                rx.cond(
                    OrderDetailState.disputed,
                    rx.badge(
                        rx.icon("shield-alert", size=12),
                        "disputed",
                        rx.cond(OrderDetailState.dispute_status != "", f": {OrderDetailState.dispute_status}", ""),
                        color_scheme="red",
                        id="order-disputed",
                    ),
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.grid(
                hint("Amount"),
                rx.text(
                    rx.text.strong(OrderDetailState.amount, id="order-amount"),
                    rx.cond(
                        OrderDetailState.refunded != "",
                        rx.text.span(" · refunded ", OrderDetailState.refunded, color=rx.color("purple", 11)),
                    ),
                    size="3",
                ),
                hint("Expected at checkout"),
                rx.text(OrderDetailState.amount_expected, size="2"),
                hint("Paid"),
                rx.text(OrderDetailState.amount_paid, size="2"),
                hint("Created"),
                rx.text(OrderDetailState.created_at, size="2"),
                hint("Paid at"),
                rx.text(rx.cond(OrderDetailState.paid_at != "", OrderDetailState.paid_at, "—"), size="2"),
                hint("Customer"),
                rx.text(
                    rx.cond(OrderDetailState.customer_email != "", OrderDetailState.customer_email, "—"),
                    size="2",
                    id="order-email",
                ),
                hint("Campaign"),
                rx.cond(
                    OrderDetailState.campaign != "",
                    rx.text(
                        OrderDetailState.campaign,
                        " ",
                        rx.badge(OrderDetailState.campaign_version, variant="outline"),
                        size="2",
                    ),
                    rx.text("direct / none (last touch)", size="2", color_scheme="gray"),
                ),
                hint("Subscription"),
                rx.cond(
                    OrderDetailState.subscription_id != "",
                    rx.text(
                        rx.code(OrderDetailState.subscription_id, size="1"),
                        " ",
                        rx.badge(
                            rx.cond(
                                OrderDetailState.subscription_status != "",
                                OrderDetailState.subscription_status,
                                "unknown",
                            )
                        ),
                        size="2",
                        id="order-subscription",
                    ),
                    rx.text("—", size="2"),
                ),
                columns="160px 1fr",
                spacing="2",
                align="center",
                width="100%",
            ),
            rx.divider(),
            facts_grid(OrderDetailState.ids, "order-ids"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="order-summary",
    )


def line_item_row(item: LineItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item["product"], weight="medium")),
        rx.table.cell(rx.code(item["price_id"], size="1")),
        rx.table.cell(item["quantity"]),
        rx.table.cell(item["unit_amount"]),
        rx.table.cell(item["total"]),
        class_name="item-row",
    )


def payment_row(payment: PaymentItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(payment["kind"], variant="soft")),
        rx.table.cell(payment["paid_at"]),
        rx.table.cell(payment["amount"]),
        rx.table.cell(rx.cond(payment["refunded"] != "", rx.text(payment["refunded"], color_scheme="purple"), "—")),
        rx.table.cell(rx.code(payment["reference"], size="1")),
        class_name="payment-row",
    )


def simple_table(headers: tuple[str, ...], body: rx.Component, id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(body),
        width="100%",
        size="1",
        id=id,
    )


def timeline_entry(entry: TimelineItem) -> rx.Component:
    return rx.hstack(
        rx.cond(entry["kind"] == "stripe", rx.icon("zap", size=16), rx.icon("shopping-cart", size=16)),
        rx.vstack(
            rx.hstack(
                rx.text(entry["title"], weight="medium", size="2", class_name="timeline-title"),
                rx.badge(
                    entry["outcome"],
                    color_scheme=rx.match(entry["outcome"], *OUTCOME_COLORS.items(), "gray"),
                    variant="soft",
                    class_name="timeline-outcome",
                ),
                rx.cond(
                    entry["deliveries"] > 1,
                    rx.badge(
                        "delivered ", entry["deliveries"], " times", variant="outline", class_name="timeline-deliveries"
                    ),
                ),
                hint(entry["at"]),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(entry["message"] != "", rx.text(entry["message"], size="2", color_scheme="gray")),
            rx.cond(entry["stripe_event_id"] != "", hint(rx.code(entry["stripe_event_id"], size="1"))),
            spacing="1",
            align="start",
        ),
        spacing="3",
        align="start",
        width="100%",
        class_name="timeline-entry",
    )


def campaign_link(name: Any, url: Any, version: Any) -> rx.Component:
    return rx.cond(
        url != "",
        rx.text(rx.link(rx.code(name, size="1"), href=url), " ", rx.code(version, size="1"), size="2"),
        hint("direct / none"),
    )


def touch_row(touch: TouchItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(touch["at"]),
        rx.table.cell(touch["source"]),
        rx.table.cell(touch["medium"]),
        rx.table.cell(touch["utm_campaign"]),
        rx.table.cell(touch["click_id_type"]),
        rx.table.cell(campaign_link(touch["campaign"], touch["campaign_url"], touch["campaign_version"])),
        class_name="touch-row",
    )


def credit_row(credit: CreditItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(credit["model"]),
        rx.table.cell(campaign_link(credit["campaign"], credit["campaign_url"], credit["campaign_version"])),
        rx.table.cell(credit["share"]),
        class_name="credit-row",
    )


def attribution_section() -> rx.Component:
    return section(
        "Attribution at checkout",
        hint("What the order kept when checkout started; later visits never change it."),
        rx.text("Touches", weight="medium", size="2"),
        rx.cond(
            OrderDetailState.touches.length() == 0,
            hint("No campaign touches for this visitor (a direct or untracked visit).", id="touches-empty"),
            simple_table(
                ("When", "Source", "Medium", "utm_campaign", "Click id", "Campaign"),
                rx.foreach(OrderDetailState.touches, touch_row),
                "touches-table",
            ),
        ),
        rx.text("Credit per model", weight="medium", size="2"),
        simple_table(
            ("Model", "Campaign and version", "Share"),
            rx.foreach(OrderDetailState.credits, credit_row),
            "credits-table",
        ),
        rx.text("Click and analytics ids", weight="medium", size="2"),
        facts_grid(OrderDetailState.signals, "order-signals"),
        id="order-attribution",
    )


def order_delivery(view: DeliveryView) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                delivery_summary(view),
                rx.spacer(),
                send_again_button(
                    view,
                    can_replay=OrderDetailState.can_edit_marketing,
                    on_replay=OrderDetailState.replay_delivery,
                    loading=OrderDetailState.replaying,
                ),
                align="center",
                width="100%",
            ),
            delivery_body(view),
            spacing="3",
            width="100%",
        ),
        width="100%",
        size="1",
        class_name="order-delivery",
        custom_attrs={"data-delivery": view["row"]["delivery_id"]},
    )


def conversions_empty() -> rx.Component:
    return rx.vstack(
        rx.text("No conversions for this order", weight="medium", size="2"),
        rx.cond(
            ~OrderDetailState.is_paid,
            hint(
                "It is not paid yet: a conversion is created for each pixel once Stripe's signed webhook confirms "
                "the payment."
            ),
            rx.cond(
                OrderDetailState.has_pixels,
                hint(
                    "No enabled pixel received this order's campaign when it was paid: make a pixel the account "
                    "default or attach it to the campaign on ",
                    rx.link("Pixels", href=routes.PIXELS, class_name="conversions-pixels-link"),
                    " (later orders get it).",
                ),
                hint(
                    "The account had no pixel when it was paid. Add one on ",
                    rx.link("Pixels", href=routes.PIXELS, class_name="conversions-pixels-link"),
                    " and paid orders from then on are sent to it.",
                ),
            ),
        ),
        spacing="1",
        align="start",
        id="order-conversions-empty",
    )


def conversions_section() -> rx.Component:
    return section(
        "Conversions sent",
        hint(
            "What PaidSignal sent server-side for this order, per pixel; all of them are on ",
            rx.link("Conversions", href=routes.CONVERSIONS),
            ".",
        ),
        rx.cond(
            OrderDetailState.conversions.length() == 0,
            conversions_empty(),
            rx.vstack(
                rx.foreach(OrderDetailState.conversions, order_delivery),
                spacing="3",
                width="100%",
                id="order-deliveries",
            ),
        ),
        id="order-conversions",
    )


def order_sections() -> rx.Component:
    return rx.vstack(
        summary(),
        section(
            "Items",
            simple_table(
                ("Product", "Price id", "Quantity", "Unit price", "Total"),
                rx.foreach(OrderDetailState.items, line_item_row),
                "items-table",
            ),
            id="order-items",
        ),
        section(
            "Payments and refunds",
            rx.cond(
                OrderDetailState.payments.length() == 0,
                hint("No payment yet: Stripe's signed webhook records it.", id="payments-empty"),
                simple_table(
                    ("Kind", "Paid", "Amount", "Refunded", "Reference"),
                    rx.foreach(OrderDetailState.payments, payment_row),
                    "payments-table",
                ),
            ),
            id="order-payments",
        ),
        section(
            "Stripe timeline",
            rx.vstack(
                rx.foreach(OrderDetailState.timeline, timeline_entry), spacing="3", width="100%", id="order-timeline"
            ),
            id="order-timeline-section",
        ),
        attribution_section(),
        conversions_section(),
        spacing="4",
        width="100%",
    )


def not_found() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("search-x", size=32, color=rx.color("gray", 9)),
            rx.heading("Order not found", size="4"),
            rx.text(OrderDetailState.not_found, color_scheme="gray", id="order-not-found"),
            rx.link("Back to the orders", href=routes.ORDERS),
            align="center",
            spacing="3",
            padding="32px",
        ),
        width="100%",
    )


@template(routes.ORDER, "Order", on_load=OrderDetailState.load_order)
def order_page() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), rx.text("All orders", size="2"), align="center", spacing="1"),
            href=routes.ORDERS,
            color_scheme="gray",
            id="back-to-orders",
        ),
        rx.cond(
            OrderDetailState.loaded, rx.cond(OrderDetailState.not_found != "", not_found(), order_sections()), loading()
        ),
        spacing="3",
        width="100%",
    )
