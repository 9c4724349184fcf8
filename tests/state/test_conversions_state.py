"""The conversions page and the order page's "Conversions sent" through their states: filters from the URL, totals
per status, pages through the cursor, one delivery's detail, "Send again" after fixing a token, roles, and the
Google Ads CSV. Conversions come from paid orders (signed webhooks) sent to the recording ad-platform server."""

from __future__ import annotations

import base64
import json
from datetime import date, timedelta
from typing import Any

import pytest
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.models import Role
from app.services import pixels
from app.state.conversions import ALL, ConversionsState
from app.state.orders import OrderDetailState
from tests.utils.ad_platforms import AdPlatforms
from tests.utils.conversions import META_TOKEN, deliveries, drain, make_pixels, pay
from tests.utils.factories import add_member
from tests.utils.payments import Shop, make_shop, start_checkout
from tests.utils.states import event_args, sign_in, substate, user_of, visit
from tests.utils.stripe_fakes import StripeRecorder


def _toast(specs: Any) -> str:
    """The text of the toast among a handler's yielded events (its level is in it: "success" / "error")."""
    found = [str(spec.args) for spec in (specs if isinstance(specs, list) else [specs]) if spec is not None]
    return " ".join(found)


def _open_list(root: State, path: str = routes.CONVERSIONS) -> ConversionsState:
    state = substate(root, ConversionsState)
    visit(root, path)
    state.load_conversions()
    return state


@pytest.fixture
def shop(db: Session, stripe_api: StripeRecorder) -> Shop:
    return make_shop(db, stripe_api)


@pytest.fixture
def paid(shop: Shop, db: Session, ad_platforms: AdPlatforms) -> list[str]:
    """Two paid orders sent to the four default pixels; Meta refuses its token, so its two are dead."""
    made = make_pixels(db, shop, ad_platforms)
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["ga4"], name="GA main")
    db.commit()
    ad_platforms.bad_tokens.add(META_TOKEN)
    orders = [pay(shop, db), pay(shop, db)]
    drain()
    return orders


def test_empty_state_then_totals_and_filters_from_the_url(
    root: State, db: Session, shop: Shop, ad_platforms: AdPlatforms
) -> None:
    sign_in(root, db, user_of(db, shop))
    state = _open_list(root)
    assert state.loaded and state.deliveries == [] and state.total == 0 and not state.filtered
    assert [(t["status"], t["count"]) for t in state.totals] == [
        ("pending", 0),
        ("retrying", 0),
        ("sent", 0),
        ("dead", 0),
        ("skipped", 0),
    ]
    assert state.export_since and state.export_until  # the CSV form starts on the last 30 days

    made = make_pixels(db, shop, ad_platforms)
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["ga4"], name="GA main")
    db.commit()
    ad_platforms.bad_tokens.add(META_TOKEN)
    first, second = pay(shop, db), pay(shop, db)
    drain()

    state = _open_list(root)
    assert state.total == 8 and len(state.deliveries) == 8 and state.error == ""
    assert {t["status"]: t["count"] for t in state.totals} == {
        "pending": 0,
        "retrying": 0,
        "sent": 6,
        "dead": 2,
        "skipped": 0,
    }
    assert [d["order_id"] for d in state.deliveries[:4]] == [second] * 4  # newest first
    ga = next(d for d in state.deliveries if d["provider"] == "ga4" and d["order_id"] == first)
    assert (ga["provider_name"], ga["pixel_name"], ga["kind"], ga["value"], ga["status"], ga["attempts"]) == (
        "GA4",
        "GA main",
        "purchase",
        "€49.00",
        "sent",
        1,
    )
    assert ga["order_url"] == routes.order_url(first) and ga["test"] is False and ga["replayable"] is False
    assert ga["campaign"] == "" and ga["created_at"] != ""
    meta = next(d for d in state.deliveries if d["provider"] == "meta")
    assert meta["status"] == "dead" and meta["replayable"] and "Invalid OAuth access token" in meta["reason"]

    # A status from the totals bar (or the URL): the totals stay those of the other filters.
    state = _open_list(root, routes.conversions_url(status="dead"))
    assert state.status_filter == "dead" and state.filtered
    assert state.total == 2 and {d["provider"] for d in state.deliveries} == {"meta"}
    assert {t["status"]: t["count"] for t in state.totals}["sent"] == 6
    state = _open_list(root, routes.conversions_url(provider="ga4"))
    assert state.total == 2 and {t["status"]: t["count"] for t in state.totals}["sent"] == 2
    assert {d["pixel_name"] for d in state.deliveries} == {"GA main"}
    state = _open_list(root, routes.conversions_url(provider="meta", status="sent"))
    assert state.deliveries == [] and state.total == 0 and state.filtered  # the page shows "no match"

    # Days in the account's timezone, both ends included.
    today = date.today()
    around = routes.conversions_url(
        since=(today - timedelta(days=1)).isoformat(), until=(today + timedelta(days=1)).isoformat()
    )
    assert _open_list(root, around).total == 8
    state = _open_list(root, routes.conversions_url(since="2001-01-01", until="2001-01-31"))
    assert state.deliveries == [] and state.total == 0 and state.error == ""
    state = _open_list(root, routes.conversions_url(since="2001-02-01", until="2001-01-01"))
    assert state.error == "The end date is before the start date." and state.deliveries == []

    # Junk in the URL is ignored, not an error.
    state = _open_list(root, "/conversions?provider=tiktok&status=bogus&from=yesterday&to=2001-13-45&campaign=cmp_x")
    assert (state.provider_filter, state.status_filter, state.since, state.until, state.campaign_filter) == (
        ALL,
        ALL,
        "",
        "",
        ALL,
    )
    assert state.total == 8 and state.error == ""

    # The handlers build shareable URLs.
    state = _open_list(root, routes.conversions_url(provider="meta"))
    assert event_args(state.filter_status("dead"))["path"] == "/conversions?provider=meta&status=dead"
    assert event_args(state.filter_status(ALL))["path"] == "/conversions?provider=meta"
    assert event_args(state.filter_provider("webhook"))["path"] == "/conversions?provider=webhook"
    assert event_args(state.filter_provider("nope"))["path"] == "/conversions"
    dates = state.filter_dates({"from": "2024-05-01", "to": "2024-05-31"})
    assert event_args(dates)["path"] == "/conversions?provider=meta&from=2024-05-01&to=2024-05-31"
    assert event_args(state.filter_campaign("cmp_someone_elses"))["path"] == "/conversions?provider=meta"
    assert event_args(state.clear_filters())["path"] == "/conversions"


def test_pages_through_the_cursor(
    root: State, db: Session, shop: Shop, paid: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.state.conversions.PAGE_SIZE", 3)
    sign_in(root, db, user_of(db, shop))
    state = _open_list(root)
    assert len(state.deliveries) == 3 and state.total == 8 and state.has_more
    while state.has_more:
        list(state.load_more())
        assert state.loading_more is False
    ids = [d["delivery_id"] for d in state.deliveries]
    assert len(ids) == len(set(ids)) == 8
    assert ids == [d.public_id for d in reversed(deliveries(db))]
    assert state.next_cursor == "" and list(state.load_more()) == []


def test_detail_then_send_again_after_fixing_the_token(
    root: State, db: Session, shop: Shop, paid: list[str], ad_platforms: AdPlatforms
) -> None:
    sign_in(root, db, user_of(db, shop))
    state = _open_list(root, routes.conversions_url(provider="meta"))
    dead = state.deliveries[0]
    assert state.open_delivery(dead["delivery_id"]) is None
    view = state.open_view
    assert state.detail_open and state.open_id == dead["delivery_id"] and view["row"]["status"] == "dead"
    checks = {c["label"]: c["state"] for c in view["checklist"]}
    assert checks["fbc (Meta click id)"] == "ok" and checks["Deduplication with the browser"] == "warn"
    assert checks["Test mode"] == "ok" and all(c["detail"] for c in view["checklist"])
    assert json.loads(view["conversion"])["order_id"] == dead["order_id"]
    request = json.loads(view["last_request"])
    assert request["method"] == "POST" and request["body"]["data"][0]["event_name"] == "Purchase"
    assert META_TOKEN not in view["last_request"] and META_TOKEN not in repr(root.dict())
    [attempt] = view["attempts"]
    assert (attempt["number"], attempt["outcome"], attempt["http_status"]) == (1, "dead", "400")
    assert "Invalid OAuth access token" in attempt["response_body"] and attempt["duration"].endswith("ms")
    assert attempt["request"] == view["last_request"]

    # The shop fixes its token, then sends it again from the dialog: it is queued, and the sender sends it.
    pixel = next(p for p in pixels.list_pixels(session=db, account_id=shop.account.id or 0) if p.provider == "meta")
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=pixel.public_id,
                        credentials={"access_token": "EAAnewtoken0123456789"})  # fmt: skip
    db.commit()
    steps = state.replay(dead["delivery_id"])
    next(steps)
    assert state.replaying is True
    toast = _toast(list(steps))
    assert '"success"' in toast and "queued to be sent again" in toast and state.replaying is False
    assert (
        state.open_view["row"]["status"] == "pending" and state.open_view["row"]["reason"] == "Sent again on request."
    )
    assert {d["delivery_id"]: d["status"] for d in state.deliveries}[dead["delivery_id"]] == "pending"
    assert {t["status"]: t["count"] for t in state.totals}["dead"] == 1
    drain()
    state.open_delivery(dead["delivery_id"])
    assert state.open_view["row"]["status"] == "sent" and len(state.open_view["attempts"]) == 2
    assert state.open_view["attempts"][1]["http_status"] == "200"

    # Sent ones cannot be sent again; the service says why.
    toast = _toast(list(state.replay(dead["delivery_id"])))
    assert '"error"' in toast and "Only dead or retrying deliveries can be sent again" in toast
    assert "No conversion delivery with this id." in _toast(state.open_delivery("cvd_nope"))
    assert state.open_id == ""
    state.open_delivery(dead["delivery_id"])
    state.set_detail_open(False)
    assert not state.detail_open and state.open_view["checklist"] == []


def test_a_viewer_sees_conversions_but_cannot_send_again(root: State, db: Session, shop: Shop, paid: list[str]) -> None:
    viewer, _ = add_member(db, shop.account, Role.VIEWER)
    sign_in(root, db, viewer)
    state = _open_list(root, routes.conversions_url(status="dead"))
    assert state.total == 2 and state.can_edit_marketing is False
    target = state.deliveries[0]["delivery_id"]
    toast = _toast(list(state.replay(target)))
    assert '"error"' in toast and "Your role (viewer) cannot edit campaigns and pixels" in toast
    assert {d.public_id: d.status for d in deliveries(db)}[target] == "dead"

    detail = substate(root, OrderDetailState)
    visit(root, routes.order_url(paid[0]))
    list(detail.load_order())
    dead = next(v for v in detail.conversions if v["row"]["status"] == "dead")
    toast = _toast(list(detail.replay_delivery(dead["row"]["delivery_id"])))
    assert "Your role (viewer) cannot edit campaigns and pixels" in toast


def test_google_ads_csv_downloads_and_refuses_bad_input(root: State, db: Session, shop: Shop) -> None:
    order_id = start_checkout(shop, db)  # not paid: not in the export
    sign_in(root, db, user_of(db, shop))
    state = _open_list(root)
    today = date.today()
    form = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat(), "conversion_name": "Purchase"}
    spec = state.export_google_ads(form)
    args = event_args(spec)
    assert "_download" in str(spec.handler.fn)
    assert args["filename"] == f"google-ads-conversions-{form['from']}-{form['to']}.csv"
    assert args["url"].startswith("data:text/csv;base64,")
    csv = base64.b64decode(args["url"].split(",", 1)[1]).decode()
    assert csv.splitlines()[0] == "Parameters:TimeZone=+0000" and order_id not in csv
    assert "Conversion Name" in csv.splitlines()[1]
    assert (state.export_since, state.export_until) == (form["from"], form["to"])

    assert "Choose both dates" in _toast(state.export_google_ads({**form, "to": ""}))
    assert "at most 92 days" in _toast(state.export_google_ads({**form, "from": "2020-01-01"}))
    assert "conversion action's name" in _toast(state.export_google_ads({**form, "conversion_name": "  "}))
    assert "end date is before" in _toast(state.export_google_ads({**form, "from": "2999-01-01"}))
    assert "Choose both dates" in _toast(state.export_google_ads("junk"))  # type: ignore[arg-type]


def test_order_page_shows_its_conversions_and_why_there_are_none(
    root: State, db: Session, shop: Shop, ad_platforms: AdPlatforms
) -> None:
    sign_in(root, db, user_of(db, shop))
    detail = substate(root, OrderDetailState)

    # Paid before any pixel existed: none, and the page says why.
    early = pay(shop, db)
    visit(root, routes.order_url(early))
    list(detail.load_order())
    assert detail.conversions == [] and detail.is_paid and detail.has_pixels is False

    made = make_pixels(db, shop, ad_platforms)
    waiting = start_checkout(shop, db)
    visit(root, routes.order_url(waiting))
    list(detail.load_order())
    assert detail.conversions == [] and not detail.is_paid and detail.has_pixels

    ad_platforms.bad_tokens.add(META_TOKEN)
    order_id = pay(shop, db)
    drain()
    visit(root, routes.order_url(order_id))
    list(detail.load_order())
    assert [(v["row"]["provider"], v["row"]["status"]) for v in detail.conversions] == [
        ("meta", "dead"),
        ("ga4", "sent"),
        ("google_ads", "sent"),
        ("webhook", "sent"),
    ]
    ga = detail.conversions[1]
    assert {c["label"] for c in ga["checklist"]} >= {"GA client_id", "GA session_id", "Consent", "Age", "Test mode"}
    assert json.loads(ga["last_request"])["body"]["events"][0]["name"] == "purchase"
    assert ga["attempts"][0]["outcome"] == "sent" and not ga["row"]["replayable"]

    # Send again from the order page once the token is fixed.
    pixels.update_pixel(session=db, actor=shop.actor, pixel_public_id=made["meta"],
                        credentials={"access_token": "EAAnewtoken0123456789"})  # fmt: skip
    db.commit()
    meta = detail.conversions[0]["row"]["delivery_id"]
    toast = _toast(list(detail.replay_delivery(meta)))
    assert '"success"' in toast and detail.conversions[0]["row"]["status"] == "pending"
    drain()
    list(detail.load_order())
    assert detail.conversions[0]["row"]["status"] == "sent" and len(detail.conversions[0]["attempts"]) == 2

    # Opening an order of another account shows nothing of this one's conversions.
    other = make_shop(db, shop.recorder, name="Other shop")
    theirs = start_checkout(other, db)
    visit(root, routes.order_url(theirs))
    list(detail.load_order())
    assert detail.not_found and detail.conversions == []
