"""The campaign page's version sections: publish (with the saved draft's diff), the version history with a diff of
any two versions and rollback, and the versions compared over windows of the same length."""

from __future__ import annotations

from collections.abc import Sequence

import reflex as rx

from app.components.campaign_editor import EDITABLE, hint, section
from app.components.forms import select_input
from app.components.layout import confirm_button
from app.state.campaign_editor import CampaignEditorState, ChangeItem, VersionItem
from app.state.metrics import SMALL_SAMPLE_HINT, PairLine, VersionComparisonState, VersionLine

# --- publish -------------------------------------------------------------------------------------------------------


def change_row(change: ChangeItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(change["path"], size="2", weight="medium")),
        rx.table.cell(rx.text(change["before"], size="2", color_scheme="red", white_space="pre-wrap")),
        rx.table.cell(rx.text(change["after"], size="2", color_scheme="green", white_space="pre-wrap")),
        class_name="diff-row",
    )


def changes_table(changes: rx.Var[Sequence[ChangeItem]], id: str) -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("What", "Before", "After")])),
        rx.table.body(rx.foreach(changes, change_row)),
        width="100%",
        size="1",
        variant="surface",
        id=id,
    )


def publish_section() -> rx.Component:
    return rx.cond(
        EDITABLE,
        section(
            "Publish",
            hint(
                "Publishing turns what the editor shows into the next version; sessions that start from then on are "
                "tagged with it, earlier ones keep theirs. A draft campaign becomes active with its first version."
            ),
            rx.cond(
                CampaignEditorState.pending_changes.length() > 0,
                rx.vstack(
                    rx.text("Saved draft compared with the live version:", size="2"),
                    changes_table(CampaignEditorState.pending_changes, "pending-changes"),
                    width="100%",
                ),
            ),
            rx.hstack(
                rx.input(
                    value=CampaignEditorState.publish_note,
                    on_change=CampaignEditorState.set_publish_note,
                    placeholder="Change note: what changed and why (shown in the history)",
                    id="publish-note",
                    flex="1",
                ),
                rx.button(
                    rx.icon("rocket", size=14),
                    "Publish",
                    on_click=CampaignEditorState.publish,
                    disabled=~CampaignEditorState.can_publish,
                    id="publish",
                ),
                width="100%",
                spacing="2",
            ),
            id="publish-section",
        ),
    )


# --- versions ------------------------------------------------------------------------------------------------------


def version_row(version: VersionItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(version["label"], weight="bold", class_name="version-label"),
                rx.cond(version["is_active"], rx.badge("live", color_scheme="green")),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.text(version["published_at"], size="1")),
        rx.table.cell(rx.text(version["author"], size="1")),
        rx.table.cell(rx.text(version["change_note"], size="2", class_name="version-note")),
        rx.table.cell(
            rx.cond(
                EDITABLE & ~version["is_active"],
                confirm_button(
                    "Roll back to this version",
                    title=f"Roll back to {version['label']}?",
                    description=(
                        f"The config of {version['label']} is published again as a new version; the history is kept. "
                        "An unpublished draft is dropped."
                    ),
                    confirm_label="Roll back",
                    on_confirm=CampaignEditorState.rollback_to(version["number"]),
                    class_name="rollback",
                ),
            )
        ),
        class_name="version-row",
    )


def compare_controls() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Compare", size="2", weight="medium"),
            select_input(
                CampaignEditorState.version_labels,
                value=CampaignEditorState.compare_from,
                on_change=CampaignEditorState.set_compare_from,
                id="compare-from",
            ),
            rx.icon("arrow-right", size=14),
            select_input(
                CampaignEditorState.version_labels,
                value=CampaignEditorState.compare_to,
                on_change=CampaignEditorState.set_compare_to,
                id="compare-to",
            ),
            rx.button("Compare", size="2", variant="soft", on_click=CampaignEditorState.compare, id="compare"),
            align="center",
            spacing="2",
        ),
        rx.cond(
            CampaignEditorState.compared != "",
            rx.cond(
                CampaignEditorState.changes.length() == 0,
                rx.text(
                    CampaignEditorState.compared, ": no differences.", size="2", color_scheme="gray", id="diff-empty"
                ),
                rx.vstack(
                    rx.text("Changes ", CampaignEditorState.compared, size="2", id="diff-title"),
                    changes_table(CampaignEditorState.changes, "diff-table"),
                    width="100%",
                ),
            ),
        ),
        width="100%",
        spacing="2",
    )


def versions_section() -> rx.Component:
    return section(
        "Versions",
        rx.cond(
            CampaignEditorState.versions.length() == 0,
            rx.text(
                "Not published yet: publish the draft to make v1.", size="2", color_scheme="gray", id="versions-empty"
            ),
            rx.vstack(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in ("Version", "Published", "By", "Change note", "")]
                        )
                    ),
                    rx.table.body(rx.foreach(CampaignEditorState.versions, version_row)),
                    width="100%",
                    id="versions-table",
                ),
                rx.cond(CampaignEditorState.versions.length() > 1, compare_controls()),
                width="100%",
                spacing="3",
            ),
        ),
        id="versions-section",
    )


def version_window_row(line: VersionLine) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.hstack(
                rx.text(line["version"], weight="bold"),
                rx.cond(
                    line["small_sample"],
                    rx.tooltip(
                        rx.badge("small sample", color_scheme="amber", class_name="small-sample"),
                        content=SMALL_SAMPLE_HINT,
                    ),
                ),
                spacing="2",
                align="center",
            )
        ),
        rx.table.cell(rx.text(line["window"], size="1")),
        rx.table.cell(line["live_days"]),
        rx.table.cell(line["sessions"]),
        rx.table.cell(line["orders"]),
        rx.table.cell(line["conversion_rate"]),
        rx.table.cell(line["net"]),
        rx.table.cell(line["spend"]),
        rx.table.cell(line["roas"]),
        class_name="version-window-row",
    )


def pair_card(line: PairLine) -> rx.Component:
    """One pair of versions: the verdict in words, then every number behind it."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text(line["title"], weight="bold", class_name="pair-title"),
                rx.match(
                    line["verdict"],
                    ("winner", rx.badge(line["winner"], " wins", color_scheme="green", class_name="pair-verdict")),
                    ("conflicting", rx.badge("no single winner", color_scheme="amber", class_name="pair-verdict")),
                    rx.badge("not enough data", color_scheme="gray", class_name="pair-verdict"),
                ),
                spacing="2",
                align="center",
            ),
            rx.text(line["summary"], size="2", class_name="pair-summary"),
            rx.text(line["rate"], " · ", line["rate_probability"], size="2", class_name="pair-rate"),
            rx.text(line["rate_interval"], size="1", color_scheme="gray", class_name="pair-interval"),
            rx.text(line["mde"], size="1", color_scheme="gray", class_name="pair-mde"),
            rx.foreach(line["revenue"], lambda text: rx.text(text, size="2", class_name="pair-revenue")),
            rx.text(line["shop"], size="1", color_scheme="gray", class_name="pair-shop"),
            spacing="1",
            align="start",
        ),
        width="100%",
        class_name="version-pair",
        data_pair=line["key"],
    )


def versions_confidence() -> rx.Component:
    """Each consecutive pair, then any two versions the reader picks; the threshold and the seasonality caveat."""
    v = VersionComparisonState
    return rx.cond(
        v.version_pairs.length() > 0,
        rx.vstack(
            rx.heading("Did the new version win?", size="3"),
            rx.text(
                "A version is called the winner only when it is better with at least ",
                rx.text.strong(v.winner_threshold, id="winner-threshold"),
                " probability (an account setting on the Team page). How each number is computed: docs, "
                "Versions compared.",
                size="2",
                color_scheme="gray",
            ),
            rx.callout(v.seasonality_note, icon="calendar-clock", color_scheme="amber", size="1", id="seasonality"),
            rx.vstack(rx.foreach(v.version_pairs, pair_card), width="100%", id="version-pairs"),
            rx.hstack(
                rx.text("Compare", size="2"),
                select_input(v.version_choices, value=v.chosen_a, on_change=v.set_chosen_a, id="chosen-a", size="1"),
                rx.text("with", size="2"),
                select_input(v.version_choices, value=v.chosen_b, on_change=v.set_chosen_b, id="chosen-b", size="1"),
                spacing="2",
                align="center",
            ),
            rx.box(rx.foreach(v.chosen_pair, pair_card), width="100%", id="chosen-pair"),
            width="100%",
            spacing="2",
        ),
    )


def versions_compared_section() -> rx.Component:
    v = VersionComparisonState
    headers = ("Version", "Window", "Days live", "Sessions", "Orders")
    after = ("Net revenue", "Spend", "ROAS")
    # Orders are credited by attribution and may come from other visits; the rate counts the window's own sessions.
    rate = rx.table.column_header_cell(
        rx.tooltip(
            rx.text("Conv. rate", id="conversion-rate-header"),
            content="Sessions of the window whose checkout got paid / sessions of the window (never above 100 %).",
        )
    )
    return section(
        "Versions compared",
        hint(
            "Each version over the same number of days from the day it went live (last-touch attribution), so "
            "v1 and v2 compare like for like. Volumes are shown: a small sample is a hint, not a verdict."
        ),
        rx.cond(
            v.versions_error != "",
            rx.callout(v.versions_error, icon="triangle-alert", color_scheme="red", size="1"),
            rx.cond(
                v.version_windows.length() == 0,
                rx.text("No published version yet.", size="2", color_scheme="gray", id="versions-compared-empty"),
                rx.vstack(
                    rx.text("Windows of ", v.window_days, " days.", size="2", color_scheme="gray"),
                    rx.box(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    *[rx.table.column_header_cell(h) for h in headers],
                                    rate,
                                    *[rx.table.column_header_cell(h) for h in after],
                                )
                            ),
                            rx.table.body(rx.foreach(v.version_windows, version_window_row)),
                            width="100%",
                            size="1",
                            id="versions-compared-table",
                        ),
                        overflow_x="auto",
                        width="100%",
                    ),
                    versions_confidence(),
                    width="100%",
                ),
            ),
        ),
        id="versions-compared",
    )
