"""Ad spend per day and campaign: the CSV preview and import, the API's entries, the stored list, and the totals the
metrics service reads.

One row per account, day and campaign (the account's calendar day): importing the same day again replaces the
stored row, so spend is never counted twice. Every input (CSV line or API entry) goes through the same checks with
the same messages.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, case, func, literal_column, or_
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from app.lib.csv_export import csv_text, unneutralise
from app.models import (
    Account,
    AdSpend,
    Campaign,
    SpendSource,
)
from app.models.base import table_of, utcnow
from app.models.metrics import SYNCED_SOURCES
from app.services.currency import currency_exponent, format_major, parse_major
from app.services.days import check_day
from app.services.errors import NotFound, ValidationFailed
from app.services.paging import MAX_LIMIT, decode_cursor, encode_cursor
from app.services.permissions import Actor, Permission, require

MAX_ROWS = 50_000
MAX_BYTES = 5 * 1024 * 1024
FILE_TOO_LARGE = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB; split it into smaller files."
MAX_ENTRIES = 5_000
MAX_PAGE = MAX_LIMIT

REQUIRED_COLUMNS = ("date", "campaign", "spend", "currency")
OPTIONAL_COLUMNS = ("impressions", "clicks")
COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
CSV_FORMAT = (
    "a header row with the columns date, campaign, spend, currency and, optionally, impressions and clicks "
    "(any order; comma or semicolon separated)"
)

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WHOLE = re.compile(r"^[+-]?\d+$")
_BIG = 10**15  # beyond any real count; keeps a typo from overflowing BIGINT


@dataclass(frozen=True)
class SpendRow:
    """One line of a CSV (or one API entry), checked. ``errors`` says what is wrong, in words; ``fields`` names
    the column of each error (same order)."""

    line: int  # the CSV line (header = 1), or the API entry's index
    day: date | None
    campaign_id: int | None
    campaign_public_id: str
    campaign_name: str
    campaign_text: str  # as written in the file
    currency: str
    amount: int | None  # minor units
    amount_text: str
    impressions: int | None
    clicks: int | None
    errors: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    replaces_amount: int | None = None  # the stored amount this row replaces (same day and campaign)
    replaces_currency: str = ""
    # The day and campaign has spend synced from this ad platform (meta, google, sync): it wins over this row.
    synced_wins: str = ""

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def replaces(self) -> bool:
        return self.replaces_amount is not None


@dataclass(frozen=True)
class SpendPreview:
    rows: list[SpendRow]
    valid: int
    invalid: int
    replacing: list[SpendRow]  # the valid rows that replace a stored row


@dataclass(frozen=True)
class ImportResult:
    inserted: int
    replaced: int
    kept_synced: int = 0  # rows of days whose synced spend wins (kept as what the synced figure replaced)


@dataclass(frozen=True)
class SpendItem:
    day: date
    campaign_public_id: str
    campaign_name: str
    currency: str
    amount: int
    impressions: int | None
    clicks: int | None
    source: str
    imported_at: datetime
    # Synced spend that replaced a CSV/API figure: what it replaced.
    replaced_amount: int | None = None
    replaced_currency: str = ""
    replaced_source: str = ""


@dataclass(frozen=True)
class SpendPage:
    rows: list[SpendItem]
    next_cursor: str | None
    total: int


@dataclass(frozen=True)
class DailySpend:
    day: date
    campaign_id: int
    currency: str
    amount: int
    impressions: int
    clicks: int


# --- checking one row ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CampaignRef:
    id: int
    public_id: str
    name: str


@dataclass
class _Lookup:
    """The account's campaigns by public id and by name (case-insensitive), and its today."""

    by_public_id: dict[str, _CampaignRef]
    by_name: dict[str, list[_CampaignRef]]
    today: date


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _lookup(session: Session, account_id: int) -> _Lookup:
    rows = session.exec(
        select(col(Campaign.id), Campaign.public_id, Campaign.name)
        .where(Campaign.account_id == account_id)
        .order_by(col(Campaign.id))  # ambiguous names list their campaigns oldest first, on every database
    ).all()
    by_public_id: dict[str, _CampaignRef] = {}
    by_name: dict[str, list[_CampaignRef]] = {}
    for campaign_id, public_id, name in rows:
        assert campaign_id is not None  # a stored row
        ref = _CampaignRef(campaign_id, str(public_id), str(name))
        by_public_id[ref.public_id] = ref
        by_name.setdefault(_name_key(ref.name), []).append(ref)
    timezone = session.exec(select(Account.timezone).where(Account.id == account_id)).first() or "UTC"
    return _Lookup(by_public_id, by_name, datetime.now(ZoneInfo(timezone)).date())


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _amount_text(value: Any) -> str:
    """An amount as typed (CSV) or sent (API: a string or a JSON number)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return _text(value)


def _count(value: Any, label: str, name: str, problems: list[tuple[str, str]]) -> int | None:
    """An optional count (impressions, clicks): a whole number of 0 or more, or None when empty."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        problems.append((name, f"{label} {_amount_text(value)!r} is not a whole number."))
        return None
    text = str(int(value)) if isinstance(value, float) else _text(value)
    if not text:
        return None
    if not _WHOLE.match(text):
        problems.append((name, f"{label} {text!r} is not a whole number."))
        return None
    number = int(text)
    if number < 0:
        problems.append((name, f"{label} {text} is negative; it must be 0 or more."))
        return None
    if number >= _BIG:
        problems.append((name, f"{label} {text} is too large."))
        return None
    return number


def _check(line: int, values: Mapping[str, Any], lookup: _Lookup) -> SpendRow:
    """Every check of one row; the problems come back as (field, message) in column order."""
    problems: list[tuple[str, str]] = []

    day_text = _text(values.get("date"))
    day: date | None = None
    if not day_text:
        problems.append(("date", "Date is missing; write it as YYYY-MM-DD."))
    else:
        try:
            day = date.fromisoformat(day_text) if _ISO_DAY.match(day_text) else None
        except ValueError:
            day = None
        if day is None:
            problems.append(("date", f"Date {day_text!r} is not a date; write it as YYYY-MM-DD (e.g. 2026-11-20)."))
        elif day > lookup.today:
            problems.append(("date", f"Date {day_text} is in the future; spend is recorded for today or earlier."))

    campaign_text = _text(values.get("campaign"))
    campaign: _CampaignRef | None = None
    if not campaign_text:
        problems.append(("campaign", "Campaign is missing; write a campaign id (cmp_…) or a campaign's name."))
    else:
        campaign = lookup.by_public_id.get(campaign_text)
        if campaign is None:
            named = lookup.by_name.get(_name_key(campaign_text), [])
            if len(named) == 1:
                campaign = named[0]
            elif len(named) > 1:
                problems.append(
                    (
                        "campaign",
                        f"{len(named)} campaigns are named {campaign_text!r}; use the campaign id instead "
                        f"({', '.join(c.public_id for c in named)}).",
                    )
                )
            else:
                problems.append(
                    (
                        "campaign",
                        f"Unknown campaign {campaign_text!r}: no campaign in this account has this id or name.",
                    )
                )

    currency_text = _text(values.get("currency"))
    currency = currency_text.upper()
    known_currency = False
    if not currency_text:
        problems.append(("currency", "Currency is missing; write an ISO 4217 code such as EUR or USD."))
    elif len(currency) != 3 or not currency.isalpha() or currency_exponent(currency) is None:
        problems.append(("currency", f"Unknown currency {currency_text!r}; use an ISO 4217 code such as EUR or USD."))
    else:
        known_currency = True

    amount_text = _amount_text(values.get("spend"))
    amount: int | None = None
    if not amount_text:
        problems.append(("spend", "Spend is missing; write the amount like 12.34."))
    elif amount_text.startswith("-"):
        problems.append(("spend", f"Spend {amount_text} is negative; it must be 0 or more."))
    elif known_currency:
        try:
            amount = parse_major(amount_text, currency)
        except ValidationFailed as error:
            problems.append(("spend", f"Spend: {error.message}"))

    impressions = _count(values.get("impressions"), "Impressions", "impressions", problems)
    clicks = _count(values.get("clicks"), "Clicks", "clicks", problems)

    return SpendRow(
        line=line,
        day=day,
        campaign_id=campaign.id if campaign else None,
        campaign_public_id=campaign.public_id if campaign else "",
        campaign_name=campaign.name if campaign else "",
        campaign_text=campaign_text,
        currency=currency,
        amount=amount,
        amount_text=amount_text,
        impressions=impressions,
        clicks=clicks,
        errors=tuple(message for _, message in problems),
        fields=tuple(name for name, _ in problems),
    )


def _with_error(row: SpendRow, name: str, message: str) -> SpendRow:
    return replace(row, errors=(*row.errors, message), fields=(*row.fields, name))


def _mark_duplicates(rows: list[SpendRow], label: str) -> list[SpendRow]:
    """Two rows for the same day and campaign: both are refused (which one is right is the sender's call)."""
    seen: dict[tuple[date, int], list[int]] = {}
    for index, row in enumerate(rows):
        if row.day is not None and row.campaign_id is not None:
            seen.setdefault((row.day, row.campaign_id), []).append(index)
    result = list(rows)
    for indexes in seen.values():
        if len(indexes) < 2:
            continue
        for index in indexes:
            others = ", ".join(str(rows[i].line) for i in indexes if i != index)
            message = f"Same date and campaign as {label} {others}; keep one row per day and campaign."
            result[index] = _with_error(result[index], "date", message)
    return result


def _mark_replacements(session: Session, account_id: int, rows: list[SpendRow]) -> list[SpendRow]:
    keys = {(r.day, r.campaign_id) for r in rows if r.valid and r.day and r.campaign_id}
    if not keys:
        return rows
    stored = _stored(session, account_id, keys)
    marked = []
    for row in rows:
        old = stored.get((row.day, row.campaign_id)) if row.valid else None  # type: ignore[arg-type]  # a valid row has both
        if old and old[2] in SYNCED_SOURCES:
            marked.append(replace(row, synced_wins=old[2]))
        else:
            marked.append(replace(row, replaces_amount=old[0], replaces_currency=old[1]) if old else row)
    return marked


def _stored(
    session: Session, account_id: int, keys: set[tuple[Any, Any]]
) -> dict[tuple[date, int], tuple[int, str, str]]:
    """The stored (amount, currency, source) of these (day, campaign id) keys."""
    days = [day for day, _ in keys]
    campaign_ids = {campaign_id for _, campaign_id in keys}
    found = session.execute(
        sa_select(
            col(AdSpend.day), col(AdSpend.campaign_id), col(AdSpend.amount), col(AdSpend.currency), col(AdSpend.source)
        ).where(
            col(AdSpend.account_id) == account_id,
            col(AdSpend.day) >= min(days),
            col(AdSpend.day) <= max(days),
            col(AdSpend.campaign_id).in_(campaign_ids),
        )
    ).all()
    return {(d, c): (int(a), str(cur), str(src)) for d, c, a, cur, src in found if (d, c) in keys}


# --- CSV -------------------------------------------------------------------------------------------------------------


def decode_csv(data: bytes) -> str:
    """An uploaded file's bytes as text: UTF-8 (with or without BOM), at most MAX_BYTES."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(FILE_TOO_LARGE, field="file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationFailed(
            'The file is not UTF-8 text; in Excel, save it as "CSV UTF-8 (comma delimited)".', field="file"
        ) from error


def _delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def parse_spend_csv(text: str, *, session: Session, account_id: int) -> SpendPreview:
    """Check every line of a spend CSV against the account's campaigns; nothing is stored.

    Raises ValidationFailed for a problem with the whole file (size, header, too many rows); a problem with a line
    is in that row's ``errors``.
    """
    if len(text.encode()) > MAX_BYTES:
        raise ValidationFailed(FILE_TOO_LARGE, field="file")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ValidationFailed(f"The file is empty; a spend CSV has {CSV_FORMAT}.", field="file")
    if "\x00" in text:
        raise ValidationFailed("The file contains NUL characters; is it really a CSV file?", field="file")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    header: list[str] = []
    for cells in reader:
        if any(c.strip() for c in cells):
            header = [c.strip().lower() for c in cells]
            break
    duplicated = sorted({name for name in header if name in COLUMNS and header.count(name) > 1})
    if duplicated:
        raise ValidationFailed(f"The column {duplicated[0]!r} appears twice in the header row.", field="file")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        found = ", ".join(h for h in header if h) or "nothing"
        raise ValidationFailed(
            f"The header row lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (found: "
            f"{found}). A spend CSV has {CSV_FORMAT}.",
            field="file",
        )
    positions = {name: header.index(name) for name in COLUMNS if name in header}

    lookup = _lookup(session, account_id)
    rows: list[SpendRow] = []
    for cells in reader:
        if not any(c.strip() for c in cells):
            continue
        if len(rows) >= MAX_ROWS:
            raise ValidationFailed(
                f"The file has more than {MAX_ROWS:,} rows; split it into smaller files.", field="file"
            )
        values = {name: unneutralise(cells[i]) if i < len(cells) else "" for name, i in positions.items()}
        rows.append(_check(reader.line_num, values, lookup))
    if not rows:
        raise ValidationFailed("The file has a header row but no spend rows.", field="file")
    rows = _mark_replacements(session, account_id, _mark_duplicates(rows, "line"))
    valid = sum(1 for r in rows if r.valid)
    return SpendPreview(rows=rows, valid=valid, invalid=len(rows) - valid, replacing=[r for r in rows if r.replaces])


def example_csv(*, session: Session, account_id: int) -> str:
    """A small template: the header and two rows for yesterday, with the account's own campaign names."""
    lookup = _lookup(session, account_id)
    names = sorted({ref.name for ref in lookup.by_public_id.values()})[:2] or ["Spring sale", "Brand search"]
    yesterday = (lookup.today - timedelta(days=1)).isoformat()
    return csv_text(
        COLUMNS,
        ([yesterday, name, "125.50" if n == 0 else "48.20", "EUR", 12000 // (n + 1), 340 // (n + 1)]
         for n, name in enumerate(names)),
    )  # fmt: skip


# --- storing ---------------------------------------------------------------------------------------------------------


def _upsert(session: Session, account_id: int, rows: list[SpendRow], source: str) -> ImportResult:
    if not rows:
        return ImportResult(0, 0)
    own = set(
        session.exec(
            select(Campaign.id).where(
                Campaign.account_id == account_id, col(Campaign.id).in_({r.campaign_id for r in rows})
            )
        ).all()
    )
    if any(r.campaign_id not in own for r in rows):
        raise NotFound("A campaign of these rows is not in this account.", field="campaign")
    keys = [(r.day, r.campaign_id) for r in rows]
    if len(set(keys)) != len(keys):
        raise ValidationFailed("Two rows have the same date and campaign; keep one row per day and campaign.")
    existing = _stored(session, account_id, set(keys))
    now = utcnow()
    values = [
        {
            "account_id": account_id,
            "day": r.day,
            "campaign_id": r.campaign_id,
            "currency": r.currency,
            "amount": r.amount,
            "impressions": r.impressions,
            "clicks": r.clicks,
            "source": source,
            "imported_at": now,
        }
        for r in rows
    ]
    # One statement per chunk, atomic per row: a concurrent import of the same day cannot add a second row.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = table_of(AdSpend)
    statement = insert(table)
    # Synced spend wins over CSV/API spend of the same day and campaign: the incoming figure is kept as what the
    # synced row replaced (shown on /spend, restored if the platform campaign is unmapped).
    synced = or_(*(table.c.source == literal_column(f"'{s.value}'") for s in SYNCED_SOURCES))  # no IN: executemany
    statement = statement.on_conflict_do_update(
        index_elements=["account_id", "day", "campaign_id"],
        set_={
            **{
                name: case((synced, table.c[name]), else_=statement.excluded[name])
                for name in ("currency", "amount", "impressions", "clicks", "source", "imported_at")
            },
            "replaced_amount": case((synced, statement.excluded.amount), else_=None),
            "replaced_currency": case((synced, statement.excluded.currency), else_=""),
            "replaced_source": case((synced, statement.excluded.source), else_=""),
        },
    )
    for start in range(0, len(values), 1000):
        session.execute(statement, values[start : start + 1000])
    session.flush()
    replaced = sum(1 for key in keys if key in existing and existing[key][2] not in SYNCED_SOURCES)
    kept = sum(1 for key in keys if key in existing and existing[key][2] in SYNCED_SOURCES)
    return ImportResult(inserted=len(rows) - replaced - kept, replaced=replaced, kept_synced=kept)


def import_spend(*, session: Session, actor: Actor, rows: Iterable[SpendRow], source: str = "csv") -> ImportResult:
    """Store the valid rows of a preview (rows with errors are skipped): a stored row of the same day and campaign
    is replaced, never added to. All or nothing, in the caller's transaction."""
    require(actor, Permission.EDIT_MARKETING)
    if source not in {SpendSource.CSV.value, SpendSource.API.value}:
        raise ValidationFailed(f"Unknown source {source!r}; one of csv, api.", field="source")
    return _upsert(session, actor.account_id, [r for r in rows if r.valid], source)


def record_spend(*, session: Session, actor: Actor, entries: list[dict[str, Any]]) -> ImportResult:
    """The API's entries (``date, campaign, spend, currency, impressions?, clicks?``): all stored, or none when one
    is wrong (a 422 naming the first wrong field as ``entries[3].spend``, with the count of the others)."""
    require(actor, Permission.EDIT_MARKETING)
    if not entries:
        raise ValidationFailed("Send at least one entry in 'entries'.", field="entries")
    if len(entries) > MAX_ENTRIES:
        raise ValidationFailed(
            f"Send at most {MAX_ENTRIES:,} entries per request (got {len(entries):,}); split them.", field="entries"
        )
    lookup = _lookup(session, actor.account_id)
    rows: list[SpendRow] = []
    for index, entry in enumerate(entries):
        unknown = sorted(k for k, v in entry.items() if k not in COLUMNS and v is not None)
        row = _check(index, entry, lookup)
        for name in unknown:
            row = _with_error(row, name, f"Unknown field {name!r}; an entry has {', '.join(COLUMNS)}.")
        rows.append(row)
    rows = _mark_duplicates(rows, "entry")
    problems = [
        (f"entries[{r.line}].{name}", message) for r in rows for name, message in zip(r.fields, r.errors, strict=True)
    ]
    if problems:
        path, message = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ValidationFailed(f"{path}: {message}{more}", field=path)
    return _upsert(session, actor.account_id, rows, SpendSource.API.value)


def delete_spend(*, session: Session, actor: Actor, day: date, campaign_public_id: str) -> None:
    """Remove the stored spend of one day and campaign."""
    require(actor, Permission.EDIT_MARKETING)
    row = session.exec(
        select(AdSpend)
        .join(Campaign, col(Campaign.id) == col(AdSpend.campaign_id))
        .where(
            AdSpend.account_id == actor.account_id,
            AdSpend.day == day,
            Campaign.account_id == actor.account_id,
            Campaign.public_id == campaign_public_id,
        )
    ).first()
    if row is None:
        raise NotFound(f"No spend stored for this campaign on {day.isoformat()}.", field="campaign")
    session.delete(row)
    session.flush()


# --- reading ---------------------------------------------------------------------------------------------------------


def list_spend(
    *,
    session: Session,
    account_id: int,
    since: date | None = None,
    until: date | None = None,
    campaign_public_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> SpendPage:
    """Stored spend, newest day first; ``since`` and ``until`` both included; ``next_cursor`` continues."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
    check_day(since, "since")
    check_day(until, "until")
    if since and until and until < since:
        raise ValidationFailed("The end date is before the start date.", field="until")
    conditions: list[Any] = [AdSpend.account_id == account_id]
    if since:
        conditions.append(col(AdSpend.day) >= since)
    if until:
        conditions.append(col(AdSpend.day) <= until)
    if campaign_public_id:
        campaign_id = session.exec(
            select(Campaign.id).where(Campaign.account_id == account_id, Campaign.public_id == campaign_public_id)
        ).first()
        if campaign_id is None:
            raise NotFound("No campaign with this id in this account.", field="campaign")
        conditions.append(AdSpend.campaign_id == campaign_id)
    total = session.exec(select(func.count()).select_from(AdSpend).where(*conditions)).one()
    query = (
        select(AdSpend, Campaign.public_id, Campaign.name)
        .join(Campaign, col(Campaign.id) == col(AdSpend.campaign_id))
        .where(*conditions)
    )
    if cursor:
        day, last_id = decode_cursor(cursor, date.fromisoformat)
        query = query.where((col(AdSpend.day) < day) | ((col(AdSpend.day) == day) & (col(AdSpend.id) < last_id)))
    found = list(session.exec(query.order_by(col(AdSpend.day).desc(), col(AdSpend.id).desc()).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    rows = [
        SpendItem(
            day=spend.day,
            campaign_public_id=str(public_id),
            campaign_name=str(name),
            currency=spend.currency,
            amount=spend.amount,
            impressions=spend.impressions,
            clicks=spend.clicks,
            source=spend.source,
            imported_at=spend.imported_at,
            replaced_amount=spend.replaced_amount,
            replaced_currency=spend.replaced_currency,
            replaced_source=spend.replaced_source,
        )
        for spend, public_id, name in found
    ]
    last = found[-1][0] if more and found else None
    next_cursor = encode_cursor(last.day, last.id or 0) if last else None
    return SpendPage(rows=rows, next_cursor=next_cursor, total=int(total))


def daily_spend(
    *, session: Session, account_id: int, start: date, end: date, by: frozenset[str] | None = None
) -> list[DailySpend]:
    """Every stored spend row of days ``[start, end]`` (both included): what the metrics service sums by campaign,
    version, channel and day. Missing impressions and clicks read as 0; currencies are never added together.

    ``by``: summed in SQL per currency and the columns named ("day", "campaign"), for a report that does not tell the
    rest apart (by day: every campaign of a day); a row's day is ``start`` without "day", its campaign 0 without
    "campaign"."""
    if by is not None:
        query, names = _spend_sums(by)
        return [
            DailySpend(values.get("day", start), int(values.get("campaign_id", 0)), str(values["currency"]),
                       int(amount), int(impressions or 0), int(clicks or 0))
            for *keys, amount, impressions, clicks in session.execute(
                query, {"account_id": account_id, "start": start, "end": end}
            )
            for values in [dict(zip(names, keys, strict=True))]
        ]  # fmt: skip
    found = session.execute(
        sa_select(
            col(AdSpend.day),
            col(AdSpend.campaign_id),
            col(AdSpend.currency),
            col(AdSpend.amount),
            col(AdSpend.impressions),
            col(AdSpend.clicks),
        )
        .where(col(AdSpend.account_id) == account_id, col(AdSpend.day) >= start, col(AdSpend.day) <= end)
        .order_by(col(AdSpend.day), col(AdSpend.campaign_id))
    ).all()
    return [
        DailySpend(day, int(campaign_id), str(currency), int(amount), int(impressions or 0), int(clicks or 0))
        for day, campaign_id, currency, amount, impressions, clicks in found
    ]


_SPEND = table_of(AdSpend)
_SPEND_SUMS: dict[frozenset[str], tuple[Any, list[str]]] = {}


def _spend_sums(by: frozenset[str]) -> tuple[Any, list[str]]:
    """The rows of ``daily_spend`` summed per currency and ``by``'s columns, built once per shape."""
    found = _SPEND_SUMS.get(by)
    if found is not None:
        return found
    c = _SPEND.c
    keys = {"currency": c.currency} | {
        name: column for name, column, part in (("day", c.day, "day"), ("campaign_id", c.campaign_id, "campaign"))
        if part in by
    }  # fmt: skip
    query = (
        sa_select(*keys.values(), func.sum(c.amount), func.sum(c.impressions), func.sum(c.clicks))
        .where(c.account_id == bindparam("account_id"), c.day >= bindparam("start"), c.day <= bindparam("end"))
        .group_by(*keys.values())
    )
    found = _SPEND_SUMS[by] = (query, list(keys))
    return found


def spend_text(amount: int, currency: str) -> str:
    """``12345, "EUR"`` → ``"123.45"``: the amount as a CSV or the API would write it."""
    return format_major(amount, currency)
