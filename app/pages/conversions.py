"""Conversions: every server-side conversion delivery (totals per status, filters in the URL, "Load more"), one
delivery's detail in a dialog with "Send again", and the Google Ads offline-conversion CSV."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.conversions import (
    DELIVERY_STATUS_COLORS,
    delivery_body,
    delivery_status_badge,
    delivery_summary,
    send_again_button,
    small,
    test_mode_badge,
)
from app.components.forms import (
    campaign_and_date_filters,
    load_more_footer,
    select_input,
)
from app.components.layout import loading, no_match_card, template
from app.state.conversions import (
    ALL,
    DEFAULT_CONVERSION_NAME,
    PROVIDER_NAMES,
    PROVIDERS,
    STATUSES,
    ConversionsState,
    DeliveryItem,
    StatusTotal,
)

COLUMNS = ("Time", "Order", "Provider", "Kind", "Value", "Campaign", "Status", "Attempts", "Reason")


def total_button(total: StatusTotal) -> rx.Component:
    status = total["status"]
    return rx.button(
        rx.text(status, as_="span"),
        rx.badge(
            total["count"], variant="solid", color_scheme=rx.match(status, *DELIVERY_STATUS_COLORS.items(), "gray")
        ),
        variant=rx.cond(ConversionsState.status_filter == status, "solid", "soft"),
        color_scheme=rx.match(status, *DELIVERY_STATUS_COLORS.items(), "gray"),
        size="2",
        on_click=ConversionsState.filter_status(status),
        class_name="status-total",
        id="total-" + status,
    )


def totals_bar() -> rx.Component:
    return rx.hstack(
        rx.button(
            "all",
            variant=rx.cond(ConversionsState.status_filter == ALL, "solid", "soft"),
            color_scheme="gray",
            size="2",
            on_click=ConversionsState.filter_status(ALL),
            id="total-all",
        ),
        rx.foreach(ConversionsState.totals, total_button),
        spacing="2",
        wrap="wrap",
        id="conversion-totals",
    )


def filters() -> rx.Component:
    return rx.hstack(
        select_input(
            [(ALL, "All providers"), *[(p, PROVIDER_NAMES[p]) for p in PROVIDERS]],
            value=ConversionsState.provider_filter,
            on_change=ConversionsState.filter_provider,
            id="filter-provider",
        ),
        select_input(
            [(ALL, "All statuses"), *[(s, s.capitalize()) for s in STATUSES]],
            value=ConversionsState.status_filter,
            on_change=ConversionsState.filter_status,
            id="filter-status",
        ),
        *campaign_and_date_filters(ConversionsState, prefix="conversions", all_value=ALL),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def delivery_row(item: DeliveryItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item["created_at"], size="2", white_space="nowrap")),
        rx.table.cell(
            rx.cond(
                item["order_url"] != "",
                rx.link(
                    rx.code(item["order_id"], size="1"),
                    href=item["order_url"],
                    on_click=rx.stop_propagation,
                    class_name="delivery-order",
                ),
                small("—"),
            )
        ),
        rx.table.cell(
            rx.text(item["provider_name"], size="2", weight="medium", class_name="delivery-provider"),
            small(item["pixel_name"], class_name="delivery-pixel"),
        ),
        rx.table.cell(rx.badge(item["kind"], variant="outline", class_name="delivery-kind")),
        rx.table.cell(rx.text(item["value"], size="2", white_space="nowrap", class_name="delivery-value")),
        rx.table.cell(
            rx.cond(item["campaign"] != "", rx.text(item["campaign"], size="2"), small("direct / none")),
            class_name="delivery-campaign",
        ),
        rx.table.cell(
            rx.hstack(
                delivery_status_badge(item["status"], class_name="delivery-status"),
                rx.cond(item["test"], test_mode_badge(class_name="delivery-test")),
                spacing="1",
                align="center",
            )
        ),
        rx.table.cell(rx.text(item["attempts"], size="2", class_name="delivery-attempt-count")),
        rx.table.cell(
            rx.text(
                item["reason"], size="1", color_scheme="gray", truncate=True, max_width="240px", title=item["reason"]
            ),
            class_name="delivery-reason",
        ),
        on_click=ConversionsState.open_delivery(item["delivery_id"]),
        cursor="pointer",
        _hover={"background": rx.color("gray", 3)},
        class_name="delivery-row",
        custom_attrs={"data-delivery": item["delivery_id"]},
    )


def deliveries_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in COLUMNS])),
            rx.table.body(rx.foreach(ConversionsState.deliveries, delivery_row)),
            width="100%",
            size="1",
            id="deliveries-table",
        ),
        load_more_footer(
            shown=ConversionsState.deliveries.length(),
            total=ConversionsState.total,
            noun="conversions",
            has_more=ConversionsState.has_more,
            loading=ConversionsState.loading_more,
            on_click=ConversionsState.load_more,
            id="deliveries-total",
        ),
        spacing="3",
        width="100%",
    )


def empty_state() -> rx.Component:
    return rx.cond(
        ConversionsState.filtered,
        no_match_card("conversions", ConversionsState.clear_filters),
        rx.card(
            rx.vstack(
                rx.icon("send", size=32, color=rx.color("gray", 9)),
                rx.heading("No conversions yet", size="4"),
                rx.text(
                    "Each order Stripe confirms as paid (and each renewal and refund) becomes a conversion for every "
                    "enabled pixel that receives its campaign's conversions; PaidSignal then sends it server-side, "
                    "with retries. Set up a pixel on ",
                    rx.link("Pixels", href=routes.PIXELS, id="empty-pixels-link"),
                    " (Meta, Google Analytics 4, Google Ads or a webhook) and mark it the account default or attach "
                    "it to campaigns.",
                    color_scheme="gray",
                    text_align="center",
                    max_width="600px",
                ),
                align="center",
                spacing="3",
                padding="32px",
            ),
            id="conversions-empty",
        ),
    )


def detail_dialog() -> rx.Component:
    view = ConversionsState.open_view
    return rx.dialog.root(
        rx.dialog.content(
            rx.hstack(
                rx.dialog.title("Conversion ", rx.code(view["row"]["delivery_id"], size="2"), margin="0"),
                rx.spacer(),
                send_again_button(
                    view,
                    can_replay=ConversionsState.can_edit_marketing,
                    on_replay=ConversionsState.replay,
                    loading=ConversionsState.replaying,
                ),
                rx.dialog.close(rx.icon_button(rx.icon("x", size=16), variant="ghost", color_scheme="gray")),
                align="center",
                width="100%",
            ),
            rx.vstack(
                delivery_summary(view),
                rx.hstack(
                    small("Order "),
                    rx.link(rx.code(view["row"]["order_id"], size="1"), href=view["row"]["order_url"]),
                    small(" · created ", view["row"]["created_at"]),
                    rx.cond(view["row"]["campaign"] != "", small(" · campaign ", view["row"]["campaign"])),
                    spacing="1",
                    align="center",
                    wrap="wrap",
                ),
                delivery_body(view, open_payload=True),
                spacing="3",
                width="100%",
                margin_top="12px",
            ),
            max_width="860px",
            id="delivery-detail",
        ),
        open=ConversionsState.detail_open,
        on_open_change=ConversionsState.set_detail_open,
    )


def export_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading("Google Ads CSV", size="3"),
                small(
                    "Paid orders with a Google click id (gclid, gbraid or wbraid), net of refunds, as Google Ads' "
                    "offline click-conversion upload (Goals → Conversions → Uploads). At most 92 days at a time; days "
                    "in the account's timezone."
                ),
                rx.hstack(
                    rx.vstack(
                        rx.text("From", as_="label", size="2", html_for="export-from"),
                        rx.input(
                            type="date",
                            name="from",
                            id="export-from",
                            default_value=ConversionsState.export_since,
                            key=ConversionsState.export_since,
                            required=True,
                        ),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.text("To", as_="label", size="2", html_for="export-to"),
                        rx.input(
                            type="date",
                            name="to",
                            id="export-to",
                            default_value=ConversionsState.export_until,
                            key=ConversionsState.export_until,
                            required=True,
                        ),
                        spacing="1",
                    ),
                    rx.vstack(
                        rx.text("Conversion action name", as_="label", size="2", html_for="export-name"),
                        rx.input(name="conversion_name", id="export-name", default_value=DEFAULT_CONVERSION_NAME),
                        spacing="1",
                    ),
                    rx.button(rx.icon("download", size=14), "Download CSV", type="submit", id="export-csv"),
                    align="end",
                    spacing="3",
                    wrap="wrap",
                ),
                spacing="2",
                width="100%",
                align="start",
            ),
            on_submit=ConversionsState.export_google_ads,
        ),
        width="100%",
        id="google-ads-export",
    )


@template(routes.CONVERSIONS, "Conversions", on_load=ConversionsState.load_conversions)
def conversions_page() -> rx.Component:
    return rx.vstack(
        totals_bar(),
        filters(),
        rx.cond(
            ConversionsState.error != "",
            rx.callout(
                ConversionsState.error,
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                id="conversions-error",
                width="100%",
            ),
        ),
        rx.cond(
            ConversionsState.loaded,
            rx.cond(ConversionsState.deliveries.length() == 0, empty_state(), deliveries_table()),
            loading(),
        ),
        export_form(),
        detail_dialog(),
        spacing="4",
        width="100%",
    )
