"""The staff jobs page in a real browser: a staff user finds "Jobs" in the sidebar and sees the leases and runs (and
filters them by outcome); an owner who is not staff has no link and gets "Staff only" at /admin/jobs."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from sqlmodel import Session

from app.db import make_engine
from app.services import jobs
from tests.e2e.helpers import docs_screenshot, log_in, url_is
from tests.utils.server import Server

pytestmark = pytest.mark.e2e

PASSWORD = "jobs-pass-12345"


def _account(server: Server, tag: str, who: str) -> str:
    address = f"{who}-{tag}@example.com"
    server.cli("create-account", "--name", f"Jobs {who} {tag}", "--email", address, "--password", PASSWORD)
    return address


def _record_runs(server: Server, job: str) -> None:
    """A lease and two finished runs (ok, error) of ``job`` in the server's database, as a runner would leave them:
    the scheduled jobs' own first runs may be minutes away."""
    engine = make_engine(f"sqlite:///{server.data_dir / 'paidsignal.db'}")
    try:
        with Session(engine) as session:
            assert jobs.acquire_lease(session=session, name=job, holder="e2e-host:1:abc", ttl_seconds=600)
            for outcome, detail in (("ok", "3 things done"), ("error", "RuntimeError: provider down")):
                run_id = jobs.start_run(session=session, job_name=job, holder="e2e-host:1:abc")
                jobs.finish_run(session=session, run_id=run_id, outcome=outcome, detail=detail)
    finally:
        engine.dispose()


def _sign_in(page: Page, base: str, address: str) -> None:
    log_in(page, base, email=address, password=PASSWORD)
    expect(page).to_have_url(url_is(base, "/"))


def test_staff_see_job_runs_and_others_do_not(server: Server, new_context: Callable[[], BrowserContext]) -> None:
    tag = uuid.uuid4().hex[:8]
    job = f"e2e_probe_{tag}"
    staff, owner = _account(server, tag, "staff"), _account(server, tag, "owner")
    server.cli("make-staff", "--email", staff)
    _record_runs(server, job)
    base = server.url

    page = new_context().new_page()
    _sign_in(page, base, staff)
    page.locator("#nav-admin-jobs a").click()
    expect(page).to_have_url(url_is(base, "/admin/jobs"))
    expect(page.locator(f".lease-row[data-job='{job}'] .lease-held")).to_have_text("held")
    runs = page.locator(".run-row").filter(has_text=job)
    expect(runs).to_have_count(2)
    expect(runs.filter(has_text="provider down").locator(".run-outcome")).to_have_text("error")
    expect(runs.filter(has_text="3 things done").locator(".run-outcome")).to_have_text("ok")
    expect(page.locator("#runs-total")).to_contain_text("Showing")
    docs_screenshot(page, "admin-jobs")

    page.locator("#filter-outcome").click()
    page.get_by_role("option", name="error", exact=True).click()
    expect(runs).to_have_count(1)
    expect(page.locator(".run-row .run-outcome").first).to_have_text("error")

    other = new_context().new_page()
    _sign_in(other, base, owner)
    expect(other.locator("#logout")).to_be_visible()
    expect(other.locator("#nav-admin-jobs")).to_have_count(0)
    other.goto(f"{base}/admin/jobs")
    expect(other.locator("#staff-only")).to_contain_text("Staff only")
    expect(other.locator(".run-row")).to_have_count(0)
    expect(other.locator("#leases-table")).to_have_count(0)
