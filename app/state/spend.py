"""Ad spend: a CSV upload checked line by line before anything is stored (the preview), its import, and the stored
spend with filters, "Load more" and delete.

The file itself stays on the server (a backend-only var) between the preview and the import; the import checks it
again in its own transaction, so what is stored is what the rules say at that moment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, TypedDict

import reflex as rx
from sqlmodel import Session

from app.lib.formatting import format_count, format_money, format_number
from app.services import spend as spend_service
from app.services.errors import ValidationFailed
from app.services.spend import MAX_BYTES as MAX_BYTES  # for the page
from app.services.spend import MAX_ROWS as MAX_ROWS
from app.state.base import AppState, CampaignOption, next_page
from app.state.format import date_text, parse_date
from app.state.toasts import toast

PAGE_SIZE = 50
# The preview shows at most this many rows (every row with an error first); the counts cover the whole file.
PREVIEW_LIMIT = 300
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
UPLOAD_ID = "spend-upload"
TEMPLATE_NAME = "spend-template.csv"


class UploadedFile(Protocol):
    """What the handler needs of ``rx.UploadFile``."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


class PreviewRow(TypedDict):
    line: int
    date: str
    campaign: str
    spend: str
    impressions: str
    clicks: str
    valid: bool
    errors: list[str]
    replaces: str  # "replaces 10.00 EUR" when a stored row of the same day and campaign is replaced, else ""


class SpendRow(TypedDict):
    day: str
    campaign_id: str
    campaign: str
    spend: str
    impressions: str
    clicks: str
    source: str
    # Synced spend that replaced a CSV/API figure: "replaced 50.00 $ (api)"; else "".
    replaced: str


def _count_text(value: int | None, locale: str) -> str:
    return "" if value is None else format_number(value, locale)


def preview_row(row: spend_service.SpendRow, locale: str) -> PreviewRow:
    if row.amount is not None:
        spend = format_money(row.amount, row.currency, locale)
    else:
        spend = " ".join(part for part in (row.amount_text, row.currency) if part)
    return PreviewRow(
        line=row.line,
        date=row.day.isoformat() if row.day else "",
        campaign=row.campaign_name or row.campaign_text,
        spend=spend,
        impressions=_count_text(row.impressions, locale),
        clicks=_count_text(row.clicks, locale),
        valid=row.valid,
        errors=list(row.errors),
        replaces=(
            f"replaces {format_money(row.replaces_amount, row.replaces_currency, locale)}"
            if row.replaces_amount is not None
            else f"spend synced from {row.synced_wins} wins over this row"
            if row.synced_wins
            else ""
        ),
    )


def shown_rows(preview: spend_service.SpendPreview, limit: int = PREVIEW_LIMIT) -> list[spend_service.SpendRow]:
    """The rows worth seeing first when a file is long: errors, then replacements, then the rest; in line order."""
    invalid = [r for r in preview.rows if not r.valid]
    replacing = [r for r in preview.rows if r.valid and (r.replaces or r.synced_wins)]
    others = [r for r in preview.rows if r.valid and not (r.replaces or r.synced_wins)]
    return sorted([*invalid, *replacing, *others][:limit], key=lambda r: r.line)


def spend_row(row: spend_service.SpendItem, locale: str) -> SpendRow:
    return SpendRow(
        day=row.day.isoformat(),
        campaign_id=row.campaign_public_id,
        campaign=row.campaign_name,
        spend=format_money(row.amount, row.currency, locale),
        impressions=_count_text(row.impressions, locale),
        clicks=_count_text(row.clicks, locale),
        source=row.source,
        replaced=(
            f"replaced {format_money(row.replaced_amount, row.replaced_currency, locale)} ({row.replaced_source})"
            if row.replaced_amount is not None
            else ""
        ),
    )


# react-dropzone's reasons for refusing a file, by code (its own messages say "larger than 5242880 bytes").
_REJECTIONS = {
    "file-too-large": spend_service.FILE_TOO_LARGE,
    "file-invalid-type": "Only .csv files can be imported; export the spend from the ad platform as CSV.",
    "file-too-small": "The file is empty; a spend CSV has a header row and one row per day and campaign.",
}


def rejection_message(rejected: Any) -> str:
    """Why the upload refused the files (``[{"name": "big.csv", "codes": ["file-too-large"]}]``, from the page), for
    people: ``big.csv: The file is larger than 5 MB; …``."""
    entries = [r for r in rejected if isinstance(r, dict)] if isinstance(rejected, list) else []
    if len(entries) > 1:
        return "Drop one CSV file at a time."
    entry = entries[0] if entries else {}
    name = str(entry.get("name") or "")
    codes = [str(c) for c in entry.get("codes") or []] if isinstance(entry.get("codes"), list) else []
    if "too-many-files" in codes:
        return "Drop one CSV file at a time."
    reason = next(
        (_REJECTIONS[c] for c in codes if c in _REJECTIONS), "The file could not be used; choose a .csv file."
    )
    return f"{name[:200]}: {reason}" if name else reason


def imported_message(result: spend_service.ImportResult, locale: str) -> str:
    total = result.inserted + result.replaced + result.kept_synced
    kept = (
        f", {format_number(result.kept_synced, locale)} kept behind synced platform spend" if result.kept_synced else ""
    )
    return (
        f"Imported {format_count(total, 'row', locale)}: {format_number(result.inserted, locale)} new, "
        f"{format_number(result.replaced, locale)} replaced{kept}."
    )


class SpendState(AppState):
    # The file being previewed.
    file_name: str = ""
    upload_error: str = ""
    preview_rows: list[PreviewRow] = []
    row_count: int = 0
    valid_count: int = 0
    invalid_count: int = 0
    replace_count: int = 0
    importing: bool = False
    upload_generation: int = 0  # the upload zone's key: a new one after every file (see the page)
    _csv_text: str = ""

    # The stored spend.
    rows: list[SpendRow] = []
    total: int = 0
    next_cursor: str = ""
    loaded: bool = False
    loading_more: bool = False
    error: str = ""
    since: str = ""
    until: str = ""
    campaign_filter: str = ALL
    campaign_options: list[CampaignOption] = []

    @rx.var
    def has_preview(self) -> bool:
        return self.file_name != ""

    @rx.var
    def preview_truncated(self) -> bool:
        return self.row_count > len(self.preview_rows)

    @rx.var
    def import_label(self) -> str:
        return f"Import {format_count(self.valid_count, 'row', self.account_locale)}"

    @rx.var
    def filtered(self) -> bool:
        return self.campaign_filter != ALL or bool(self.since or self.until)

    @rx.var
    def has_more(self) -> bool:
        return self.next_cursor != ""

    # --- the stored list -----------------------------------------------------------------------------------------

    def _page(self, cursor: str | None) -> tuple[spend_service.SpendPage | None, str | None]:
        since, until = parse_date(self.since), parse_date(self.until)
        campaign = None if self.campaign_filter == ALL else self.campaign_filter
        return self._run(
            lambda s: spend_service.list_spend(
                session=s,
                account_id=self._actor(s).account_id,
                since=since,
                until=until,
                campaign_public_id=campaign,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        )

    def _reload(self) -> None:
        self.error = ""
        found, error = self._page(None)
        self.loaded = True
        if error or found is None:
            self.rows, self.total, self.next_cursor = [], 0, ""
            self.error = error or "The stored spend could not be loaded."
            return
        self.rows = [spend_row(r, self.account_locale) for r in found.rows]
        self.total, self.next_cursor = found.total, found.next_cursor or ""

    @rx.event
    def load_spend(self) -> None:
        """on_load of /spend: the campaigns for the filter and the first page of stored spend (a file's error from
        before is gone: it was about a file the page no longer shows)."""
        self.upload_error = ""
        self.campaign_options = self._campaign_options()
        if self.campaign_filter not in {c["public_id"] for c in self.campaign_options}:
            self.campaign_filter = ALL
        self._reload()

    @rx.event
    def load_more(self) -> Iterator[Any]:
        """Append the next page."""
        yield from next_page(self, self._page, self._append, "spend")

    def _append(self, found: Any) -> None:
        self.rows = [*self.rows, *(spend_row(r, self.account_locale) for r in found.rows)]
        self.total, self.next_cursor = found.total, found.next_cursor or ""

    @rx.event
    def filter_campaign(self, campaign: str) -> None:
        known = {c["public_id"] for c in self.campaign_options}
        self.campaign_filter = campaign if campaign in known else ALL
        self._reload()

    @rx.event
    def filter_dates(self, form: dict[str, Any]) -> None:
        """Apply the From/To days (both included)."""
        form = form if isinstance(form, dict) else {}
        self.since, self.until = date_text(form.get("from")), date_text(form.get("to"))
        self._reload()

    @rx.event
    def clear_filters(self) -> None:
        self.campaign_filter, self.since, self.until = ALL, "", ""
        self._reload()

    @rx.event
    def delete_row(self, day: str, campaign_public_id: str) -> Any:
        """Delete the stored spend of one day and campaign (the page asks first)."""
        parsed = parse_date(str(day))
        if parsed is None:
            return toast.error("This row's date could not be read; reload the page.")
        _, error = self._run(
            lambda s: spend_service.delete_spend(
                session=s, actor=self._actor(s), day=parsed, campaign_public_id=str(campaign_public_id)
            )
        )
        if error:
            return toast.error(error)
        self._reload()
        return toast.success(f"Deleted the spend of {parsed.isoformat()}.")

    # --- upload, preview, import ---------------------------------------------------------------------------------

    def _clear_preview(self) -> None:
        self.file_name, self._csv_text = "", ""
        self.preview_rows = []
        self.row_count = self.valid_count = self.invalid_count = self.replace_count = 0

    def _preview(self, file_name: str, data: bytes) -> None:
        self._clear_preview()
        self.upload_error = ""

        def check(s: Session) -> tuple[str, spend_service.SpendPreview]:
            text = spend_service.decode_csv(data)
            return text, spend_service.parse_spend_csv(text, session=s, account_id=self._actor(s).account_id)

        result, error = self._run(check)
        if error or result is None:
            self.upload_error = f"{file_name}: {error or 'the file could not be read.'}"
            return
        text, preview = result
        self.file_name, self._csv_text = file_name, text
        self.preview_rows = [preview_row(r, self.account_locale) for r in shown_rows(preview)]
        self.row_count = len(preview.rows)
        self.valid_count, self.invalid_count = preview.valid, preview.invalid
        self.replace_count = len(preview.replacing)

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]) -> None:
        """on_drop of the upload: read the CSV (at most one byte past the size limit, enough to refuse it) and
        show its preview; nothing is stored."""
        self.upload_generation += 1
        if not files:
            return
        upload: UploadedFile = files[0]
        data = await upload.read(spend_service.MAX_BYTES + 1)
        self._preview(upload.filename or "spend.csv", data)

    @rx.event
    def upload_rejected(self, rejected: list[dict[str, Any]]) -> None:
        """on_drop_rejected: the browser refused the file before sending it (too large, not a .csv, several files).
        Says why in words, in place of the previous file's preview or error."""
        self.upload_generation += 1
        self._clear_preview()
        self.upload_error = rejection_message(rejected)

    @rx.event
    def cancel_preview(self) -> None:
        self._clear_preview()
        self.upload_error = ""

    @rx.event
    def import_rows(self) -> Iterator[Any]:
        """Store the previewed file's valid rows (same day and campaign: replaced), then show the stored list."""
        if not self._csv_text or self.importing:
            return
        self.importing = True
        yield
        text = self._csv_text

        def store(s: Session) -> spend_service.ImportResult:
            actor = self._actor(s)
            preview = spend_service.parse_spend_csv(text, session=s, account_id=actor.account_id)
            if preview.valid == 0:
                raise ValidationFailed("No row of this file can be imported; fix the rows with errors first.")
            return spend_service.import_spend(session=s, actor=actor, rows=preview.rows, source="csv")

        try:
            result, error = self._run(store)
        finally:
            self.importing = False
        if error or result is None:
            yield toast.error(error or "The spend could not be imported.")
            return
        self._clear_preview()
        self._reload()
        yield toast.success(imported_message(result, self.account_locale))

    @rx.event
    def download_template(self) -> Any:
        """A small example CSV (yesterday, the account's own campaign names)."""
        text, error = self._run(lambda s: spend_service.example_csv(session=s, account_id=self._actor(s).account_id))
        if error or text is None:
            return toast.error(error or "The template could not be made.")
        return rx.download(data=text, filename=TEMPLATE_NAME, mime_type="text/csv")
