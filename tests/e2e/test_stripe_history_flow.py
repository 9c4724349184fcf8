"""Stripe history in a real browser: an owner connects Stripe with months of sales made before PaidSignal, watches
the history import's progress on Settings → Stripe, finds the imported orders in their own bucket on /orders, sees
the reconciliation list a refund whose webhook never arrived, lets "Check Stripe now" apply the missed event, and
only then reads "reconciled to the cent"."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.helpers import open_form_page, sign_up
from tests.utils.server import Server
from tests.utils.stripe_fakes import StripeRecorder, stripe_event, stripe_object
from tests.utils.stripe_history import History

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
STRIPE_KEY = "sk_test_51E2eHistoryKey00000000"


def _toast(page: Page, text: str) -> Locator:
    return page.locator("[data-sonner-toast]").filter(has_text=text)


def test_connect_with_history_then_reconciled_to_the_cent(
    server: Server, page: Page, stripe_api: StripeRecorder
) -> None:
    base = server.url
    tag = uuid.uuid4().hex[:6]
    history = History(stripe_api, api_key=STRIPE_KEY)
    earlier = history.checkout(2_500, days_ago=10)
    [earlier_charge] = [c for c in stripe_api.history["charges"] if c["payment_intent"] == earlier["payment_intent"]]
    history.balance_transaction(earlier_charge["id"], 2_500, days_ago=10, category="charge", fee=100)
    outside = history.charge(7_000, days_ago=8)
    history.balance_transaction(outside["id"], 7_000, days_ago=8, category="charge", fee=230)
    # A slow Stripe: each page of charges takes a moment, so the import's progress is on screen meanwhile.
    stripe_api.list_delay["/v1/charges"] = 3.0

    sign_up(page, base, account_name=f"History Shop {tag}", email=f"history-{tag}@example.com", password=PASSWORD)
    open_form_page(page, f"{base}/settings/stripe")
    page.locator("#connect-secret-key").fill(STRIPE_KEY)
    page.locator("#connect-stripe").click()
    expect(_toast(page, "Connected to Test Shop")).to_be_visible()

    progress = page.locator("#backfill-progress")
    expect(progress).to_contain_text("Importing charges")
    expect(progress).to_contain_text("Imported 2 order(s) from 90 day(s) of Stripe history", timeout=60_000)

    # The imported orders: their own bucket, never a campaign's.
    page.goto(f"{base}/orders")
    expect(page.locator(".order-row")).to_have_count(2)
    expect(page.locator(".order-imported")).to_have_count(2)
    expect(page.locator(".order-imported").first).to_have_text("Imported from Stripe")

    # After the import, the earlier buyer is refunded in Stripe, and its webhook never arrives.
    refund = history.refund(earlier_charge, 1_000, days_ago=0)
    history.balance_transaction(refund["id"], -1_000, days_ago=0, category="refund")
    refunded = stripe_object(
        "charge", id=earlier_charge["id"], amount=2_500, amount_captured=2_500, amount_refunded=1_000,
        refunded=False, currency="eur", payment_intent=earlier_charge["payment_intent"], metadata={},
    )  # fmt: skip
    stripe_api.add_history("events", json.loads(stripe_event("charge.refunded", refunded)), api_key=STRIPE_KEY)

    open_form_page(page, f"{base}/settings/stripe")
    page.locator("#reconcile-stripe").click()
    summary = page.locator("#recon-summary")
    expect(summary).to_contain_text("1 difference(s) between PaidSignal and Stripe")
    expect(page.locator("#recon-differences")).to_contain_text("Refunded in Stripe, not in PaidSignal")
    expect(page.locator("#recon-differences")).to_contain_text(refund["id"])
    expect(page.locator("#recon-fees")).to_contain_text("€3.30")

    page.locator("#check-stripe-now").click()
    expect(page.locator("#stripe-catchup")).to_contain_text("1 missed webhook(s) applied")

    page.locator("#reconcile-stripe").click()
    expect(summary).to_contain_text(re.compile(r"Reconciled to the cent through \d{4}-\d{2}-\d{2}\."))
    expect(page.locator("#recon-differences")).to_have_count(0)
