"""The campaign page's editor sections: the header (name, platform, live version, channel group, status) and the
draft (matching rules, landing URL, budget, targets, notes) with its actions; the card and hint every section of the
page uses."""

from __future__ import annotations

from typing import Any

import reflex as rx

from app import routes
from app.components.forms import labelled, readonly_note, select_input, status_badge
from app.components.layout import confirm_button, form_error
from app.state.campaign_editor import CONDITION_FIELDS, OPS, PERIODS, CampaignEditorState, ConditionItem, RuleItem
from app.state.campaigns import CHANNEL_GROUP_OPTIONS, STATUSES

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
                        CHANNEL_GROUP_OPTIONS,
                        value=CampaignEditorState.channel_group,
                        on_change=CampaignEditorState.change_channel_group,
                        id="channel-group-select",
                    ),
                    rx.badge(
                        rx.match(
                            CampaignEditorState.channel_group, *CHANNEL_GROUP_OPTIONS, CampaignEditorState.channel_group
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
            CONDITION_FIELDS,
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
                rx.text("Rule ", index.to(int) + 1, size="2", weight="medium"),
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
            CampaignEditorState.rules.length() == 0,
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


def not_found() -> rx.Component:
    return rx.vstack(
        rx.callout(CampaignEditorState.not_found, icon="triangle-alert", color_scheme="red", id="campaign-not-found"),
        rx.link("Back to the campaigns", href=routes.CAMPAIGNS),
        spacing="3",
    )
