"""Jobs (staff only): the job leases and the recent runs of the in-process job runner, across every process."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.forms import clear_filters_button, load_more_footer, select_input
from app.components.layout import loading, no_match_card, template
from app.state.admin_jobs import ALL, OUTCOMES, STAFF_ONLY, AdminJobsState, LeaseItem, RunItem

OUTCOME_COLORS = {"ok": "green", "error": "red", "lease_lost": "amber", "running": "blue", "abandoned": "orange"}
LEASE_COLUMNS = ("Job", "Holder", "Acquired", "Expires", "Next slot due", "Held now")
RUN_COLUMNS = ("Job", "Holder", "Started", "Finished", "Duration", "Outcome", "Detail")


def small(*children: rx.Component | str | rx.Var, **props: object) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray", **props)


def outcome_badge(outcome: str | rx.Var[str]) -> rx.Component:
    return rx.badge(
        outcome,
        color_scheme=rx.match(outcome, *OUTCOME_COLORS.items(), "gray"),
        variant="soft",
        class_name="run-outcome",
    )


def lease_row(item: LeaseItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(item["name"], size="1"), class_name="lease-name"),
        rx.table.cell(rx.text(item["holder"], size="1", class_name="lease-holder")),
        rx.table.cell(rx.text(item["acquired_at"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["expires_at"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["due_at"], size="2", white_space="nowrap"), class_name="lease-due"),
        rx.table.cell(
            rx.cond(
                item["held"],
                rx.badge("held", color_scheme="blue", variant="soft"),
                rx.badge("free", color_scheme="gray", variant="soft"),
            ),
            class_name="lease-held",
        ),
        class_name="lease-row",
        custom_attrs={"data-job": item["name"]},
    )


def leases_table() -> rx.Component:
    return rx.vstack(
        rx.heading("Leases", size="4"),
        small(
            "A leased job runs in one process at a time; a once-per-interval job runs once per slot across every "
            "process (the next slot may run from its due time). A holder that died keeps its lease until it expires."
        ),
        rx.cond(
            AdminJobsState.leases.length() == 0,
            small("No job has taken a lease yet.", id="leases-empty"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in LEASE_COLUMNS])),
                rx.table.body(rx.foreach(AdminJobsState.leases, lease_row)),
                width="100%",
                size="1",
                id="leases-table",
            ),
        ),
        spacing="2",
        width="100%",
    )


def run_row(item: RunItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(item["job_name"], size="1"), class_name="run-job"),
        rx.table.cell(rx.text(item["holder"], size="1", class_name="run-holder")),
        rx.table.cell(rx.text(item["started_at"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["finished_at"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(item["duration"], size="2", white_space="nowrap"), class_name="run-duration"),
        rx.table.cell(outcome_badge(item["outcome"])),
        rx.table.cell(
            rx.text(
                item["detail"], size="1", color_scheme="gray", truncate=True, max_width="320px", title=item["detail"]
            ),
            class_name="run-detail",
        ),
        class_name="run-row",
        custom_attrs={"data-run": item["run_id"]},
    )


def run_filters() -> rx.Component:
    return rx.hstack(
        rx.select.root(
            rx.select.trigger(id="filter-job", placeholder="All jobs"),
            rx.select.content(
                rx.select.item("All jobs", value=ALL),
                rx.foreach(AdminJobsState.job_names, lambda name: rx.select.item(name, value=name)),
            ),
            value=AdminJobsState.job_filter,
            on_change=AdminJobsState.filter_job,
        ),
        select_input(
            [(ALL, "All outcomes"), *[(o, o) for o in OUTCOMES]],
            value=AdminJobsState.outcome_filter,
            on_change=AdminJobsState.filter_outcome,
            id="filter-outcome",
        ),
        clear_filters_button(AdminJobsState.filtered, AdminJobsState.clear_filters),
        rx.spacer(),
        rx.button(
            rx.icon("refresh-cw", size=14),
            "Refresh",
            variant="soft",
            on_click=AdminJobsState.refresh,
            id="refresh-jobs",
        ),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def runs_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in RUN_COLUMNS])),
            rx.table.body(rx.foreach(AdminJobsState.runs, run_row)),
            width="100%",
            size="1",
            id="runs-table",
        ),
        load_more_footer(
            shown=AdminJobsState.runs.length(),
            total=AdminJobsState.total,
            noun="runs",
            has_more=AdminJobsState.has_more,
            loading=AdminJobsState.loading_more,
            on_click=AdminJobsState.load_more,
            id="runs-total",
        ),
        spacing="3",
        width="100%",
    )


def runs_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Recent runs", size="4"),
        small(
            "Times in UTC. Quiet jobs record a run only when they did something or failed. ",
            "“abandoned”: still running in the record, but its process no longer holds the lease (it died mid-run).",
        ),
        run_filters(),
        rx.cond(
            AdminJobsState.runs.length() == 0,
            rx.cond(
                AdminJobsState.filtered,
                no_match_card("runs", AdminJobsState.clear_filters),
                small("No job has run yet.", id="runs-empty"),
            ),
            runs_table(),
        ),
        spacing="3",
        width="100%",
    )


def staff_only() -> rx.Component:
    return rx.callout(STAFF_ONLY, icon="shield-alert", color_scheme="amber", id="staff-only", width="100%")


@template(routes.ADMIN_JOBS, "Jobs", on_load=AdminJobsState.load_jobs)
def admin_jobs_page() -> rx.Component:
    return rx.cond(
        AdminJobsState.loaded,
        rx.cond(
            AdminJobsState.forbidden,
            staff_only(),
            rx.vstack(
                rx.cond(
                    AdminJobsState.error != "",
                    rx.callout(
                        AdminJobsState.error, icon="triangle-alert", color_scheme="red", size="1", id="jobs-error"
                    ),
                ),
                leases_table(),
                runs_section(),
                spacing="5",
                width="100%",
            ),
        ),
        loading(),
    )
