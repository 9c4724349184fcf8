"""The /spend page's state: the upload handler (called with a file-like object, as Reflex calls it), the preview,
the import with its toast, replacements on a second upload, filters, "Load more", delete, and roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reflex.istate.data import RouterData
from reflex.state import State
from sqlmodel import Session

from app import routes
from app.models import Role
from app.services import campaigns
from app.services import spend as spend_service
from app.state.spend import ALL, SpendState
from tests.utils.factories import add_member, make_owner
from tests.utils.states import run_coroutine, sign_in, substate

DAY = datetime.now(ZoneInfo("Europe/Paris")).date() - timedelta(days=2)
D = DAY.isoformat()


class FakeUpload:
    """What Reflex hands an upload handler: a name and an async ``read``."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename, self._data = filename, data

    async def read(self, size: int = -1) -> bytes:
        return self._data if size < 0 else self._data[:size]


def _open(root: State) -> SpendState:
    root.router = RouterData.from_router_data(
        {"pathname": routes.SPEND, "asPath": routes.SPEND, "headers": {"origin": "http://localhost:3000"}}
    )
    state = substate(root, SpendState)
    state.load_spend()
    return state


def _upload(state: SpendState, text: str, name: str = "spend.csv") -> None:
    run_coroutine(state.handle_upload([FakeUpload(name, text.encode())]))  # type: ignore[list-item]


def _drain(events: Any) -> list[Any]:
    return list(events)


def _toast_text(events: list[Any]) -> str:
    return " ".join(str(e) for e in events if e is not None)


def test_upload_preview_import_and_reupload_replaces(root: State, db: Session) -> None:
    _, user, owner = make_owner(db)
    campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta")
    db.commit()
    sign_in(root, db, user)
    state = _open(root)
    assert state.loaded and state.rows == [] and state.total == 0 and not state.has_preview

    text = f"date,campaign,spend,currency,impressions,clicks\n{D},Spring sale,125.50,EUR,1200,30\n{D},Autumn,3,EUR,,\n"
    _upload(state, text)
    assert state.upload_error == "" and state.file_name == "spend.csv" and state.has_preview
    assert (state.row_count, state.valid_count, state.invalid_count, state.replace_count) == (2, 1, 1, 0)
    good, bad = state.preview_rows
    assert good == {
        "line": 2,
        "date": D,
        "campaign": "Spring sale",
        "spend": "€125.50",
        "impressions": "1,200",
        "clicks": "30",
        "valid": True,
        "errors": [],
        "replaces": "",
    }
    assert not bad["valid"] and bad["errors"] == [
        "Unknown campaign 'Autumn': no campaign in this account has this id or name."
    ]
    assert state.import_label == "Import 1 row"

    events = _drain(state.import_rows())
    assert "Imported 1 row: 1 new, 0 replaced." in _toast_text(events)
    assert not state.has_preview and state.preview_rows == []
    assert [(r["day"], r["campaign"], r["spend"], r["impressions"], r["source"]) for r in state.rows] == [
        (D, "Spring sale", "€125.50", "1,200", "csv")
    ]

    _upload(state, text.replace("125.50", "130.00"))
    assert state.upload_generation == 2  # a fresh file input each time, so the same file can be chosen again
    assert state.replace_count == 1 and state.preview_rows[0]["replaces"] == "replaces €125.50"
    events = _drain(state.import_rows())
    assert "Imported 1 row: 0 new, 1 replaced." in _toast_text(events)
    assert [r["spend"] for r in state.rows] == ["€130.00"] and state.total == 1


def test_file_problems_and_cancel(root: State, db: Session) -> None:
    _, user, _ = make_owner(db)
    sign_in(root, db, user)
    state = _open(root)
    _upload(state, "day,cost\n2026-01-01,3\n", name="export.csv")
    assert state.upload_error.startswith("export.csv: The header row lacks the columns date, campaign, spend, currency")
    assert not state.has_preview

    run_coroutine(state.handle_upload([FakeUpload("latin.csv", "date,campaign\nÉté".encode("cp1252"))]))  # type: ignore[list-item]
    assert "not UTF-8" in state.upload_error

    big = FakeUpload("big.csv", b"x" * (spend_service.MAX_BYTES + 10))
    run_coroutine(state.handle_upload([big]))  # type: ignore[list-item]
    assert "larger than 5 MB" in state.upload_error

    _upload(state, f"date,campaign,spend,currency\n{D},Nope,1,EUR\n")
    assert state.upload_error == "" and state.valid_count == 0 and state.invalid_count == 1
    events = _drain(state.import_rows())
    assert "No row of this file can be imported" in _toast_text(events) and state.has_preview
    state.cancel_preview()
    assert not state.has_preview and state.preview_rows == [] and state.valid_count == 0


def test_a_refused_file_says_why_in_words_and_a_reload_forgets_the_error(root: State, db: Session) -> None:
    """The browser refuses a file over 5 MB before sending it (react-dropzone says "larger than 5242880 bytes"):
    the page says it in MB, in place of the previous file's error; a reload starts without an old error."""
    _, user, _ = make_owner(db)
    sign_in(root, db, user)
    state = _open(root)
    _upload(state, "day,cost\n2026-01-01,3\n", name="export.csv")
    assert state.upload_error.startswith("export.csv: The header row lacks")

    state.upload_rejected([{"name": "huge.csv", "codes": ["file-too-large"]}])  # what the page sends
    assert state.upload_error == "huge.csv: The file is larger than 5 MB; split it into smaller files."
    state.upload_rejected([{"name": "notes.txt", "codes": ["file-invalid-type"]}])
    assert state.upload_error.startswith("notes.txt: Only .csv files can be imported")
    state.upload_rejected([{"name": "a.csv", "codes": []}, {"name": "b.csv", "codes": []}])
    assert state.upload_error == "Drop one CSV file at a time."
    state.upload_rejected("not a list")  # type: ignore[arg-type]
    assert state.upload_error == "The file could not be used; choose a .csv file."

    _open(root)  # a reload
    assert state.upload_error == ""


def test_filters_load_more_and_delete(root: State, db: Session) -> None:
    _, user, owner = make_owner(db)
    spring = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta").public_id
    campaigns.create_campaign(session=db, actor=owner, name="Brand search", channel="google")
    entries = [
        {"date": (DAY - timedelta(days=n)).isoformat(), "campaign": name, "spend": n + 1, "currency": "EUR"}
        for n in range(30)
        for name in ("Spring sale", "Brand search")
    ]
    spend_service.record_spend(session=db, actor=owner, entries=entries)
    db.commit()
    sign_in(root, db, user)
    state = _open(root)
    assert state.total == 60 and len(state.rows) == 50 and state.has_more
    _drain(state.load_more())
    assert len(state.rows) == 60 and not state.has_more

    state.filter_campaign(spring)
    assert state.total == 30 and state.filtered and {r["campaign"] for r in state.rows} == {"Spring sale"}
    state.filter_dates({"from": (DAY - timedelta(days=1)).isoformat(), "to": D})
    assert [r["day"] for r in state.rows] == [D, (DAY - timedelta(days=1)).isoformat()]

    assert "Deleted" in str(state.delete_row(D, spring))
    assert [r["day"] for r in state.rows] == [(DAY - timedelta(days=1)).isoformat()]
    assert "No spend stored" in str(state.delete_row(D, spring))
    state.clear_filters()
    assert state.campaign_filter == ALL and state.total == 59 and not state.filtered

    download = state.download_template()
    assert "spend-template.csv" in str(download)


def test_a_viewer_sees_but_cannot_import_or_delete(root: State, db: Session) -> None:
    account, _, owner = make_owner(db)
    spring = campaigns.create_campaign(session=db, actor=owner, name="Spring sale", channel="meta").public_id
    spend_service.record_spend(
        session=db, actor=owner, entries=[{"date": D, "campaign": spring, "spend": "1", "currency": "EUR"}]
    )
    viewer, _ = add_member(db, account, Role.VIEWER)
    sign_in(root, db, viewer)
    state = _open(root)
    assert state.total == 1 and not state.can_edit_marketing
    _upload(state, f"date,campaign,spend,currency\n{D},Spring sale,2,EUR\n")
    events = _drain(state.import_rows())
    assert "viewer" in _toast_text(events)
    assert "viewer" in str(state.delete_row(D, spring))
    assert state.total == 1 and state.rows[0]["spend"] == "€1.00"
