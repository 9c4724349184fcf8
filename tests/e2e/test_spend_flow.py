"""Ad spend in a real browser: upload a CSV with one bad row, see what is wrong before importing, import the good
row, upload the same file again and see that it replaces (not adds to) the stored day, then delete it."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import open_form_page, sign_up
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def _upload(page: Page, path: Path) -> None:
    page.locator("#spend-upload-zone input[type=file]").set_input_files(str(path))
    expect(page.locator("#preview-file")).to_have_text(path.name)


def test_upload_preview_import_replace_and_delete(server: Server, page: Page, tmp_path: Path) -> None:
    base = server.url
    sign_up(
        page,
        base,
        account_name=f"Spend Shop {uuid.uuid4().hex[:6]}",
        email=f"spend-{uuid.uuid4().hex[:8]}@example.com",
        password=PASSWORD,
    )
    open_form_page(page, f"{base}/campaigns")
    page.locator("input[name=name]").fill("Spring sale")
    page.locator("#create-campaign").click()
    expect(page).to_have_url(re.compile(rf"^{re.escape(base)}/campaigns/cmp_\w+/?$"))

    page.goto(f"{base}/spend")
    empty = page.locator("#spend-empty")
    expect(empty).to_contain_text("date")
    expect(empty.locator("#spend-template")).to_be_visible()

    # The browser's (and so the account's) timezone is Europe/Berlin.
    day = (datetime.now(ZoneInfo("Europe/Berlin")).date() - timedelta(days=2)).isoformat()
    csv_file = tmp_path / "meta-spend.csv"
    csv_file.write_text(
        f"Date;Campaign;Spend;Currency;Impressions;Clicks\n{day};spring sale;125,50;EUR;12000;340\n"
        f"{day};Autumn;3;EUR;;\n",
        encoding="utf-8-sig",
    )
    _upload(page, csv_file)
    expect(page.locator("#preview-valid")).to_have_text("1 valid")
    expect(page.locator("#preview-invalid")).to_have_text("1 with errors")
    bad = page.locator(".preview-row-invalid")
    expect(bad).to_have_count(1)
    expect(bad.locator(".preview-error")).to_have_text(
        "Unknown campaign 'Autumn': no campaign in this account has this id or name."
    )
    expect(page.locator("#import-spend")).to_have_text("Import 1 row")
    page.locator("#import-spend").click()
    expect(_toast(page, "Imported 1 row: 1 new, 0 replaced.")).to_be_visible()
    expect(page.locator("#spend-preview")).to_have_count(0)
    rows = page.locator(".spend-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(day)
    expect(rows.first.locator(".spend-campaign")).to_have_text("Spring sale")
    expect(rows.first.locator(".spend-amount")).to_have_text("€125.50")

    # The same file again: the day is replaced, not added.
    _upload(page, csv_file)
    expect(page.locator("#preview-replace")).to_have_text("1 replace stored days")
    expect(page.locator(".preview-replaces")).to_have_text("replaces €125.50")
    page.locator("#import-spend").click()
    expect(_toast(page, "Imported 1 row: 0 new, 1 replaced.")).to_be_visible()
    expect(rows).to_have_count(1)
    expect(page.locator("#spend-total")).to_have_text("Showing 1 of 1 row")

    # A file with nothing valid cannot be imported; cancel closes the preview.
    nothing = tmp_path / "nothing.csv"
    nothing.write_text(f"date,campaign,spend,currency\n{day},Autumn,3,EUR\n", encoding="utf-8")
    _upload(page, nothing)
    expect(page.locator("#import-spend")).to_be_disabled()
    page.locator("#cancel-import").click()
    expect(page.locator("#spend-preview")).to_have_count(0)

    # Delete asks first.
    rows.first.locator(".delete-spend").click()
    page.get_by_role("alertdialog").locator(".confirm").click()
    expect(page.locator("#spend-empty")).to_be_visible()
