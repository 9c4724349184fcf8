"""The overview page: KPIs with their comparison, net revenue and orders per day (current vs comparison), the top
campaigns for the URL's date range, then today's traffic and the latest events, live. A "get started" card until
the account has any data."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.charts import chart_card, dashboard_skeleton, kpi_grid, range_picker
from app.components.early_figures import early_kpis, early_shown
from app.components.events import events_table
from app.components.layout import loading, template
from app.state.base import AppState
from app.state.live import OverviewState
from app.state.metrics import BlendedLine, CampaignLine, DashboardState


def empty_state() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.icon("chart-no-axes-combined", size=36, color=rx.color("gray", 9)),
            rx.heading("No data yet", size="4"),
            rx.text(
                "Install the PaidSignal pixel on ",
                AppState.account_name,
                "'s shop and connect Stripe: visits, paid orders and their campaigns will show here.",
                color_scheme="gray",
                text_align="center",
            ),
            rx.hstack(
                rx.link(rx.button("Install the pixel", id="go-install"), href=routes.INSTALL),
                # Connecting Stripe needs an admin or the owner: the others are not sent to a page that refuses.
                rx.cond(
                    AppState.can_manage_stripe,
                    rx.link(rx.button("Connect Stripe", variant="soft", id="go-stripe"), href=routes.SETTINGS_STRIPE),
                ),
                spacing="3",
            ),
            align="center",
            spacing="3",
            padding="32px",
        ),
        id="empty-overview",
    )


def kpi(label: str, value: rx.Var[int], id: str) -> rx.Component:
    return rx.card(
        rx.vstack(rx.text(label, size="2", color_scheme="gray"), rx.heading(value, size="6", id=id), spacing="1"),
        min_width="160px",
    )


def campaign_row(line: CampaignLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.cond(line["url"] != "", rx.link(line["campaign"], href=line["url"]), rx.text(line["campaign"]))
        ),
        rx.table.cell(line["net"]),
        rx.table.cell(line["orders"]),
        rx.table.cell(line["conversion_rate"]),
        rx.table.cell(line["spend"]),
        rx.table.cell(line["roas"]),
        class_name="campaign-line",
    )


def top_campaigns() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Top campaigns", size="3"),
                rx.spacer(),
                rx.link("Explore all metrics →", href=routes.METRICS, size="2", id="go-metrics"),
                width="100%",
                align="center",
            ),
            rx.cond(
                DashboardState.campaigns.length() == 0,
                rx.text("No campaign had traffic, orders or spend in this range.", size="2", color_scheme="gray"),
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Campaign", "Net revenue", "Orders", "Conv. rate", "Spend", "ROAS")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(DashboardState.campaigns, campaign_row)),
                    width="100%",
                    size="1",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="top-campaigns",
    )


def blended_row(line: BlendedLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(line["currency"]),
        rx.table.cell(line["mer"], class_name="blended-mer"),
        rx.table.cell(line["attributed_roas"], class_name="blended-roas"),
        rx.table.cell(line["blended_cpa"], class_name="blended-cpa"),
        rx.table.cell(line["attributed_cpa"], class_name="blended-attributed-cpa"),
        rx.table.cell(line["attributed_share"]),
        class_name="blended-line",
    )


def blended_figures() -> rx.Component:
    """The whole business (MER, blended new-customer CPA) beside what campaigns are credited with."""
    headers = ("Currency", "MER", "Attributed ROAS", "Blended new-customer CPA", "Attributed new-customer CPA",
               "Attributed share of net")  # fmt: skip
    return rx.cond(
        DashboardState.blended.length() > 0,
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.heading("Whole business and campaigns", size="3"),
                    rx.spacer(),
                    rx.link("Lifetime value →", href=routes.LTV, size="2", id="go-ltv"),
                    width="100%",
                    align="center",
                ),
                rx.text(
                    "MER = all net revenue / all ad spend; blended CPA = all spend / all new customers. The attributed "
                    "figures count only what campaigns are credited with.",
                    size="1",
                    color_scheme="gray",
                ),
                rx.table.root(
                    rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in headers])),
                    rx.table.body(rx.foreach(DashboardState.blended, blended_row)),
                    width="100%",
                    size="1",
                ),
                spacing="2",
                width="100%",
            ),
            width="100%",
            id="blended",
        ),
    )


def figures() -> rx.Component:
    drawn = DashboardState.charts_drawn
    return rx.vstack(
        rx.cond(
            ~DashboardState.has_figures,
            rx.callout(
                "Nothing in this range yet: no sessions, orders or spend. Try a longer range.",
                icon="info",
                color_scheme="gray",
                id="no-figures",
                width="100%",
            ),
        ),
        kpi_grid(DashboardState.kpis, "kpis"),
        rx.grid(
            chart_card("Net revenue per day", DashboardState.revenue_chart, id="chart-revenue", drawn=drawn),
            chart_card("Orders per day", DashboardState.orders_chart, id="chart-orders", drawn=drawn),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="3",
            width="100%",
            # Mounted with the KPI figures: only then is plotly fetched (docs/performance.md).
            on_mount=DashboardState.draw_charts,
        ),
        rx.cond(
            DashboardState.comparing,
            rx.text("Dashed: the comparison period, day by day.", size="1", color_scheme="gray"),
        ),
        blended_figures(),
        top_campaigns(),
        spacing="4",
        width="100%",
    )


def today() -> rx.Component:
    return rx.vstack(
        rx.heading("Today", size="4"),
        rx.text("Live (", AppState.account_timezone, ")", size="2", color_scheme="gray"),
        rx.hstack(
            kpi("Events", OverviewState.events_today, "kpi-events"),
            kpi("Visitors", OverviewState.visitors_today, "kpi-visitors"),
            kpi("Sessions", OverviewState.sessions_today, "kpi-sessions"),
            spacing="3",
            wrap="wrap",
        ),
        rx.text(OverviewState.derived_lag, size="1", color_scheme="gray", id="derived-lag"),
        rx.heading("Latest events", size="3"),
        events_table(OverviewState.recent, empty="No events yet.", id="overview-events"),
        spacing="3",
        width="100%",
        id="overview-today",
    )


def figures_pending() -> rx.Component:
    """Until the state's figures come: the KPI cards the page's first script fetched (app/components/early_figures.py),
    drawn by the same components, where there are some, else the skeleton."""
    return rx.cond(
        early_shown(DashboardState.loaded),
        rx.vstack(kpi_grid(early_kpis, "kpis"), spacing="4", width="100%", id="early-figures"),
        dashboard_skeleton("dashboard-loading"),
    )


def dashboard() -> rx.Component:
    return rx.vstack(
        range_picker(),
        rx.cond(
            DashboardState.error != "",
            rx.callout(
                DashboardState.error, icon="triangle-alert", color_scheme="red", id="dashboard-error", width="100%"
            ),
        ),
        rx.cond(
            DashboardState.loading | ~DashboardState.loaded,
            figures_pending(),
            rx.cond(DashboardState.error == "", figures()),
        ),
        rx.divider(),
        today(),
        spacing="4",
        width="100%",
    )


def session_pending() -> rx.Component:
    """Before the session's delta: the early KPI cards where the page's first script got them (the dashboard's frame
    around them, as the session's delta will draw it), else the layout's spinner."""
    return rx.cond(
        early_shown(DashboardState.loaded),
        rx.vstack(range_picker(), figures_pending(), spacing="4", width="100%"),
        loading(),
    )


# One on_load event for the whole page, the session check included (docs/performance.md, "The dashboard's first paint").
@template(routes.HOME, "Overview", on_load=DashboardState.load_home, own_login_check=True, pending=session_pending)
def home() -> rx.Component:
    no_data = (
        DashboardState.loaded
        & ~DashboardState.loading
        & ~DashboardState.has_data
        & ~OverviewState.has_events
        & (DashboardState.error == "")
    )
    return rx.cond(no_data, empty_state(), dashboard())
