"""``GET /api/internal/overview-kpis``: the overview's KPI cards for the backoffice session in the Authorization
header, equal to what ``DashboardState.load_home`` shows for the same URL (the page draws them before Reflex
connects; app/components/early_figures.py). The session is checked as the state checks it, the account is the
session's active one, and one account never sees another's cards. Data: the metrics tests' ``World`` (known answers
for 2026-03-29..31 in Europe/Paris)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reflex.state import State
from sqlmodel import Session, select
from starlette.testclient import TestClient

import app.app  # noqa: F401  (registers every state class, as the running app does)
from app import routes
from app.models import Account, AuthSession, Membership, Role, User
from app.models.base import utcnow
from app.services import accounts, keys
from app.state.base import AppState
from app.state.metrics import DashboardState
from tests.utils.factories import add_member, make_owner
from tests.utils.states import run_coroutine, substate, user_of, visit
from tests.utils.world import World

URL = routes.API_OVERVIEW_KPIS
DST_WEEKEND = {"range": "custom", "start": "2026-03-29", "end": "2026-03-31"}
DST_QUERY = "range=custom&start=2026-03-29&end=2026-03-31"


def _token(db: Session, user: User) -> str:
    token = accounts.start_session(session=db, user=user)
    db.commit()
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _state_cards(token: str, query: str) -> DashboardState:
    """What ``/?query`` shows through the state, for the browser holding ``token``."""
    root = State()
    substate(root, AppState).auth_token = token
    visit(root, f"/?{query}")

    async def run() -> list[Any]:
        return [event async for event in substate(root, DashboardState).load_home()]

    run_coroutine(run())
    return substate(root, DashboardState)


def _shown(state: DashboardState) -> list[Any]:
    """The cards the page draws: none for an account without any data (it shows "get started" instead)."""
    return list(state.kpis) if state.has_data else []


def test_the_cards_are_the_states(client: TestClient, db: Session, world: World) -> None:
    token = _token(db, user_of(db, world))
    answer = client.get(URL, params=DST_WEEKEND, headers=_bearer(token))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    account = db.get(Account, world.account_id)
    assert account is not None and body["account"] == account.public_id
    state = _state_cards(token, DST_QUERY)
    assert state.loaded and state.error == "" and state.kpis
    assert body["kpis"] == state.kpis
    cards = {card["id"]: card for card in body["kpis"]}
    assert (cards["metric-net-eur"]["value"], cards["metric-net-eur"]["previous"]) == ("€125.00", "€0.00")
    assert cards["metric-net-usd"]["value"] == "$25.00"

    # The URL's range, comparison and model, read as the state reads them (unknown values: the defaults).
    query = "range=custom&start=2026-03-29&end=2026-03-31&compare=none&model=first_touch&bogus=1"
    chosen = client.get(f"{URL}?{query}", headers=_bearer(token)).json()["kpis"]
    assert chosen == _state_cards(token, query).kpis and all(card["previous"] == "" for card in chosen)
    defaults = client.get(URL, headers=_bearer(token)).json()["kpis"]
    assert defaults == _shown(_state_cards(token, ""))  # nothing in those days, nor any event: "get started"


def test_in_the_accounts_locale(client: TestClient, db: Session, world: World) -> None:
    account = db.get(Account, world.account_id)
    assert account is not None
    account.locale = "de_DE"
    db.add(account)
    db.commit()
    token = _token(db, user_of(db, world))
    cards = client.get(URL, params=DST_WEEKEND, headers=_bearer(token)).json()["kpis"]
    assert cards == _state_cards(token, DST_QUERY).kpis
    assert {card["id"]: card["value"] for card in cards}["metric-net-eur"] == "125,00\xa0€"


def test_refused_without_a_live_session(client: TestClient, db: Session, world: World) -> None:
    token = _token(db, user_of(db, world))
    secret = keys.create_key(session=db, actor=world.actor, kind="secret").plaintext
    db.commit()
    for headers in ({}, {"Authorization": "Basic abc"}, _bearer("not-a-session"), _bearer(secret),
                    {"Authorization": f"Bearer {accounts.session_token_hash(token)}"}):  # fmt: skip
        refused = client.get(URL, params=DST_WEEKEND, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"]["code"] == "unauthenticated"

    expired = _token(db, user_of(db, world))
    row = db.exec(select(AuthSession).where(AuthSession.token_hash == accounts.session_token_hash(expired))).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    accounts.end_session(session=db, token=token)  # logged out
    db.commit()
    for gone in (token, expired):
        refused = client.get(URL, params=DST_WEEKEND, headers=_bearer(gone))
        assert refused.status_code == 401 and refused.json()["error"]["message"].startswith("Your session has ended")


def test_only_the_sessions_active_account(client: TestClient, db: Session, world: World) -> None:
    other, owner, _actor = make_owner(db)  # an account without any data
    token = _token(db, owner)
    body = client.get(URL, params=DST_WEEKEND, headers=_bearer(token)).json()
    assert body == {"account": other.public_id, "kpis": []}  # the page shows "get started", not cards
    assert not _state_cards(token, DST_QUERY).has_data

    # A member of both accounts sees the active one's cards, and the other's once they switch to it.
    world_account = db.get(Account, world.account_id)
    assert world_account is not None and world_account.id is not None
    member, _ = add_member(db, other, Role.VIEWER)
    db.add(Membership(account_id=world_account.id, user_id=member.id or 0, role=Role.VIEWER.value))
    db.commit()
    both = _token(db, member)  # active: the first membership, the data-less account
    assert client.get(URL, params=DST_WEEKEND, headers=_bearer(both)).json() == {"account": other.public_id,
                                                                                   "kpis": []}  # fmt: skip
    accounts.switch_account(session=db, token=both, account_public_id=world_account.public_id)
    db.commit()
    switched = client.get(URL, params=DST_WEEKEND, headers=_bearer(both)).json()
    assert switched["account"] == world_account.public_id
    assert switched["kpis"] == _state_cards(both, DST_QUERY).kpis and switched["kpis"]

    # Removed from that account: back to one of theirs (as the state resolves it), never the old account's cards.
    membership = db.exec(
        select(Membership).where(Membership.user_id == member.id, Membership.account_id == world_account.id)
    ).one()
    db.delete(membership)
    db.commit()
    assert client.get(URL, params=DST_WEEKEND, headers=_bearer(both)).json() == {"account": other.public_id,
                                                                                   "kpis": []}  # fmt: skip


def test_a_range_that_does_not_resolve_is_the_states_error(client: TestClient, db: Session, world: World) -> None:
    token = _token(db, user_of(db, world))
    query = "range=custom&start=2026-03-31&end=2026-03-01"
    refused = client.get(f"{URL}?{query}", headers=_bearer(token))
    assert 400 <= refused.status_code < 500
    state = _state_cards(token, query)
    assert state.error and refused.json()["error"]["message"] == state.error and state.kpis == []
