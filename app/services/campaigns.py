"""Campaigns and their versions: drafts, publishing, diffs, rollback and listing (matching sessions to versions is
``services/campaign_matching``).

A version is an immutable snapshot of a campaign's config. Editing changes the campaign's draft; publishing the
draft makes it version N+1. Sessions are tagged with the campaign and the version active when they started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import func
from sqlmodel import Session, col, select

from app import runtime
from app.lib.formatting import DEFAULT_LOCALE, format_money, format_percent, format_ratio
from app.models import Campaign, CampaignPixel, CampaignStatus, CampaignVersion, User
from app.models import Channel as Channel
from app.models import ChannelGroup as ChannelGroup
from app.models.base import new_public_id, utcnow
from app.services.currency import CURRENCY_CODES, currency_exponent
from app.services.errors import Conflict, NotFound, ValidationFailed, validation_failed
from app.services.paging import check_page_number
from app.services.permissions import Actor, Permission, require

E = TypeVar("E", bound=StrEnum)

CHANNEL_GROUP_LABELS: dict[str, str] = {
    ChannelGroup.PAID_SOCIAL: "Paid social",
    ChannelGroup.PAID_SEARCH: "Paid search",
    ChannelGroup.DISPLAY: "Display",
    ChannelGroup.AFFILIATES: "Affiliates",
    ChannelGroup.EMAIL: "Email",
    ChannelGroup.ORGANIC_SOCIAL: "Organic social",
    ChannelGroup.REFERRAL: "Referral",
    ChannelGroup.OTHER: "Other",
}
# The group a new campaign starts in, by platform (the migration that added groups mapped existing campaigns so).
DEFAULT_CHANNEL_GROUP: dict[str, ChannelGroup] = {
    Channel.META: ChannelGroup.PAID_SOCIAL,
    Channel.TIKTOK: ChannelGroup.PAID_SOCIAL,
    Channel.GOOGLE: ChannelGroup.PAID_SEARCH,
    Channel.EMAIL: ChannelGroup.EMAIL,
    Channel.OTHER: ChannelGroup.OTHER,
}


def default_channel_group(channel: str) -> ChannelGroup:
    """The channel group a campaign on this platform starts in (``other`` for an unknown platform)."""
    return DEFAULT_CHANNEL_GROUP.get(channel, ChannelGroup.OTHER)


# The names the assistant's tools and older callers use.
Status = CampaignStatus

MATCH_FIELDS = ("utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "landing_path", "click_id_type")
CLICK_ID_TYPES = ("gclid", "gbraid", "wbraid", "fbclid", "msclkid", "ttclid")
MAX_PER_PAGE = 100
NAME_MAX = 120


# --- config ------------------------------------------------------------------------------------------------------


class Condition(BaseModel):
    """One test on a session: ``utm_campaign equals spring``. Text comparisons ignore case, except paths."""

    model_config = ConfigDict(extra="forbid")

    field: Literal[
        "utm_campaign", "utm_source", "utm_medium", "utm_content", "utm_term", "landing_path", "click_id_type"
    ]
    op: Literal["equals", "prefix", "contains"] = "equals"
    value: str = Field(min_length=1, max_length=200, json_schema_extra={"pattern": r"\S"})

    @field_validator("value")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    def matches(self, facts: dict[str, str | None]) -> bool:
        actual = facts.get(self.field)
        if not actual:
            return False
        expected = self.value
        if self.field != "landing_path":
            actual, expected = actual.lower(), expected.lower()
        if self.op == "equals":
            return actual == expected
        if self.op == "prefix":
            return actual.startswith(expected)
        return expected in actual

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


class Rule(BaseModel):
    """A rule matches when all its conditions do."""

    model_config = ConfigDict(extra="forbid")

    conditions: list[Condition] = Field(min_length=1, max_length=10)

    def matches(self, facts: dict[str, str | None]) -> bool:
        return all(c.matches(facts) for c in self.conditions)

    def describe(self) -> str:
        return " and ".join(c.describe() for c in self.conditions)


def _currency_code(value: str) -> str:
    code = value.strip().upper()
    if currency_exponent(code) is None:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return code


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=0, description="minor units")
    currency: str = Field(json_schema_extra={"enum": list(CURRENCY_CODES)})
    period: Literal["daily", "monthly", "lifetime"] = "daily"

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        return _currency_code(value)


class Targets(BaseModel):
    """KPI targets, used by alerts."""

    model_config = ConfigDict(extra="forbid")

    target_cpa: int | None = Field(default=None, ge=0, description="minor units of ``currency``")
    # The target CPA's currency: needed with a target CPA unless the budget gives it (then it must be the same).
    currency: str | None = Field(
        default=None, json_schema_extra={"anyOf": [{"enum": list(CURRENCY_CODES)}, {"type": "null"}]}
    )
    min_roas: float | None = Field(default=None, ge=0)
    min_conversion_rate: float | None = Field(default=None, ge=0, le=1)

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        return _currency_code(value) if value is not None and value.strip() else None


class CampaignConfig(BaseModel):
    """What a version snapshots."""

    model_config = ConfigDict(extra="forbid")

    matching_rules: list[Rule] = Field(default_factory=list, max_length=50)
    landing_url: str | None = Field(
        default=None, max_length=2048, json_schema_extra={"pattern": r"^\s*https?://[^/?#\s\[\]]+([/?#]|\s*$)"}
    )
    budget: Budget | None = None
    targets: Targets = Field(default_factory=Targets)
    notes: str = Field(default="", max_length=4000, description="creative and offer notes")

    @model_validator(mode="after")
    def _cpa_needs_currency(self) -> CampaignConfig:
        """A target CPA is an amount: it needs a currency (its own, or the budget's), and nothing more."""
        targets, budget = self.targets, self.budget
        if targets.target_cpa is None:
            targets.currency = None  # a currency without an amount says nothing
        elif targets.currency is None and budget is None:
            raise ValueError("a target CPA is an amount: give its currency (an ISO 4217 code such as EUR)")
        elif targets.currency and budget and targets.currency != budget.currency:
            raise ValueError(
                f"the target CPA is in {targets.currency} and the budget in {budget.currency}: use one currency"
            )
        return self

    @property
    def target_currency(self) -> str | None:
        """The currency of the target CPA: its own, else the budget's."""
        return self.targets.currency or (self.budget.currency if self.budget else None)

    @field_validator("landing_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.strip()


_LOC_NAMES = {"matching_rules": "matching rule", "conditions": "condition"}


def parse_config(data: dict[str, Any]) -> CampaignConfig:
    try:
        return CampaignConfig.model_validate(data)
    except ValidationError as error:
        raise validation_failed(error, _LOC_NAMES) from error


# --- read models -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    public_id: str
    name: str
    channel: str
    channel_group: str
    status: str
    priority: int
    active_version: int | None
    has_draft: bool
    pixel_count: int
    updated_at: datetime


@dataclass(frozen=True)
class VersionRow:
    public_id: str
    number: int
    config: dict[str, Any]
    change_note: str
    author: str
    published_at: datetime


@dataclass(frozen=True)
class CampaignDetail:
    row: CampaignRow
    draft: dict[str, Any]  # the draft, or the active version's config when there is no draft
    versions: list[VersionRow]


@dataclass(frozen=True)
class CampaignPage:
    rows: list[CampaignRow]
    total: int
    page: int
    per_page: int


@dataclass(frozen=True)
class Change:
    path: str
    before: str
    after: str


# --- helpers -----------------------------------------------------------------------------------------------------


def _name(name: str) -> str:
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationFailed(f"Give the campaign a name of 1 to {NAME_MAX} characters.", field="name")
    return name


def _priority(priority: int) -> int:
    if not 0 <= priority <= 1_000_000:
        raise ValidationFailed("priority must be between 0 and 1000000 (lower is tried first).", field="priority")
    return priority


def _enum(enum: type[E], value: str, field: str) -> E:
    try:
        return enum(value)
    except ValueError as error:
        raise ValidationFailed(f"{field} must be one of {', '.join(e.value for e in enum)}.", field=field) from error


def get_campaign(session: Session, account_id: int, campaign_public_id: str) -> Campaign:
    campaign = session.exec(
        select(Campaign).where(Campaign.public_id == campaign_public_id, Campaign.account_id == account_id)
    ).first()
    if campaign is None:
        raise NotFound("Campaign not found.")
    return campaign


def _versions(session: Session, campaign: Campaign) -> list[CampaignVersion]:
    return list(
        session.exec(
            select(CampaignVersion)
            .where(CampaignVersion.campaign_id == campaign.id)
            .order_by(col(CampaignVersion.number).desc())
        ).all()
    )


def _row(session: Session, campaign: Campaign) -> CampaignRow:
    active = session.get(CampaignVersion, campaign.active_version_id) if campaign.active_version_id else None
    pixels = session.exec(
        select(func.count()).select_from(CampaignPixel).where(CampaignPixel.campaign_id == campaign.id)
    ).one()
    return CampaignRow(
        public_id=campaign.public_id,
        name=campaign.name,
        channel=campaign.channel,
        channel_group=campaign.channel_group,
        status=campaign.status,
        priority=campaign.priority,
        active_version=active.number if active else None,
        has_draft=campaign.draft_config is not None,
        pixel_count=int(pixels),
        updated_at=campaign.updated_at,
    )


# --- commands ----------------------------------------------------------------------------------------------------


def create_campaign(
    *,
    session: Session,
    actor: Actor,
    name: str,
    channel: str,
    channel_group: str | None = None,
    config: dict[str, Any] | None = None,
    priority: int = 100,
) -> CampaignRow:
    """A new campaign in status draft; its config starts as the draft of v1. Without a ``channel_group`` it starts
    in the platform's usual group (meta → paid_social, …)."""
    require(actor, Permission.EDIT_MARKETING)
    platform = _enum(Channel, channel, "channel")
    campaign = Campaign(
        public_id=new_public_id("cmp"),
        account_id=actor.account_id,
        name=_name(name),
        channel=platform,
        channel_group=default_channel_group(platform)
        if channel_group is None
        else _enum(ChannelGroup, channel_group, "channel_group"),
        status=CampaignStatus.DRAFT,
        priority=_priority(priority),
        draft_config=parse_config(config or {}).model_dump(mode="json"),
        draft_updated_at=utcnow(),
    )
    session.add(campaign)
    session.flush()
    return _row(session, campaign)


def update_campaign(
    *,
    session: Session,
    actor: Actor,
    campaign_public_id: str,
    name: str | None = None,
    channel: str | None = None,
    channel_group: str | None = None,
    status: str | None = None,
    priority: int | None = None,
) -> CampaignRow:
    """Name, platform (channel), channel group, status and priority are not versioned; the config is (see
    ``save_draft``). Changing the platform keeps the group (it is the marketer's choice)."""
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    if name is not None:
        campaign.name = _name(name)
    if channel is not None:
        campaign.channel = _enum(Channel, channel, "channel")
    if channel_group is not None:
        campaign.channel_group = _enum(ChannelGroup, channel_group, "channel_group")
    if status is not None:
        new_status = _enum(CampaignStatus, status, "status")
        if new_status == CampaignStatus.ACTIVE and campaign.active_version_id is None:
            raise ValidationFailed("Publish a first version before activating the campaign.", field="status")
        campaign.status = new_status
    if priority is not None:
        campaign.priority = _priority(priority)
    campaign.updated_at = utcnow()
    session.add(campaign)
    session.flush()
    runtime.current().campaign_matchers.clear_after_commit(session)
    return _row(session, campaign)


def save_draft(*, session: Session, actor: Actor, campaign_public_id: str, config: dict[str, Any]) -> dict[str, Any]:
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    campaign.draft_config = parse_config(config).model_dump(mode="json")
    campaign.draft_updated_at = campaign.updated_at = utcnow()
    session.add(campaign)
    return campaign.draft_config


def discard_draft(*, session: Session, actor: Actor, campaign_public_id: str) -> None:
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    campaign.draft_config = None
    session.add(campaign)


def _publish(session: Session, actor: Actor, campaign: Campaign, config: dict[str, Any], note: str) -> VersionRow:
    last = session.exec(
        select(func.max(CampaignVersion.number)).where(CampaignVersion.campaign_id == campaign.id)
    ).one()
    version = CampaignVersion(
        public_id=new_public_id("cv"),
        account_id=campaign.account_id,
        campaign_id=campaign.id,  # type: ignore[arg-type]  # a stored row's id is set; the column is Optional only before insert
        number=int(last or 0) + 1,
        config=parse_config(config).model_dump(mode="json"),
        change_note=note.strip()[:2000],
        author_user_id=actor.user_id or None,  # API keys publish without a user
        published_at=utcnow(),
    )
    session.add(version)
    session.flush()
    campaign.active_version_id = version.id
    campaign.draft_config = None
    campaign.updated_at = utcnow()
    if campaign.status == CampaignStatus.DRAFT:
        campaign.status = CampaignStatus.ACTIVE
    session.add(campaign)
    session.flush()
    runtime.current().campaign_matchers.clear_after_commit(session)
    return _version_row(session, version)


def publish_draft(*, session: Session, actor: Actor, campaign_public_id: str, change_note: str = "") -> VersionRow:
    """The draft becomes version N+1 (a draft campaign becomes active with its first version)."""
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    if campaign.draft_config is None:
        raise Conflict("There are no unpublished changes to publish.")
    return _publish(session, actor, campaign, campaign.draft_config, change_note)


def publish(
    *,
    session: Session,
    actor: Actor,
    campaign_public_id: str,
    config: dict[str, Any] | None = None,
    change_note: str = "",
) -> VersionRow:
    """Publish ``config`` (saved as the draft first, in the same transaction) or, without one, the saved draft."""
    if config is not None:
        save_draft(session=session, actor=actor, campaign_public_id=campaign_public_id, config=config)
    return publish_draft(session=session, actor=actor, campaign_public_id=campaign_public_id, change_note=change_note)


def rollback(
    *, session: Session, actor: Actor, campaign_public_id: str, version_number: int, change_note: str = ""
) -> VersionRow:
    """Publish an old version's config as a new version (history is never rewritten)."""
    require(actor, Permission.EDIT_MARKETING)
    campaign = get_campaign(session, actor.account_id, campaign_public_id)
    old = session.exec(
        select(CampaignVersion).where(
            CampaignVersion.campaign_id == campaign.id, CampaignVersion.number == version_number
        )
    ).first()
    if old is None:
        raise NotFound(f"Version v{version_number} not found.")
    note = change_note.strip() or f"Rollback to v{version_number}"
    return _publish(session, actor, campaign, old.config, note)


# --- queries -----------------------------------------------------------------------------------------------------


def _version_row(session: Session, version: CampaignVersion) -> VersionRow:
    author = session.get(User, version.author_user_id) if version.author_user_id else None
    return VersionRow(
        public_id=version.public_id,
        number=version.number,
        config=version.config,
        change_note=version.change_note,
        author=author.email if author else "",
        published_at=version.published_at,
    )


def campaign_choices(*, session: Session, account_id: int) -> list[tuple[str, str]]:
    """Every campaign of the account as (public id, name), by name: for filter menus."""
    rows = session.exec(
        select(Campaign.public_id, Campaign.name)
        .where(Campaign.account_id == account_id)
        .order_by(col(Campaign.name), col(Campaign.id))
    ).all()
    return [(str(public_id), str(name)) for public_id, name in rows]


def list_campaigns(
    *,
    session: Session,
    account_id: int,
    search: str = "",
    status: str | None = None,
    channel: str | None = None,
    channel_group: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> CampaignPage:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationFailed(f"per_page must be between 1 and {MAX_PER_PAGE}.", field="per_page")
    check_page_number(page)
    query = select(Campaign).where(Campaign.account_id == account_id)
    if search.strip():
        query = query.where(func.lower(Campaign.name).contains(search.strip().lower(), autoescape=True))
    if status:
        query = query.where(Campaign.status == _enum(CampaignStatus, status, "status"))
    if channel:
        query = query.where(Campaign.channel == _enum(Channel, channel, "channel"))
    if channel_group:
        query = query.where(Campaign.channel_group == _enum(ChannelGroup, channel_group, "channel_group"))
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(Campaign.priority), col(Campaign.id)).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return CampaignPage([_row(session, c) for c in rows], int(total), page, per_page)


def campaign_detail(*, session: Session, account_id: int, campaign_public_id: str) -> CampaignDetail:
    campaign = get_campaign(session, account_id, campaign_public_id)
    models = _versions(session, campaign)
    active = next((v for v in models if v.id == campaign.active_version_id), None)
    if campaign.draft_config is not None:
        draft = campaign.draft_config
    else:
        draft = active.config if active else CampaignConfig().model_dump(mode="json")
    versions = [_version_row(session, v) for v in models]
    return CampaignDetail(_row(session, campaign), draft, versions)


def list_versions(*, session: Session, account_id: int, campaign_public_id: str) -> list[VersionRow]:
    campaign = get_campaign(session, account_id, campaign_public_id)
    return [_version_row(session, v) for v in _versions(session, campaign)]


def _flatten(config: dict[str, Any], locale: str) -> dict[str, str]:
    """A config as labelled lines a person reads: money in its currency, ROAS as a ratio, rates in percent."""
    parsed = CampaignConfig.model_validate(config)
    flat: dict[str, str] = {}
    for n, rule in enumerate(parsed.matching_rules, start=1):
        flat[f"Matching rule {n}"] = rule.describe()
    flat["Landing URL"] = parsed.landing_url or ""
    currency = parsed.budget.currency if parsed.budget else ""
    if parsed.budget:
        flat["Budget"] = f"{format_money(parsed.budget.amount, currency, locale)} {parsed.budget.period}"
    targets = parsed.targets
    target_currency = parsed.target_currency or ""
    flat["Target CPA"] = "" if targets.target_cpa is None else format_money(targets.target_cpa, target_currency, locale)
    flat["Minimum ROAS"] = "" if targets.min_roas is None else format_ratio(targets.min_roas, locale)
    flat["Minimum conversion rate"] = (
        "" if targets.min_conversion_rate is None else format_percent(targets.min_conversion_rate, locale, digits=None)
    )
    flat["Notes"] = parsed.notes
    return flat


def diff_configs(before: dict[str, Any], after: dict[str, Any], locale: str = DEFAULT_LOCALE) -> list[Change]:
    """A readable list of what changed between two configs, rule by rule and field by field."""
    a, b = _flatten(before, locale), _flatten(after, locale)
    changes = []
    for path in [*a, *(k for k in b if k not in a)]:
        old, new = a.get(path, ""), b.get(path, "")
        if old != new:
            changes.append(Change(path, old or "—", new or "—"))
    return changes


def diff_versions(
    *,
    session: Session,
    account_id: int,
    campaign_public_id: str,
    from_number: int,
    to_number: int,
    locale: str = DEFAULT_LOCALE,
) -> list[Change]:
    versions = {
        v.number: v
        for v in list_versions(session=session, account_id=account_id, campaign_public_id=campaign_public_id)
    }
    missing = [n for n in (from_number, to_number) if n not in versions]
    if missing:
        raise NotFound(f"Version v{missing[0]} not found.")
    return diff_configs(versions[from_number].config, versions[to_number].config, locale)
