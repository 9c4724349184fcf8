"""``/api/v1/campaigns``: list, get, create campaigns; publish a version; list versions (secret key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from app.api.deps import SecretKeyDep, SessionDep
from app.api.params import PageNumber, choice, per_page
from app.api.schemas import ErrorResponse, self_contained
from app.services import campaigns as campaign_service
from app.services.keys import KeyIdentity
from app.services.permissions import key_actor

router = APIRouter(tags=["campaigns"])
_ERRORS: dict[int | str, dict[str, Any]] = {k: {"model": ErrorResponse} for k in (401, 404, 409, 422)}


class CampaignOut(BaseModel):
    id: str
    name: str
    channel: str = Field(description="the ad platform: meta | google | tiktok | email | other")
    channel_group: str = Field(
        description="paid_social | paid_search | display | affiliates | email | organic_social | referral | other"
    )
    status: str
    priority: int
    active_version: int | None
    has_draft: bool
    pixel_count: int


class VersionOut(BaseModel):
    id: str
    number: int
    config: dict[str, Any]
    change_note: str
    author: str
    published_at: str


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]
    total: int
    page: int
    per_page: int


class CampaignDetailOut(CampaignOut):
    draft: dict[str, Any]
    versions: list[VersionOut]


# The config's shape, for the OpenAPI document: the body keeps it a plain object so that the campaigns service checks
# it, with the messages the backoffice shows too.
_CONFIG_SCHEMA = self_contained(campaign_service.CampaignConfig)
ConfigBody = Annotated[dict[str, Any], WithJsonSchema(_CONFIG_SCHEMA)]


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        json_schema_extra={"minLength": 1, "maxLength": campaign_service.NAME_MAX, "pattern": r"\S"},
        description="spaces are collapsed",
    )
    channel: str = Field(
        description="the ad platform", json_schema_extra={"enum": [c.value for c in campaign_service.Channel]}
    )
    channel_group: str | None = Field(
        default=None,
        description="the marketing channel group; default: the platform's (meta → paid_social, …)",
        json_schema_extra={"anyOf": [{"enum": [g.value for g in campaign_service.ChannelGroup]}, {"type": "null"}]},
    )
    priority: int = Field(default=100, ge=0, le=1_000_000, description="lower first when matching")
    config: ConfigBody = Field(default_factory=dict, description="matching_rules, landing_url, budget, targets, notes")
    publish: bool = Field(default=False, description="publish the config as v1 at once")
    change_note: str = ""


class PublishRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config: Annotated[dict[str, Any] | None, WithJsonSchema({"anyOf": [_CONFIG_SCHEMA, {"type": "null"}]})] = Field(
        default=None, description="the new config; default: the saved draft"
    )
    change_note: str = ""


def _out(row: campaign_service.CampaignRow) -> CampaignOut:
    return CampaignOut(
        id=row.public_id,
        name=row.name,
        channel=row.channel,
        channel_group=row.channel_group,
        status=row.status,
        priority=row.priority,
        active_version=row.active_version,
        has_draft=row.has_draft,
        pixel_count=row.pixel_count,
    )


def _version(v: campaign_service.VersionRow) -> VersionOut:
    return VersionOut(
        id=v.public_id,
        number=v.number,
        config=v.config,
        change_note=v.change_note,
        author=v.author,
        published_at=v.published_at.isoformat(),
    )


def _detail(session: SessionDep, identity: KeyIdentity, campaign_id: str) -> CampaignDetailOut:
    detail = campaign_service.campaign_detail(
        session=session, account_id=identity.account_id, campaign_public_id=campaign_id
    )
    return CampaignDetailOut(
        **_out(detail.row).model_dump(), draft=detail.draft, versions=[_version(v) for v in detail.versions]
    )


@router.get("/campaigns", response_model=CampaignList, responses=_ERRORS)
def list_campaigns(
    identity: SecretKeyDep,
    session: SessionDep,
    search: str = "",
    status: Annotated[str | None, choice(campaign_service.Status)] = None,
    channel: Annotated[str | None, choice(campaign_service.Channel, description="the ad platform")] = None,
    channel_group: Annotated[str | None, choice(campaign_service.ChannelGroup)] = None,
    page: PageNumber = 1,
    per_page: Annotated[int, per_page(campaign_service.MAX_PER_PAGE)] = 20,
) -> CampaignList:
    """The account's campaigns in priority order, filtered by name (``search``), status, platform and channel group."""
    result = campaign_service.list_campaigns(
        session=session,
        account_id=identity.account_id,
        search=search,
        status=status,
        channel=channel,
        channel_group=channel_group,
        page=page,
        per_page=per_page,
    )
    return CampaignList(
        campaigns=[_out(r) for r in result.rows], total=result.total, page=result.page, per_page=result.per_page
    )


@router.post("/campaigns", response_model=CampaignDetailOut, status_code=201, responses=_ERRORS)
def create_campaign(body: CampaignCreate, identity: SecretKeyDep, session: SessionDep) -> CampaignDetailOut:
    """Create a campaign with ``config`` as its draft; ``publish`` makes that draft v1 at once (the campaign becomes
    active). ``channel_group`` defaults from the platform."""
    actor = key_actor(identity.account_id)
    row = campaign_service.create_campaign(
        session=session,
        actor=actor,
        name=body.name,
        channel=body.channel,
        channel_group=body.channel_group,
        config=body.config,
        priority=body.priority,
    )
    if body.publish:
        campaign_service.publish_draft(
            session=session, actor=actor, campaign_public_id=row.public_id, change_note=body.change_note
        )
    return _detail(session, identity, row.public_id)


@router.get("/campaigns/{campaign_id}", response_model=CampaignDetailOut, responses=_ERRORS)
def get_campaign(campaign_id: str, identity: SecretKeyDep, session: SessionDep) -> CampaignDetailOut:
    """One campaign with its draft and its versions."""
    return _detail(session, identity, campaign_id)


@router.get("/campaigns/{campaign_id}/versions", response_model=list[VersionOut], responses=_ERRORS)
def list_versions(campaign_id: str, identity: SecretKeyDep, session: SessionDep) -> list[VersionOut]:
    """The campaign's published versions, newest first."""
    rows = campaign_service.list_versions(
        session=session, account_id=identity.account_id, campaign_public_id=campaign_id
    )
    return [_version(v) for v in rows]


@router.post("/campaigns/{campaign_id}/versions", response_model=VersionOut, status_code=201, responses=_ERRORS)
def publish_version(campaign_id: str, body: PublishRequest, identity: SecretKeyDep, session: SessionDep) -> VersionOut:
    """Publish ``config`` (or the saved draft) as the next version."""
    version = campaign_service.publish(
        session=session,
        actor=key_actor(identity.account_id),
        campaign_public_id=campaign_id,
        config=body.config,
        change_note=body.change_note,
    )
    return _version(version)
