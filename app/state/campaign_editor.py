"""The campaign editor (``/campaigns/[campaign_id]``): the header's status and channel group, the draft (matching
rules, landing URL, budget, targets, notes), publish, the version history with diffs and rollback, and the pixels the
campaign's conversions go to.

Every change goes through app.services.campaigns / app.services.pixels, which check the role; the UI only hides
controls. Money is entered in major units and stored in the currency's minor units (``presenters.campaigns``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import reflex as rx
from sqlmodel import Session

from app.presenters.campaigns import (
    ChangeItem,
    ConditionItem,
    EditorFields,
    PixelItem,
    PixelOption,
    RuleItem,
    VersionItem,
    change_items,
    channel_group_label,
    editor_config,
    editor_fields,
    new_condition,
    pixel_items,
    pixel_options,
    version_items,
)
from app.services import campaigns as campaign_service
from app.services import pixels as pixel_service
from app.services.campaigns import MATCH_FIELDS
from app.state.base import AppState
from app.state.metrics import VersionComparisonState
from app.state.toasts import toast

# What the campaign page imports from here (its item types come from the presenters).
__all__ = [
    "CONDITION_FIELDS",
    "OPS",
    "PERIODS",
    "CampaignEditorState",
    "ChangeItem",
    "ConditionItem",
    "PixelItem",
    "RuleItem",
    "VersionItem",
]

CONDITION_FIELDS = list(MATCH_FIELDS)  # what a matching condition can test
OPS = ["equals", "prefix", "contains"]
PERIODS = ["daily", "monthly", "lifetime"]  # a budget's


class CampaignEditorState(AppState):
    """One campaign: its header fields, the draft being edited, its versions and diffs, its pixels."""

    campaign_public_id: str = ""
    loaded: bool = False
    not_found: str = ""
    name: str = ""
    channel: str = ""
    channel_group: str = ""
    status: str = ""
    active_version: int = 0
    has_draft: bool = False

    # The draft being edited (unsaved until "Save draft" or "Publish").
    rules: list[RuleItem] = []
    landing_url: str = ""
    budget_amount: str = ""
    budget_currency: str = ""
    budget_period: str = "daily"
    target_cpa: str = ""
    min_roas: str = ""
    min_conversion_rate: str = ""
    notes: str = ""
    dirty: bool = False
    error: str = ""
    publish_note: str = ""
    # The saved draft against the active version.
    pending_changes: list[ChangeItem] = []

    versions: list[VersionItem] = []
    compare_from: str = ""
    compare_to: str = ""
    compared: str = ""
    changes: list[ChangeItem] = []

    pixels: list[PixelItem] = []
    pixel_options: list[PixelOption] = []
    attach_choice: str = ""

    @rx.var
    def version_labels(self) -> list[str]:
        return [v["label"] for v in self.versions]

    @rx.var
    def can_publish(self) -> bool:
        return self.has_draft or self.dirty

    def _public_id_from_path(self) -> str:
        return (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]

    # loading

    def _open(self, public_id: str) -> None:
        self.campaign_public_id = public_id
        self.not_found = self.error = self.publish_note = ""
        self._reload()
        self._reload_pixels()
        self.loaded = True

    def _reload(self) -> None:
        """The header, the draft editor (unsaved edits are dropped), the versions and the latest two's diff."""
        result, error = self._run(
            lambda s: campaign_service.campaign_detail(
                session=s, account_id=self._actor(s).account_id, campaign_public_id=self.campaign_public_id
            )
        )
        if error or result is None:
            self.not_found = error or "Campaign not found."
            return
        row = result.row
        self.name, self.channel, self.status = row.name, row.channel, row.status
        self.channel_group = row.channel_group
        self.active_version, self.has_draft = row.active_version or 0, row.has_draft
        self.versions = version_items(result.versions, row.active_version, self.account_timezone)
        active = next((v for v in result.versions if v.number == row.active_version), None)
        self.pending_changes = (
            change_items(campaign_service.diff_configs(active.config, result.draft, self.account_locale))
            if active and row.has_draft
            else []
        )
        self._show_config(result.draft)
        labels = [v["label"] for v in self.versions]
        self.compare_to = labels[0] if labels else ""
        self.compare_from = labels[1] if len(labels) > 1 else self.compare_to
        self._compare()

    def _show_config(self, config: dict[str, Any]) -> None:
        fields = editor_fields(config)
        self.rules, self.landing_url, self.notes = fields.rules, fields.landing_url, fields.notes
        self.budget_amount, self.budget_currency = fields.budget_amount, fields.budget_currency
        self.budget_period, self.target_cpa = fields.budget_period, fields.target_cpa
        self.min_roas, self.min_conversion_rate = fields.min_roas, fields.min_conversion_rate
        self.dirty = False

    def _reload_pixels(self) -> None:
        def load(s: Session) -> tuple[list[pixel_service.PixelRow], list[pixel_service.PixelRow]]:
            account_id = self._actor(s).account_id
            return (
                pixel_service.campaign_pixels(
                    session=s, account_id=account_id, campaign_public_id=self.campaign_public_id
                ),
                pixel_service.list_pixels(session=s, account_id=account_id),
            )

        result, _error = self._run(load)
        attached, everything = result or ([], [])
        self.pixels = pixel_items(attached)
        self.pixel_options = pixel_options(everything, attached)
        if self.attach_choice not in {o["public_id"] for o in self.pixel_options}:
            self.attach_choice = self.pixel_options[0]["public_id"] if self.pixel_options else ""

    def _config(self) -> dict[str, Any]:
        """The editor's fields as a CampaignConfig dict (``presenters.campaigns.editor_config``)."""
        return editor_config(
            EditorFields(
                rules=self.rules,
                landing_url=self.landing_url,
                budget_amount=self.budget_amount,
                budget_currency=self.budget_currency,
                budget_period=self.budget_period,
                target_cpa=self.target_cpa,
                min_roas=self.min_roas,
                min_conversion_rate=self.min_conversion_rate,
                notes=self.notes,
            )
        )

    def _failed(self, error: str | None, fallback: str) -> Any:
        self.error = error or fallback
        return toast.error(self.error)

    @rx.event
    def load_campaign(self) -> Iterator[None]:
        """on_load of /campaigns/[campaign_id]."""
        public_id = self._public_id_from_path()
        if public_id != self.campaign_public_id:
            # Show the spinner, not the previously opened campaign, while this one loads.
            self.loaded = False
            yield
        self._open(public_id)

    # header

    def _change(
        self, failure: str, *, status: str | None = None, channel_group: str | None = None
    ) -> tuple[campaign_service.CampaignRow | None, Any]:
        """Change the campaign's unversioned fields (status, channel group): (the row, None) or (None, a toast)."""
        row, error = self._run(
            lambda s: campaign_service.update_campaign(
                session=s,
                actor=self._actor(s),
                campaign_public_id=self.campaign_public_id,
                status=status,
                channel_group=channel_group,
            )
        )
        if error or row is None:
            return None, toast.error(error or failure)
        return row, None

    @rx.event
    def change_status(self, status: str) -> Any:
        row, refused = self._change("The status could not be changed.", status=status)
        if row is None:
            return refused
        self.status = row.status
        return toast.success(f"Campaign {row.status}.")

    @rx.event
    def change_channel_group(self, group: str) -> Any:
        """The channel group people report by (not versioned, like the status)."""
        row, refused = self._change("The channel group could not be changed.", channel_group=group)
        if row is None:
            return refused
        self.channel_group = row.channel_group
        return toast.success(f"Channel group: {channel_group_label(row.channel_group)}.")

    # draft editor (local until saved)

    def _edit_rules(self) -> list[RuleItem]:
        self.dirty = True
        return copy.deepcopy(self.rules)

    @rx.event
    def add_rule(self) -> None:
        rules = self._edit_rules()
        rules.append(RuleItem(conditions=[new_condition()]))
        self.rules = rules

    @rx.event
    def remove_rule(self, rule: int) -> None:
        rules = self._edit_rules()
        if 0 <= rule < len(rules):
            del rules[rule]
        self.rules = rules

    @rx.event
    def add_condition(self, rule: int) -> None:
        rules = self._edit_rules()
        if 0 <= rule < len(rules):
            rules[rule]["conditions"].append(new_condition())
        self.rules = rules

    @rx.event
    def remove_condition(self, rule: int, condition: int) -> None:
        """Removing a rule's last condition removes the rule."""
        rules = self._edit_rules()
        if 0 <= rule < len(rules) and 0 <= condition < len(rules[rule]["conditions"]):
            del rules[rule]["conditions"][condition]
            if not rules[rule]["conditions"]:
                del rules[rule]
        self.rules = rules

    def _set_condition(self, rule: int, condition: int, key: str, value: str) -> None:
        rules = self._edit_rules()
        if 0 <= rule < len(rules) and 0 <= condition < len(rules[rule]["conditions"]):
            rules[rule]["conditions"][condition][key] = value  # type: ignore[literal-required]  # key is one of the condition's fields, checked by the caller's event
        self.rules = rules

    @rx.event
    def set_condition_field(self, rule: int, condition: int, value: str) -> None:
        self._set_condition(rule, condition, "field", value)

    @rx.event
    def set_condition_op(self, rule: int, condition: int, value: str) -> None:
        self._set_condition(rule, condition, "op", value)

    @rx.event
    def set_condition_value(self, rule: int, condition: int, value: str) -> None:
        self._set_condition(rule, condition, "value", value)

    @rx.event
    def set_landing_url(self, value: str) -> None:
        self.landing_url, self.dirty = value, True

    @rx.event
    def set_budget_amount(self, value: str) -> None:
        self.budget_amount, self.dirty = value, True

    @rx.event
    def set_budget_currency(self, value: str) -> None:
        self.budget_currency, self.dirty = value.upper(), True

    @rx.event
    def set_budget_period(self, value: str) -> None:
        self.budget_period, self.dirty = value, True

    @rx.event
    def set_target_cpa(self, value: str) -> None:
        self.target_cpa, self.dirty = value, True

    @rx.event
    def set_min_roas(self, value: str) -> None:
        self.min_roas, self.dirty = value, True

    @rx.event
    def set_min_conversion_rate(self, value: str) -> None:
        self.min_conversion_rate, self.dirty = value, True

    @rx.event
    def set_notes(self, value: str) -> None:
        self.notes, self.dirty = value, True

    @rx.event
    def set_publish_note(self, value: str) -> None:
        self.publish_note = value

    # draft commands

    @rx.event
    def save_draft(self) -> Any:
        """Store the editor's config as the campaign's draft (not yet live)."""
        self.error = ""
        _, error = self._run(
            lambda s: campaign_service.save_draft(
                session=s, actor=self._actor(s), campaign_public_id=self.campaign_public_id, config=self._config()
            )
        )
        if error:
            return self._failed(error, "The draft could not be saved.")
        self._reload()
        return toast.success("Draft saved. Publish it to make it live.")

    @rx.event
    def publish(self) -> Any:
        """Publish what the editor shows (unsaved edits are saved first, in the same transaction)."""
        self.error = ""

        def publish(s: Session) -> campaign_service.VersionRow:
            return campaign_service.publish(
                session=s,
                actor=self._actor(s),
                campaign_public_id=self.campaign_public_id,
                config=self._config() if self.dirty else None,
                change_note=self.publish_note,
            )

        version, error = self._run(publish)
        if error or version is None:
            return self._failed(error, "The draft could not be published.")
        self.publish_note = ""
        self._reload()
        return [
            toast.success(f"Published v{version.number}: new sessions are tagged with it."),
            # The "Versions compared" section has a new version to show.
            VersionComparisonState.load_version_comparison,
        ]

    @rx.event
    def discard_draft(self) -> Any:
        self.error = ""
        _, error = self._run(
            lambda s: campaign_service.discard_draft(
                session=s, actor=self._actor(s), campaign_public_id=self.campaign_public_id
            )
        )
        if error:
            return self._failed(error, "The draft could not be discarded.")
        self._reload()
        live = f"v{self.active_version}" if self.active_version else "an empty config"
        return toast.success(f"Draft discarded: the editor shows {live} again.")

    # versions

    @rx.event
    def set_compare_from(self, label: str) -> None:
        self.compare_from = label

    @rx.event
    def set_compare_to(self, label: str) -> None:
        self.compare_to = label

    def _compare(self) -> str | None:
        if not self.compare_from or not self.compare_to:
            self.changes, self.compared = [], ""
            return None
        # The labels come from the browser: only the versions listed (v1, v2, …) are read as numbers.
        numbers = {v["label"]: v["number"] for v in self.versions}
        if self.compare_from not in numbers or self.compare_to not in numbers:
            self.changes, self.compared = [], ""
            return "Choose two of this campaign's versions to compare."
        from_number, to_number = numbers[self.compare_from], numbers[self.compare_to]
        result, error = self._run(
            lambda s: campaign_service.diff_versions(
                session=s,
                account_id=self._actor(s).account_id,
                campaign_public_id=self.campaign_public_id,
                from_number=from_number,
                to_number=to_number,
                locale=self.account_locale,
            )
        )
        self.changes = change_items(result or [])
        self.compared = "" if error else f"{self.compare_from} → {self.compare_to}"
        return error

    @rx.event
    def compare(self) -> Any:
        error = self._compare()
        return toast.error(error) if error else None

    @rx.event
    def rollback_to(self, number: int) -> Any:
        """Publish an old version's config as a new version."""
        version, error = self._run(
            lambda s: campaign_service.rollback(
                session=s, actor=self._actor(s), campaign_public_id=self.campaign_public_id, version_number=number
            )
        )
        if error or version is None:
            return self._failed(error, "The rollback failed.")
        self._reload()
        return [
            toast.success(f"Rolled back: v{version.number} has the config of v{number}."),
            VersionComparisonState.load_version_comparison,
        ]

    # pixels

    @rx.event
    def set_attach_choice(self, pixel_public_id: str) -> None:
        self.attach_choice = pixel_public_id

    @rx.event
    def attach_pixel(self) -> Any:
        if not self.attach_choice:
            return toast.error("Choose a pixel to attach; create pixels on the Pixels page.")
        choice = self.attach_choice
        _, error = self._run(
            lambda s: pixel_service.attach_pixel(
                session=s, actor=self._actor(s), campaign_public_id=self.campaign_public_id, pixel_public_id=choice
            )
        )
        if error:
            return toast.error(error)
        self._reload_pixels()
        return toast.success("Pixel attached: it receives this campaign's conversions.")

    @rx.event
    def detach_pixel(self, pixel_public_id: str) -> Any:
        _, error = self._run(
            lambda s: pixel_service.detach_pixel(
                session=s,
                actor=self._actor(s),
                campaign_public_id=self.campaign_public_id,
                pixel_public_id=pixel_public_id,
            )
        )
        if error:
            return toast.error(error)
        self._reload_pixels()
        return toast.success("Pixel detached.")
