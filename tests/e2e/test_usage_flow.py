"""Usage and cost in a real browser against the production server: an owner makes a few API calls with a secret key,
opens "Usage" from the sidebar and sees them counted per key and endpoint (events accepted, errors); a staff user
finds the account on /admin/usage and downloads the CSV; an owner who is not staff has no link and gets "Staff only".
"""

from __future__ import annotations

import csv
import io
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.helpers import docs_screenshot, log_in, url_is
from tests.utils.events import event
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "usage-pass-12345"


def _account(server: Server, tag: str, who: str) -> tuple[str, str]:
    """(e-mail, slug) of a new account and its owner."""
    address = f"{who}-{tag}@example.com"
    out = server.cli("create-account", "--name", f"Usage {who} {tag}", "--email", address, "--password", PASSWORD)
    found = re.search(r"slug=(\S+)", out)
    assert found, out
    return address, found.group(1)


def _call(server: Server, method: str, path: str, key: str, body: object | None = None) -> int:
    request = urllib.request.Request(
        f"{server.base}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _sign_in(page: Page, base: str, address: str) -> None:
    log_in(page, base, email=address, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))


def test_an_owner_sees_api_calls_counted_and_staff_download_the_csv(
    server: Server, new_context: Callable[[], BrowserContext]
) -> None:
    tag = uuid.uuid4().hex[:8]
    owner, slug = _account(server, tag, "owner")
    staff, _ = _account(server, tag, "staff")
    server.cli("make-staff", "--email", staff)
    secret = server.cli("create-key", "--account", slug, "--kind", "secret").strip()
    base = server.url

    # A few real API calls: 3 events accepted, a list, a missing campaign (404), and a bad key (counted nowhere).
    assert _call(server, "POST", "/api/v1/events", secret, {"events": [event(), event(), event("lead")]}) == 200
    assert _call(server, "GET", "/api/v1/events", secret) == 200
    assert _call(server, "GET", "/api/v1/campaigns/cmp_doesnotexist", secret) == 404
    assert _call(server, "GET", "/api/v1/events", secret[:-4] + "0000") == 401

    page = new_context().new_page()
    _sign_in(page, base, owner)
    page.locator("#nav-usage a").click()
    expect(page).to_have_url(url_is(base, "/usage"))
    # The page adds the server's in-memory counts to the database before it reads them.
    expect(page.locator("#total-requests .total-value")).to_have_text("3")
    expect(page.locator("#total-errors .total-value")).to_have_text("1")
    expect(page.locator("#total-events .total-value")).to_have_text("3")
    endpoints = page.locator("#usage-endpoints .endpoint-row")
    expect(endpoints).to_have_count(3)
    events_row = endpoints.filter(has_text="POST /api/v1/events")
    expect(events_row.locator(".api-requests")).to_have_text("1")
    expect(events_row.locator(".api-events")).to_have_text("3")
    expect(endpoints.filter(has_text="GET /api/v1/campaigns/{campaign_id}").locator(".api-errors")).to_have_text("1")
    expect(page.locator("#usage-keys .key-row")).to_have_count(1)
    expect(page.locator("#usage-keys .key-row .api-requests")).to_have_text("3")
    expect(page.locator("#limit-requests_today .limit-used")).to_have_text("3")
    expect(page.locator("#limit-events_month .limit-used")).to_have_text("3")
    expect(page.locator("#usage-users-empty")).to_contain_text("Nobody asked the assistant")
    today = datetime.now(UTC).date().isoformat()
    expect(page.locator(f".day-row[data-day='{today}'] .day-requests")).to_have_text("3")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    docs_screenshot(page, "usage", full_page=True)

    # More calls; "Refresh" shows them.
    assert _call(server, "GET", "/api/v1/events", secret) == 200
    page.locator("#refresh").click()
    expect(page.locator("#total-requests .total-value")).to_have_text("4")
    expect(page.locator("#nav-admin-usage")).to_have_count(0)  # not staff

    # The owner is not staff: /admin/usage says so.
    page.goto(f"{base}/admin/usage")
    expect(page.locator("#staff-only")).to_contain_text("Only PaidSignal staff")
    expect(page.locator("#download-usage-csv")).to_have_count(0)

    # Staff: every account, and the CSV.
    admin = new_context().new_page()
    _sign_in(admin, base, staff)
    admin.locator("#nav-admin-usage a").click()
    expect(admin).to_have_url(url_is(base, "/admin/usage"))
    row = admin.locator(".account-row").filter(has_text=f"Usage owner {tag}")
    expect(row.locator(".account-requests")).to_have_text("4")
    expect(row.locator(".account-events")).to_have_text("3")
    expect(admin.locator(".js-plotly-plot").first).to_be_visible()
    docs_screenshot(admin, "admin-usage")
    with admin.expect_download() as download_info:
        admin.locator("#download-usage-csv").click()
    download = download_info.value
    assert re.fullmatch(r"paidsignal-usage-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    mine = [r for r in rows if r["account_name"] == f"Usage owner {tag}"]
    assert len(mine) == 1, rows
    assert (mine[0]["day"], mine[0]["requests"], mine[0]["errors"], mine[0]["events"]) == (today, "4", "1", "3")
    assert all(r["account_name"] != f"Usage staff {tag}" for r in rows)  # no usage, no row
