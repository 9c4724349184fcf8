"""The assistant's ``list_campaigns`` tool: the account's campaigns with their latest versions and what changed in
each."""

from __future__ import annotations

from sqlmodel import Session

from app.services import campaigns
from app.services.assistant_tools.results import ToolResult, locale_of, when, zone_of
from app.services.assistant_tools.schemas import CampaignsArguments
from app.services.permissions import Actor


def campaigns_result(session: Session, actor: Actor, a: CampaignsArguments) -> ToolResult:
    page = campaigns.list_campaigns(
        session=session,
        account_id=actor.account_id,
        search=a.search,
        status=a.status.value if a.status else None,
        channel=a.channel.value if a.channel else None,
        per_page=a.limit,
    )
    zone, locale = zone_of(session, actor), locale_of(session, actor)
    out = []
    for row in page.rows:
        versions = campaigns.list_versions(
            session=session, account_id=actor.account_id, campaign_public_id=row.public_id
        )
        shown = []
        for index, version in enumerate(versions[: a.versions_per_campaign]):
            before = versions[index + 1] if index + 1 < len(versions) else None
            if before is None:
                changes = campaigns.diff_configs({}, version.config, locale)
            else:
                changes = campaigns.diff_versions(
                    session=session,
                    account_id=actor.account_id,
                    campaign_public_id=row.public_id,
                    from_number=before.number,
                    to_number=version.number,
                    locale=locale,
                )
            shown.append(
                {
                    "version_id": version.public_id,
                    "number": version.number,
                    "published_at": when(version.published_at, zone),
                    "change_note": version.change_note,
                    "compared_with": f"v{before.number}" if before else "nothing (first version: what it set)",
                    "changes": [{"field": c.path, "before": c.before, "after": c.after} for c in changes],
                }
            )
        out.append(
            {
                "campaign_id": row.public_id,
                "name": row.name,
                "channel": row.channel,
                "channel_group": row.channel_group,
                "status": row.status,
                "priority": row.priority,
                "live_version": row.active_version,
                "has_unpublished_draft": row.has_draft,
                "updated_at": when(row.updated_at, zone),
                "versions_total": len(versions),
                "versions": shown,
            }
        )
    return {
        "query": {
            "search": a.search or None,
            "status": a.status.value if a.status else None,
            "channel": a.channel.value if a.channel else None,
            "timezone": zone.key,
        },
        "campaigns": out,
        "campaigns_total": page.total,
    }
