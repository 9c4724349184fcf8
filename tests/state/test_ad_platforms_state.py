"""Settings → Ad platforms through its state: a refused token in the platform's words, a connection with its ad
account, the backfill's progress, "Test connection", roles, and secrets never in a state var."""

from __future__ import annotations

from typing import Any

from reflex.state import State
from sqlmodel import Session

from app.models import Role
from app.state.ad_platforms import AdPlatformsState
from tests.utils.factories import add_member, make_owner
from tests.utils.states import sign_in, substate

TOKEN = "EAAB-state-test-token-0042"


def _meta(platforms: Any) -> None:
    platforms.meta_accounts["7654321"] = {"name": "Shop ads", "currency": "USD", "timezone_name": "America/New_York"}


def test_connect_test_and_disconnect_meta(root: State, db: Session, ad_platforms: Any) -> None:
    _meta(ad_platforms)
    ad_platforms.bad_tokens.add("EAAB-expired-0000")
    _, owner_user, _ = make_owner(db)
    sign_in(root, db, owner_user)
    page = substate(root, AdPlatformsState)
    page.load_ad_platforms()
    assert page.loaded and page.connections == [] and page.can_edit_marketing

    page.connect_platform({"platform": "meta", "meta_ad_account_id": "act_7654321",
                           "meta_access_token": "EAAB-expired-0000"})  # fmt: skip
    assert "Meta error 190" in page.errors["meta"] and "ads_read" in page.errors["meta"]
    assert page.connections == []

    page.connect_platform({"platform": "meta", "meta_ad_account_id": "act_7654321", "meta_access_token": TOKEN})
    assert page.errors["meta"] == ""
    [item] = page.connections
    assert (item["ad_account_name"], item["currency"], item["timezone"]) == ("Shop ads", "USD", "America/New_York")
    assert item["progress"] == "Backfill: 0 of 9 steps"
    assert "America/New_York" in item["timezone_note"] and "Europe/Paris" in item["timezone_note"]
    assert TOKEN not in repr(root.dict())

    ad_platforms.meta_accounts["7654321"]["name"] = "Shop ads (renamed)"
    page.test_platform(item["public_id"])
    assert page.test_ok and page.test_message == "Connected to Shop ads (renamed) — USD, America/New_York."
    ad_platforms.bad_tokens.add(TOKEN)
    page.test_platform(item["public_id"])
    assert not page.test_ok and "Meta error 190" in page.test_message
    assert "Meta error 190" in page.connections[0]["last_error"]

    page.disconnect_platform(item["public_id"])
    assert page.connections == []


def test_a_viewer_sees_connections_but_cannot_connect(root: State, db: Session, ad_platforms: Any) -> None:
    _meta(ad_platforms)
    account, _, _ = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    db.commit()
    sign_in(root, db, viewer)
    page = substate(root, AdPlatformsState)
    page.load_ad_platforms()
    assert not page.can_edit_marketing
    page.connect_platform({"platform": "meta", "meta_ad_account_id": "7654321", "meta_access_token": TOKEN})
    assert "permission" in page.errors["meta"].lower() or "role" in page.errors["meta"].lower()
    assert page.connections == [] and ad_platforms.requests == []
    page.connect_platform("nope")  # type: ignore[arg-type]  # a crafted event: refused, not a crash


def test_spend_rows_say_what_synced_spend_replaced() -> None:
    from datetime import UTC, date, datetime

    from app.services.spend import SpendItem
    from app.state.spend import spend_row

    at = datetime(2026, 12, 2, tzinfo=UTC)
    item = SpendItem(date(2026, 12, 1), "cmp_x", "Brand", "USD", 6340, 100, 40, "meta", at,
                     replaced_amount=5000, replaced_currency="USD", replaced_source="api")  # fmt: skip
    row = spend_row(item, "en_US")
    assert (row["source"], row["replaced"]) == ("meta", "replaced $50.00 (api)")
    plain = spend_row(SpendItem(date(2026, 12, 1), "cmp_x", "Brand", "USD", 100, None, None, "csv",
                                datetime(2026, 12, 2, tzinfo=UTC)), "en_US")  # fmt: skip
    assert plain["replaced"] == ""
