"""The assistant's ``compare_versions`` tool: a campaign's versions compared with confidence (the campaign page's
"Did the new version win?"), with the windows, threshold and model it used, so an answer can be checked."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.services import campaigns, metrics
from app.services.assistant_tools.results import ToolResult, locale_of, money_text
from app.services.assistant_tools.schemas import VersionsArguments
from app.services.permissions import Actor


def _formatted_money(pair: dict[str, Any], locale: str) -> dict[str, Any]:
    """Net revenue per session (minor units) with its ``*_formatted`` twins, per currency."""
    for code, figures in pair["net_revenue_per_session"].items():
        figures["a_formatted"] = money_text(figures["a"], code, locale)
        figures["b_formatted"] = money_text(figures["b"], code, locale)
        interval = figures["difference_interval"]
        figures["difference_interval_formatted"] = (
            None if interval is None else [money_text(v, code, locale) for v in interval]
        )
    return pair


def versions_result(session: Session, actor: Actor, a: VersionsArguments) -> ToolResult:
    locale = locale_of(session, actor)
    name = campaigns.get_campaign(session, actor.account_id, a.campaign).name
    report = metrics.version_report(
        session=session,
        account_id=actor.account_id,
        campaign_public_id=a.campaign,
        days=a.days,
        model=a.model.value,
        a=a.a,
        b=a.b,
    )
    data = metrics.report_dict(report)
    for window in data["versions"]:
        window.pop("figures")  # the page's attributed figures: get_metrics by version has them
    pairs = [_formatted_money(p, locale) for p in data["pairs"]]
    chosen = _formatted_money(data["chosen"], locale) if data["chosen"] else None
    return {
        "query": {
            "campaign": a.campaign,
            "campaign_name": name,
            "model": a.model.value,
            "window_days": data["window_days"],
            "windows": {f"v{w['number']}": f"{w['start']} – {w['end']}" for w in data["versions"]},
            "winner_probability": data["threshold"],
            "chosen": [a.a, a.b] if a.a and a.b else None,
        },
        "method": (
            "Conversion rate: Beta(1,1) priors, P(B better) by exact integration, 95% credible interval of B − A. "
            "Net revenue per session: bootstrap of sessions (fixed seed), 95% interval and P(B better). A winner only "
            "when P(better) ≥ winner_probability. Rates are fractions; money is minor units per session."
        ),
        "seasonality_note": data["seasonality_note"],
        "versions": data["versions"],
        "pairs": pairs,
        "chosen": chosen,
    }
