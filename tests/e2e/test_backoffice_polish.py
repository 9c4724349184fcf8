"""Backoffice polish in a real browser: a viewer (and a marketer) meets no enabled control the server would refuse,
names in charts are text, the explorer's wide table scrolls, the spend upload's messages are human and current,
"Versions compared" follows a publish, and there is a favicon.

Accounts are seeded through the real services against the server's own database (a subprocess with its settings).
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import log_in, open_form_page, url_is
from tests.utils.events import event
from tests.utils.server import PYTHON, ROOT, Server

pytestmark = pytest.mark.e2e

PASSWORD = "polish-password-1"

# An account with something on every page: keys, a campaign with two versions and a pixel attached, spend, an alert
# rule; its owner, a marketer and a viewer. Prints the account's slug, the campaign's id and the members' emails.
SEED_ROLES = r"""
import json, sys
from datetime import date, timedelta
from app.db import session_scope
from app.models import Membership, Role
from app.services import accounts, alerts, campaigns, keys, pixels, spend
from app.services.permissions import Actor

tag, password = sys.argv[1], sys.argv[2]
with session_scope() as s:
    account, user = accounts.signup(session=s, account_name=f"Roles {tag}", email=f"owner-{tag}@example.com",
                                    password=password, timezone="Europe/Berlin")
    owner = Actor(user_id=user.id, account_id=account.id, role=Role.OWNER)
    for role in ("viewer", "marketer"):
        member = accounts.create_user(session=s, email=f"{role}-{tag}@example.com", password=password)
        s.add(Membership(account_id=account.id, user_id=member.id, role=role))
    keys.create_key(session=s, actor=owner, kind="publishable", label="Shop", origins=["https://shop.example.com"])
    rules = {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": "spring"}]}],
             "budget": {"amount": 5000, "currency": "EUR", "period": "daily"}}
    row = campaigns.create_campaign(session=s, actor=owner, name="Spring sale", channel="meta", config=rules)
    campaigns.publish_draft(session=s, actor=owner, campaign_public_id=row.public_id, change_note="launch")
    campaigns.publish(session=s, actor=owner, campaign_public_id=row.public_id, config=rules | {"notes": "B"},
                      change_note="creative B")
    pixel = pixels.create_pixel(session=s, actor=owner, provider="meta", name="Meta main",
                                settings={"pixel_id": "123456789012"}, credentials={"access_token": "EAAtoken-1234"})
    pixels.attach_pixel(session=s, actor=owner, campaign_public_id=row.public_id, pixel_public_id=pixel.public_id)
    day = (date.today() - timedelta(days=2)).isoformat()
    spend.record_spend(session=s, actor=owner,
                       entries=[{"date": day, "campaign": row.public_id, "spend": 12.5, "currency": "EUR"}])
    alerts.create_rule(session=s, actor=owner, data={"name": "ROAS watch", "campaign": row.public_id,
                                                     "metric": "roas", "threshold": 2, "recipient_roles": ["owner"]})
    print(json.dumps({"slug": account.slug, "campaign": row.public_id}))
"""


def _seed(server: Server, script: str, *args: str) -> dict[str, Any]:
    """Run ``script`` with the server's settings (its database), from the checkout; its last line is JSON."""
    done = subprocess.run(
        [PYTHON, "-c", script, *args], cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


# Every control in the page's content (what follows the sidebar, the one with "Log out") a person can use now:
# visible, enabled, and (for text) not read-only. Radix renders hidden native inputs next to its selects, switches
# and checkboxes (aria-hidden): those are not controls.
_USABLE_CONTROLS = """() => {
  let sidebar = document.querySelector('#logout');
  while (sidebar && !sidebar.nextElementSibling) sidebar = sidebar.parentElement;
  const content = sidebar.nextElementSibling;
  const found = [];
  const controls = ':is(button, input, textarea, select, [role=switch], [role=checkbox], [role=radio],'
    + ' [role=combobox], [contenteditable=true])';
  for (const el of new Set(content.querySelectorAll(controls))) {
    if (el.type === 'hidden' || el.closest('[aria-hidden=true]')) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (el.disabled || el.getAttribute('aria-disabled') === 'true' || el.hasAttribute('data-disabled')) continue;
    if ((el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && el.readOnly) continue;
    const own = [...el.classList].find((c) => !/^(rt-|rx-|css-|radix-)/.test(c));
    found.push(el.id || el.getAttribute('name') || el.getAttribute('aria-label') || own
      || el.textContent.trim().slice(0, 40));
  }
  return found;
}"""

# Page, a locator that shows the page has loaded its data, the read-only controls a viewer may use there.
VIEWER_PAGES: list[tuple[str, str, set[str]]] = [
    ("/settings/keys", "#keys-table .key-row", set()),
    (
        "/campaigns",
        ".campaign-row",
        {"campaign-search", "search-campaigns", "filter-status", "filter-group", "filter-channel"},
    ),
    (
        "/campaigns/{campaign}",
        "#versions-compared-table .version-window-row",
        {"compare-from", "compare-to", "compare", "chosen-a", "chosen-b"},  # any two versions compared: a read
    ),
    ("/pixels", ".pixel-card", set()),
    ("/spend", ".spend-row", {"spend-template-link", "filter-campaign", "spend-from", "spend-to", "apply-dates"}),
    ("/alerts", ".rule-row", {"filter-rule", "filter-kind"}),
    ("/settings/stripe", "#stripe-connection", {"copy-webhook-url"}),
    ("/settings/team", ".member-row", set()),
    ("/install", "#install-snippet", {"Copy snippet", "Copy key"}),
]
MARKETER_PAGES: list[tuple[str, str, set[str]]] = [
    ("/settings/keys", "#keys-table .key-row", set()),
    (
        "/settings/stripe",
        "#stripe-connection",
        # Syncing reads from Stripe (catalogue, missed events, history, reconciliation): a marketer may.
        {"copy-webhook-url", "sync-catalog", "check-stripe-now", "history-days", "import-history", "reconcile-stripe"},
    ),
    ("/settings/team", ".member-row", set()),
]


def _usable(page: Page, path: str, loaded: str) -> list[str]:
    page.goto(path)
    expect(page.locator(loaded).first).to_be_visible()
    return sorted(page.evaluate(_USABLE_CONTROLS))


@pytest.mark.parametrize(("role", "pages"), [("viewer", VIEWER_PAGES), ("marketer", MARKETER_PAGES)])
def test_no_enabled_control_leads_to_a_refusal(
    server: Server, page: Page, _stripe_recorder: Any, role: str, pages: list[tuple[str, str, set[str]]]
) -> None:
    """Page by page, every control a member can use is one their role may use: the rest is disabled or absent."""
    tag = uuid.uuid4().hex[:8]
    seeded = _seed(server, SEED_ROLES, tag, PASSWORD)
    server.cli("connect-stripe", "--account", seeded["slug"], "--key", "sk_test_51RolesShop0000",
               "--webhook-secret", "whsec_roles_shop_0000000")  # fmt: skip
    base = server.url
    log_in(page, base, email=f"{role}-{tag}@example.com", password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    expect(page.locator("#current-role")).to_have_text(role)

    refused = {}
    for path, loaded, allowed in pages:
        usable = _usable(page, base + path.format(campaign=seeded["campaign"]), loaded)
        if not set(usable) <= allowed:
            refused[path] = sorted(set(usable) - allowed)
    assert refused == {}, f"a {role} can use controls the server refuses: {refused}"


# --- names in charts ----------------------------------------------------------------------------------------------

MARKUP_NAME = '<b>Bold</b><br>Next <a href="https://x">link</a>'
LONG_NAME = "Evergreen prospecting " + "a very long campaign name " * 4 + "and more words until 120 chars"
LONG_NAME = LONG_NAME[:120]


def _account_with_api(server: Server, tag: str) -> tuple[str, dict[str, str]]:
    """An account made with the CLI, and a secret key's auth header. Returns (owner email, header)."""
    email = f"polish-{tag}@example.com"
    out = server.cli("create-account", "--name", f"Polish {tag}", "--email", email, "--password", PASSWORD)
    slug = re.search(r"slug=(\S+)", out)
    assert slug, out
    key = server.cli("create-key", "--account", slug.group(1), "--kind", "secret").strip()
    return email, {"Authorization": f"Bearer {key}", "X-Slug": slug.group(1)}


def _campaign_with_sessions(api: httpx.Client, name: str, slug: str, sessions: int, tag: str) -> str:
    created = api.post("/api/v1/campaigns", json={
        "name": name, "channel": "meta", "publish": True,
        "config": {"matching_rules": [{"conditions": [{"field": "utm_campaign", "value": slug}]}]},
    })  # fmt: skip
    assert created.status_code == 201, created.text
    events = [
        event(
            visitor_id=f"v-{tag}-{slug}-{n}",
            session_id=f"s-{tag}-{slug}-{n}",
            utm_campaign=slug,
            url=f"https://shop.example.com/?utm_campaign={slug}",
        )
        for n in range(sessions)
    ]
    recorded = api.post("/api/v1/events", json={"events": events})
    assert recorded.status_code == 200 and recorded.json()["accepted"] == sessions, recorded.text
    return str(created.json()["id"])


def test_chart_names_are_text_shortened_with_the_full_name_on_hover(server: Server, page: Page) -> None:
    tag = uuid.uuid4().hex[:8]
    email, auth = _account_with_api(server, tag)
    slug = auth.pop("X-Slug")
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        _campaign_with_sessions(api, MARKUP_NAME, "markup", 2, tag)
        _campaign_with_sessions(api, LONG_NAME, "long", 3, tag)
    server.cli("rebuild-rollups", "--account", slug)
    base = server.url
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    page.goto(f"{base}/metrics?range=last_7_days&dimension=campaign&measure=sessions")
    chart = page.locator("#explorer-chart .js-plotly-plot")
    ticks = chart.locator(".xtick text")
    expect(ticks).to_have_count(2)

    shown = sorted(ticks.all_text_contents())
    assert shown == sorted(["<b>Bold</b><br>Next <a h…", LONG_NAME[:24].rstrip() + "…"]), shown
    assert chart.locator("svg a").count() == 0  # no link inside the plot
    assert chart.locator("text[style*='font-weight: bold'], tspan[style*='font-weight:bold']").count() == 0

    # The plot keeps most of the chart's width (long names used to push it to ~80 px).
    widths = chart.evaluate(
        """(plot) => [plot.querySelector('.nsewdrag').getBoundingClientRect().width,
                      plot.querySelector('.main-svg').getBoundingClientRect().width]"""
    )
    assert widths[0] > 0.5 * widths[1], widths

    # On hover, the full name, still as text (the mouse over a bar: plotly's drag layer takes the pointer events).
    hover = chart.locator(".hoverlayer .hovertext")
    bars = chart.locator(".trace.bars").first.locator(".point path").all()  # the current period's bars
    assert len(bars) == 2
    for bar in bars:
        box = bar.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=5)
        expect(hover).to_have_count(1)
        text = hover.text_content() or ""
        assert MARKUP_NAME in text or LONG_NAME in text, text
        assert chart.locator(".hoverlayer a").count() == 0


# --- the explorer's table at 1400 px ---------------------------------------------------------------------------------


# The boxes around the explorer's table that are narrower than what they hold: (name, overflow-x, scrollbar-width,
# whether it is a Radix scroll area, whose scrollbar shows only on hover).
_SCROLLERS_OF_THE_TABLE = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.contains(document.querySelector('#explorer-table th')) && e.scrollWidth > e.clientWidth + 1)
  .map((e) => [e.id || e.className.toString(), getComputedStyle(e).overflowX, getComputedStyle(e).scrollbarWidth,
               e.hasAttribute('data-radix-scroll-area-viewport')])"""


def test_a_wide_metrics_table_scrolls_instead_of_being_cut_off(server: Server, page: Page) -> None:
    """Four currencies make some thirty columns: the table scrolls inside the page, its last column reachable."""
    tag = uuid.uuid4().hex[:8]
    email, auth = _account_with_api(server, tag)
    slug = auth.pop("X-Slug")
    today = datetime.now(ZoneInfo("UTC")).date()
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        campaign = _campaign_with_sessions(api, "Spring sale", "spring", 1, tag)
        entries = [  # one day and campaign per row: a currency a day
            {"date": (today - timedelta(days=n + 1)).isoformat(), "campaign": campaign, "spend": 10, "currency": c}
            for n, c in enumerate(("EUR", "USD", "GBP", "JPY"))
        ]
        recorded = api.post("/api/v1/spend", json={"entries": entries})
        assert recorded.status_code in {200, 201}, recorded.text
    server.cli("rebuild-rollups", "--account", slug)
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    page.goto(f"{server.url}/metrics?range=last_7_days&dimension=campaign")
    table = page.locator("#explorer-table")
    last = table.locator("th").last
    expect(table.locator(".explorer-row")).to_have_count(1)
    expect(last).to_have_attribute("data-column", "cpa:USD")

    # The page itself does not scroll sideways: the table does, inside the content, in a box whose scrollbar shows
    # (Radix's scroll area hides its scrollbar until hovered: the last columns looked cut off).
    overflow = page.evaluate("() => document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the window"
    scrollers = page.evaluate(_SCROLLERS_OF_THE_TABLE)
    assert scrollers, "nothing scrolls: the table is clipped"
    for _name, overflow_x, scrollbar, radix in scrollers:
        assert overflow_x in {"auto", "scroll"} and scrollbar != "none" and not radix, scrollers
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 1400, box  # the last column can be brought into view


# --- the spend upload's messages -------------------------------------------------------------------------------------


def _upload(page: Page, path: Path) -> None:
    page.locator("#spend-upload-zone input[type=file]").set_input_files(str(path))


def _upload_error(page: Page) -> Locator:
    return page.locator("#upload-error")


def test_spend_upload_errors_are_human_and_never_stale(server: Server, page: Page, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    email, _auth = _account_with_api(server, tag)
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    page.goto(f"{server.url}/spend")
    expect(page.locator("#spend-empty")).to_be_visible()

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("day,cost\n2026-01-01,3\n", encoding="utf-8")
    _upload(page, wrong)
    expect(_upload_error(page)).to_contain_text("wrong.csv: The header row lacks")

    page.reload()  # a reload: the old file's error is gone
    expect(page.locator("#spend-empty")).to_be_visible()
    expect(page.locator("#spend-upload-zone")).to_be_visible()
    expect(_upload_error(page)).to_have_count(0)

    _upload(page, wrong)
    expect(_upload_error(page)).to_contain_text("wrong.csv")
    huge = tmp_path / "huge.csv"
    with huge.open("wb") as sink:  # 20 MB: the browser refuses it before sending it
        sink.write(b"date,campaign,spend,currency\n" + b"2026-01-01,Spring sale,1.00,EUR\n" * 650_000)
    _upload(page, huge)
    expect(_upload_error(page)).to_have_text("huge.csv: The file is larger than 5 MB; split it into smaller files.")
    assert "5242880" not in page.content()
    expect(page.locator("[data-sonner-toast]").filter(has_text="not Accepted")).to_have_count(0)

    good = tmp_path / "good.csv"
    good.write_text("date,campaign,spend,currency\n2026-01-01,Nope,1,EUR\n", encoding="utf-8")
    _upload(page, good)
    expect(page.locator("#preview-file")).to_have_text("good.csv")
    expect(_upload_error(page)).to_have_count(0)


# --- a campaign: channel group, target CPA, versions compared after a publish ----------------------------------------


def test_a_new_campaigns_channel_group_follows_its_platform_and_a_target_needs_a_currency(
    server: Server, page: Page
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, _auth = _account_with_api(server, tag)
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    open_form_page(page, f"{server.url}/campaigns")
    expect(page.locator("#new-channel-group")).to_have_text("Paid social")  # meta's group
    page.locator("#new-channel").click()
    page.get_by_role("option", name="google", exact=True).click()
    expect(page.locator("#new-channel-group")).to_have_text("Paid search")  # follows the platform
    page.locator("input[name=name]").fill("Brand search")
    page.locator("#create-campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/cmp_\w+/?$"))
    expect(page.locator("#channel-group-select")).to_have_text("Paid search")
    page.locator("#channel-group-select").click()
    page.get_by_role("option", name="Display", exact=True).click()
    expect(page.locator("[data-sonner-toast]").filter(has_text="Channel group: Display")).to_have_count(1)

    # A target CPA shows its currency next to it and needs nothing else (no budget).
    expect(page.locator("#target-cpa-currency")).to_have_text("set Currency")
    page.locator("#budget-currency").fill("EUR")
    expect(page.locator("#target-cpa-currency")).to_have_text("EUR")
    page.locator("#target-cpa").fill("25")
    page.locator("#save-draft").click()
    expect(page.locator("[data-sonner-toast]").filter(has_text="Draft saved")).to_have_count(1)
    expect(page.locator("#form-error")).to_have_count(0)
    page.reload()
    expect(page.locator("#target-cpa")).to_have_value("25.00")
    expect(page.locator("#channel-group-select")).to_have_text("Display")


def test_publishing_shows_the_new_version_in_versions_compared_at_once(server: Server, page: Page) -> None:
    tag = uuid.uuid4().hex[:8]
    email, auth = _account_with_api(server, tag)
    auth.pop("X-Slug")
    with httpx.Client(base_url=server.base, headers=auth, timeout=30) as api:
        created = api.post("/api/v1/campaigns", json={"name": "Brand search", "channel": "google"})
        assert created.status_code == 201, created.text
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    page.goto(f"{server.url}/campaigns/{created.json()['id']}")
    expect(page.locator("#versions-compared-empty")).to_be_visible()
    page.locator("#add-rule").click()
    page.locator(".cond-value input").first.fill("brand")
    page.locator("#publish").click()
    expect(page.locator("#live-version")).to_have_text("live: v1")
    # No reload: "Versions compared" has v1 already.
    expect(page.locator("#versions-compared-table .version-window-row")).to_have_count(1)
    expect(page.locator("#versions-compared-empty")).to_have_count(0)


# --- favicon -------------------------------------------------------------------------------------------------------


def test_the_favicon_is_served_and_linked(server: Server, page: Page) -> None:
    found = httpx.get(f"{server.base}/favicon.ico", timeout=30)
    assert found.status_code == 200 and found.headers["content-type"].startswith("image/"), found.headers
    page.goto(f"{server.url}/login")
    links = page.locator("link[rel=icon]")
    expect(links.first).to_be_attached()
    hrefs = links.evaluate_all("(links) => links.map((link) => link.href)")
    assert hrefs, "no <link rel=icon>"
    for href in hrefs:
        icon = httpx.get(href.replace("localhost", "127.0.0.1"), timeout=30)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/"), (href, icon.headers)
