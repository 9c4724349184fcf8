"""The campaign page's "Ad platforms" section: the platform campaigns counted here, and mapping another."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.campaign_editor import hint, section
from app.state.campaign_platforms import CampaignPlatformsState, PlatformCampaignItem


def mapped_row(item: PlatformCampaignItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(item["platform"], variant="outline")),
        rx.table.cell(rx.text(item["name"], size="2")),
        rx.table.cell(rx.text(item["spend"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["mapped_by"], size="1", color_scheme="gray")),
        rx.table.cell(
            rx.cond(
                CampaignPlatformsState.can_edit_marketing,
                rx.button(
                    "Unmap",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    class_name="unmap-platform",
                    on_click=CampaignPlatformsState.unmap(item["ref"]),
                ),
            )
        ),
        class_name="mapped-platform-campaign",
    )


def map_controls() -> rx.Component:
    return rx.cond(
        CampaignPlatformsState.choices.length() == 0,
        rx.text(
            "No unmapped platform campaign. Connect Meta or Google Ads on ",
            rx.link("Ad platforms", href=routes.SETTINGS_AD_PLATFORMS),
            ".",
            size="2",
            color_scheme="gray",
            id="no-platform-choices",
        ),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(
                    id="map-platform-select", placeholder="Choose a platform campaign", min_width="320px"
                ),
                rx.select.content(
                    rx.foreach(CampaignPlatformsState.choices, lambda c: rx.select.item(c["label"], value=c["ref"]))
                ),
                value=CampaignPlatformsState.chosen_ref,
                on_change=CampaignPlatformsState.set_chosen_ref,
            ),
            rx.button("Map", variant="soft", on_click=CampaignPlatformsState.map_chosen, id="map-platform"),
            spacing="2",
            align="center",
        ),
    )


def platforms_section() -> rx.Component:
    return section(
        "Ad platform campaigns",
        hint(
            "The Meta and Google Ads campaigns whose spend and claimed purchases count for this campaign: found by "
            "the ids your ads' URL templates put in landing URLs, or chosen here (closest names first). Spend of the "
            "last 30 days."
        ),
        rx.cond(
            CampaignPlatformsState.mapped.length() == 0,
            rx.text(
                "No platform campaign counts for this campaign yet.",
                size="2",
                color_scheme="gray",
                id="campaign-platforms-empty",
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(*[rx.table.column_header_cell(h) for h in ("Platform", "Campaign", "Spend", "", "")])
                ),
                rx.table.body(rx.foreach(CampaignPlatformsState.mapped, mapped_row)),
                width="100%",
                id="campaign-platforms",
            ),
        ),
        rx.cond(CampaignPlatformsState.can_edit_marketing, map_controls()),
        id="platforms-section",
    )
