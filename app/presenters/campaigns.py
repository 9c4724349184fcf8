"""Campaigns as the backoffice shows and edits them: rows of the list, versions, diffs and pixels as table items, and
the editor's form fields to and from a campaign config (amounts typed in major units, stored in minor units)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from app import routes
from app.lib.formatting import format_time
from app.presenters.inputs import money_text, number_text
from app.services.campaigns import CHANNEL_GROUP_LABELS, MATCH_FIELDS, CampaignRow, Change, VersionRow
from app.services.currency import parse_major
from app.services.errors import ValidationFailed
from app.services.pixels import PixelRow


def channel_group_label(group: str) -> str:
    """``paid_social`` → ``Paid social`` (an unknown group as it is)."""
    return CHANNEL_GROUP_LABELS.get(group, group)


# --- the list -------------------------------------------------------------------------------------------------------


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


def campaign_item(row: CampaignRow) -> CampaignItem:
    return CampaignItem(
        public_id=row.public_id,
        name=row.name,
        url=routes.campaign_url(row.public_id),
        channel=row.channel,
        channel_group=channel_group_label(row.channel_group),
        status=row.status,
        version=f"v{row.active_version}" if row.active_version else "—",
        has_draft=row.has_draft,
        pixel_count=row.pixel_count,
    )


# --- the editor's versions, diffs and pixels ------------------------------------------------------------------------


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


def version_items(versions: list[VersionRow], active_version: int | None, timezone: str) -> list[VersionItem]:
    """The history, newest first as the service lists it; publication times in the account's timezone."""
    return [
        VersionItem(
            number=v.number,
            label=f"v{v.number}",
            author=v.author or "API",
            published_at=format_time(v.published_at, timezone),
            change_note=v.change_note,
            is_active=v.number == active_version,
        )
        for v in versions
    ]


def change_items(changes: list[Change]) -> list[ChangeItem]:
    return [ChangeItem(path=c.path, before=c.before, after=c.after) for c in changes]


def pixel_items(attached: list[PixelRow]) -> list[PixelItem]:
    return [
        PixelItem(public_id=p.public_id, name=p.name, provider=p.provider, enabled=p.enabled, is_default=p.is_default)
        for p in attached
    ]


def pixel_options(everything: list[PixelRow], attached: list[PixelRow]) -> list[PixelOption]:
    """The account's pixels not attached yet: what the "Attach" menu offers."""
    taken = {p.public_id for p in attached}
    return [
        PixelOption(public_id=p.public_id, label=f"{p.name} ({p.provider})")
        for p in everything
        if p.public_id not in taken
    ]


# --- the editor's form ----------------------------------------------------------------------------------------------


class ConditionItem(TypedDict):
    field: str
    op: str
    value: str


class RuleItem(TypedDict):
    conditions: list[ConditionItem]


def new_condition() -> ConditionItem:
    return ConditionItem(field=MATCH_FIELDS[0], op="equals", value="")


def minor_units(text: str, currency: str, label: str, field: str) -> int | None:
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


@dataclass
class EditorFields:
    """The draft editor's fields as typed: money in major units of the one currency field (the budget's and the
    target CPA's), numbers as text."""

    rules: list[RuleItem] = field(default_factory=list)
    landing_url: str = ""
    budget_amount: str = ""
    budget_currency: str = ""
    budget_period: str = "daily"
    target_cpa: str = ""
    min_roas: str = ""
    min_conversion_rate: str = ""
    notes: str = ""


def editor_fields(config: dict[str, Any]) -> EditorFields:
    """A stored campaign config (or draft) as the editor shows it."""
    budget = config.get("budget") or {}
    targets = config.get("targets") or {}
    # One currency field: the budget's and the target CPA's (the config schema wants them the same).
    currency = budget.get("currency") or targets.get("currency") or ""
    return EditorFields(
        rules=[
            RuleItem(
                conditions=[
                    ConditionItem(field=c["field"], op=c.get("op", "equals"), value=c["value"])
                    for c in rule["conditions"]
                ]
            )
            for rule in config.get("matching_rules", [])
        ],
        landing_url=config.get("landing_url") or "",
        budget_amount=money_text(budget.get("amount"), currency),
        budget_currency=currency,
        budget_period=budget.get("period", "daily"),
        target_cpa=money_text(targets.get("target_cpa"), currency),
        min_roas=number_text(targets.get("min_roas")),
        min_conversion_rate=number_text(targets.get("min_conversion_rate")),
        notes=config.get("notes", ""),
    )


def editor_config(fields: EditorFields) -> dict[str, Any]:
    """The editor's fields as a CampaignConfig dict: amounts in minor units of the one currency field, the rest
    as typed. A target CPA needs only that currency, not a budget. The service validates the rest."""
    currency = fields.budget_currency.strip().upper()
    amount = minor_units(fields.budget_amount, currency, "The budget", "budget.amount")
    target_cpa = minor_units(fields.target_cpa, currency, "The target CPA", "targets.target_cpa")
    return {
        "matching_rules": [{"conditions": [dict(c) for c in rule["conditions"]]} for rule in fields.rules],
        "landing_url": fields.landing_url.strip() or None,
        "budget": None if amount is None else {"amount": amount, "currency": currency, "period": fields.budget_period},
        "targets": {
            "target_cpa": target_cpa,
            "currency": currency if target_cpa is not None else None,
            "min_roas": fields.min_roas.strip() or None,
            "min_conversion_rate": fields.min_conversion_rate.strip() or None,
        },
        "notes": fields.notes,
    }
