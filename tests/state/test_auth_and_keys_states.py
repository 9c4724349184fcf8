from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from reflex.istate.data import RouterData
from reflex.state import State
from sqlmodel import Session, select

from app.db import session_scope
from app.models import ApiKey, Role
from app.services import accounts
from app.state.auth import LoginState, SignupState, _safe_next
from app.state.base import AppState
from app.state.keys import KeysState
from app.state.team import TeamState
from tests.utils.factories import PASSWORD, add_member, make_owner
from tests.utils.states import sign_in, substate


def test_signup_handler_creates_account_and_signs_in(root: State, db: Session) -> None:
    signup = substate(root, SignupState)
    signup.submit(
        {"account_name": "Acme", "email": "ann@example.com", "password": PASSWORD, "timezone": "Europe/Berlin"}
    )
    assert signup.error == ""
    app_state = substate(root, AppState)
    assert app_state.auth_token
    app_state.check_login()
    assert app_state.is_authenticated and app_state.account_name == "Acme" and app_state.role == "owner"
    assert app_state.account_timezone == "Europe/Berlin"
    assert "MANAGE_KEYS" in app_state.permissions


def test_signup_handler_shows_field_errors(root: State, db: Session) -> None:
    signup = substate(root, SignupState)
    signup.submit({"account_name": "Acme", "email": "ann@example.com", "password": "short", "timezone": "UTC"})
    assert "at least 10" in signup.error and signup.error_field == "password"
    assert substate(root, AppState).auth_token == ""


def test_login_handler_sets_token_or_one_error(root: State, db: Session) -> None:
    make_owner(db, email="bob@example.com")
    login = substate(root, LoginState)
    login.submit({"email": "bob@example.com", "password": "wrong wrong wrong"})
    assert login.error == accounts.LOGIN_FAILED_MESSAGE
    login.submit({"email": "bob@example.com", "password": PASSWORD})
    assert login.error == "" and substate(root, AppState).auth_token


def _connect(root: State, sid: str) -> None:
    """The tab's websocket connection as Reflex records it before each event: its id (sid) is the server's."""
    root.router = RouterData.from_router_data({"pathname": "/", "asPath": "/", "sid": sid, "token": "tab-1"})


def _all_pickles(root: State) -> bytes:
    """What the state manager writes for this tab (every state of the tree, pickled as for disk and Redis)."""

    def walk(state: Any) -> Iterator[bytes]:
        yield state._serialize()
        for child in state.substates.values():
            yield from walk(child)

    return b"".join(walk(root))


def _log_in_on(root: State, db: Session, sid: str) -> tuple[AppState, str]:
    """Bob logs in through the login form on connection ``sid``: his AppState, and the token sent to his browser."""
    make_owner(db, email="bob@example.com")
    _connect(root, sid)
    substate(root, LoginState).submit({"email": "bob@example.com", "password": PASSWORD})
    app_state = substate(root, AppState)
    assert app_state.auth_token  # in memory, and sent to the browser
    return app_state, app_state.auth_token


def test_the_session_token_is_never_in_the_stored_state(root: State, db: Session) -> None:
    app_state, token = _log_in_on(root, db, "sid-1")
    app_state.check_login()
    stored = _all_pickles(root)
    assert token.encode() not in stored and b"bob@example.com" in stored

    # What a restarted backend (disk) or another worker (Redis) loads still works on this connection.
    loaded = AppState._deserialize(app_state._serialize())
    assert isinstance(loaded, AppState) and loaded.auth_token == ""
    loaded.parent_state, loaded.substates = root, app_state.substates  # as the state manager puts it in the tree
    root.substates[AppState.get_name()] = loaded
    with session_scope() as session:
        context = loaded._context(session)
    assert context is not None and context.email == "bob@example.com"


def test_the_session_counts_only_on_the_connection_that_presented_the_token(root: State, db: Session) -> None:
    app_state, token = _log_in_on(root, db, "sid-1")
    assert app_state.check_login() is None and app_state.is_authenticated

    # The tab's id replayed over another connection (from a state file name or a Redis key): signed out.
    _connect(root, "sid-2")
    assert _redirect_path(app_state.check_login()) == "/login"
    assert not app_state.is_authenticated and app_state.user_email == ""

    # The browser's own reconnection hydrates again, which presents the token on the new connection.
    app_state.auth_token = ""  # Reflex resets browser storage first
    app_state.auth_token = token
    assert app_state.check_login() is None and app_state.is_authenticated


def _redirect_path(spec: Any) -> str:
    """The path of an ``rx.redirect`` event spec."""
    return {str(name): value._var_value for name, value in spec.args}["path"]


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/\\evil.com", "/"),  # ?next=/%5Cevil.com, decoded: browsers read it as //evil.com
        ("//evil.com", "/"),
        ("///evil.com", "/"),
        ("https://evil.com", "/"),
        ("javascript:alert(1)", "/"),
        ("/\tevil.com", "/"),
        ("/\t/evil.com", "/"),  # browsers drop the tab: //evil.com
        (" //evil.com", "/"),
        ("evil.com", "/"),
        ("", "/"),
        ("/campaigns?q=x", "/campaigns?q=x"),
        ("/settings/keys", "/settings/keys"),
    ],
)
def test_login_redirects_only_to_local_paths(next_url: str, expected: str) -> None:
    assert _safe_next(next_url) == expected


def test_login_handler_ignores_a_next_on_another_site(root: State, db: Session) -> None:
    make_owner(db, email="bob@example.com")
    login = substate(root, LoginState)
    for query, expected in (("next=/%5Cevil.com", "/"), ("next=%2Fcampaigns%3Fq%3Dx", "/campaigns?q=x")):
        root.router = RouterData.from_router_data({"pathname": "/login", "asPath": f"/login?{query}"})
        spec = login.submit({"email": "bob@example.com", "password": PASSWORD})
        assert login.error == "" and _redirect_path(spec) == expected


def test_pages_send_signed_out_visitors_to_login(root: State, db: Session) -> None:
    app_state = substate(root, AppState)
    result = app_state.check_login()
    assert not app_state.is_authenticated
    assert result is not None  # a redirect event


def test_viewer_is_refused_by_the_server_when_creating_a_key(root: State, db: Session) -> None:
    account, _, _ = make_owner(db)
    viewer, _ = add_member(db, account, Role.VIEWER)
    sign_in(root, db, viewer)
    keys_state = substate(root, KeysState)
    keys_state.load_keys()
    assert keys_state.can_manage_keys is False
    keys_state.new_kind = "secret"
    returned = keys_state.create_key({"label": "sneaky"})
    assert "viewer" in keys_state.error and _shown_keys(returned) == []
    assert db.exec(select(ApiKey)).first() is None


def test_admin_creates_and_revokes_keys_through_the_state(root: State, db: Session) -> None:
    account, _, _ = make_owner(db)
    admin, _ = add_member(db, account, Role.ADMIN)
    sign_in(root, db, admin)
    keys_state = substate(root, KeysState)
    keys_state.load_keys()
    keys_state.set_new_kind("publishable")
    returned = keys_state.create_key(
        {"label": "shop", "origins": "https://shop.example.com\nhttps://www.shop.example.com"}
    )
    assert keys_state.error == "" and [k[:6] for k in _shown_keys(returned)] == ["ps_pk_"]
    assert len(keys_state.keys) == 1 and "www.shop.example.com" in keys_state.keys[0]["origins"]
    keys_state.revoke_key(keys_state.keys[0]["public_id"])
    assert keys_state.keys == []


def _shown_keys(returned: Any) -> list[str]:
    """The keys a handler's answer puts on the page (the events it returns to the browser)."""
    return sorted(set(re.findall(r"ps_(?:sk|pk)_[A-Za-z0-9_-]+", repr(returned))))


def test_a_new_key_is_shown_once(root: State, db: Session) -> None:
    _, owner, _ = make_owner(db)
    sign_in(root, db, owner)
    keys_state = substate(root, KeysState)
    keys_state.load_keys()
    keys_state.set_new_kind("secret")
    shown = _shown_keys(keys_state.create_key({"label": "backend"}))
    assert len(shown) == 1 and shown[0].startswith("ps_sk_")
    secret = shown[0]
    # Sent once, as the event that shows it: not a state var, so a reload's hydration (the whole state) and the
    # state store never carry it.
    assert secret not in repr(root.dict()) and secret.encode() not in _all_pickles(root)
    keys_state.load_keys()  # coming back to the page
    assert secret not in repr(root.dict())


def test_team_state_invites_and_lists(root: State, db: Session, outbox: Any) -> None:
    _, owner, _ = make_owner(db)
    sign_in(root, db, owner)
    team = substate(root, TeamState)
    team.load_team()
    assert [m["email"] for m in team.members] == [owner.email] and team.members[0]["is_you"]
    team.set_invite_role("viewer")
    team.invite({"email": "new@example.com"})
    assert team.error == "" and team.last_invited == "new@example.com"
    assert [(i["email"], i["role"]) for i in team.invites] == [("new@example.com", "viewer")]
    # The link goes to the invitee's mailbox only: the inviter's state never holds it.
    [path] = sorted(Path(outbox).glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage) and message["To"] == "new@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "http://localhost:3000/invite/" in body.get_content()
    assert "/invite/" not in repr(root.dict())


def test_owners_choose_the_accounts_locale_on_the_team_page(root: State, db: Session) -> None:
    account, owner, _ = make_owner(db)
    sign_in(root, db, owner)
    team = substate(root, TeamState)
    team.load_team()
    assert team.account_locale == team.locale_choice == "en_US" and team.can_manage_account
    assert {"value": "de_DE", "label": "German (Germany) · 20.442,50\xa0€"} in team.locale_options
    team.set_locale_choice("de_DE")
    assert "amounts now read like 20.442,50" in str(team.save_locale().args)
    assert team.account_locale == "de_DE"
    db.refresh(account)
    assert account.locale == "de_DE"

    marketer, _ = add_member(db, account, Role.MARKETER)
    sign_in(root, db, marketer)
    team.load_team()
    assert team.locale_choice == "de_DE" and not team.can_manage_account
    team.set_locale_choice("en_US")
    assert "cannot change the account's settings" in str(team.save_locale().args)
    assert team.locale_choice == "de_DE"
    db.refresh(account)
    assert account.locale == "de_DE"


def test_owners_choose_the_winner_probability_on_the_team_page(root: State, db: Session) -> None:
    account, owner, _ = make_owner(db)
    sign_in(root, db, owner)
    team = substate(root, TeamState)
    team.load_team()
    assert team.winner_choice == "95"
    for bad in ("abc", "50", "100"):
        team.set_winner_choice(bad)
        assert "between 51 and 99" in str(team.save_winner_probability().args)
    team.set_winner_choice("99 %")
    assert "at least 99% probability" in str(team.save_winner_probability().args)
    db.refresh(account)
    assert account.winner_probability == 99

    marketer, _ = add_member(db, account, Role.MARKETER)
    sign_in(root, db, marketer)
    team.load_team()
    assert team.winner_choice == "99"
    team.set_winner_choice("90")
    assert "cannot change the account's settings" in str(team.save_winner_probability().args)
    db.refresh(account)
    assert account.winner_probability == 99
