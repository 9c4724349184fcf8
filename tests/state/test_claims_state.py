"""Platform vs verified on /metrics and the campaign page, through their state, on the known shop with synced
Meta and Google reports (tests/services/test_platform_vs_verified.py works out the figures)."""

from __future__ import annotations

from reflex.state import State
from sqlmodel import Session

from app import routes
from app.state.metrics.claims import PlatformClaimsState
from tests.services.test_platform_vs_verified import shop  # noqa: F401  (a fixture)
from tests.utils.states import sign_in, substate, user_of, visit
from tests.utils.world import World


def test_the_metrics_table_and_a_campaigns_section(root: State, db: Session, shop: World) -> None:  # noqa: F811
    sign_in(root, db, user_of(db, shop))
    claims = substate(root, PlatformClaimsState)
    visit(root, f"{routes.METRICS}?range=custom&start=2026-03-28&end=2026-03-31&compare=none")
    claims.load_platform_claims()
    rows = {r["campaign"]: r for r in claims.claims}
    assert list(rows) == ["Spring sale", "Search", "Not mapped to a campaign"]
    spring = rows["Spring sale"]
    assert (spring["platforms"], spring["spend"], spring["claimed_purchases"], spring["verified_orders"]) == (
        "Meta", "€50.00", "3", "1",
    )  # fmt: skip
    assert (spring["reporting_ratio"], spring["reporting_note"], spring["previous_ratio"]) == (
        "3.00×", "over-reports", "",
    )  # fmt: skip
    assert (spring["claimed_value"], spring["verified_net"]) == ("€240.00", "€45.00")
    assert (spring["platform_roas"], spring["verified_roas"]) == ("4.80×", "0.90×")
    assert spring["url"] == routes.campaign_url(shop.a.public_id)
    assert (rows["Search"]["reporting_ratio"], rows["Search"]["reporting_note"]) == ("0.50×", "under-reports")
    unmapped = rows["Not mapped to a campaign"]
    assert (unmapped["verified_orders"], unmapped["reporting_ratio"], unmapped["url"]) == ("—", "n/a", "")
    assert claims.claims_timezone_note == "" and not claims.claims_comparing

    visit(root, f"{routes.campaign_url(shop.b.public_id)}?range=custom&start=2026-03-30&end=2026-03-31")
    claims.load_campaign_claims()
    assert [r["campaign"] for r in claims.claims] == ["Search"] and claims.claims_comparing
    assert [(b["level"], b["name"], b["spend"], b["claimed_purchases"]) for b in claims.breakdown] == [
        ("Ad set", "Exact", "€20.00", "0.5"),
        ("Ad", "RSA", "€20.00", "0.5"),
    ]


def test_a_campaigns_claims_day_by_day_as_a_chart(root: State, db: Session, shop: World) -> None:  # noqa: F811
    """The campaign page's chart: claimed purchases and verified orders per day (the service's daily_claims), drawn
    only once the chart has mounted; /metrics (every campaign) has no day-by-day chart."""
    sign_in(root, db, user_of(db, shop))
    claims = substate(root, PlatformClaimsState)
    visit(root, f"{routes.campaign_url(shop.a.public_id)}?range=custom&start=2026-03-29&end=2026-03-31&compare=none")
    claims.load_campaign_claims()
    assert claims.claim_days == ["2026-03-29", "2026-03-30", "2026-03-31"]
    assert (claims.claimed_daily, claims.verified_daily) == ([2.0, 1.0, 0.0], [0.0, 1.0, 0.0])
    assert [list(t.x) for t in claims.claims_chart.data] == [[], []]  # not drawn yet: plotly comes after the table
    claims.draw_claims_chart()
    claimed, verified = claims.claims_chart.data
    assert (claimed.name, list(claimed.x), list(claimed.y)) == (
        "Claimed purchases", ["2026-03-29", "2026-03-30", "2026-03-31"], [2.0, 1.0, 0.0],
    )  # fmt: skip
    assert (verified.name, list(verified.y)) == ("Verified orders", [0.0, 1.0, 0.0])

    visit(root, f"{routes.METRICS}?range=custom&start=2026-03-28&end=2026-03-31&compare=none")
    claims.load_platform_claims()
    assert claims.claim_days == [] and claims.claims
