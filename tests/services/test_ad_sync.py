"""Ad platform connections and the daily sync, against the recording Graph API and Google Ads API
(tests/utils/ad_reports.py): real HTTP on 127.0.0.1 in the documented shapes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.models import AdConnection, AdSpend, PlatformCampaign, PlatformDaily
from app.models.base import utcnow
from app.services import ad_connections, ad_sync, campaigns, synced_spend
from app.services import spend as spend_service
from app.services.errors import ValidationFailed
from app.services.permissions import Actor
from app.settings import get_settings
from tests.utils.ad_reports import google_quota_error, google_row, meta_row, meta_throttle_error
from tests.utils.factories import make_owner

META_TOKEN = "EAAB-system-user-token-0001"
GOOGLE_SECRETS = {
    "oauth_client_id": "client-123.apps.googleusercontent.com",
    "oauth_client_secret": "GOCSPX-secret-0001",
    "refresh_token": "1//refresh-token-adwords",
}
TODAY = datetime.now(ZoneInfo("America/New_York")).date()
BRAND = ("1201", "Brand")
SPRING = ("1301", "Spring sale")


def _d(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ADS_REPORT_POLL_SECONDS", "0")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def _meta_world(platforms: Any) -> None:
    platforms.meta_accounts["1234567"] = {"name": "Shop ads", "currency": "USD", "timezone_name": "America/New_York"}
    broad = ("1202", "Brand – broad")
    platforms.meta_rows[:] = [
        meta_row(_d(1), BRAND, broad, ("1203", "Video A"), spend="53.40", purchases=3, value="210.5"),
        meta_row(_d(1), BRAND, broad, ("1204", "Video B"), spend="10.00", purchases=1, value="40"),
        meta_row(_d(0), BRAND, broad, ("1203", "Video A"), spend="20.00"),
        meta_row(_d(20), SPRING, ("1302", "Spring – lookalike"), ("1303", "Carousel"), spend="99.99",
                 purchases=2, value="100", types=("purchase", "offsite_conversion.fb_pixel_purchase")),
    ]  # fmt: skip


def _connect_meta(db: Session, actor: Actor) -> AdConnection:
    ad_connections.connect(session=db, actor=actor, platform="meta", settings={"ad_account_id": "act_1234567"},
                           credentials={"access_token": META_TOKEN})  # fmt: skip
    db.commit()
    return db.exec(select(AdConnection).where(AdConnection.account_id == actor.account_id)).one()


def _run(db: Session, connection: AdConnection, **kwargs: Any) -> ad_sync.SyncResult:
    return ad_sync.sync_connection(db, connection, **kwargs)


def _daily(db: Session, level: str) -> dict[tuple[str, str], tuple[int, int, str]]:
    rows = db.exec(select(PlatformDaily).where(PlatformDaily.level == level)).all()
    return {(r.external_id, r.day.isoformat()): (r.spend, r.purchases_micro, r.purchase_value) for r in rows}


def test_connecting_meta_shows_the_ad_account_and_keeps_the_token_encrypted(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    assert (connection.ad_account_id, connection.ad_account_name) == ("1234567", "Shop ads")
    assert (connection.currency, connection.timezone) == ("USD", "America/New_York")
    assert META_TOKEN not in connection.credentials_encrypted
    assert ad_connections.connection_secrets(connection) == {"access_token": META_TOKEN}
    assert connection.credentials_hint == "••••0001"
    row = ad_connections.list_connections(session=db, account_id=owner.account_id)[0]
    assert row.account_timezone_differs  # make_owner's account is in Europe/Paris
    assert (row.sync_kind, row.sync_done, row.sync_total) == ("backfill", 0, 9)  # 90 days: 3 ranges × 3 levels
    call = ad_platforms.requests_to("/v27.0/act_1234567")[0]
    assert call.query["fields"] == "name,currency,timezone_name"


def test_a_refused_meta_token_is_explained_and_nothing_is_stored(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    ad_platforms.bad_tokens.add("EAAB-expired-token")
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed) as refused:
        ad_connections.connect(session=db, actor=owner, platform="meta", settings={"ad_account_id": "1234567"},
                               credentials={"access_token": "EAAB-expired-token"})  # fmt: skip
    assert "Meta error 190/463" in refused.value.message
    assert "Session has expired" in refused.value.message and "ads_read" in refused.value.message
    with pytest.raises(ValidationFailed, match="does not look right"):
        ad_connections.connect(session=db, actor=owner, platform="meta", settings={"ad_account_id": "12ab"},
                               credentials={"access_token": META_TOKEN})  # fmt: skip
    assert db.exec(select(AdConnection)).all() == []


def test_google_needs_the_manager_id_when_reached_through_one_and_never_requires_a_developer_token(
    db: Session, ad_platforms: Any
) -> None:
    ad_platforms.google_customers["1234567890"] = {"descriptiveName": "Shop search", "currencyCode": "EUR",
                                                   "timeZone": "Europe/Paris"}  # fmt: skip
    ad_platforms.google_managers["1234567890"] = "9998887777"
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed) as refused:
        ad_connections.connect(session=db, actor=owner, platform="google", settings={"customer_id": "123-456-7890"},
                               credentials=GOOGLE_SECRETS)  # fmt: skip
    assert "PERMISSION_DENIED" in refused.value.message and "login-customer-id" in refused.value.message
    row = ad_connections.connect(session=db, actor=owner, platform="google",
                                 settings={"customer_id": "123-456-7890", "login_customer_id": "999-888-7777"},
                                 credentials=GOOGLE_SECRETS)  # fmt: skip
    assert (row.ad_account_name, row.currency, row.timezone, row.account_timezone_differs) == (
        "Shop search", "EUR", "Europe/Paris", False,
    )  # fmt: skip
    call = ad_platforms.requests_to("/v26/customers/1234567890/googleAds:searchStream")[-1]
    assert call.header("login-customer-id") == "9998887777"
    assert call.header("developer-token") is None
    assert "FROM customer" in call.json()["query"]
    token_form = ad_platforms.requests_to("/token")[-1].body.decode()
    assert "refresh_token=1%2F%2Frefresh-token-adwords" in token_form


def test_meta_backfill_runs_async_reports_pages_through_them_and_counts_one_purchase_type(
    db: Session, ad_platforms: Any, fast_polls: None
) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    result = _run(db, connection)
    assert result.status == "done", (
        result,
        connection.last_error,
        [(r.method, r.path) for r in ad_platforms.requests][-5:],
    )
    # 90 days in 30-day ranges: every range of every level is an async report run, polled until done, then paged.
    assert len(ad_platforms.requests_to("/v27.0/act_1234567/insights", "POST")) == 9
    assert all(r.query["time_increment"] == "1" for r in ad_platforms.requests_to("/v27.0/act_1234567/insights"))
    assert any("after" in r.query for r in ad_platforms.requests if r.path.endswith("/insights") and r.method == "GET")
    campaign = _daily(db, "campaign")
    # Brand yesterday: 63.40 USD; 4 purchases (omni_purchase only, not the 3 types summed), 250.50 of value.
    assert campaign[("1201", _d(1))] == (6340, 4_000_000, 25050)
    assert campaign[("1201", _d(0))] == (2000, 0, 0)
    # Spring has no omni_purchase: "purchase" counts, once.
    assert campaign[("1301", _d(20))] == (9999, 2_000_000, 10000)
    assert _daily(db, "adset")[("1202", _d(1))] == (6340, 4_000_000, 25050)
    assert _daily(db, "ad")[("1204", _d(1))] == (1000, 1_000_000, 4000)
    types = {r.purchase_action_type for r in db.exec(select(PlatformDaily)).all() if r.purchases_micro}
    assert types == {"omni_purchase", "purchase"}
    names = {p.external_id: p.name for p in db.exec(select(PlatformCampaign)).all()}
    assert names == {"1201": "Brand", "1301": "Spring sale"}
    db.refresh(connection)
    assert connection.sync_state is None and connection.last_synced_at is not None


def test_a_throttle_waits_the_platforms_estimate_and_resumes_at_the_same_page(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    ad_platforms.meta_page_size = 1
    # Page 1 arrives, then Meta throttles the ad account with its estimate of 7 minutes.
    usage = '{"1234567":[{"type":"ads_insights","call_count":100,"estimated_time_to_regain_access":7}]}'
    result = _run(db, connection, max_requests=1)
    assert result.status == "waiting"
    ad_platforms.fail_next("/v27.0/act_1234567/insights", 400, meta_throttle_error(),
                           headers={"X-Business-Use-Case-Usage": usage})  # fmt: skip
    before = utcnow()
    result = _run(db, connection)
    assert result.status == "waiting" and "rate limit" in result.message
    db.refresh(connection)
    assert connection.retry_at is not None
    assert timedelta(minutes=6) < connection.retry_at - before <= timedelta(minutes=8)
    assert "Meta error 80000/2446079" in connection.last_error
    failed = ad_platforms.requests_to("/v27.0/act_1234567/insights")[-1]
    assert failed.query["after"] == "1"
    # Before the wait is over nothing is asked; after it, the same page is asked again.
    count = len(ad_platforms.requests)
    assert _run(db, connection).status == "waiting"
    assert len(ad_platforms.requests) == count
    assert _run(db, connection, now=connection.retry_at + timedelta(seconds=1)).status == "done"
    resumed = ad_platforms.requests[count]
    assert resumed.query["after"] == "1"
    assert _daily(db, "campaign")[("1201", _d(1))][0] == 6340
    db.refresh(connection)
    assert connection.last_error == "" and connection.retry_at is None


def _google_world(platforms: Any) -> None:
    platforms.google_customers["1234567890"] = {"descriptiveName": "Shop search", "currencyCode": "EUR",
                                                "timeZone": "Europe/Paris"}  # fmt: skip
    platforms.google_rows[:] = [
        google_row(_d(1), ("456", "Search – brand"), ("457", "Exact"), ("458", "RSA 1"), cost_micros=12_500_000,
                   conversions=3.0, value=120.5),
        google_row(_d(1), ("456", "Search – brand"), ("457", "Exact"), ("459", "RSA 2"), cost_micros=2_000_000,
                   conversions=0.5, value=10.0),
        google_row(_d(2), ("456", "Search – brand"), ("457", "Exact"), ("458", "RSA 1"), cost_micros=0,
                   impressions=10, clicks=0),
    ]  # fmt: skip


def _connect_google(db: Session, actor: Actor) -> AdConnection:
    ad_connections.connect(session=db, actor=actor, platform="google", settings={"customer_id": "1234567890"},
                           credentials=GOOGLE_SECRETS)  # fmt: skip
    db.commit()
    return db.exec(select(AdConnection).where(AdConnection.platform == "google")).one()


def test_google_syncs_one_query_per_level_and_waits_out_a_quota_error(db: Session, ad_platforms: Any) -> None:
    _google_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_google(db, owner)
    path = "/v26/customers/1234567890/googleAds:searchStream"
    ad_platforms.fail_next(path, 429, google_quota_error(45))
    before = utcnow()
    assert _run(db, connection).status == "waiting"
    db.refresh(connection)
    assert connection.retry_at is not None
    assert timedelta(seconds=40) < connection.retry_at - before <= timedelta(seconds=50)
    assert "RESOURCE_TEMPORARILY_EXHAUSTED" in connection.last_error
    assert _run(db, connection, now=connection.retry_at + timedelta(seconds=1)).status == "done"
    queries = [r.json()["query"] for r in ad_platforms.requests_to(path)]
    for resource in ("FROM campaign ", "FROM ad_group ", "FROM ad_group_ad "):
        assert any(resource in q for q in queries), resource
    campaign = _daily(db, "campaign")
    assert campaign[("456", _d(1))] == (1450, 3_500_000, 13050)
    assert campaign[("456", _d(2))] == (0, 0, 0)  # zero metrics were left out of the JSON
    assert _daily(db, "adset")[("457", _d(1))] == (1450, 3_500_000, 13050)
    assert _daily(db, "ad")[("459", _d(1))] == (200, 500_000, 1000)


def test_a_revoked_refresh_token_stops_the_sync_with_words_that_say_to_reconnect(
    db: Session, ad_platforms: Any
) -> None:
    _google_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_google(db, owner)
    from app import runtime

    runtime.current().google_tokens._tokens.clear()  # the connect test's token is cached; refresh again
    ad_platforms.revoked_tokens.add(GOOGLE_SECRETS["refresh_token"])
    result = _run(db, connection)
    assert result.status == "failed"
    assert "invalid_grant" in result.message and "Reconnect Google" in result.message
    db.refresh(connection)
    assert connection.sync_state is not None  # kept: connecting again restarts it


def test_a_revised_figure_replaces_the_day_and_a_vanished_row_goes(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    assert _run(db, connection).status == "done"
    assert _daily(db, "ad")[("1204", _d(1))] == (1000, 1_000_000, 4000)
    # Meta revises yesterday: Video A spent more; Video B's row is gone (e.g. invalid traffic refunded).
    ad_platforms.meta_rows[0] = meta_row(_d(1), BRAND, ("1202", "Brand – broad"), ("1203", "Video A"),
                                         spend="60.00", purchases=2, value="150")  # fmt: skip
    del ad_platforms.meta_rows[1]
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    assert _run(db, connection).status == "done"
    assert _daily(db, "campaign")[("1201", _d(1))] == (6000, 2_000_000, 15000)
    assert ("1204", _d(1)) not in _daily(db, "ad")
    assert len(db.exec(select(PlatformDaily).where(PlatformDaily.level == "campaign")).all()) == 2


def test_synced_spend_wins_over_csv_spend_and_keeps_what_it_replaced(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    brand = campaigns.create_campaign(session=db, actor=owner, name="Brand", channel="meta")
    db.commit()
    day = TODAY - timedelta(days=1)
    spend_service.record_spend(session=db, actor=owner, entries=[
        {"date": day.isoformat(), "campaign": brand.public_id, "spend": "50.00", "currency": "USD"}])  # fmt: skip
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY - timedelta(days=1))
    db.commit()
    assert _run(db, connection).status == "done"
    platform_campaign = db.exec(select(PlatformCampaign).where(PlatformCampaign.external_id == "1201")).one()
    platform_campaign.campaign_id = db.exec(select(AdSpend.campaign_id)).one()
    db.add(platform_campaign)
    synced_spend.replace_synced_spend(session=db, account_id=owner.account_id, start=day, end=day)
    db.commit()
    row = db.exec(select(AdSpend)).one()
    assert (row.amount, row.currency, row.source, row.clicks) == (6340, "USD", "meta", 40)
    assert (row.replaced_amount, row.replaced_currency, row.replaced_source) == (5000, "USD", "api")
    # A later CSV of that day does not undo the synced figure: it becomes what the synced figure replaced.
    text = f"date,campaign,spend,currency\n{day.isoformat()},Brand,55.00,USD\n"
    preview = spend_service.parse_spend_csv(text, session=db, account_id=owner.account_id)
    assert preview.rows[0].synced_wins == "meta" and not preview.rows[0].replaces
    result = spend_service.import_spend(session=db, actor=owner, rows=preview.rows)
    db.commit()
    assert (result.inserted, result.replaced, result.kept_synced) == (0, 0, 1)
    db.refresh(row)
    assert (row.amount, row.source, row.replaced_amount, row.replaced_source) == (6340, "meta", 5500, "csv")
    listed = spend_service.list_spend(session=db, account_id=owner.account_id).rows[0]
    assert (listed.source, listed.replaced_amount, listed.replaced_source) == ("meta", 5500, "csv")
    # Unmapped: the CSV figure comes back.
    platform_campaign.campaign_id = None
    db.add(platform_campaign)
    synced_spend.replace_synced_spend(session=db, account_id=owner.account_id, start=day, end=day)
    db.commit()
    db.refresh(row)
    assert (row.amount, row.source, row.replaced_amount) == (5500, "csv", None)


def test_due_windows_hourly_then_nightly(db: Session, ad_platforms: Any) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = None
    now = utcnow()
    connection.hourly_due_at = now - timedelta(minutes=1)
    connection.nightly_due_at = now + timedelta(hours=5)
    db.commit()
    assert ad_sync.due_connection_ids(db) == [connection.id]
    assert _run(db, connection).status == "done"
    db.refresh(connection)
    assert connection.hourly_due_at is not None and connection.hourly_due_at > now + timedelta(minutes=59)
    assert ad_sync.due_connection_ids(db) == []
    since = {r.query["time_range"] for r in ad_platforms.requests_to("/v27.0/act_1234567/insights")}
    assert since == {f'{{"since":"{_d(1)}","until":"{_d(0)}"}}'}
    # The nightly window covers the last 28 days of the ad account's timezone.
    ad_platforms.clear()
    connection.nightly_due_at = utcnow() - timedelta(minutes=1)
    db.commit()
    assert _run(db, connection, max_requests=1).status == "waiting"
    db.refresh(connection)
    state = connection.sync_state or {}
    assert state["kind"] == "nightly" and state["units"][0][1] == _d(27)
    assert connection.nightly_due_at is not None and connection.nightly_due_at > utcnow()
    assert date.fromisoformat(state["units"][0][2]) == TODAY


def test_the_job_syncs_due_connections_only(db: Session, ad_platforms: Any) -> None:
    from app.jobs.sync_ad_reports import sync_ad_reports

    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = ad_sync.plan("hourly", TODAY - timedelta(days=1), TODAY)
    db.commit()
    assert sync_ad_reports() == f"{connection.public_id} done (7 rows)"
    assert sync_ad_reports() is None  # nothing due until the next hour
    assert len(db.exec(select(PlatformDaily)).all()) == 7


def test_unreadable_saved_progress_restarts_the_window_instead_of_failing_forever(
    db: Session, ad_platforms: Any
) -> None:
    _meta_world(ad_platforms)
    _, _, owner = make_owner(db)
    connection = _connect_meta(db, owner)
    connection.sync_state = {"kind": "hourly", "units": [["campaign", "not a date", None]], "done": "x"}
    db.commit()
    result = _run(db, connection)
    assert result.status == "failed" and "unreadable" in result.message
    assert ad_connections.list_connections(session=db, account_id=owner.account_id)[0].sync_kind == ""
    # The nightly window, due at once, runs from scratch (here up to its first Meta report run).
    assert _run(db, connection).status == "waiting"
    assert (connection.sync_state or {})["kind"] == "nightly" and connection.sync_state["done"] == 0
