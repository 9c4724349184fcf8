"""Blended figures: the whole business beside what the campaigns are credited with. MER (marketing efficiency ratio)
= all net revenue / all ad spend; blended new-customer CPA = all spend / all new customers; the attributed ROAS and
new-customer CPA count only what the attribution model credits to campaigns (not direct/unmatched, not imported)."""

from __future__ import annotations

from dataclasses import dataclass

from app.services import rollups
from app.services.metrics.figures import MetricsReport, ratio

# Rows by campaign that no campaign earned: direct/unmatched ("0") and orders imported from Stripe's history.
UNATTRIBUTED = frozenset({"0", str(rollups.IMPORTED)})


@dataclass(frozen=True)
class Blended:
    """One currency's whole-business and attributed figures (None: "n/a", no base)."""

    currency: str
    net: int  # all net revenue
    attributed_net: int  # credited to campaigns
    spend: int
    new_customers: float
    attributed_new_customers: float
    mer: float | None
    attributed_roas: float | None
    blended_cpa: float | None
    attributed_cpa: float | None
    attributed_share: float | None  # attributed net / all net


def blended(by_campaign: MetricsReport) -> list[Blended]:
    """Per currency, from a report by campaign (its total is the whole business)."""
    total = by_campaign.total.figures
    attributed = [r.figures for r in by_campaign.rows if r.key not in UNATTRIBUTED]
    new_attributed = sum(f.new_customers for f in attributed)
    out = []
    for code in by_campaign.currencies:
        money = total.money.get(code)
        net = money.net if money else 0
        spend = money.spend if money else 0
        attributed_net = sum(f.money[code].net for f in attributed if code in f.money)
        out.append(
            Blended(
                currency=code,
                net=net,
                attributed_net=attributed_net,
                spend=spend,
                new_customers=total.new_customers,
                attributed_new_customers=new_attributed,
                mer=ratio(net, spend),
                attributed_roas=ratio(attributed_net, spend),
                blended_cpa=ratio(spend, total.new_customers) if spend else None,
                attributed_cpa=ratio(spend, new_attributed) if spend else None,
                attributed_share=ratio(attributed_net, net),
            )
        )
    return out
