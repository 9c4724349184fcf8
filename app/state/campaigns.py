"""Campaigns: the list (its filters live in the URL) and the editor (draft, publish, versions, diff, rollback, pixels).

Every change goes through app.services.campaigns / app.services.pixels, which check the role; the UI only hides
controls. Money is entered in major units and stored in the currency's minor units.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app import routes
from app.lib.formatting import format_count
from app.models import CampaignStatus, Channel, ChannelGroup
from app.services import campaigns as campaign_service
from app.services import pixels as pixel_service
from app.services.campaigns import CHANNEL_GROUP_LABELS as CHANNEL_GROUP_LABELS
from app.services.campaigns import MATCH_FIELDS as MATCH_FIELDS
from app.services.currency import format_major, parse_major
from app.services.errors import ValidationFailed
from app.services.paging import MAX_PAGE_NUMBER
from app.state.base import AppState
from app.state.format import format_time
from app.state.metrics import VersionComparisonState
from app.state.toasts import toast

PER_PAGE = 20
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
CHANNELS = [c.value for c in Channel]
CHANNEL_GROUPS = [g.value for g in ChannelGroup]
STATUSES = [s.value for s in CampaignStatus]
OPS = ["equals", "prefix", "contains"]
PERIODS = ["daily", "monthly", "lifetime"]


# --- list ----------------------------------------------------------------------------------------------------------


class CampaignItem(TypedDict):
    public_id: str
    name: str
    url: str
    channel: str
    channel_group: str  # its label ("Paid social")
    status: str
    version: str
    has_draft: bool
    pixel_count: int


def _choice(value: str, allowed: list[str]) -> str:
    return value if value in allowed else ALL


class CampaignsState(AppState):
    campaigns: list[CampaignItem] = []
    total: int = 0
    page: int = 1
    pages: int = 1
    search: str = ""
    status_filter: str = ALL
    channel_filter: str = ALL
    group_filter: str = ALL
    new_channel: str = Channel.META.value
    new_channel_group: str = campaign_service.default_channel_group(Channel.META.value)
    error: str = ""
    loaded: bool = False

    @rx.var
    def filtered(self) -> bool:
        return bool(self.search) or any(f != ALL for f in (self.status_filter, self.channel_filter, self.group_filter))

    @rx.var
    def total_text(self) -> str:
        return format_count(self.total, "campaign", self.account_locale)

    def _url(
        self,
        *,
        search: str | None = None,
        status: str | None = None,
        channel: str | None = None,
        group: str | None = None,
        page: int = 1,
    ) -> str:
        status = self.status_filter if status is None else status
        channel = self.channel_filter if channel is None else channel
        group = self.group_filter if group is None else group
        return routes.campaigns_url(
            q=self.search if search is None else search,
            status="" if status == ALL else status,
            channel="" if channel == ALL else channel,
            group="" if group == ALL else group,
            page=page,
        )

    def _refresh(self) -> None:
        def load(s: Session) -> campaign_service.CampaignPage:
            actor = self._actor(s)
            query = {
                "search": self.search,
                "status": None if self.status_filter == ALL else self.status_filter,
                "channel": None if self.channel_filter == ALL else self.channel_filter,
                "channel_group": None if self.group_filter == ALL else self.group_filter,
                "per_page": PER_PAGE,
            }
            found = campaign_service.list_campaigns(session=s, account_id=actor.account_id, page=self.page, **query)
            last = max(1, math.ceil(found.total / PER_PAGE))
            if self.page > last:  # a shared link to a page that no longer exists: show the last one
                found = campaign_service.list_campaigns(session=s, account_id=actor.account_id, page=last, **query)
            return found

        result, error = self._run(load)
        self.loaded = True
        if error or result is None:
            self.campaigns, self.total, self.pages = [], 0, 1
            self.error = error or ""
            return
        self.total, self.page = result.total, result.page
        self.pages = max(1, math.ceil(result.total / PER_PAGE))
        self.campaigns = [
            CampaignItem(
                public_id=row.public_id,
                name=row.name,
                url=routes.campaign_url(row.public_id),
                channel=row.channel,
                channel_group=CHANNEL_GROUP_LABELS.get(row.channel_group, row.channel_group),
                status=row.status,
                version=f"v{row.active_version}" if row.active_version else "—",
                has_draft=row.has_draft,
                pixel_count=row.pixel_count,
            )
            for row in result.rows
        ]

    @rx.event
    def load_campaigns(self) -> None:
        """on_load: the filters come from the URL (?q=&status=&channel=&page=)."""
        params = self.router.url.query_parameters
        self.search = " ".join(str(params.get("q", "")).split())
        self.status_filter = _choice(str(params.get("status", "")), STATUSES)
        self.channel_filter = _choice(str(params.get("channel", "")), CHANNELS)
        self.group_filter = _choice(str(params.get("group", "")), CHANNEL_GROUPS)
        try:
            self.page = min(max(1, int(params.get("page", "1"))), MAX_PAGE_NUMBER)
        except ValueError:
            self.page = 1
        self.error = ""
        self._refresh()

    @rx.event
    def search_campaigns(self, form: dict[str, Any]) -> Any:
        return rx.redirect(self._url(search=" ".join(str(form.get("q", "")).split())))

    @rx.event
    def filter_status(self, status: str) -> Any:
        return rx.redirect(self._url(status=status))

    @rx.event
    def filter_channel(self, channel: str) -> Any:
        return rx.redirect(self._url(channel=channel))

    @rx.event
    def filter_group(self, group: str) -> Any:
        return rx.redirect(self._url(group=group))

    @rx.event
    def clear_filters(self) -> Any:
        return rx.redirect(routes.CAMPAIGNS)

    @rx.event
    def previous_page(self) -> Any:
        return rx.redirect(self._url(page=max(1, self.page - 1)))

    @rx.event
    def next_page(self) -> Any:
        return rx.redirect(self._url(page=min(self.pages, self.page + 1)))

    @rx.event
    def set_new_channel(self, channel: str) -> None:
        """Choosing the platform moves the channel group to its usual one (it can be changed after)."""
        self.new_channel = channel
        self.new_channel_group = campaign_service.default_channel_group(channel)

    @rx.event
    def set_new_channel_group(self, group: str) -> None:
        self.new_channel_group = group

    @rx.event
    def create_campaign(self, form: dict[str, Any]) -> Any:
        """Create a campaign in status draft and open its editor."""
        self.error = ""
        created, error = self._run(
            lambda s: campaign_service.create_campaign(
                session=s,
                actor=self._actor(s),
                name=str(form.get("name", "")),
                channel=self.new_channel,
                channel_group=self.new_channel_group,
            )
        )
        if error or created is None:
            self.error = error or "The campaign could not be created."
            return toast.error(self.error)
        return [
            toast.success(f"Campaign {created.name} created: add its matching rules, then publish v1."),
            rx.redirect(routes.campaign_url(created.public_id)),
        ]


# --- editor --------------------------------------------------------------------------------------------------------


class ConditionItem(TypedDict):
    field: str
    op: str
    value: str


class RuleItem(TypedDict):
    conditions: list[ConditionItem]


class VersionItem(TypedDict):
    number: int
    label: str
    author: str
    published_at: str
    change_note: str
    is_active: bool


class ChangeItem(TypedDict):
    path: str
    before: str
    after: str


class PixelItem(TypedDict):
    public_id: str
    name: str
    provider: str
    enabled: bool
    is_default: bool


class PixelOption(TypedDict):
    public_id: str
    label: str


def _new_condition() -> ConditionItem:
    return ConditionItem(field=MATCH_FIELDS[0], op="equals", value="")


def _minor(text: str, currency: str, label: str, field: str) -> int | None:
    """An amount typed in major units (``"19.99"``) as minor units of ``currency``; blank → None.

    parse_major reads only plain decimal numbers (no exponents: ``1e999990`` is refused at once, not computed).
    """
    text = text.strip()
    if not text:
        return None
    if not currency:
        raise ValidationFailed(
            f"{label} needs a currency: enter its ISO 4217 code under Currency, such as EUR, USD or JPY.",
            field="budget.currency",
        )
    try:
        return parse_major(text, currency)
    except ValidationFailed as error:
        raise ValidationFailed(
            f"{label}: {error.message}", field="budget.currency" if error.field == "currency" else field
        ) from error


def _major(amount: int | None, currency: str) -> str:
    """Minor units as the text of a money input (``1999, "EUR"`` → ``"19.99"``); None → blank."""
    return "" if amount is None else format_major(amount, currency)


def _number(value: Any) -> str:
    return "" if value is None else str(value)


def _changes(changes: list[campaign_service.Change]) -> list[ChangeItem]:
    return [ChangeItem(path=c.path, before=c.before, after=c.after) for c in changes]


class CampaignEditorState(AppState):
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
        self.versions = [
            VersionItem(
                number=v.number,
                label=f"v{v.number}",
                author=v.author or "API",
                published_at=format_time(v.published_at, self.account_timezone),
                change_note=v.change_note,
                is_active=v.number == row.active_version,
            )
            for v in result.versions
        ]
        active = next((v for v in result.versions if v.number == row.active_version), None)
        self.pending_changes = (
            _changes(campaign_service.diff_configs(active.config, result.draft, self.account_locale))
            if active and row.has_draft
            else []
        )
        self._show_config(result.draft)
        labels = [v["label"] for v in self.versions]
        self.compare_to = labels[0] if labels else ""
        self.compare_from = labels[1] if len(labels) > 1 else self.compare_to
        self._compare()

    def _show_config(self, config: dict[str, Any]) -> None:
        self.rules = [
            RuleItem(
                conditions=[
                    ConditionItem(field=c["field"], op=c.get("op", "equals"), value=c["value"])
                    for c in rule["conditions"]
                ]
            )
            for rule in config.get("matching_rules", [])
        ]
        self.landing_url = config.get("landing_url") or ""
        budget = config.get("budget") or {}
        targets = config.get("targets") or {}
        # One currency field: the budget's and the target CPA's (the config schema wants them the same).
        self.budget_currency = budget.get("currency") or targets.get("currency") or ""
        self.budget_amount = _major(budget.get("amount"), self.budget_currency)
        self.budget_period = budget.get("period", "daily")
        self.target_cpa = _major(targets.get("target_cpa"), self.budget_currency)
        self.min_roas = _number(targets.get("min_roas"))
        self.min_conversion_rate = _number(targets.get("min_conversion_rate"))
        self.notes = config.get("notes", "")
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
        self.pixels = [
            PixelItem(
                public_id=p.public_id, name=p.name, provider=p.provider, enabled=p.enabled, is_default=p.is_default
            )
            for p in attached
        ]
        taken = {p.public_id for p in attached}
        self.pixel_options = [
            PixelOption(public_id=p.public_id, label=f"{p.name} ({p.provider})")
            for p in everything
            if p.public_id not in taken
        ]
        if self.attach_choice not in {o["public_id"] for o in self.pixel_options}:
            self.attach_choice = self.pixel_options[0]["public_id"] if self.pixel_options else ""

    def _config(self) -> dict[str, Any]:
        """The editor's fields as a CampaignConfig dict: amounts in minor units of the one currency field, the rest
        as typed. A target CPA needs only that currency, not a budget. The service validates the rest."""
        currency = self.budget_currency.strip().upper()
        amount = _minor(self.budget_amount, currency, "The budget", "budget.amount")
        target_cpa = _minor(self.target_cpa, currency, "The target CPA", "targets.target_cpa")
        return {
            "matching_rules": [{"conditions": [dict(c) for c in rule["conditions"]]} for rule in self.rules],
            "landing_url": self.landing_url.strip() or None,
            "budget": None
            if amount is None
            else {"amount": amount, "currency": currency, "period": self.budget_period},
            "targets": {
                "target_cpa": target_cpa,
                "currency": currency if target_cpa is not None else None,
                "min_roas": self.min_roas.strip() or None,
                "min_conversion_rate": self.min_conversion_rate.strip() or None,
            },
            "notes": self.notes,
        }

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

    def _change(self, failure: str, **changes: str) -> tuple[campaign_service.CampaignRow | None, Any]:
        """Change the campaign's unversioned fields (status, channel group): (the row, None) or (None, a toast)."""
        row, error = self._run(
            lambda s: campaign_service.update_campaign(
                session=s, actor=self._actor(s), campaign_public_id=self.campaign_public_id, **changes
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
        return toast.success(f"Channel group: {CHANNEL_GROUP_LABELS.get(row.channel_group, row.channel_group)}.")

    # draft editor (local until saved)

    def _edit_rules(self) -> list[RuleItem]:
        self.dirty = True
        return copy.deepcopy(self.rules)

    @rx.event
    def add_rule(self) -> None:
        rules = self._edit_rules()
        rules.append(RuleItem(conditions=[_new_condition()]))
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
            rules[rule]["conditions"].append(_new_condition())
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
            rules[rule]["conditions"][condition][key] = value  # type: ignore[literal-required]
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
        self.changes = _changes(result or [])
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
