"""The platform-vs-verified table: what the ad platforms claim next to what Stripe was paid."""

from __future__ import annotations

import reflex as rx

from app.state.metrics.claims import BreakdownItem, ClaimItem, PlatformClaimsState

HEADERS = ("Campaign", "Platform", "Spend", "Claimed purchases", "Verified orders", "Claimed / verified",
           "Claimed value", "Verified net revenue", "Platform ROAS", "Verified ROAS")  # fmt: skip


def claim_row(item: ClaimItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.cond(item["url"] != "", rx.link(item["campaign"], href=item["url"]), rx.text(item["campaign"]))
        ),
        rx.table.cell(rx.text(item["platforms"], size="2")),
        rx.table.cell(rx.text(item["spend"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["claimed_purchases"], size="2", class_name="claimed-purchases")),
        rx.table.cell(rx.text(item["verified_orders"], size="2", class_name="verified-orders")),
        rx.table.cell(
            rx.vstack(
                rx.text(item["reporting_ratio"], size="2", weight="medium", class_name="reporting-ratio"),
                rx.cond(item["reporting_note"] != "", rx.text(item["reporting_note"], size="1", color_scheme="gray")),
                rx.cond(
                    PlatformClaimsState.claims_comparing & (item["previous_ratio"] != ""),
                    rx.text("before: ", item["previous_ratio"], size="1", color_scheme="gray"),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(rx.text(item["claimed_value"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["verified_net"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["platform_roas"], size="2", class_name="platform-roas")),
        rx.table.cell(rx.text(item["verified_roas"], size="2", class_name="verified-roas")),
        class_name="claim-row",
    )


def claims_table(*, id: str) -> rx.Component:
    return rx.vstack(
        rx.cond(
            PlatformClaimsState.claims_timezone_note != "",
            rx.callout(PlatformClaimsState.claims_timezone_note, icon="clock", color_scheme="amber", size="1"),
        ),
        rx.cond(
            PlatformClaimsState.claims.length() == 0,
            rx.text(
                "No platform figures in this range. Connect Meta or Google Ads under Settings → Ad platforms.",
                size="2",
                color_scheme="gray",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in HEADERS])),
                    rx.table.body(rx.foreach(PlatformClaimsState.claims, claim_row)),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
        ),
        spacing="2",
        width="100%",
        id=id,
    )


def claims_chart() -> rx.Component:
    """A campaign's claimed purchases and verified orders day by day. It mounts with the table; plotly's script (and
    the figure) follow once it has (see ``chart_card``)."""
    return rx.vstack(
        rx.heading("Day by day", size="3"),
        rx.cond(
            PlatformClaimsState.claims_chart_drawn,
            rx.plotly.basic(
                data=PlatformClaimsState.claims_chart, use_resize_handler=True, width="100%", height="280px"
            ),
            rx.box(height="280px", width="100%", class_name="chart-pending"),
        ),
        spacing="2",
        width="100%",
        id="campaign-claims-chart",
        class_name="chart-card",
        on_mount=PlatformClaimsState.draw_claims_chart,
    )


def claims_card(
    *, id: str, title: str = "What the platforms claim vs what was paid", chart: bool = False
) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(
                "Purchases and value as Meta and Google Ads report them (one purchase type on Meta, never summed), "
                "next to the paid orders and net revenue the attribution model credits to the campaign. Claimed / "
                "verified above 1× means the platform claims more purchases than were paid.",
                size="1",
                color_scheme="gray",
            ),
            claims_table(id=f"{id}-table"),
            *([claims_chart()] if chart else []),
            breakdown_table(),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id=id,
    )


def breakdown_row(item: BreakdownItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.cond(
                item["level"] == "Ad",
                rx.text("↳ ", item["name"], size="2", padding_left="16px"),
                rx.text(item["name"], size="2", weight="medium"),
            )
        ),
        rx.table.cell(rx.text(item["level"], size="1", color_scheme="gray")),
        rx.table.cell(rx.text(item["spend"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["claimed_purchases"], size="2")),
        rx.table.cell(rx.text(item["verified_orders"], size="2")),
        rx.table.cell(rx.text(item["reporting_ratio"], size="2")),
        rx.table.cell(rx.text(item["platform_roas"], size="2")),
        class_name="breakdown-row",
    )


def breakdown_table() -> rx.Component:
    return rx.cond(
        PlatformClaimsState.breakdown.length() > 0,
        rx.vstack(
            rx.heading("By ad set and ad", size="3"),
            rx.text(
                "Verified orders here are the paid orders whose last touch landed with the ad set's or ad's id in "
                "the URL (utm_term, utm_content: see the URL templates).",
                size="1",
                color_scheme="gray",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Name", "", "Spend", "Claimed", "Verified", "Claimed / verified", "ROAS")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(PlatformClaimsState.breakdown, breakdown_row)),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            spacing="2",
            width="100%",
            id="campaign-breakdown",
        ),
    )
