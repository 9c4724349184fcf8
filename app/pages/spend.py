"""Ad spend: upload a CSV, see every line checked (errors and replacements) before importing, and the stored spend
with filters, "Load more" and delete."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ArrayVar, ObjectVar, Var

from app import routes
from app.components.forms import campaign_filter, clear_filters_button, date_range_form, load_more_footer, readonly_note
from app.components.layout import confirm_button, loading, no_match_card, template
from app.state.spend import ALL, MAX_BYTES, MAX_ROWS, PREVIEW_LIMIT, UPLOAD_ID, PreviewRow, SpendRow, SpendState


def hint(*children: Any, **props: Any) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray", **props)


def csv_format() -> rx.Component:
    return rx.vstack(
        rx.text(
            "One row per day and campaign, with a header row: ",
            rx.code("date"),
            " (YYYY-MM-DD), ",
            rx.code("campaign"),
            " (its id cmp_… or its exact name), ",
            rx.code("spend"),
            " (like 125.50), ",
            rx.code("currency"),
            " (EUR, USD, …) and, optionally, ",
            rx.code("impressions"),
            " and ",
            rx.code("clicks"),
            ". Columns in any order; comma or semicolon separated; UTF-8.",
            size="2",
            color_scheme="gray",
        ),
        hint(
            "Importing a day again replaces what is stored for that day and campaign: it is never added twice. "
            f"At most {MAX_ROWS:,} rows and {MAX_BYTES // (1024 * 1024)} MB per file."
        ),
        rx.code_block(
            "date,campaign,spend,currency,impressions,clicks\n2026-11-20,Spring sale,125.50,EUR,12000,340",
            language="csv",
            width="100%",
        ),
        rx.button(
            rx.icon("download", size=14),
            "Download a template",
            variant="soft",
            size="2",
            on_click=SpendState.download_template,
            id="spend-template",
        ),
        spacing="2",
        align="start",
        width="100%",
    )


# --- upload and preview ----------------------------------------------------------------------------------------------


def rejected_files(rejected: Var) -> Var:
    """react-dropzone's rejections as ``[{name, codes}]``: without the File objects, which socket.io would send to
    the server in full (a 20 MB file over the websocket drops the connection and reloads the page)."""

    def described(rejection: Var) -> Var:
        entry = rejection.to(ObjectVar, dict[str, Any])
        errors = entry["errors"].to(ArrayVar, list[dict[str, Any]])
        return Var.create(
            {
                "name": entry["file"].to(ObjectVar, dict[str, Any])["name"],
                "codes": errors.map(lambda error: error.to(ObjectVar, dict[str, Any])["code"]),
            }
        )

    return rejected.to(ArrayVar, list[dict[str, Any]]).map(described)


def upload_zone() -> rx.Component:
    upload = rx.upload(
        rx.vstack(
            rx.icon("upload", size=24, color=rx.color("gray", 9)),
            rx.text("Drop a spend CSV here, or click to choose one", size="2", weight="medium"),
            hint(".csv, up to ", f"{MAX_BYTES // (1024 * 1024)} MB"),
            align="center",
            spacing="1",
        ),
        id=UPLOAD_ID,
        accept={"text/csv": [".csv"], "application/vnd.ms-excel": [".csv"], "text/plain": [".csv"]},
        multiple=False,
        max_files=1,
        max_size=MAX_BYTES,
        on_drop=SpendState.handle_upload(rx.upload_files(upload_id=UPLOAD_ID)),
        # In place of Reflex's toast with react-dropzone's raw "larger than 5242880 bytes": our own words, inline.
        on_drop_rejected=lambda rejected: SpendState.upload_rejected(rejected_files(rejected)),
        border=f"1px dashed {rx.color('gray', 7)}",
        border_radius="8px",
        padding="24px",
        width="100%",
        cursor="pointer",
    )
    # A new key after every upload mounts a fresh file input: browsers fire no change event when the same file is
    # chosen again in the same input, and re-importing a corrected (or the same) file is the common case.
    return rx.box(upload, id="spend-upload-zone", width="100%", key=SpendState.upload_generation)


def preview_row(row: PreviewRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["line"], size="2")),
        rx.table.cell(rx.text(row["date"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(row["campaign"], size="2")),
        rx.table.cell(rx.text(row["spend"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(row["impressions"], size="2")),
        rx.table.cell(rx.text(row["clicks"], size="2")),
        rx.table.cell(
            rx.cond(
                row["valid"],
                rx.cond(
                    row["replaces"] != "",
                    rx.badge(row["replaces"], color_scheme="amber", variant="soft", class_name="preview-replaces"),
                    rx.badge("new", color_scheme="green", variant="soft"),
                ),
                rx.vstack(
                    rx.foreach(
                        row["errors"],
                        lambda message: rx.text(message, size="1", color_scheme="red", class_name="preview-error"),
                    ),
                    spacing="1",
                    align="start",
                ),
            ),
        ),
        background=rx.cond(row["valid"], "transparent", rx.color("red", 2)),
        class_name=rx.cond(row["valid"], "preview-row", "preview-row preview-row-invalid"),
        custom_attrs={"data-line": row["line"]},
    )


def preview_counts() -> rx.Component:
    return rx.hstack(
        rx.badge(SpendState.valid_count, " valid", color_scheme="green", variant="soft", size="2", id="preview-valid"),
        rx.badge(
            SpendState.invalid_count, " with errors", color_scheme="red", variant="soft", size="2", id="preview-invalid"
        ),
        rx.badge(
            SpendState.replace_count,
            " replace stored days",
            color_scheme="amber",
            variant="soft",
            size="2",
            id="preview-replace",
        ),
        spacing="2",
        wrap="wrap",
    )


def preview_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("file-spreadsheet", size=18),
                rx.heading(SpendState.file_name, size="4", id="preview-file"),
                align="center",
                spacing="2",
            ),
            preview_counts(),
            rx.cond(
                SpendState.invalid_count > 0,
                hint("Rows with errors are skipped; fix them in the file and upload it again to import them too."),
            ),
            rx.cond(
                SpendState.preview_truncated,
                hint(
                    f"Showing {PREVIEW_LIMIT} of ",
                    SpendState.row_count,
                    " rows: rows with errors first, then rows that replace stored days.",
                ),
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Line", "Date", "Campaign", "Spend", "Impressions", "Clicks", "Check")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(SpendState.preview_rows, preview_row)),
                    width="100%",
                    size="1",
                    id="preview-table",
                ),
                max_height="480px",
                overflow_y="auto",
                width="100%",
            ),
            rx.hstack(
                rx.button(
                    SpendState.import_label,
                    on_click=SpendState.import_rows,
                    disabled=SpendState.valid_count == 0,
                    loading=SpendState.importing,
                    id="import-spend",
                ),
                rx.button(
                    "Cancel",
                    variant="soft",
                    color_scheme="gray",
                    on_click=SpendState.cancel_preview,
                    id="cancel-import",
                ),
                spacing="3",
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        width="100%",
        id="spend-preview",
    )


def import_section() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Import a CSV", size="4"),
            rx.cond(
                SpendState.can_edit_marketing,
                rx.vstack(
                    upload_zone(),
                    rx.cond(
                        SpendState.upload_error != "",
                        rx.callout(
                            SpendState.upload_error,
                            icon="triangle-alert",
                            color_scheme="red",
                            size="1",
                            id="upload-error",
                            width="100%",
                        ),
                    ),
                    spacing="3",
                    width="100%",
                ),
                readonly_note("Your role can view spend; a marketer, admin or owner imports it.", id="spend-readonly"),
            ),
            rx.hstack(
                hint("CSV columns: date, campaign, spend, currency, and optionally impressions and clicks."),
                rx.button(
                    rx.icon("download", size=12),
                    "Template",
                    variant="ghost",
                    size="1",
                    on_click=SpendState.download_template,
                    id="spend-template-link",
                ),
                align="center",
                spacing="2",
            ),
            hint(
                "Shops can also send spend from their server: POST ",
                rx.code(f"{routes.API_V1}/spend"),
                " with a secret key (see the ",
                rx.link("API docs", href=routes.API_DOCS, is_external=True),
                ").",
            ),
            spacing="3",
            width="100%",
            align="start",
        ),
        width="100%",
    )


# --- the stored spend ----------------------------------------------------------------------------------------------


def filters() -> rx.Component:
    return rx.hstack(
        campaign_filter(
            SpendState.campaign_options,
            value=SpendState.campaign_filter,
            on_change=SpendState.filter_campaign,
            all_value=ALL,
        ),
        date_range_form(
            since=SpendState.since, until=SpendState.until, on_submit=SpendState.filter_dates, prefix="spend"
        ),
        clear_filters_button(SpendState.filtered, SpendState.clear_filters),
        spacing="3",
        align="center",
        wrap="wrap",
        width="100%",
    )


def spend_row(row: SpendRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["day"], size="2", white_space="nowrap")),
        rx.table.cell(rx.text(row["campaign"], size="2", class_name="spend-campaign")),
        rx.table.cell(rx.text(row["spend"], size="2", white_space="nowrap", class_name="spend-amount")),
        rx.table.cell(rx.text(row["impressions"], size="2")),
        rx.table.cell(rx.text(row["clicks"], size="2")),
        rx.table.cell(
            rx.vstack(
                rx.badge(row["source"], variant="outline"),
                rx.cond(
                    row["replaced"] != "",
                    rx.text(row["replaced"], size="1", color_scheme="gray", class_name="spend-replaced"),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                SpendState.can_edit_marketing,
                confirm_button(
                    "Delete",
                    title="Delete this day's spend?",
                    description="The spend, impressions and clicks of this day and campaign are removed; the "
                    "dashboard no longer counts them.",
                    confirm_label="Delete",
                    on_confirm=SpendState.delete_row(row["day"], row["campaign_id"]),
                    class_name="delete-spend",
                ),
            )
        ),
        class_name="spend-row",
    )


def spend_table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    *[
                        rx.table.column_header_cell(h)
                        for h in ("Day", "Campaign", "Spend", "Impressions", "Clicks", "Source", "")
                    ]
                )
            ),
            rx.table.body(rx.foreach(SpendState.rows, spend_row)),
            width="100%",
            id="spend-table",
        ),
        load_more_footer(
            shown=SpendState.rows.length(),
            total=SpendState.total,
            noun="rows",
            has_more=SpendState.has_more,
            loading=SpendState.loading_more,
            on_click=SpendState.load_more,
            id="spend-total",
        ),
        spacing="3",
        width="100%",
    )


def empty_state() -> rx.Component:
    return rx.cond(
        SpendState.filtered,
        no_match_card("spend", SpendState.clear_filters),
        rx.card(
            rx.vstack(
                rx.icon("wallet", size=32, color=rx.color("gray", 9)),
                rx.heading("No ad spend yet", size="4"),
                rx.text(
                    "Export each campaign's daily cost from Meta, Google or any ad platform as a CSV and upload it "
                    "above; ROAS and CPA on the dashboard use it.",
                    color_scheme="gray",
                    text_align="center",
                    max_width="560px",
                ),
                csv_format(),
                align="center",
                spacing="3",
                padding="24px",
            ),
            id="spend-empty",
            width="100%",
        ),
    )


def stored_section() -> rx.Component:
    return rx.vstack(
        rx.heading("Stored spend", size="4"),
        filters(),
        rx.cond(
            SpendState.error != "",
            rx.callout(
                SpendState.error, icon="triangle-alert", color_scheme="red", size="1", id="spend-error", width="100%"
            ),
        ),
        rx.cond(
            SpendState.loaded,
            rx.cond(SpendState.rows.length() == 0, empty_state(), spend_table()),
            loading(),
        ),
        spacing="3",
        width="100%",
    )


@template(routes.SPEND, "Ad spend", on_load=SpendState.load_spend)
def spend_page() -> rx.Component:
    return rx.vstack(
        import_section(),
        rx.cond(SpendState.has_preview, preview_card()),
        stored_section(),
        spacing="4",
        width="100%",
    )
