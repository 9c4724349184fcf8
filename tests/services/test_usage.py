"""Usage and cost: the in-memory API request counter and its flush (threads, upserts that add, a failed flush keeps
its counts), the account report (per day, key, endpoint, user and question, conversions and e-mails, the plan's
limits), the staff report and CSV, permissions, and tenancy (one account never sees another's usage)."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from app import runtime
from app.models import (
    AlertEvent,
    AlertRule,
    ApiKey,
    ApiUsageDaily,
    Conversation,
    ConversationMessage,
    ConversionDelivery,
    EventCountDaily,
    Invite,
    Role,
)
from app.models.base import new_public_id
from app.services import keys
from app.services import usage as usage_service
from app.services.errors import PermissionDenied, ValidationFailed
from app.services.permissions import Actor
from app.services.usage import flush_api_usage
from tests.utils.factories import add_member, make_owner

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
TODAY = NOW.date()
EVENTS = "POST /api/v1/events"


@pytest.fixture(autouse=True)
def _fresh_counts() -> Iterator[None]:
    runtime.current().api_usage.discard()
    yield
    runtime.current().api_usage.discard()


def _day(n: int) -> date:
    return date(2026, 11, n)


def _at(n: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, n, hour, tzinfo=UTC)


def _rows(db: Session) -> dict[tuple[int, int, str, date], tuple[int, int, int]]:
    db.expire_all()
    return {
        (r.account_id, r.key_id, r.endpoint, r.day): (r.requests, r.errors, r.events)
        for r in db.exec(select(ApiUsageDaily)).all()
    }


# --- the counter and its flush ---------------------------------------------------------------------------------------


def test_counts_add_up_under_threads_while_flushes_run(db: Session, engine: object) -> None:
    account, _, _ = make_owner(db)
    account_id = account.id
    assert account_id is not None
    threads, per_thread = 8, 2_000
    stop = threading.Event()
    flushes: list[int] = []

    def hammer(n: int) -> None:
        for i in range(per_thread):
            runtime.current().api_usage.count(account_id, n % 2, EVENTS, 200 if i % 10 else 503, events=3)

    def flusher() -> None:
        while not stop.is_set():
            with Session(engine) as session:  # type: ignore[arg-type]
                flushes.append(flush_api_usage(session))

    background = threading.Thread(target=flusher)
    background.start()
    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    background.join()
    flush_api_usage(db)

    today = datetime.now(UTC).date()
    half = threads // 2 * per_thread
    # Nothing lost and nothing counted twice, however the flushes fell between the increments.
    assert _rows(db) == {
        (account.id, 0, EVENTS, today): (half, half // 10, half * 3),
        (account.id, 1, EVENTS, today): (half, half // 10, half * 3),
    }
    assert runtime.current().api_usage.pending() == {}
    assert len(flushes) >= 1


def test_a_flush_adds_to_the_rows_already_there(db: Session) -> None:
    account, _, _ = make_owner(db)
    assert account.id is not None
    today = datetime.now(UTC).date()
    runtime.current().api_usage.count(account.id, 7, EVENTS, 200, events=5)
    runtime.current().api_usage.count(account.id, 7, "GET /api/v1/events", 401)
    assert flush_api_usage(db) == 2
    assert flush_api_usage(db) == 0  # nothing new
    runtime.current().api_usage.count(account.id, 7, EVENTS, 200, events=2)
    runtime.current().api_usage.count(account.id, 7, EVENTS, 429)
    assert flush_api_usage(db) == 1
    assert _rows(db) == {
        (account.id, 7, EVENTS, today): (3, 1, 7),
        (account.id, 7, "GET /api/v1/events", today): (1, 1, 0),
    }


def test_a_failed_flush_keeps_its_counts_for_the_next(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    account, _, _ = make_owner(db)
    assert account.id is not None
    today = datetime.now(UTC).date()
    runtime.current().api_usage.count(account.id, 1, EVENTS, 200, events=4)
    runtime.current().api_usage.count(account.id, 1, EVENTS, 500)

    def locked(*args: object, **kwargs: object) -> None:
        raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(db, "commit", locked)
    with pytest.raises(OperationalError):
        flush_api_usage(db)
    monkeypatch.undo()
    # Kept, and what was counted meanwhile is added to it.
    runtime.current().api_usage.count(account.id, 1, EVENTS, 200, events=1)
    assert runtime.current().api_usage.pending() == {(account.id, 1, EVENTS, today): (3, 1, 5)}
    assert _rows(db) == {}
    assert flush_api_usage(db) == 1
    assert _rows(db) == {(account.id, 1, EVENTS, today): (3, 1, 5)}


def test_counts_of_a_deleted_account_are_dropped(db: Session) -> None:
    kept, _, _ = make_owner(db)
    gone, _, _ = make_owner(db)
    assert kept.id is not None and gone.id is not None
    runtime.current().api_usage.count(kept.id, 1, EVENTS, 200)
    runtime.current().api_usage.count(gone.id, 2, EVENTS, 200)
    db.delete(gone)
    db.commit()
    assert flush_api_usage(db) == 1
    assert [key[0] for key in _rows(db)] == [kept.id]
    assert runtime.current().api_usage.pending() == {}


def test_the_flush_job_reports_what_it_wrote(db: Session) -> None:
    from app.jobs.flush_api_usage import flush_api_usage as job
    from app.jobs.runner import default_jobs

    account, _, _ = make_owner(db)
    assert account.id is not None
    runtime.current().api_usage.count(account.id, 0, EVENTS, 200)
    assert job() == "1 usage row(s) added"
    assert job() == "0 usage row(s) added"
    spec = next(s for s in default_jobs() if s.name == "flush_api_usage")
    # Per-process memory: every process flushes its own, and once more at shutdown (unleased, not quiet).
    assert not spec.leased and not spec.quiet and spec.every_seconds == 30


# --- the account report ----------------------------------------------------------------------------------------------


def _usage_row(
    db: Session, account_id: int, key_id: int, endpoint: str, day: date, counts: tuple[int, int, int]
) -> None:
    requests, errors, events = counts
    db.add(
        ApiUsageDaily(
            account_id=account_id,
            key_id=key_id,
            endpoint=endpoint,
            day=day,
            requests=requests,
            errors=errors,
            events=events,
        )
    )


def _question(db: Session, account_id: int, user_id: int, text: str, at: datetime) -> int:
    conversation = Conversation(public_id=new_public_id("cnv"), account_id=account_id, user_id=user_id, title=text)
    db.add(conversation)
    db.flush()
    assert conversation.id is not None
    message = ConversationMessage(
        public_id=new_public_id("msg"),
        conversation_id=conversation.id,
        account_id=account_id,
        role="user",
        content=text,
        created_at=at,
    )
    db.add(message)
    db.flush()
    assert message.id is not None
    return message.id


def _llm_call(
    db: Session, account_id: int, user_id: int | None, question_id: int | None, at: datetime, tokens: tuple[int, int],
    cost: float,
) -> None:  # fmt: skip
    usage_service.record_llm_call(
        session=db,
        account_id=account_id,
        user_id=user_id,
        conversation_id=None,
        question_id=question_id,
        model="openai/local-test",
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        cost_usd=cost,
        duration_ms=100,
    )
    # record_llm_call stamps "now": move the call to the day under test.
    from app.models import LlmCall

    call = db.exec(select(LlmCall).order_by(LlmCall.id.desc())).first()  # type: ignore[union-attr]
    assert call is not None
    call.created_at = at
    db.add(call)
    db.commit()


def _delivery(db: Session, account_id: int, provider: str, sent_at: datetime | None, status: str = "sent") -> None:
    db.add(
        ConversionDelivery(
            public_id=new_public_id("cvd"),
            account_id=account_id,
            provider=provider,
            kind="purchase",
            dedup_key=new_public_id("dedup", 24),
            event_time=sent_at or NOW,
            status=status,
            sent_at=sent_at,
        )
    )


def _alert_email(db: Session, account_id: int, emailed_at: datetime | None, status: str = "sent") -> None:
    rule = AlertRule(public_id=new_public_id("alr"), account_id=account_id, name="ROAS", metric="roas")
    db.add(rule)
    db.flush()
    assert rule.id is not None
    db.add(
        AlertEvent(
            public_id=new_public_id("ale"),
            account_id=account_id,
            rule_id=rule.id,
            kind="fired",
            metric="roas",
            window_start=NOW - timedelta(hours=24),
            window_end=NOW,
            email_status=status,
            emailed_at=emailed_at,
        )
    )


def _invite(db: Session, account_id: int, at: datetime) -> None:
    db.add(
        Invite(
            public_id=new_public_id("inv"),
            account_id=account_id,
            email=f"{new_public_id('x')}@example.com",
            role="viewer",
            created_at=at,
            expires_at=at + timedelta(days=7),
        )
    )


@pytest.fixture
def world(db: Session) -> dict[str, object]:
    """Two accounts with API usage, LLM calls, conversions and e-mails in November 2026 (and some outside it)."""
    account, owner_user, owner = make_owner(db, name="Shop A")
    other, other_user, other_owner = make_owner(db, name="Shop B")
    assert account.id is not None and other.id is not None and owner_user.id is not None
    assert other_user.id is not None
    marketer_user, _ = add_member(db, account, Role.MARKETER, email="marketer-usage@example.com")
    assert marketer_user.id is not None
    secret = keys.create_key(session=db, actor=owner, kind="secret", label="Server")
    browser = keys.create_key(session=db, actor=owner, kind="publishable", origins=["https://shop.example.com"])
    other_key = keys.create_key(session=db, actor=other_owner, kind="secret", label="B server")
    db.commit()
    ids = {key.public_id: key.id for key in db.exec(select(ApiKey)).all()}
    secret_id, browser_id = ids[secret.row.public_id], ids[browser.row.public_id]
    other_key_id = ids[other_key.row.public_id]
    assert secret_id is not None and browser_id is not None and other_key_id is not None

    a, b = account.id, other.id
    _usage_row(db, a, browser_id, EVENTS, _day(3), (10, 1, 40))
    _usage_row(db, a, browser_id, EVENTS, _day(20), (5, 0, 12))
    _usage_row(db, a, secret_id, "GET /api/v1/campaigns/{campaign_id}", _day(3), (4, 2, 0))
    _usage_row(db, a, 0, "POST /api/v1/stripe/webhook/{account_id}", _day(20), (3, 0, 0))
    _usage_row(db, a, browser_id, EVENTS, date(2026, 10, 31), (100, 0, 900))  # last month
    _usage_row(db, b, other_key_id, EVENTS, _day(3), (1000, 50, 7000))
    # Events stored (the ingest writer's count): more than the API accepted, as imports and the demo also store.
    db.add_all(
        [
            EventCountDaily(account_id=a, day=_day(3), events=1_040),
            EventCountDaily(account_id=a, day=_day(20), events=12),
            EventCountDaily(account_id=a, day=date(2026, 10, 31), events=900),  # last month
            EventCountDaily(account_id=b, day=_day(3), events=7_000),
        ]
    )
    db.commit()

    expensive = _question(db, a, owner_user.id, "Which campaign version has the best ROAS this month?", _at(3))
    cheap = _question(db, a, marketer_user.id, "Why did revenue drop yesterday?", _at(20))
    secret_b = _question(db, b, other_user.id, "Shop B's secret question", _at(3))
    db.commit()
    _llm_call(db, a, owner_user.id, expensive, _at(3), (1000, 200), 0.05)
    _llm_call(db, a, owner_user.id, expensive, _at(3, 23), (1500, 300), 0.07)
    _llm_call(db, a, marketer_user.id, cheap, _at(20), (500, 100), 0.01)
    _llm_call(db, a, owner_user.id, None, _at(20), (10, 5), 0.001)  # a call with no question (e.g. a title)
    _llm_call(db, a, owner_user.id, expensive, datetime(2026, 10, 31, 23, 59, tzinfo=UTC), (9, 9), 1.0)
    _llm_call(db, b, other_user.id, secret_b, _at(3), (99_000, 9_000), 3.0)

    _delivery(db, a, "meta", _at(3))
    _delivery(db, a, "meta", _at(3, 14))
    _delivery(db, a, "ga4", _at(20))
    _delivery(db, a, "meta", None, status="retrying")
    _delivery(db, b, "google_ads", _at(3))
    _alert_email(db, a, _at(20))
    _alert_email(db, a, None, status="failed")
    _invite(db, a, _at(3))
    _invite(db, b, _at(3))
    db.commit()
    return {
        "account": account,
        "other": other,
        "owner": owner,
        "other_owner": other_owner,
        "secret": secret.row.public_id,
        "browser": browser.row.public_id,
        "owner_email": owner_user.email,
    }


def _report(db: Session, actor: Actor, **kwargs: object) -> usage_service.AccountUsage:
    return usage_service.account_usage(session=db, actor=actor, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_the_account_report_per_day(db: Session, world: dict) -> None:
    report = _report(db, world["owner"])
    assert (report.start, report.end) == (_day(1), _day(20))  # this month so far
    assert len(report.days) == 20 and report.plan.name == "starter"
    by_day = {d.day: d.figures for d in report.days}
    third, twentieth = by_day[_day(3)], by_day[_day(20)]
    assert (third.requests, third.errors, third.events) == (14, 3, 40)
    assert (third.llm_calls, third.prompt_tokens, third.completion_tokens) == (2, 2500, 500)
    assert third.cost_usd == pytest.approx(0.12)
    assert third.conversions == {"meta": 2} and third.emails == 1  # the invitation
    assert (twentieth.requests, twentieth.events, twentieth.llm_calls) == (8, 12, 2)
    assert twentieth.conversions == {"ga4": 1} and twentieth.emails == 1  # the alert e-mail (not the failed one)
    assert not by_day[_day(10)].active
    total = report.total
    assert (total.requests, total.errors, total.events, total.llm_calls) == (22, 3, 52, 4)
    assert total.cost_usd == pytest.approx(0.131) and total.conversions_sent == 3 and total.emails == 2
    assert report.providers == ["ga4", "meta"]


def test_the_account_report_per_key_and_endpoint(db: Session, world: dict) -> None:
    report = _report(db, world["owner"])
    assert [(r.key_public_id, r.endpoint, r.requests, r.errors, r.events) for r in report.by_key_endpoint] == [
        (world["browser"], EVENTS, 15, 1, 52),
        (world["secret"], "GET /api/v1/campaigns/{campaign_id}", 4, 2, 0),
        ("", "POST /api/v1/stripe/webhook/{account_id}", 3, 0, 0),
    ]
    assert [(r.key_name.split(" (")[0], r.requests) for r in report.by_key] == [
        ("Publishable key", 15),
        ("Server", 4),
        ("No key", 3),
    ]
    assert "ps_sk_" in report.by_key[1].key_name and report.by_key[2].key_public_id == ""
    assert [(r.endpoint, r.requests, r.errors) for r in report.by_endpoint] == [
        (EVENTS, 15, 1),
        ("GET /api/v1/campaigns/{campaign_id}", 4, 2),
        ("POST /api/v1/stripe/webhook/{account_id}", 3, 0),
    ]


def test_the_account_report_per_user_and_question(db: Session, world: dict) -> None:
    report = _report(db, world["owner"])
    users = [(u.email, u.questions, u.calls, u.prompt_tokens, u.completion_tokens) for u in report.by_user]
    assert users == [(world["owner_email"], 1, 3, 2510, 505), ("marketer-usage@example.com", 1, 1, 500, 100)]
    assert report.by_user[0].cost_usd == pytest.approx(0.121)
    questions = [(q.question, q.calls, q.prompt_tokens, q.completion_tokens) for q in report.top_questions]
    assert questions == [
        ("Which campaign version has the best ROAS this month?", 2, 2500, 500),
        ("Why did revenue drop yesterday?", 1, 500, 100),
    ]
    assert report.top_questions[0].cost_usd == pytest.approx(0.12)
    assert report.top_questions[1].email == "marketer-usage@example.com"
    assert report.top_questions[0].asked_at == _at(3)


def test_a_chosen_range_and_bad_ranges(db: Session, world: dict) -> None:
    report = _report(db, world["owner"], since=date(2026, 10, 31), until=_day(3))
    assert [d.day for d in report.days] == [date(2026, 10, 31), _day(1), _day(2), _day(3)]
    assert report.total.requests == 114 and report.total.cost_usd == pytest.approx(1.12)
    assert report.top_questions[0].calls == 3  # October's call of the same question is in the range now
    only_until = _report(db, world["owner"], until=date(2026, 10, 31))
    assert (only_until.start, only_until.end) == (date(2026, 10, 1), date(2026, 10, 31))
    with pytest.raises(ValidationFailed, match="after the end"):
        _report(db, world["owner"], since=_day(5), until=_day(4))
    with pytest.raises(ValidationFailed, match="366 days"):
        _report(db, world["owner"], since=date(2025, 1, 1), until=_day(4))


def test_plan_limits_against_this_month(db: Session, world: dict) -> None:
    account = world["account"]
    report = _report(db, world["owner"], since=_day(1), until=_day(3))  # the limits do not follow the range
    limits = {limit.key: limit for limit in report.limits}
    assert (limits["events_month"].used, limits["events_month"].limit) == (1_052, 1_000_000)
    assert limits["events_month"].label == "Events stored this month"
    assert (limits["requests_today"].used, limits["requests_today"].limit) == (8, 100_000)
    assert limits["llm_cost_month"].used == pytest.approx(0.131)
    assert limits["llm_cost_month"].limit == 5.0 and not limits["llm_cost_month"].reached
    assert limits["requests_today"].fraction == pytest.approx(8 / 100_000)

    account.plan = "growth"
    db.add(account)
    db.commit()
    limits = {limit.key: limit for limit in _report(db, world["owner"]).limits}
    assert limits["events_month"].limit == 10_000_000 and limits["llm_cost_month"].limit == 50.0
    reached = usage_service.LimitUse("llm_cost_month", "cost", 50.0, 50.0)
    assert reached.reached and reached.fraction == 1.0


def test_only_owners_and_admins_see_an_accounts_usage(db: Session, world: dict) -> None:
    account = world["account"]
    _, admin = add_member(db, account, Role.ADMIN)
    assert _report(db, admin).total.requests == 22
    for role in (Role.MARKETER, Role.VIEWER):
        _, member = add_member(db, account, role)
        with pytest.raises(PermissionDenied, match="admin or owner"):
            _report(db, member)
    assert usage_service.ADMINS_ONLY.startswith("Only owners and admins")


def test_one_account_never_sees_anothers_usage(db: Session, world: dict) -> None:
    mine = _report(db, world["owner"])
    theirs = _report(db, world["other_owner"])
    assert theirs.total.requests == 1000 and theirs.total.events == 7000 and theirs.total.cost_usd == pytest.approx(3)
    assert theirs.total.conversions == {"google_ads": 1} and theirs.total.emails == 1
    assert [q.question for q in theirs.top_questions] == ["Shop B's secret question"]
    assert all("Shop B" not in q.question for q in mine.top_questions)
    assert all(r.key_name != "B server" and "B server" not in r.key_name for r in mine.by_key)
    assert mine.total.requests == 22

    # A question id from another account (a row pointing at it) never reads its text.
    account = world["account"]
    foreign = db.exec(select(ConversationMessage).where(ConversationMessage.account_id == world["other"].id)).one()
    _llm_call(db, account.id, None, foreign.id, _at(4), (1, 1), 9.0)
    leaked = _report(db, world["owner"]).top_questions[0]
    assert leaked.cost_usd == pytest.approx(9.0) and leaked.question == "(question deleted)"


# --- staff ------------------------------------------------------------------------------------------------------------


def _staff(db: Session) -> Actor:
    _, user, actor = make_owner(db)
    assert user.id is not None
    return Actor(user_id=user.id, account_id=actor.account_id, role=Role.OWNER, is_staff=True)


def test_staff_see_every_account_and_the_top_by_cost(db: Session, world: dict) -> None:
    report = usage_service.platform_usage(session=db, actor=_staff(db), now=NOW)
    assert report.total.requests == 1022 and report.total.cost_usd == pytest.approx(3.131)
    assert [a.name for a in report.accounts] == ["Shop B", "Shop A"]  # by LLM cost
    assert [a.name for a in report.top_by_cost] == ["Shop B", "Shop A"]
    shop_b = report.accounts[0]
    assert shop_b.public_id == world["other"].public_id and shop_b.plan == "starter"
    assert (shop_b.figures.requests, shop_b.figures.llm_calls, shop_b.figures.emails) == (1000, 1, 1)
    third = next(d.figures for d in report.days if d.day == _day(3))
    assert third.requests == 1014 and third.conversions == {"google_ads": 1, "meta": 2} and third.emails == 2
    assert report.providers == ["ga4", "google_ads", "meta"]


def test_the_staff_csv_has_one_row_per_account_per_day(db: Session, world: dict) -> None:
    text = usage_service.usage_csv(session=db, actor=_staff(db), since=date(2026, 10, 31), until=_day(20), now=NOW)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(usage_service.CSV_COLUMNS)
    assert [(r["day"], r["account_name"]) for r in rows] == [
        ("2026-10-31", "Shop A"),
        ("2026-11-03", "Shop A"),
        ("2026-11-03", "Shop B"),
        ("2026-11-20", "Shop A"),
    ]
    a3 = rows[1]
    assert a3["account"] == world["account"].public_id and a3["plan"] == "starter"
    assert (a3["requests"], a3["errors"], a3["events"], a3["llm_calls"]) == ("14", "3", "40", "2")
    assert (a3["prompt_tokens"], a3["completion_tokens"], a3["cost_usd"]) == ("2500", "500", "0.120000")
    assert (a3["conversions_sent"], a3["emails_sent"]) == ("2", "1")


def test_a_formula_in_an_account_name_is_not_run_by_a_spreadsheet(db: Session) -> None:
    account, _, _ = make_owner(db, name='=HYPERLINK("http://evil")')
    assert account.id is not None
    _usage_row(db, account.id, 0, EVENTS, _day(3), (1, 0, 1))
    db.commit()
    text = usage_service.usage_csv(session=db, actor=_staff(db), now=NOW)
    assert next(iter(csv.DictReader(io.StringIO(text))))["account_name"].startswith("'=")


def test_usage_across_accounts_is_for_staff_only(db: Session, world: dict) -> None:
    for actor in (world["owner"], world["other_owner"]):
        with pytest.raises(PermissionDenied, match="staff"):
            usage_service.platform_usage(session=db, actor=actor, now=NOW)
        with pytest.raises(PermissionDenied, match="staff"):
            usage_service.usage_csv(session=db, actor=actor, now=NOW)


def test_an_empty_month(db: Session) -> None:
    _, _, owner = make_owner(db)
    report = _report(db, owner)
    assert not report.total.active and report.by_key == [] and report.by_user == [] and report.top_questions == []
    assert all(limit.used == 0 for limit in report.limits)
    staff = usage_service.platform_usage(session=db, actor=_staff(db), now=NOW)
    assert staff.accounts == [] and staff.top_by_cost == []
    assert usage_service.usage_csv(session=db, actor=_staff(db), now=NOW).strip() == ",".join(usage_service.CSV_COLUMNS)


def test_events_this_month_count_what_is_stored_without_test_events(db: Session) -> None:
    """Events stored by any route count (here in process, as the demo and imports store them, not through the API);
    duplicates are stored once and counted once; test events never count."""
    from app.services import install
    from app.services.ingest import IngestContext, Source, ingest_now
    from tests.utils.events import DESKTOP_UA, event

    account, _, _ = make_owner(db)
    account_id = account.id or 0
    ctx = IngestContext(account_id=account_id, source=Source.SERVER)
    same = event()
    assert ingest_now([same, event(), event("lead")], ctx).accepted == 3
    assert ingest_now([same], ctx).duplicates == 1
    install.record_test_event(account_id=account_id, user_agent=DESKTOP_UA)
    db.expire_all()
    limits = {limit.key: limit for limit in usage_service.limits_used(db, account_id)}
    assert limits["events_month"].used == 3
    assert usage_service.events_stored(db, account_id, date(2000, 1, 1), date(2100, 1, 1)) == 3
