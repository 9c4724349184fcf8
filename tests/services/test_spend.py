"""Ad spend: every CSV check with its exact message, the header rules, replace semantics that never count a day
twice, the API's entries, the list and totals, and tenancy."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session, select

from app.models import AdSpend, Campaign, Role
from app.services import campaigns
from app.services import spend as spend_service
from app.services.errors import NotFound, PermissionDenied, ValidationFailed
from app.services.permissions import Actor
from tests.utils.factories import add_member, make_owner

HEADER = "date,campaign,spend,currency,impressions,clicks\n"


def _today() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()  # make_owner's accounts are in Europe/Paris


DAY = _today() - timedelta(days=3)
D = DAY.isoformat()


def _campaign(db: Session, actor: Actor, name: str) -> str:
    row = campaigns.create_campaign(session=db, actor=actor, name=name, channel="meta")
    db.commit()
    return row.public_id


def _parse(db: Session, actor: Actor, text: str) -> spend_service.SpendPreview:
    return spend_service.parse_spend_csv(text, session=db, account_id=actor.account_id)


def _import(db: Session, actor: Actor, text: str) -> spend_service.ImportResult:
    preview = _parse(db, actor, text)
    result = spend_service.import_spend(session=db, actor=actor, rows=preview.rows, source="csv")
    db.commit()
    return result


def _stored(db: Session, account_id: int) -> list[tuple[date, int, str, int | None, int | None]]:
    rows = db.exec(select(AdSpend).where(AdSpend.account_id == account_id).order_by(AdSpend.day)).all()
    return [(r.day, r.amount, r.currency, r.impressions, r.clicks) for r in rows]


def test_a_good_file_is_parsed_by_id_or_name_in_any_column_order(db: Session) -> None:
    _, _, owner = make_owner(db)
    spring = _campaign(db, owner, "Spring sale")
    brand = _campaign(db, owner, "Brand search")
    text = (
        "Currency;Spend;Campaign;Date\n"  # semicolons, any order, any case
        f"eur;125,50;SPRING SALE;{D}\n"  # name, case-insensitive; decimal comma
        f"JPY;1200;{brand};{D}\n"  # public id; a currency without decimals
    )
    preview = _parse(db, owner, "\ufeff" + text)  # a BOM, as Excel writes
    assert (preview.valid, preview.invalid, preview.replacing) == (2, 0, [])
    first, second = preview.rows
    assert (first.line, first.day, first.campaign_public_id, first.campaign_name) == (2, DAY, spring, "Spring sale")
    assert (first.currency, first.amount, first.impressions, first.clicks) == ("EUR", 12550, None, None)
    assert (second.line, second.campaign_public_id, second.currency, second.amount) == (3, brand, "JPY", 1200)


@pytest.mark.parametrize(
    ("row", "messages"),
    [
        (
            "20/11/2026,Spring sale,1.00,EUR,,",
            ["Date '20/11/2026' is not a date; write it as YYYY-MM-DD (e.g. 2026-11-20)."],
        ),
        (
            "2026-02-30,Spring sale,1.00,EUR,,",
            ["Date '2026-02-30' is not a date; write it as YYYY-MM-DD (e.g. 2026-11-20)."],
        ),
        (",Spring sale,1.00,EUR,,", ["Date is missing; write it as YYYY-MM-DD."]),
        (
            "{future},Spring sale,1.00,EUR,,",
            ["Date {future} is in the future; spend is recorded for today or earlier."],
        ),
        ("{day},Autumn,1.00,EUR,,", ["Unknown campaign 'Autumn': no campaign in this account has this id or name."]),
        (
            "{day},cmp_doesnotexist,1.00,EUR,,",
            ["Unknown campaign 'cmp_doesnotexist': no campaign in this account has this id or name."],
        ),
        ("{day},,1.00,EUR,,", ["Campaign is missing; write a campaign id (cmp_…) or a campaign's name."]),
        ("{day},Spring sale,abc,EUR,,", ["Spend: 'abc' is not an amount; write it like 19.99."]),
        ("{day},Spring sale,-5.00,EUR,,", ["Spend -5.00 is negative; it must be 0 or more."]),
        ("{day},Spring sale,1.005,EUR,,", ["Spend: EUR amounts take at most 2 decimals."]),
        ("{day},Spring sale,12.5,JPY,,", ["Spend: JPY amounts take no decimals."]),
        ("{day},Spring sale,,EUR,,", ["Spend is missing; write the amount like 12.34."]),
        ("{day},Spring sale,1.00,EURO,,", ["Unknown currency 'EURO'; use an ISO 4217 code such as EUR or USD."]),
        ("{day},Spring sale,1.00,XYZ,,", ["Unknown currency 'XYZ'; use an ISO 4217 code such as EUR or USD."]),
        ("{day},Spring sale,1.00,,,", ["Currency is missing; write an ISO 4217 code such as EUR or USD."]),
        ("{day},Spring sale,1.00,EUR,1.5,", ["Impressions '1.5' is not a whole number."]),
        ("{day},Spring sale,1.00,EUR,,-3", ["Clicks -3 is negative; it must be 0 or more."]),
        (
            "{day},Spring sale,1.00,EUR,many,x",
            ["Impressions 'many' is not a whole number.", "Clicks 'x' is not a whole number."],
        ),
        (
            "nope,Autumn,-1,???,,",
            [
                "Date 'nope' is not a date; write it as YYYY-MM-DD (e.g. 2026-11-20).",
                "Unknown campaign 'Autumn': no campaign in this account has this id or name.",
                "Unknown currency '???'; use an ISO 4217 code such as EUR or USD.",
                "Spend -1 is negative; it must be 0 or more.",
            ],
        ),
    ],
)
def test_each_bad_row_says_exactly_what_is_wrong(db: Session, row: str, messages: list[str]) -> None:
    _, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    future = (_today() + timedelta(days=1)).isoformat()
    other_day = (DAY - timedelta(days=10)).isoformat()  # not the same day: that would be a duplicate
    text = HEADER + f"{other_day},Spring sale,9.99,EUR,100,5\n" + row.format(day=D, future=future) + "\n"
    messages = [m.format(future=future) for m in messages]
    preview = _parse(db, owner, text)
    assert (preview.valid, preview.invalid) == (1, 1)
    good, bad = preview.rows
    assert good.valid and good.errors == () and (good.impressions, good.clicks) == (100, 5)
    assert bad.line == 3 and list(bad.errors) == messages


def test_today_is_accepted_in_the_accounts_timezone(db: Session) -> None:
    _, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    preview = _parse(db, owner, HEADER + f"{_today().isoformat()},Spring sale,1,EUR,,\n")
    assert preview.valid == 1


def test_ambiguous_names_and_duplicates_inside_the_file(db: Session) -> None:
    _, _, owner = make_owner(db)
    first = _campaign(db, owner, "Retargeting")
    second = _campaign(db, owner, "retargeting")
    spring = _campaign(db, owner, "Spring sale")
    text = HEADER + (
        f"{D},Retargeting,1,EUR,,\n"
        f"{D},{first},2,EUR,,\n"  # the id is never ambiguous
        f"{D},Spring sale,3,EUR,,\n"
        f"{D},{spring},4,EUR,,\n"  # the same campaign and day as line 4, by id
        f"{D},spring sale,5,EUR,,\n"
    )
    preview = _parse(db, owner, text)
    rows = {r.line: r for r in preview.rows}
    assert list(rows[2].errors) == [
        f"2 campaigns are named 'Retargeting'; use the campaign id instead ({first}, {second})."
    ]
    assert rows[3].valid and rows[3].campaign_public_id == first
    for line, others in ((4, "5, 6"), (5, "4, 6"), (6, "4, 5")):
        assert list(rows[line].errors) == [
            f"Same date and campaign as line {others}; keep one row per day and campaign."
        ]
    assert (preview.valid, preview.invalid) == (1, 4)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty; a spend CSV has a header row"),
        (
            "date,campaign,amount,currency\n2026-01-01,A,1,EUR\n",
            "The header row lacks the column spend (found: date, campaign, amount, currency).",
        ),
        (
            "day,name,cost\n",
            "The header row lacks the columns date, campaign, spend, currency (found: day, name, cost).",
        ),
        ("date,campaign,spend,currency,spend\n", "The column 'spend' appears twice in the header row."),
        (HEADER, "The file has a header row but no spend rows."),
    ],
)
def test_whole_file_problems_are_one_clear_error(db: Session, text: str, message: str) -> None:
    _, _, owner = make_owner(db)
    with pytest.raises(ValidationFailed) as raised:
        _parse(db, owner, text)
    assert raised.value.message.startswith(message) and raised.value.field == "file"


def test_size_and_row_limits(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    monkeypatch.setattr(spend_service, "MAX_ROWS", 3)
    assert _parse(db, owner, HEADER + f"{D},Spring sale,1,EUR,,\n" * 3).invalid == 3  # duplicates, but not too many
    with pytest.raises(ValidationFailed, match=r"The file has more than 3 rows; split it into smaller files\."):
        _parse(db, owner, HEADER + f"{D},Spring sale,1,EUR,,\n" * 4)
    with pytest.raises(ValidationFailed, match="The file is larger than 5 MB"):
        spend_service.decode_csv(b"x" * (spend_service.MAX_BYTES + 1))
    with pytest.raises(ValidationFailed, match="not UTF-8"):
        spend_service.decode_csv("date,campaign\nÉté,1".encode("cp1252"))
    assert spend_service.decode_csv("\ufeffdate".encode()) == "date"


def test_reimport_replaces_and_never_double_counts(db: Session) -> None:
    _, _, owner = make_owner(db)
    spring = _campaign(db, owner, "Spring sale")
    brand = _campaign(db, owner, "Brand search")
    yesterday = (DAY - timedelta(days=1)).isoformat()
    text = HEADER + f"{D},Spring sale,10.00,EUR,1000,10\n{yesterday},Brand search,5.00,EUR,,\n{D},Nope,1,EUR,,\n"
    assert _import(db, owner, text) == spend_service.ImportResult(inserted=2, replaced=0)

    again = _parse(db, owner, HEADER + f"{D},Spring sale,12.50,EUR,1100,11\n")
    [row] = again.replacing
    assert (row.replaces_amount, row.replaces_currency) == (1000, "EUR")
    assert spend_service.import_spend(session=db, actor=owner, rows=again.rows) == spend_service.ImportResult(0, 1)
    db.commit()
    assert _import(db, owner, HEADER + f"{D},Spring sale,12.50,EUR,1100,11\n") == spend_service.ImportResult(0, 1)
    assert _stored(db, owner.account_id) == [
        (DAY - timedelta(days=1), 500, "EUR", None, None),
        (DAY, 1250, "EUR", 1100, 11),
    ]
    rows = spend_service.daily_spend(
        session=db, account_id=owner.account_id, start=DAY - timedelta(days=1), end=DAY + timedelta(days=1)
    )
    ids = _campaign_ids(db, owner)
    assert rows == [
        spend_service.DailySpend(DAY - timedelta(days=1), ids[brand], "EUR", 500, 0, 0),
        spend_service.DailySpend(DAY, ids[spring], "EUR", 1250, 1100, 11),
    ]
    # both ends are included, and nothing outside them
    assert [r.day for r in spend_service.daily_spend(session=db, account_id=owner.account_id, start=DAY, end=DAY)] == [
        DAY
    ]
    before = DAY - timedelta(days=7)
    assert spend_service.daily_spend(session=db, account_id=owner.account_id, start=before, end=before) == []


def _campaign_ids(db: Session, actor: Actor) -> dict[str, int]:
    rows = db.exec(select(Campaign.public_id, Campaign.id).where(Campaign.account_id == actor.account_id)).all()
    return {str(public_id): int(campaign_id or 0) for public_id, campaign_id in rows}


def test_currencies_are_kept_apart_in_totals(db: Session) -> None:
    _, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    yesterday = (DAY - timedelta(days=1)).isoformat()
    _import(db, owner, HEADER + f"{D},Spring sale,10.00,EUR,,\n{yesterday},Spring sale,700,JPY,,\n")
    rows = spend_service.daily_spend(
        session=db, account_id=owner.account_id, start=DAY - timedelta(days=5), end=DAY + timedelta(days=1)
    )
    assert sorted((r.currency, r.amount) for r in rows) == [("EUR", 1000), ("JPY", 700)]


def test_tenancy_another_accounts_campaign_is_unknown(db: Session) -> None:
    _, _, owner_a = make_owner(db)
    _, _, owner_b = make_owner(db)
    secret = _campaign(db, owner_a, "Secret launch")
    _campaign(db, owner_b, "Spring sale")
    preview = _parse(db, owner_b, HEADER + f"{D},Secret launch,1,EUR,,\n{D},{secret},1,EUR,,\n")
    assert [list(r.errors) for r in preview.rows] == [
        ["Unknown campaign 'Secret launch': no campaign in this account has this id or name."],
        [f"Unknown campaign '{secret}': no campaign in this account has this id or name."],
    ]
    # Rows checked for account A cannot be stored into account B.
    rows_a = _parse(db, owner_a, HEADER + f"{D},Secret launch,1,EUR,,\n").rows
    with pytest.raises(NotFound, match="not in this account"):
        spend_service.import_spend(session=db, actor=owner_b, rows=rows_a)
    db.rollback()
    assert _stored(db, owner_b.account_id) == [] and _stored(db, owner_a.account_id) == []
    with pytest.raises(NotFound):
        spend_service.list_spend(session=db, account_id=owner_b.account_id, campaign_public_id=secret)


def test_a_viewer_cannot_import_or_delete(db: Session) -> None:
    account, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    _, viewer = add_member(db, account, Role.VIEWER)
    preview = _parse(db, viewer, HEADER + f"{D},Spring sale,1,EUR,,\n")  # looking is allowed
    with pytest.raises(PermissionDenied, match="viewer"):
        spend_service.import_spend(session=db, actor=viewer, rows=preview.rows)
    with pytest.raises(PermissionDenied):
        spend_service.record_spend(session=db, actor=viewer, entries=[{"date": D}])
    _, marketer = add_member(db, account, Role.MARKETER)
    assert spend_service.import_spend(session=db, actor=marketer, rows=preview.rows).inserted == 1


def test_record_spend_names_the_first_bad_field_and_stores_nothing(db: Session) -> None:
    _, _, owner = make_owner(db)
    spring = _campaign(db, owner, "Spring sale")
    good = {"date": D, "campaign": spring, "spend": "12.34", "currency": "EUR"}
    entries = [good, {**good, "campaign": "Spring sale", "date": (DAY - timedelta(days=1)).isoformat(), "spend": 7}]
    entries += [{**good, "date": (DAY - timedelta(days=2)).isoformat(), "spend": "-1"}]
    entries += [{**good, "date": "tomorrow", "clicks": 1.5}]
    with pytest.raises(ValidationFailed) as raised:
        spend_service.record_spend(session=db, actor=owner, entries=entries)
    assert raised.value.field == "entries[2].spend"
    assert (
        raised.value.message == "entries[2].spend: Spend -1 is negative; it must be 0 or more. (and 2 more problem(s))"
    )
    assert _stored(db, owner.account_id) == []

    with pytest.raises(ValidationFailed, match=r"entries\[0\].date: Same date and campaign as entry 1; .*\(and 1 more"):
        spend_service.record_spend(session=db, actor=owner, entries=[good, {**good, "campaign": "spring sale"}])
    with pytest.raises(ValidationFailed, match=r"entries\[0\].amount: Unknown field 'amount'"):
        spend_service.record_spend(session=db, actor=owner, entries=[{**good, "amount": 5}])
    with pytest.raises(ValidationFailed, match="at most 5,000 entries"):
        spend_service.record_spend(session=db, actor=owner, entries=[good] * 5001)

    result = spend_service.record_spend(
        session=db, actor=owner, entries=[{**good, "spend": 12.34, "impressions": 900, "clicks": "30"}, entries[1]]
    )
    assert result == spend_service.ImportResult(inserted=2, replaced=0)
    again = spend_service.record_spend(session=db, actor=owner, entries=[{**good, "spend": "20"}])
    assert again == spend_service.ImportResult(inserted=0, replaced=1)
    db.commit()
    assert _stored(db, owner.account_id) == [
        (DAY - timedelta(days=1), 700, "EUR", None, None),
        (DAY, 2000, "EUR", None, None),
    ]
    assert {r.source for r in db.exec(select(AdSpend)).all()} == {"api"}


def test_list_pages_filters_and_delete(db: Session) -> None:
    _, _, owner = make_owner(db)
    spring = _campaign(db, owner, "Spring sale")
    _campaign(db, owner, "Brand search")
    lines = [
        f"{(DAY - timedelta(days=n)).isoformat()},{name},{n + 1},EUR,,\n"
        for n in range(5)
        for name in ("Spring sale", "Brand search")
    ]
    assert _import(db, owner, HEADER + "".join(lines)).inserted == 10

    first = spend_service.list_spend(session=db, account_id=owner.account_id, limit=4)
    assert first.total == 10 and len(first.rows) == 4 and first.next_cursor
    assert [r.day for r in first.rows] == [DAY, DAY, DAY - timedelta(days=1), DAY - timedelta(days=1)]
    rest = spend_service.list_spend(session=db, account_id=owner.account_id, limit=50, cursor=first.next_cursor)
    assert len(rest.rows) == 6 and rest.next_cursor is None
    keys = {(r.day, r.campaign_public_id) for r in [*first.rows, *rest.rows]}
    assert len(keys) == 10

    window = spend_service.list_spend(
        session=db, account_id=owner.account_id, since=DAY - timedelta(days=2), until=DAY - timedelta(days=1),
        campaign_public_id=spring,
    )  # fmt: skip
    assert [(r.day, r.amount, r.campaign_name) for r in window.rows] == [
        (DAY - timedelta(days=1), 200, "Spring sale"),
        (DAY - timedelta(days=2), 300, "Spring sale"),
    ]
    with pytest.raises(ValidationFailed, match="cursor"):
        spend_service.list_spend(session=db, account_id=owner.account_id, cursor="garbage!")
    with pytest.raises(ValidationFailed, match="before the start"):
        spend_service.list_spend(session=db, account_id=owner.account_id, since=DAY, until=DAY - timedelta(days=1))

    spend_service.delete_spend(session=db, actor=owner, day=DAY, campaign_public_id=spring)
    db.commit()
    assert spend_service.list_spend(session=db, account_id=owner.account_id).total == 9
    with pytest.raises(NotFound, match=f"No spend stored for this campaign on {D}."):
        spend_service.delete_spend(session=db, actor=owner, day=DAY, campaign_public_id=spring)
    _, _, other = make_owner(db)
    with pytest.raises(NotFound):
        spend_service.delete_spend(session=db, actor=other, day=DAY - timedelta(days=1), campaign_public_id=spring)


def test_example_csv_parses_with_the_accounts_campaigns(db: Session) -> None:
    _, _, owner = make_owner(db)
    _campaign(db, owner, "Spring sale")
    text = spend_service.example_csv(session=db, account_id=owner.account_id)
    assert text.splitlines()[0] == "date,campaign,spend,currency,impressions,clicks"
    preview = _parse(db, owner, text)
    assert (preview.valid, preview.invalid) == (1, 0) and preview.rows[0].amount == 12550


def test_example_csv_neutralises_a_formula_campaign_name_and_reads_it_back(db: Session) -> None:
    _, _, owner = make_owner(db)
    name = '=HYPERLINK("http://x","y")'
    _campaign(db, owner, name)
    text = spend_service.example_csv(session=db, account_id=owner.account_id)
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["campaign"] == "'" + name  # a spreadsheet shows it as text instead of running it
    preview = _parse(db, owner, text)  # the template still imports as it is
    assert (preview.valid, preview.invalid) == (1, 0)
