"""Campaigns page: search, filters and pages kept in the URL; a form to start a new campaign."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.forms import readonly_note, select_input, status_badge
from app.components.layout import field, form_error, loading, no_match_card, template
from app.state.campaigns import ALL, CHANNEL_GROUP_OPTIONS, CHANNELS, STATUSES, CampaignItem, CampaignsState


def create_form() -> rx.Component:
    return rx.cond(
        CampaignsState.can_edit_marketing,
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("New campaign", size="3"),
                    form_error(CampaignsState.error),
                    rx.hstack(
                        field("Name", "name", placeholder="e.g. Spring sale (Meta)", required=True),
                        rx.vstack(
                            rx.text("Platform", size="2", weight="medium"),
                            select_input(
                                CHANNELS,
                                value=CampaignsState.new_channel,
                                on_change=CampaignsState.set_new_channel,
                                id="new-channel",
                            ),
                            spacing="1",
                        ),
                        rx.vstack(
                            rx.text("Channel group", size="2", weight="medium"),
                            select_input(
                                CHANNEL_GROUP_OPTIONS,
                                value=CampaignsState.new_channel_group,
                                on_change=CampaignsState.set_new_channel_group,
                                id="new-channel-group",
                            ),
                            spacing="1",
                        ),
                        rx.button("Create campaign", type="submit", id="create-campaign"),
                        align="end",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                ),
                on_submit=CampaignsState.create_campaign,
                reset_on_submit=True,
            ),
            width="100%",
        ),
        readonly_note(
            "Your role can look at campaigns; creating and editing them needs a marketer, an admin or the owner.",
            "campaigns-readonly-note",
        ),
    )


def filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=14)),
                name="q",
                id="campaign-search",
                placeholder="Search by name",
                default_value=CampaignsState.search,
                # A new value from the URL (back button, shared link) remounts the input with it.
                key=CampaignsState.search,
                width="240px",
            ),
            rx.button("Search", type="submit", variant="soft", id="search-campaigns"),
            select_input(
                [(ALL, "All statuses"), *[(s, s.capitalize()) for s in STATUSES]],
                value=CampaignsState.status_filter,
                on_change=CampaignsState.filter_status,
                id="filter-status",
            ),
            select_input(
                [(ALL, "All channel groups"), *CHANNEL_GROUP_OPTIONS],
                value=CampaignsState.group_filter,
                on_change=CampaignsState.filter_group,
                id="filter-group",
            ),
            select_input(
                [(ALL, "All platforms"), *[(c, c.capitalize()) for c in CHANNELS]],
                value=CampaignsState.channel_filter,
                on_change=CampaignsState.filter_channel,
                id="filter-channel",
            ),
            rx.cond(
                CampaignsState.filtered,
                rx.button(
                    "Clear filters",
                    type="button",
                    variant="ghost",
                    size="2",
                    on_click=CampaignsState.clear_filters,
                    id="clear-filters",
                ),
            ),
            spacing="3",
            align="center",
            wrap="wrap",
        ),
        on_submit=CampaignsState.search_campaigns,
        width="100%",
    )


def campaign_row(item: CampaignItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(item["name"], href=item["url"], weight="medium", class_name="campaign-link")),
        rx.table.cell(
            rx.hstack(
                rx.text(item["channel_group"], size="2", class_name="campaign-channel-group"),
                rx.badge(item["channel"], variant="outline", color_scheme="gray", class_name="campaign-platform"),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(status_badge(item["status"])),
        rx.table.cell(rx.text(item["version"], size="2", class_name="campaign-version")),
        rx.table.cell(
            rx.cond(item["has_draft"], rx.badge("draft changes", color_scheme="amber", class_name="draft-badge"))
        ),
        rx.table.cell(rx.text(item["pixel_count"], size="2")),
        class_name="campaign-row",
    )


def pagination() -> rx.Component:
    return rx.hstack(
        rx.text(CampaignsState.total_text, size="2", color_scheme="gray", id="campaign-total"),
        rx.spacer(),
        rx.button(
            rx.icon("chevron-left", size=14),
            "Previous",
            size="1",
            variant="soft",
            disabled=CampaignsState.page <= 1,
            on_click=CampaignsState.previous_page,
            id="prev-page",
        ),
        rx.text("Page ", CampaignsState.page, " of ", CampaignsState.pages, size="2", id="page-info"),
        rx.button(
            "Next",
            rx.icon("chevron-right", size=14),
            size="1",
            variant="soft",
            disabled=CampaignsState.page >= CampaignsState.pages,
            on_click=CampaignsState.next_page,
            id="next-page",
        ),
        align="center",
        spacing="3",
        width="100%",
    )


def empty_state() -> rx.Component:
    return rx.cond(
        CampaignsState.filtered,
        no_match_card("campaigns", CampaignsState.clear_filters),
        rx.card(
            rx.vstack(
                rx.icon("megaphone", size=32, color=rx.color("gray", 9)),
                rx.heading("No campaigns yet", size="4"),
                rx.text(
                    "A campaign tags the sessions its ads bring (by UTM values, landing path or click id) with the "
                    "version of its setup that was live, so results can be compared version by version.",
                    color_scheme="gray",
                    text_align="center",
                    max_width="520px",
                ),
                align="center",
                spacing="3",
                padding="32px",
            ),
            id="campaigns-empty",
        ),
    )


def campaigns_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Name", "Channel group · platform", "Status", "Live version", "Draft", "Pixels")
                    ]
                )
            ),
            rx.table.body(rx.foreach(CampaignsState.campaigns, campaign_row)),
            width="100%",
            id="campaigns-table",
        ),
        pagination(),
        width="100%",
        spacing="3",
    )


@template(routes.CAMPAIGNS, "Campaigns", on_load=CampaignsState.load_campaigns)
def campaigns_page() -> rx.Component:
    return rx.vstack(
        create_form(),
        filters(),
        rx.cond(
            CampaignsState.loaded,
            rx.cond(CampaignsState.campaigns.length() == 0, empty_state(), campaigns_table()),
            loading(),
        ),
        spacing="4",
        width="100%",
    )
