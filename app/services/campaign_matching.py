"""Matching sessions to campaign versions: the rules of each active campaign's version that was live when a session
started, in priority order (the first rule that matches wins), and the per-account cache the ingest path reads.
The rules themselves (``Rule``, ``CampaignConfig``) are defined with the campaigns in ``services/campaigns``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import event
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlmodel import Session, col

from app.models import Campaign, CampaignStatus, CampaignVersion
from app.services.campaigns import CLICK_ID_TYPES, CampaignConfig, Rule
from app.settings import get_settings


@dataclass(frozen=True)
class _Candidate:
    campaign_id: int
    priority: int
    versions: list[tuple[datetime, int, list[Rule]]]  # (published_at, version id, rules), oldest first


@dataclass(frozen=True)
class Match:
    campaign_id: int | None
    version_id: int | None


UNMATCHED = Match(None, None)


class Matcher:
    """Evaluates active campaigns in priority order; within one, the rules of the version active when the session
    started, in order. The first rule that matches wins; no match is the "unmatched" bucket."""

    def __init__(self, candidates: list[_Candidate]) -> None:
        self.candidates = sorted(candidates, key=lambda c: (c.priority, c.campaign_id))

    def match(self, facts: dict[str, str | None], started_at: datetime) -> Match:
        for candidate in self.candidates:
            active = None
            for published_at, version_id, rules in candidate.versions:
                if published_at <= started_at:
                    active = (version_id, rules)
            if active and any(rule.matches(facts) for rule in active[1]):
                return Match(candidate.campaign_id, active[0])
        return UNMATCHED


def load_matcher(session: Session, account_id: int) -> Matcher:
    rows = session.execute(
        sa_select(
            col(Campaign.id),
            col(Campaign.priority),
            col(CampaignVersion.id),
            col(CampaignVersion.published_at),
            col(CampaignVersion.config),
        )
        .join(CampaignVersion, col(CampaignVersion.campaign_id) == col(Campaign.id))
        .where(col(Campaign.account_id) == account_id, col(Campaign.status) == CampaignStatus.ACTIVE.value)
        .order_by(col(CampaignVersion.published_at))
    ).all()
    by_campaign: dict[int, _Candidate] = {}
    for campaign_id, priority, version_id, published_at, config in rows:
        assert campaign_id is not None and version_id is not None  # stored rows
        candidate = by_campaign.setdefault(campaign_id, _Candidate(campaign_id, priority, []))
        candidate.versions.append((published_at, version_id, CampaignConfig.model_validate(config).matching_rules))
    return Matcher(list(by_campaign.values()))


class MatcherCache:
    """Matchers per account for the ingest path; cleared here on publish or status change, and trusted for
    KEY_CACHE_SECONDS in other processes."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[float, Matcher]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, account_id: int) -> Matcher:
        with self._lock:
            entry = self._entries.get(account_id)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        matcher = load_matcher(session, account_id)
        with self._lock:
            self._entries[account_id] = (time.monotonic() + get_settings().key_cache_seconds, matcher)
        return matcher

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def clear_after_commit(self, session: Session) -> None:
        """Clear now and again once the change is committed, so no reader caches the state before it."""
        self.clear()
        event.listen(session, "after_commit", lambda _session: self.clear(), once=True)


def session_facts(row: dict[str, Any]) -> dict[str, str | None]:
    """What rules look at in a session: UTM values, the landing path and the click-id type."""
    landing = row.get("landing_url") or ""
    click_type = next((name for name in CLICK_ID_TYPES if row.get(name)), None)
    return {
        "utm_campaign": row.get("utm_campaign"),
        "utm_source": row.get("utm_source"),
        "utm_medium": row.get("utm_medium"),
        "utm_content": row.get("utm_content"),
        "utm_term": row.get("utm_term"),
        "landing_path": urlsplit(landing).path or None if landing else None,
        "click_id_type": click_type,
    }
