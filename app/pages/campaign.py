"""Campaign editor page: the header, the draft, publish, the version history and versions compared, and the pixels
(each section a component of ``app/components/campaign_*``)."""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.campaign_editor import draft_section, header, not_found
from app.components.campaign_pixels import pixels_section
from app.components.campaign_platforms import platforms_section
from app.components.campaign_versions import publish_section, versions_compared_section, versions_section
from app.components.claims import claims_card
from app.components.layout import loading, template
from app.state.campaign_editor import CampaignEditorState
from app.state.campaign_platforms import CampaignPlatformsState
from app.state.metrics import VersionComparisonState
from app.state.metrics.claims import PlatformClaimsState


@template(
    routes.CAMPAIGN,
    "Campaign",
    on_load=[
        CampaignEditorState.load_campaign,
        VersionComparisonState.load_version_comparison,
        CampaignPlatformsState.load_campaign_platforms,
        PlatformClaimsState.load_campaign_claims,
    ],
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
                platforms_section(),
                rx.cond(
                    PlatformClaimsState.claims.length() > 0,
                    claims_card(
                        id="campaign-claims",
                        title="What the platforms claim vs what was paid (last 28 days)",
                        chart=True,
                    ),
                ),
                spacing="4",
                width="100%",
            ),
        ),
        loading(),
    )
