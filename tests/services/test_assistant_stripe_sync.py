"""``stripe_status`` reads what PaidSignal read back from Stripe (issue 21): the last reconciliation against the
recording Stripe API's balance transactions ("reconciled to the cent through <date>", or its differences), the
events catch-up's last run and a retention gap, with a problem and a docs section for each; never a secret."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlmodel import Session, select

from app import routes
from app.models import StripeSync
from app.models.base import utcnow
from app.services import assistant_tools, docs_search, rollups
from app.services.stripe_sync.reconcile import reconcile
from app.settings import get_settings
from tests.utils.payments import STRIPE_KEY, Shop, deliver, make_shop, session_of, start_checkout
from tests.utils.payments import WEBHOOK_SECRET as STRIPE_WHSEC
from tests.utils.stripe_fakes import StripeRecorder
from tests.utils.stripe_history import DAY, History


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


def _pay(shop: Shop, db: Session, amount: int, *, days_ago: float) -> str:
    order_id = start_checkout(shop, db)
    completed = shop.recorder.complete_session(session_of(shop, db, order_id)["id"], amount_total=amount)
    deliver(shop, db, "checkout.session.completed", completed, created=int(time.time() - days_ago * DAY))
    return str(completed["payment_intent"])


def _status(shop: Shop, db: Session) -> dict[str, Any]:
    result = assistant_tools.run_tool(db, shop.actor, "stripe_status", {})
    assert "error" not in result, result
    return result


def _docs_sections(result: dict[str, Any]) -> list[str]:
    base = docs_search.page_link("stripe.md").removesuffix("stripe/")  # DOCS_URL's or the app's own /help
    sections = {section.path() for section in docs_search.load_sections()}
    links = [p["docs"] for p in result["problems"] if "docs" in p]
    assert links and all(link.startswith(base) for link in links)
    return [link for link in links if link.removeprefix(base) not in sections]


def test_stripe_status_says_reconciled_to_the_cent_then_the_differences(shop: Shop, db: Session) -> None:
    before = _status(shop, db)["sync"]
    assert before["reconciliation"] is None and "not reconciled yet" in before["reconciliation_meaning"]
    assert before["catchup"]["last_run_at"] is None and before["retention_gap"] is None

    history = History(shop.recorder)
    intent = _pay(shop, db, 4_900, days_ago=3)
    charge = history.charge(4_900, days_ago=3, currency="eur", payment_intent=intent)
    history.balance_transaction(charge["id"], 4_900, days_ago=3, category="charge", fee=170, currency="eur")
    reconcile(session=db, account_id=shop.account.id or 0)
    today = rollups.local_day(utcnow(), rollups.account_zone(db, shop.account.id or 0))
    clean = _status(shop, db)
    reconciliation = clean["sync"]["reconciliation"]
    assert reconciliation["summary"] == f"Reconciled to the cent through {today.isoformat()}."
    assert reconciliation["reconciled"] is True and reconciliation["differences"] == 0
    assert clean["problems"] == []
    summary = assistant_tools.summary("stripe_status", {}, clean)
    assert summary.startswith(f"Stripe connection, reconciled to the cent through {today.isoformat()}")

    _pay(shop, db, 2_500, days_ago=5)  # paid in PaidSignal, no balance transaction in Stripe
    reconcile(session=db, account_id=shop.account.id or 0)
    differs = _status(shop, db)
    reconciliation = differs["sync"]["reconciliation"]
    assert reconciliation["reconciled"] is False and reconciliation["differences"] >= 1
    assert reconciliation["first_differences"][0]["kind"] == "missing_in_stripe"
    (problem,) = differs["problems"]
    assert problem["problem"] == reconciliation["summary"] and "difference(s)" in problem["problem"]
    assert problem["fix_at"] == get_settings().public_url + routes.SETTINGS_STRIPE
    assert _docs_sections(differs) == []


def test_stripe_status_shows_a_failed_catch_up_and_a_retention_gap_without_a_secret(shop: Shop, db: Session) -> None:
    row = db.exec(select(StripeSync).where(StripeSync.account_id == shop.account.id)).first() or StripeSync(
        account_id=shop.account.id or 0
    )
    now = int(time.time())
    row.catchup_at, row.catchup_ok = utcnow(), False
    row.catchup_message = f"Invalid API Key provided: {STRIPE_KEY} (whsec_leak0123 too)"
    row.gap_from, row.gap_to = now - 40 * 86_400, now - 31 * 86_400
    db.add(row)
    db.commit()
    result = _status(shop, db)
    sync = result["sync"]
    assert sync["catchup"]["ok"] is False and sync["catchup"]["last_run_at"] is not None
    assert sync["retention_gap"]["from"] and sync["retention_gap"]["to"]
    problems = [p["problem"] for p in result["problems"]]
    assert any(p.startswith("The last events catch-up failed: Invalid API Key provided: [hidden]") for p in problems)
    assert any("older than Stripe keeps" in p for p in problems)
    assert _docs_sections(result) == []
    text = json.dumps(result)
    assert STRIPE_KEY not in text and STRIPE_WHSEC not in text and "whsec_leak0123" not in text


def test_another_accounts_reconciliation_is_not_seen(shop: Shop, db: Session, stripe_api: StripeRecorder) -> None:
    history = History(shop.recorder)
    intent = _pay(shop, db, 4_900, days_ago=3)
    charge = history.charge(4_900, days_ago=3, currency="eur", payment_intent=intent)
    history.balance_transaction(charge["id"], 4_900, days_ago=3, category="charge", currency="eur")
    reconcile(session=db, account_id=shop.account.id or 0)
    other = make_shop(db, stripe_api)
    assert _status(other, db)["sync"]["reconciliation"] is None
