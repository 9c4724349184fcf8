"""The backoffice in Chromium through nginx while the web role restarts its workers: the tab's events are served by
more than one worker process and the tab's state (in Redis) survives the move."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.cluster.conftest import PORTS, Cluster, live_pid, parent_of, wait_until
from tests.e2e.helpers import log_in, log_out, sign_up, url_is
from tests.utils.browser import CHROMIUM, CHROMIUM_ARGS, require_chromium
from tests.utils.server import status

pytestmark = pytest.mark.cluster

PASSWORD = "correct-horse-battery"


@pytest.fixture
def page() -> Iterator[Page]:
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
        context.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)
        try:
            yield context.new_page()
        finally:
            browser.close()


def _event_workers(cluster: Cluster) -> set[int]:
    """The PIDs of the web workers that logged a websocket event."""
    return {int(line["pid"]) for line in cluster.log_lines("web") if str(line.get("message", "")).startswith(
        "websocket event")}  # fmt: skip


def test_the_tab_moves_between_web_workers_and_keeps_its_state(cluster: Cluster, page: Page) -> None:
    base = cluster.url
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(page, base, account_name="Cluster shop", email=email, password=PASSWORD)
    log_out(page, base)
    log_in(page, base, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))
    for path in ("/install", "/campaigns", "/settings/keys"):
        page.goto(f"{base}{path}")
        expect(page).to_have_url(url_is(base, path))
    # State that lives only on the server: the kind of key being created.
    expect(page.locator("#keys-empty")).to_be_visible()
    page.locator("#kind-publishable").click()
    expect(page.locator("#origins")).to_be_visible()
    before = _event_workers(cluster)
    assert before, "no websocket event was logged by the web role"

    # Restart every web worker (granian respawns them one by one on SIGHUP): the tab's websocket must move.
    old_workers = {live_pid(PORTS["WEB_PORT"])} | before
    os.kill(parent_of(live_pid(PORTS["WEB_PORT"])), signal.SIGHUP)
    wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in old_workers), "the old web workers gone")
    wait_until(lambda: status(f"http://127.0.0.1:{PORTS['WEB_PORT']}/_ops/ready") == 200, "the web role ready")

    # The same tab, without a reload: the server still knows it chose a publishable key (and who is logged in).
    page.locator("input[name=label]").fill("Shop")
    page.locator("#origins").fill("https://shop.example.com")
    page.locator("#create-key").click()
    expect(page.locator("#created-key")).to_have_value(re.compile(r"^ps_pk_\S+$"))
    expect(page.locator("#keys-table .key-row")).to_have_count(1)
    page.goto(f"{base}/campaigns")
    expect(page).to_have_url(url_is(base, "/campaigns"))

    after = _event_workers(cluster) - before
    assert after, "no websocket event was logged after the restart"
    assert len(before | after) >= 2, f"one worker served every event: {before | after}"
    assert not (after & old_workers), "an event after the restart was served by a stopped worker"
