"""Settings → Stripe: connect the shop's Stripe account, its webhook endpoint, and the synced catalogue."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app import routes
from app.components.forms import readonly_note
from app.components.layout import confirm_button, loading, template
from app.state.stripe import WEBHOOK_EVENTS, PriceItem, ReconItem, StripeState


def inline_error(message: rx.Var[str], id: str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", size="1", role="alert", id=id, width="100%"),
    )


def secret_input(label: str, name: str, id: str, *, hint: Any, **props: Any) -> rx.Component:
    """A write-only input: a password field, never pre-filled, emptied after every submit."""
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=id),
        rx.input(
            name=name,
            id=id,
            type="password",
            # Browsers would otherwise offer to fill in the user's own login password.
            auto_complete="new-password",
            width="100%",
            **props,
        ),
        rx.text(hint, size="1", color_scheme="gray"),
        spacing="1",
        width="100%",
    )


def fact(label: str, value: Any, **props: Any) -> list[rx.Component]:
    return [rx.text(label, size="1", color_scheme="gray"), rx.text(value, size="2", **props)]


def connect_form() -> rx.Component:
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(rx.cond(StripeState.connected, "Replace the key", "Connect Stripe"), size="3"),
                rx.text(
                    "Use a secret key (sk_…) or a restricted key (rk_…) that can read the account, products and "
                    "prices and create Checkout Sessions, and read events, Checkout Sessions, charges, refunds, "
                    "disputes, invoices and balance (to catch up missed webhooks, import the history and reconcile). "
                    "It is checked with Stripe, stored encrypted and never shown again.",
                    size="2",
                    color_scheme="gray",
                ),
                inline_error(StripeState.connect_error, "connect-error"),
                rx.grid(
                    secret_input(
                        "Secret key",
                        "secret_key",
                        "connect-secret-key",
                        hint="Stripe Dashboard → Developers → API keys",
                        placeholder="sk_test_…",
                        required=True,
                    ),
                    secret_input(
                        "Webhook signing secret (optional)",
                        "webhook_secret",
                        "connect-webhook-secret",
                        hint="The whsec_… of the endpoint below; you can add it later",
                        placeholder="whsec_…",
                    ),
                    columns="2",
                    spacing="3",
                    width="100%",
                ),
                rx.button(
                    rx.cond(StripeState.connected, "Replace key", "Connect Stripe"), type="submit", id="connect-stripe"
                ),
                spacing="3",
                width="100%",
                align="start",
            ),
            on_submit=StripeState.connect_stripe,
            reset_on_submit=True,
            key=StripeState.form_key,
            id="stripe-connect-form",
        ),
        width="100%",
    )


def connection_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("circle-check", color=rx.color("green", 9)),
                rx.heading(
                    rx.cond(StripeState.stripe_account_name != "", StripeState.stripe_account_name, "Stripe account"),
                    size="4",
                    id="stripe-account-name",
                ),
                rx.cond(
                    StripeState.livemode,
                    rx.badge("live", color_scheme="green", id="stripe-mode"),
                    rx.badge("test mode", color_scheme="amber", id="stripe-mode"),
                ),
                rx.spacer(),
                rx.cond(
                    StripeState.can_manage_stripe,
                    confirm_button(
                        "Disconnect",
                        title="Disconnect Stripe?",
                        description=(
                            "The key and the webhook signing secret are forgotten: checkouts stop and Stripe's "
                            "events are refused until you connect again. Orders, payments and the catalogue stay."
                        ),
                        confirm_label="Disconnect Stripe",
                        on_confirm=StripeState.disconnect_stripe,
                        id="disconnect-stripe",
                    ),
                ),
                align="center",
                width="100%",
                spacing="2",
            ),
            rx.grid(
                *fact(
                    "Account",
                    rx.code(rx.cond(StripeState.stripe_account_id != "", StripeState.stripe_account_id, "—")),
                    id="stripe-account-id",
                ),
                *fact("Key", rx.code(StripeState.key_hint), id="stripe-key-hint"),
                *fact("Connected", StripeState.connected_at),
                *fact(
                    "Webhook secret",
                    rx.cond(
                        StripeState.has_webhook_secret, "saved", "missing: Stripe's events are refused until you add it"
                    ),
                    id="stripe-webhook-secret-status",
                ),
                *fact(
                    "Last webhook",
                    rx.cond(StripeState.last_webhook_at != "", StripeState.last_webhook_at, "none received yet"),
                    id="stripe-last-webhook",
                ),
                *fact(
                    "Catalogue synced",
                    rx.cond(StripeState.catalog_synced_at != "", StripeState.catalog_synced_at, "never"),
                    id="stripe-synced-at",
                ),
                columns="140px 1fr",
                spacing="2",
                align="center",
                width="100%",
            ),
            rx.cond(
                StripeState.sync_note != "",
                rx.callout(
                    StripeState.sync_note, icon="triangle-alert", color_scheme="amber", size="1", id="stripe-sync-note"
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="stripe-connection",
    )


def webhook_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Webhook endpoint", size="3"),
            rx.text(
                "In Stripe (Developers → Webhooks → Add endpoint) enter this URL and select the events below. "
                "Orders become paid only from these signed events.",
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.code(StripeState.webhook_url, id="webhook-url", word_break="break-all"),
                rx.button(
                    rx.icon("copy", size=14),
                    "Copy",
                    size="1",
                    variant="soft",
                    on_click=[rx.set_clipboard(StripeState.webhook_url), rx.toast.success("Webhook URL copied.")],
                    id="copy-webhook-url",
                ),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text("Events to select", size="2", weight="medium"),
            rx.flex(
                *[rx.badge(event, variant="soft", color_scheme="gray") for event in WEBHOOK_EVENTS],
                wrap="wrap",
                gap="1",
                id="webhook-events",
            ),
            rx.cond(
                StripeState.can_manage_stripe & StripeState.connected,
                rx.form(
                    rx.vstack(
                        inline_error(StripeState.secret_error, "secret-error"),
                        rx.hstack(
                            rx.box(
                                secret_input(
                                    "Signing secret",
                                    "webhook_secret",
                                    "replace-webhook-secret",
                                    hint=rx.cond(
                                        StripeState.has_webhook_secret,
                                        "A secret is saved; paste a new one to replace it (e.g. after rolling it).",
                                        "Shown on the endpoint's page in Stripe, or printed by stripe listen.",
                                    ),
                                    placeholder="whsec_…",
                                    required=True,
                                ),
                                width="100%",
                            ),
                            rx.button("Save secret", type="submit", id="save-webhook-secret"),
                            align="center",
                            width="100%",
                        ),
                        width="100%",
                    ),
                    on_submit=StripeState.save_webhook_secret,
                    reset_on_submit=True,
                    key=StripeState.form_key,
                    id="webhook-secret-form",
                    width="100%",
                ),
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        width="100%",
        id="stripe-webhook",
    )


def develop_locally() -> rx.Component:
    return rx.callout(
        rx.vstack(
            rx.text("Develop locally", weight="bold"),
            rx.text("Forward Stripe's test events to this account with the Stripe CLI:", size="2"),
            rx.code_block(
                f"stripe listen --forward-to {StripeState.webhook_url}",
                language="bash",
                width="100%",
                wrap_long_lines=True,
                id="stripe-listen-command",
            ),
            rx.text("It prints a whsec_… signing secret: paste it above. Then, in another terminal:", size="2"),
            rx.code_block("stripe trigger checkout.session.completed", language="bash", width="100%"),
            spacing="2",
            width="100%",
        ),
        icon="terminal",
        color_scheme="gray",
        width="100%",
        id="stripe-develop-locally",
    )


def price_row(price: PriceItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(price["product"], weight="medium"),
            rx.cond(price["nickname"] != "", rx.text(price["nickname"], size="1", color_scheme="gray")),
            class_name="price-product",
        ),
        rx.table.cell(rx.code(price["price_id"], size="1")),
        rx.table.cell(rx.text(price["amount"], class_name="price-amount")),
        rx.table.cell(rx.badge(price["billing"], variant="soft", class_name="price-billing")),
        class_name="price-row",
    )


def catalogue_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Catalogue", size="3"),
                rx.text(StripeState.catalogue_text, size="2", color_scheme="gray"),
                rx.spacer(),
                rx.cond(
                    StripeState.can_edit_marketing,
                    rx.button(
                        rx.icon("refresh-cw", size=14),
                        "Sync products and prices",
                        size="2",
                        variant="soft",
                        loading=StripeState.syncing,
                        on_click=StripeState.sync_catalog,
                        id="sync-catalog",
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.text(
                "Copied from Stripe on connect, on this button, and from product and price webhooks. Checkouts "
                "may only use these prices.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                StripeState.prices.length() == 0,
                rx.text("No active prices in Stripe yet.", size="2", color_scheme="gray", id="prices-empty"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in ("Product", "Price id", "Amount", "Billing")]
                        )
                    ),
                    rx.table.body(rx.foreach(StripeState.prices, price_row)),
                    width="100%",
                    id="prices-table",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="stripe-catalogue",
    )


def sync_card() -> rx.Component:
    """Nothing missed: the catch-up of Stripe's events (services/stripe_sync)."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Nothing missed", size="3"),
                rx.spacer(),
                rx.cond(
                    StripeState.can_edit_marketing,
                    rx.button(
                        rx.icon("refresh-ccw", size=14),
                        "Check Stripe now",
                        size="2",
                        variant="soft",
                        loading=StripeState.checking,
                        on_click=StripeState.check_stripe_now,
                        id="check-stripe-now",
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.text(
                "Every few minutes PaidSignal lists Stripe's events and applies any whose webhook never arrived, "
                "once: a webhook outage costs minutes, not revenue.",
                size="2",
                color_scheme="gray",
            ),
            rx.grid(
                *fact("Last check", StripeState.catchup_text, id="stripe-catchup"),
                columns="140px 1fr",
                spacing="2",
                width="100%",
            ),
            rx.cond(
                ~StripeState.catchup_ok,
                rx.callout(
                    StripeState.catchup_text, icon="triangle-alert", color_scheme="red", size="1", id="catchup-error"
                ),
            ),
            rx.cond(
                StripeState.gap_text != "",
                rx.callout(StripeState.gap_text, icon="calendar-x", color_scheme="amber", size="1", id="catchup-gap"),
            ),
            rx.divider(),
            rx.heading("History", size="2"),
            rx.text(
                "Paid Checkout Sessions, charges, refunds, disputes and subscription invoices of the last days, "
                "imported as orders marked “Imported from Stripe”: their own bucket in every view, never credited to "
                "a campaign, never sent to an ad platform. Importing again counts nothing twice.",
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                # Running: a spinner; asked for and waiting for the jobs process to take it: an hourglass (a page
                # that waits for no work of its own shows no spinner).
                rx.cond(StripeState.backfill_status == "running", rx.spinner(size="2")),
                rx.cond(StripeState.backfill_status == "requested", rx.icon("hourglass", size=16, color="gray")),
                rx.text(StripeState.backfill_text, size="2", id="backfill-progress"),
                align="center",
                spacing="2",
            ),
            inline_error(StripeState.history_error, "history-error"),
            rx.cond(
                StripeState.can_edit_marketing,
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="days",
                            id="history-days",
                            type="number",
                            min=1,
                            max=3650,
                            default_value="90",
                            width="90px",
                            aria_label="Days of history",
                        ),
                        rx.text("days", size="2"),
                        rx.button(
                            "Import history",
                            type="submit",
                            variant="soft",
                            id="import-history",
                            disabled=StripeState.backfill_status == "running",
                        ),
                        align="center",
                        spacing="2",
                    ),
                    on_submit=StripeState.import_history,
                    id="history-form",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="stripe-sync",
    )


def recon_row(item: ReconItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(item["kind"], size="2")),
        rx.table.cell(rx.text(item["day"], size="2", white_space="nowrap")),
        rx.table.cell(rx.code(item["stripe_id"], size="1")),
        rx.table.cell(
            rx.cond(item["order_url"] != "", rx.link(rx.code(item["order_id"], size="1"), href=item["order_url"]), "—")
        ),
        rx.table.cell(rx.text(item["paidsignal"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["stripe"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["note"], size="1", color_scheme="gray")),
        class_name="recon-row",
    )


def recon_table(items: Any, id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                *[
                    rx.table.column_header_cell(h)
                    for h in ("What", "Day", "Stripe object", "Order", "PaidSignal", "Stripe", "")
                ]
            )
        ),
        rx.table.body(rx.foreach(items, recon_row)),
        width="100%",
        size="1",
        id=id,
    )


def reconciliation_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Reconciliation", size="3"),
                rx.spacer(),
                rx.cond(
                    StripeState.can_edit_marketing,
                    rx.button(
                        rx.icon("scale", size=14),
                        "Reconcile with Stripe",
                        size="2",
                        variant="soft",
                        loading=StripeState.reconciling,
                        on_click=StripeState.reconcile_with_stripe,
                        id="reconcile-stripe",
                    ),
                ),
                align="center",
                width="100%",
            ),
            rx.text(
                "The last 30 days, per day and currency: PaidSignal's payments, refunds and disputes against "
                "Stripe's balance transactions, matched by charge, refund and dispute id. Checked every hour.",
                size="2",
                color_scheme="gray",
            ),
            rx.callout(
                StripeState.recon_summary,
                icon=rx.cond(StripeState.recon_ok, "circle-check", "triangle-alert"),
                color_scheme=rx.cond(StripeState.recon_ok, "green", "amber"),
                size="1",
                id="recon-summary",
            ),
            rx.cond(
                StripeState.recon_checked != "",
                rx.text("Checked ", StripeState.recon_checked, size="1", color_scheme="gray"),
            ),
            rx.cond(
                StripeState.recon_differences.length() > 0,
                recon_table(StripeState.recon_differences, "recon-differences"),
            ),
            rx.cond(
                StripeState.recon_listed.length() > 0,
                rx.vstack(
                    rx.text("Not differences", size="2", weight="medium"),
                    recon_table(StripeState.recon_listed, "recon-listed"),
                    width="100%",
                ),
            ),
            rx.cond(StripeState.recon_fees != "", rx.text(StripeState.recon_fees, size="2", id="recon-fees")),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="stripe-reconciliation",
    )


def not_connected() -> rx.Component:
    return rx.callout(
        "Stripe is not connected: checkouts cannot start and no order can be paid yet.",
        icon="unplug",
        color_scheme="amber",
        width="100%",
        id="stripe-not-connected",
    )


def key_form() -> rx.Component:
    return rx.cond(
        StripeState.can_manage_stripe,
        connect_form(),
        readonly_note(
            "Your role can look at the Stripe connection; connecting, replacing the key or the webhook secret and "
            "disconnecting need an admin or the owner.",
            "stripe-readonly-note",
        ),
    )


@template(routes.SETTINGS_STRIPE, "Stripe", on_load=StripeState.load_stripe)
def stripe_page() -> rx.Component:
    return rx.cond(
        StripeState.loaded,
        rx.cond(
            StripeState.connected,
            rx.vstack(
                connection_card(),
                sync_card(),
                reconciliation_card(),
                catalogue_card(),
                webhook_card(),
                develop_locally(),
                key_form(),
                spacing="4",
                width="100%",
            ),
            rx.vstack(not_connected(), key_form(), webhook_card(), develop_locally(), spacing="4", width="100%"),
        ),
        loading(),
    )
