"""Versions compared with confidence in a real browser: a campaign's v1 gets 100 sessions and no sale, v2 (published
through the API) 100 sessions of which 10 paid through Stripe's signed webhook; the campaign page calls v2 the winner
with the numbers behind it, says the versions ran one after another, and compares any two versions chosen."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import log_in, pay_checkout, stripe_shop, url_is
from tests.utils.events import event
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder

pytestmark = pytest.mark.e2e

PASSWORD = "versions-pass-1"
WEBHOOK_SECRET = "whsec_versions_shop_00000000"
SESSIONS = 100
PAID = 10


def _visits(api: httpx.Client, tag: str, version: str) -> None:
    events = [
        event(visitor_id=f"vis-{tag}-{version}-{i}", session_id=f"s-{tag}-{version}-{i}",
              url="https://shop.example.com/?utm_campaign=spring", utm_source="facebook", utm_campaign="spring")
        for i in range(SESSIONS)
    ]  # fmt: skip
    recorded = api.post("/api/v1/events", json={"events": events})
    assert recorded.status_code == 200 and recorded.json()["accepted"] == SESSIONS, recorded.text


def _seed(server: Server, recorder: StripeRecorder) -> tuple[str, str]:
    """An account with campaign "Spring": v1's 100 sessions buy nothing; v2's 100 sessions, 10 paid 49.50 EUR."""
    email, account, slug, auth = stripe_shop(
        server, prefix="versions", password=PASSWORD, webhook_secret=WEBHOOK_SECRET
    )
    tag = account.removeprefix("acc_")
    price = recorder.add_price(product=recorder.add_product(name="Sneakers")["id"], unit_amount=4_950, currency="eur")
    config = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}]}
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        created = api.post("/api/v1/campaigns", json={"name": "Spring", "channel": "meta", "publish": True,
                                                      "config": config})  # fmt: skip
        assert created.status_code == 201, created.text
        campaign = created.json()["id"]
        _visits(api, tag, "v1")
        published = api.post(f"/api/v1/campaigns/{campaign}/versions", json={"config": config, "change_note": "v2"})
        assert published.status_code == 201, published.text
        _visits(api, tag, "v2")
        for i in range(PAID):
            started = api.post("/api/v1/checkout/sessions", json={
                "items": [{"price": price["id"], "quantity": 1}], "visitor_id": f"vis-{tag}-v2-{i}",
                "session_id": f"s-{tag}-v2-{i}", "success_url": "https://shop.example.com/thanks",
                "cancel_url": "https://shop.example.com/cart",
            })  # fmt: skip
            assert started.status_code == 200, started.text
            pay_checkout(server, recorder, order_id=started.json()["order_id"], account=account,
                         webhook_secret=WEBHOOK_SECRET)  # fmt: skip
    assert "recomputed" in server.cli("rebuild-rollups", "--account", slug)
    return email, campaign


def _choose(page: Page, select_id: str, option: str) -> None:
    page.locator(f"#{select_id}").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_the_campaign_page_says_whether_v2_beat_v1(server: Server, page: Page, _stripe_recorder: Any) -> None:
    email, campaign = _seed(server, _stripe_recorder)
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    page.goto(f"{server.url}/campaigns/{campaign}")

    rows = page.locator("#versions-compared-table .version-window-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("10.0%")  # v2: 10 of 100 sessions converted
    expect(page.locator("#winner-threshold")).to_have_text("95%")
    expect(page.locator("#seasonality")).to_contain_text("one after another")

    card = page.locator("#version-pairs .version-pair")
    expect(card).to_have_count(1)
    expect(card.locator(".pair-title")).to_have_text("v1 → v2")
    expect(card.locator(".pair-verdict")).to_have_text("v2 wins")
    expect(card.locator(".pair-summary")).to_contain_text("v2 is the winner: better on conversion rate (")
    expect(card.locator(".pair-summary")).to_contain_text("at least the 95% required")
    expect(card.locator(".pair-rate")).to_contain_text("Conversion rate: 0.0% → 10.0%")
    expect(card.locator(".pair-interval")).to_contain_text("95% credible interval of v2 − v1: +")
    expect(card.locator(".pair-mde")).to_contain_text("100 sessions per version")
    expect(card.locator(".pair-revenue")).to_contain_text("Net revenue per session (EUR): €0.00 → €4.95")
    expect(card.locator(".pair-shop")).to_contain_text("Whole shop over the same windows")

    # Any two versions: v2 against v1 reads the other way round, with the same winner.
    chosen = page.locator("#chosen-pair .version-pair")
    expect(chosen.locator(".pair-title")).to_have_text("v1 → v2")
    _choose(page, "chosen-a", "v2")
    _choose(page, "chosen-b", "v1")
    expect(chosen.locator(".pair-title")).to_have_text("v2 → v1")
    expect(chosen.locator(".pair-verdict")).to_have_text("v2 wins")
    expect(chosen.locator(".pair-rate")).to_contain_text("Conversion rate: 10.0% → 0.0%")
    expect(chosen.locator(".pair-interval")).to_contain_text("95% credible interval of v1 − v2: −")
