"""Settings → Ad platforms: connect Meta and Google Ads reporting; each connection's account, sync and test."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.forms import readonly_note
from app.components.layout import confirm_button, loading, template
from app.state.ad_platforms import PLATFORM_LABELS, PLATFORMS, AdPlatformsState, ConnectionItem, connection_fields
from app.state.campaign_platforms import PlatformCampaignItem

_WORDS = {"id": "ID", "oauth": "OAuth"}
_HELP = {
    "meta": "A system-user access token of your Business Manager, assigned to the ad account, with the ads_read "
    "permission (Business settings → System users → Generate new token).",
    "google": "An OAuth client of your Google Cloud project and a refresh token granted with the "
    "https://www.googleapis.com/auth/adwords scope by a user with access to the customer. The developer token is "
    "optional.",
}


def _label(name: str) -> str:
    words = [_WORDS.get(w, w) for w in name.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def connect_form(platform: str) -> rx.Component:
    inputs = [
        rx.vstack(
            rx.text(
                _label(f.name) + ("" if f.required else " (optional)"),
                as_="label", size="2", weight="medium", html_for=f"{platform}-{f.name}",
            ),
            rx.input(
                name=f"{platform}_{f.name}", id=f"{platform}-{f.name}", width="100%", required=f.required,
                **({"type": "password", "auto_complete": "new-password"} if f.secret else {}),
            ),
            rx.text(f.hint, size="1", color_scheme="gray"),
            spacing="1", width="100%",
        )
        for f in connection_fields(platform)
    ]  # fmt: skip
    error = AdPlatformsState.errors[platform].to(str)
    return rx.card(
        rx.form(
            rx.vstack(
                rx.heading(f"Connect {PLATFORM_LABELS[platform]}", size="3"),
                rx.text(_HELP[platform], size="2", color_scheme="gray"),
                rx.cond(
                    error != "",
                    rx.callout(
                        error,
                        icon="triangle-alert",
                        color_scheme="red",
                        size="1",
                        role="alert",
                        id=f"{platform}-connect-error",
                        width="100%",
                    ),
                ),
                rx.input(type="hidden", name="platform", value=platform),
                rx.grid(*inputs, columns="2", spacing="3", width="100%"),
                rx.button(f"Test and connect {PLATFORM_LABELS[platform]}", type="submit", id=f"connect-{platform}"),
                spacing="3",
                width="100%",
            ),
            on_submit=AdPlatformsState.connect_platform,
            reset_on_submit=True,
            key=AdPlatformsState.form_key,
        ),
        width="100%",
        id=f"{platform}-connect",
    )


def connection_card(item: ConnectionItem) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(item["label"], size="3"),
                rx.badge(item["ad_account_id"], variant="soft"),
                rx.spacer(),
                rx.cond(
                    AdPlatformsState.can_edit_marketing,
                    rx.button(
                        "Test connection",
                        variant="soft",
                        size="1",
                        id=f"test-{item['platform']}",
                        on_click=AdPlatformsState.test_platform(item["public_id"]),
                    ),
                ),
                rx.cond(
                    AdPlatformsState.can_edit_marketing,
                    confirm_button(
                        "Disconnect",
                        title="Disconnect this ad account?",
                        description="Its synced figures are removed; synced spend goes back to CSV/API figures.",
                        confirm_label="Disconnect",
                        on_confirm=AdPlatformsState.disconnect_platform(item["public_id"]),
                        id=f"disconnect-{item['platform']}",
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.grid(
                rx.text("Ad account", size="1", color_scheme="gray"),
                rx.text(item["ad_account_name"], size="2", class_name="ad-account-name"),
                rx.text("Currency", size="1", color_scheme="gray"),
                rx.text(item["currency"], size="2", class_name="ad-account-currency"),
                rx.text("Timezone", size="1", color_scheme="gray"),
                rx.text(item["timezone"], size="2", class_name="ad-account-timezone"),
                rx.text("Credentials", size="1", color_scheme="gray"),
                rx.text(item["credentials_hint"], size="2"),
                rx.text("Last synced", size="1", color_scheme="gray"),
                rx.text(item["last_synced_at"], size="2"),
                columns="2",
                spacing="2",
            ),
            rx.cond(item["progress"] != "", rx.text(item["progress"], size="2", class_name="sync-progress")),
            rx.cond(
                item["timezone_note"] != "",
                rx.callout(item["timezone_note"], icon="clock", color_scheme="amber", size="1"),
            ),
            rx.cond(
                item["last_error"] != "",
                rx.callout(
                    item["last_error"], icon="triangle-alert", color_scheme="red", size="1", class_name="sync-error"
                ),
            ),
            rx.cond(
                AdPlatformsState.tested_id == item["public_id"],
                rx.callout(
                    AdPlatformsState.test_message,
                    icon=rx.cond(AdPlatformsState.test_ok, "circle-check", "triangle-alert"),
                    color_scheme=rx.cond(AdPlatformsState.test_ok, "green", "red"),
                    size="1",
                    id=f"test-result-{item['platform']}",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id=f"connection-{item['platform']}",
    )


def platform_campaign_row(item: PlatformCampaignItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(item["platform"], variant="outline")),
        rx.table.cell(rx.text(item["name"], size="2")),
        rx.table.cell(rx.text(item["spend"], size="2", white_space="nowrap")),
        rx.table.cell(
            rx.cond(
                item["campaign_name"] != "",
                rx.text(item["campaign_name"], size="2"),
                rx.badge("not mapped", color_scheme="amber", class_name="unmapped"),
            )
        ),
        class_name="platform-campaign-row",
    )


def platform_campaigns_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Platform campaigns", size="3"),
            rx.text(
                "Spend of the last 30 days. A platform campaign counts for a PaidSignal campaign when landing URLs "
                "carry its id (see the docs' URL templates) or when it is mapped on the campaign's page; until then "
                "its spend is listed here and counted nowhere.",
                size="2",
                color_scheme="gray",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *[rx.table.column_header_cell(h) for h in ("Platform", "Campaign", "Spend", "Counts for")]
                    )
                ),
                rx.table.body(rx.foreach(AdPlatformsState.platform_campaigns, platform_campaign_row)),
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="platform-campaigns",
    )


@template(routes.SETTINGS_AD_PLATFORMS, "Ad platforms", on_load=AdPlatformsState.load_ad_platforms)
def ad_platforms_page() -> rx.Component:
    return rx.cond(
        AdPlatformsState.loaded,
        rx.vstack(
            rx.text(
                "PaidSignal reads what Meta and Google Ads report — spend, impressions, clicks, purchases and their "
                "value per campaign, ad set and ad, day by day — so spend arrives by itself and each campaign shows "
                "what the platform claims next to what Stripe was paid. See the docs for the URL templates that let "
                "campaigns be matched by id.",
                size="2",
                color_scheme="gray",
            ),
            rx.hstack(
                rx.button(
                    "Refresh progress",
                    variant="soft",
                    size="1",
                    on_click=AdPlatformsState.refresh_progress,
                    id="refresh-progress",
                ),
            ),
            rx.foreach(AdPlatformsState.connections, connection_card),
            rx.cond(AdPlatformsState.platform_campaigns.length() > 0, platform_campaigns_card()),
            rx.cond(
                AdPlatformsState.can_edit_marketing,
                rx.vstack(*[connect_form(p) for p in PLATFORMS], spacing="4", width="100%"),
                readonly_note(
                    "Your role can look at the connections; connecting and disconnecting need a marketer, an admin "
                    "or the owner.",
                    "ad-platforms-readonly-note",
                ),
            ),
            spacing="4",
            width="100%",
        ),
        loading(),
    )
