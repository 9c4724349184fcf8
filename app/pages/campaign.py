"""Campaign editor: status, the draft (matching rules, landing URL, budget, targets, notes), publish, the version
history with diffs and rollback, and the pixels the campaign's conversions go to."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app import routes
from app.components.forms import labelled, readonly_note, select_input, status_badge
from app.components.layout import confirm_button, form_error, loading, template
from app.state.campaigns import (
    CHANNEL_GROUP_LABELS,
    MATCH_FIELDS,
    OPS,
    PERIODS,
    STATUSES,
    CampaignEditorState,
    ChangeItem,
    ConditionItem,
    PixelItem,
    RuleItem,
    VersionItem,
)
from app.state.metrics import VersionComparisonState, VersionLine

EDITABLE = CampaignEditorState.can_edit_marketing
READ_ONLY = ~CampaignEditorState.can_edit_marketing


def section(title: str, *children: rx.Component, id: str, **props: Any) -> rx.Component:
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), *children, spacing="3", width="100%", align="start"),
        width="100%",
        id=id,
        **props,
    )


def hint(text: str) -> rx.Component:
    return rx.text(text, size="1", color_scheme="gray")


# --- header --------------------------------------------------------------------------------------------------------


def header() -> rx.Component:
    return rx.vstack(
        rx.link(
            rx.hstack(rx.icon("arrow-left", size=14), rx.text("All campaigns", size="2"), align="center", spacing="1"),
            href=routes.CAMPAIGNS,
            color_scheme="gray",
            id="back-to-campaigns",
        ),
        rx.hstack(
            rx.heading(CampaignEditorState.name, size="6", id="campaign-name"),
            rx.tooltip(
                rx.badge(CampaignEditorState.channel, variant="outline", color_scheme="gray", id="campaign-channel"),
                content="The ad platform",
            ),
            rx.cond(
                CampaignEditorState.active_version > 0,
                rx.badge("live: v", CampaignEditorState.active_version, color_scheme="green", id="live-version"),
                rx.badge("not published", color_scheme="gray", id="live-version"),
            ),
            rx.cond(
                CampaignEditorState.has_draft, rx.badge("unpublished draft", color_scheme="amber", id="draft-badge")
            ),
            rx.spacer(),
            rx.hstack(
                rx.text("Channel group", size="2", color_scheme="gray"),
                rx.cond(
                    EDITABLE,
                    select_input(
                        list(CHANNEL_GROUP_LABELS.items()),
                        value=CampaignEditorState.channel_group,
                        on_change=CampaignEditorState.change_channel_group,
                        id="channel-group-select",
                    ),
                    rx.badge(
                        rx.match(
                            CampaignEditorState.channel_group,
                            *CHANNEL_GROUP_LABELS.items(),
                            CampaignEditorState.channel_group,
                        ),
                        variant="soft",
                        color_scheme="gray",
                        id="campaign-channel-group",
                    ),
                ),
                align="center",
                spacing="2",
            ),
            rx.hstack(
                rx.text("Status", size="2", color_scheme="gray"),
                rx.cond(
                    EDITABLE,
                    select_input(
                        STATUSES,
                        value=CampaignEditorState.status,
                        on_change=CampaignEditorState.change_status,
                        id="status-select",
                    ),
                    status_badge(CampaignEditorState.status, id="campaign-status", size="2"),
                ),
                align="center",
                spacing="2",
            ),
            align="center",
            spacing="3",
            width="100%",
            wrap="wrap",
        ),
        rx.cond(
            READ_ONLY,
            readonly_note(
                "You can look at this campaign; editing, publishing and rollbacks need a marketer, an admin or the "
                "owner.",
                "campaign-readonly-note",
            ),
        ),
        spacing="3",
        width="100%",
    )


# --- draft editor --------------------------------------------------------------------------------------------------


def condition_row(condition: ConditionItem, rule: rx.Var[int], index: rx.Var[int]) -> rx.Component:
    return rx.hstack(
        rx.text(rx.cond(index == 0, "if", "and"), size="2", color_scheme="gray", width="28px", text_align="right"),
        select_input(
            list(MATCH_FIELDS),
            value=condition["field"],
            on_change=lambda value: CampaignEditorState.set_condition_field(rule, index, value),
            class_name="cond-field",
            disabled=READ_ONLY,
            width="160px",
        ),
        select_input(
            OPS,
            value=condition["op"],
            on_change=lambda value: CampaignEditorState.set_condition_op(rule, index, value),
            class_name="cond-op",
            disabled=READ_ONLY,
            width="110px",
        ),
        rx.input(
            value=condition["value"],
            on_change=lambda value: CampaignEditorState.set_condition_value(rule, index, value),
            placeholder="value, e.g. spring",
            class_name="cond-value",
            read_only=READ_ONLY,
            flex="1",
        ),
        rx.cond(
            EDITABLE,
            rx.icon_button(
                rx.icon("x", size=14),
                size="1",
                variant="ghost",
                color_scheme="gray",
                on_click=CampaignEditorState.remove_condition(rule, index),
                class_name="remove-condition",
                aria_label="Remove this condition",
            ),
        ),
        align="center",
        spacing="2",
        width="100%",
        class_name="condition-row",
    )


def rule_card(rule: RuleItem, index: rx.Var[int]) -> rx.Component:
    return rx.box(
        rx.vstack(
            rx.hstack(
                rx.text("Rule ", index + 1, size="2", weight="medium"),
                rx.spacer(),
                rx.cond(
                    EDITABLE,
                    rx.button(
                        "Remove rule",
                        size="1",
                        variant="ghost",
                        color_scheme="red",
                        on_click=CampaignEditorState.remove_rule(index),
                        class_name="remove-rule",
                    ),
                ),
                width="100%",
                align="center",
            ),
            rx.foreach(rule["conditions"], lambda condition, n: condition_row(condition, index, n)),
            rx.cond(
                EDITABLE,
                rx.button(
                    rx.icon("plus", size=14),
                    "And condition",
                    size="1",
                    variant="ghost",
                    on_click=CampaignEditorState.add_condition(index),
                    class_name="add-condition",
                ),
            ),
            spacing="2",
            width="100%",
        ),
        padding="12px",
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="8px",
        width="100%",
        class_name="rule-card",
    )


def rules_editor() -> rx.Component:
    return rx.vstack(
        rx.text("Matching rules", size="3", weight="bold"),
        hint(
            "A session belongs to this campaign when any rule matches; a rule matches when all its conditions do. "
            "Text compares ignore case, except landing_path. click_id_type is gclid, gbraid, wbraid, fbclid, "
            "msclkid or ttclid."
        ),
        rx.cond(
            CampaignEditorState.rules.length() == 0,  # type: ignore[attr-defined]
            rx.text(
                "No rules: no session is tagged with this campaign.", size="2", color_scheme="amber", id="rules-empty"
            ),
        ),
        rx.foreach(CampaignEditorState.rules, rule_card),
        rx.cond(
            EDITABLE,
            rx.button(
                rx.icon("plus", size=14),
                "Add rule",
                size="1",
                variant="soft",
                on_click=CampaignEditorState.add_rule,
                id="add-rule",
            ),
        ),
        spacing="2",
        width="100%",
    )


def text_input(value: Any, on_change: Any, id: str, *slots: rx.Component, **props: Any) -> rx.Component:
    return rx.input(*slots, value=value, on_change=on_change, id=id, read_only=READ_ONLY, width="100%", **props)


def settings_fields() -> rx.Component:
    return rx.vstack(
        labelled(
            "Landing URL",
            text_input(
                CampaignEditorState.landing_url,
                CampaignEditorState.set_landing_url,
                "landing-url",
                placeholder="https://shop.example.com/spring",
            ),
            html_for="landing-url",
            width="100%",
        ),
        rx.grid(
            labelled(
                "Budget",
                text_input(
                    CampaignEditorState.budget_amount,
                    CampaignEditorState.set_budget_amount,
                    "budget-amount",
                    placeholder="e.g. 150.00",
                ),
                html_for="budget-amount",
            ),
            labelled(
                "Currency",
                text_input(
                    CampaignEditorState.budget_currency,
                    CampaignEditorState.set_budget_currency,
                    "budget-currency",
                    placeholder="EUR",
                    max_length=3,
                ),
                html_for="budget-currency",
            ),
            labelled(
                "Period",
                select_input(
                    PERIODS,
                    value=CampaignEditorState.budget_period,
                    on_change=CampaignEditorState.set_budget_period,
                    id="budget-period",
                    disabled=READ_ONLY,
                    width="100%",
                ),
            ),
            columns="3",
            spacing="3",
            width="100%",
        ),
        hint(
            "Amounts in the currency's main unit (150.50 EUR); stored in its minor units. Empty: no budget. The "
            "currency is also the target CPA's: a target CPA needs it, not a budget."
        ),
        rx.grid(
            labelled(
                "Target CPA",
                text_input(
                    CampaignEditorState.target_cpa,
                    CampaignEditorState.set_target_cpa,
                    "target-cpa",
                    # The currency it is in, next to it: the Currency field above (a target needs only that).
                    rx.input.slot(
                        rx.cond(
                            CampaignEditorState.budget_currency != "",
                            rx.text(CampaignEditorState.budget_currency, size="1", id="target-cpa-currency"),
                            rx.text("set Currency", size="1", color_scheme="amber", id="target-cpa-currency"),
                        ),
                        side="right",
                    ),
                    placeholder="e.g. 25.00",
                ),
                html_for="target-cpa",
            ),
            labelled(
                "Minimum ROAS",
                text_input(
                    CampaignEditorState.min_roas, CampaignEditorState.set_min_roas, "min-roas", placeholder="e.g. 2.5"
                ),
                html_for="min-roas",
            ),
            labelled(
                "Minimum conversion rate",
                text_input(
                    CampaignEditorState.min_conversion_rate,
                    CampaignEditorState.set_min_conversion_rate,
                    "min-conversion-rate",
                    placeholder="e.g. 0.02",
                ),
                html_for="min-conversion-rate",
            ),
            columns="3",
            spacing="3",
            width="100%",
        ),
        hint("Targets drive alerts. The CPA is in the currency above; the conversion rate is a fraction (0.02 = 2%)."),
        labelled(
            "Notes (creative, offer)",
            rx.text_area(
                value=CampaignEditorState.notes,
                on_change=CampaignEditorState.set_notes,
                id="notes",
                read_only=READ_ONLY,
                width="100%",
                rows="3",
                placeholder="What runs in this version: creative, offer, audience…",
            ),
            html_for="notes",
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def draft_actions() -> rx.Component:
    return rx.cond(
        EDITABLE,
        rx.hstack(
            rx.button("Save draft", on_click=CampaignEditorState.save_draft, id="save-draft"),
            rx.cond(
                CampaignEditorState.can_publish,
                confirm_button(
                    "Discard draft",
                    title="Discard the draft?",
                    description="Unpublished changes are dropped; the editor shows the live version again.",
                    confirm_label="Discard draft",
                    on_confirm=CampaignEditorState.discard_draft,
                    id="discard-draft",
                ),
            ),
            rx.cond(
                CampaignEditorState.dirty, rx.text("Unsaved edits", size="2", color_scheme="amber", id="unsaved-edits")
            ),
            align="center",
            spacing="3",
        ),
    )


def draft_section() -> rx.Component:
    return section(
        "Draft",
        hint("Edits change the draft; the live version stays as it is until you publish."),
        form_error(CampaignEditorState.error),
        rules_editor(),
        rx.divider(),
        settings_fields(),
        draft_actions(),
        id="draft-editor",
    )


# --- publish -------------------------------------------------------------------------------------------------------


def change_row(change: ChangeItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(change["path"], size="2", weight="medium")),
        rx.table.cell(rx.text(change["before"], size="2", color_scheme="red", white_space="pre-wrap")),
        rx.table.cell(rx.text(change["after"], size="2", color_scheme="green", white_space="pre-wrap")),
        class_name="diff-row",
    )


def changes_table(changes: rx.Var[list[ChangeItem]], id: str) -> rx.Component:
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
                CampaignEditorState.pending_changes.length() > 0,  # type: ignore[attr-defined]
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
                CampaignEditorState.changes.length() == 0,  # type: ignore[attr-defined]
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
            CampaignEditorState.versions.length() == 0,  # type: ignore[attr-defined]
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
                rx.cond(CampaignEditorState.versions.length() > 1, compare_controls()),  # type: ignore[attr-defined]
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
                        content="Fewer than 30 orders or 1,000 sessions: differences may be chance.",
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
                v.version_windows.length() == 0,  # type: ignore[attr-defined]
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
                    width="100%",
                ),
            ),
        ),
        id="versions-compared",
    )


# --- pixels --------------------------------------------------------------------------------------------------------


def pixel_row(pixel: PixelItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(pixel["name"], weight="medium")),
        rx.table.cell(rx.badge(pixel["provider"], variant="outline")),
        rx.table.cell(
            rx.hstack(
                rx.cond(pixel["enabled"], rx.badge("enabled", color_scheme="green"), rx.badge("disabled")),
                rx.cond(pixel["is_default"], rx.badge("account default", color_scheme="blue")),
                spacing="1",
            )
        ),
        rx.table.cell(
            rx.cond(
                EDITABLE,
                rx.button(
                    "Detach",
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                    on_click=CampaignEditorState.detach_pixel(pixel["public_id"]),
                    class_name="detach-pixel",
                ),
            )
        ),
        class_name="campaign-pixel-row",
    )


def attach_controls() -> rx.Component:
    return rx.cond(
        CampaignEditorState.pixel_options.length() == 0,  # type: ignore[attr-defined]
        rx.text(
            "Every pixel of the account is attached. Add pixels on the ",
            rx.link("Pixels", href=routes.PIXELS),
            " page.",
            size="2",
            color_scheme="gray",
            id="no-pixel-options",
        ),
        rx.hstack(
            rx.select.root(
                rx.select.trigger(id="attach-pixel-select", placeholder="Choose a pixel", min_width="240px"),
                rx.select.content(
                    rx.foreach(
                        CampaignEditorState.pixel_options,
                        lambda option: rx.select.item(option["label"], value=option["public_id"]),
                    )
                ),
                value=CampaignEditorState.attach_choice,
                on_change=CampaignEditorState.set_attach_choice,
            ),
            rx.button("Attach", variant="soft", on_click=CampaignEditorState.attach_pixel, id="attach-pixel"),
            spacing="2",
            align="center",
        ),
    )


def pixels_section() -> rx.Component:
    return section(
        "Pixels",
        hint("This campaign's conversions go to these pixels, and to the account's default pixels."),
        rx.cond(
            CampaignEditorState.pixels.length() == 0,  # type: ignore[attr-defined]
            rx.text("No pixel attached.", size="2", color_scheme="gray", id="campaign-pixels-empty"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in ("Pixel", "Provider", "", "")])),
                rx.table.body(rx.foreach(CampaignEditorState.pixels, pixel_row)),
                width="100%",
                id="campaign-pixels",
            ),
        ),
        rx.cond(EDITABLE, attach_controls()),
        id="pixels-section",
    )


def not_found() -> rx.Component:
    return rx.vstack(
        rx.callout(CampaignEditorState.not_found, icon="triangle-alert", color_scheme="red", id="campaign-not-found"),
        rx.link("Back to the campaigns", href=routes.CAMPAIGNS),
        spacing="3",
    )


@template(
    routes.CAMPAIGN,
    "Campaign",
    on_load=[CampaignEditorState.load_campaign, VersionComparisonState.load_version_comparison],
)
def campaign_page() -> rx.Component:
    return rx.cond(
        CampaignEditorState.loaded,
        rx.cond(
            CampaignEditorState.not_found != "",
            not_found(),
            rx.vstack(
                header(),
                draft_section(),
                publish_section(),
                versions_section(),
                versions_compared_section(),
                pixels_section(),
                spacing="4",
                width="100%",
            ),
        ),
        loading(),
    )
