"""AppState: the signed-in user, their accounts and the active one. Feature states inherit it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypedDict, TypeVar

import reflex as rx
from sqlmodel import Session

from app import routes
from app.db import session_scope
from app.lib.formatting import DEFAULT_LOCALE
from app.services import accounts as account_service
from app.services import campaigns as campaign_service
from app.services.errors import AuthenticationFailed, ServiceError
from app.services.permissions import Actor, Permission
from app.state.toasts import toast

T = TypeVar("T")


P = TypeVar("P")


def next_page(
    state: Any, fetch: Callable[[str], tuple[P | None, str | None]], append: Callable[[P], None], noun: str
) -> Iterator[Any]:
    """The "Load more" of a paged list (``yield from`` it in the state's event): fetch the page after
    ``state.next_cursor`` (the cursor stays on the server) with ``state.loading_more`` shown meanwhile, then
    ``append`` it, or toast why it could not be loaded. The state has ``next_cursor: str`` and ``loading_more``."""
    if not state.next_cursor or state.loading_more:
        return
    state.loading_more = True
    yield
    try:
        found, error = fetch(state.next_cursor)
    finally:
        state.loading_more = False
    if error or found is None:
        yield toast.error(error or f"More {noun} could not be loaded.")
        return
    append(found)


class CampaignOption(TypedDict):
    """A campaign in a filter menu (orders, conversions, spend)."""

    public_id: str
    name: str


# The local storage entry the browser keeps its session token in (also read by the overview's early request,
# app/components/early_figures.py).
SESSION_STORAGE_NAME = "paidsignal_session"


class AccountOption(TypedDict):
    public_id: str
    name: str
    role: str


class AppState(rx.State):
    """Auth for every page: the browser keeps a session token; the server maps it to a session row.

    The token lives in the browser (local storage) and reaches the server when the tab connects (Reflex's hydration
    sends it) or when the user logs in. The server never keeps it: Reflex pickles states to ``.states/`` or Redis,
    so ``__getstate__`` leaves it out, and what authenticates later events is ``_session_hash`` (the token's
    SHA-256, the key of its ``auth_session`` row) together with ``_session_sid``, the websocket connection the browser
    presented the token on. Anyone who reads a state file or a Redis dump finds the hash (a browser presenting it
    presents a token that hashes to something else) and the tab's id in the file or key name; replaying the tab's id
    over a new connection gets a new connection id, which the binding refuses. A reconnecting tab hydrates again,
    which presents its token on the new connection.
    """

    auth_token: str = rx.LocalStorage(name=SESSION_STORAGE_NAME)
    _session_hash: str = ""
    _session_sid: str = ""
    session_checked: bool = False
    is_authenticated: bool = False
    user_email: str = ""
    is_staff: bool = False
    accounts: list[AccountOption] = []
    account_id: str = ""
    account_name: str = ""
    account_timezone: str = "UTC"
    # How the account's numbers and money read (a Babel locale, e.g. de_DE): pass it to app.lib.formatting.
    account_locale: str = DEFAULT_LOCALE
    role: str = ""
    # Names of the Permission members the user has here, computed by the permissions service. Pages disable or hide
    # every control whose handler the server would refuse (the can_* vars below); the server checks regardless.
    permissions: list[str] = []

    def _apply_context(self, context: account_service.SessionContext | None) -> None:
        """Show the session's context. Only the vars whose value changed are assigned: an assignment marks a var
        dirty even when it holds the same value, and every computed var reading it (``account_locale``: the
        formatted counts and charts of other pages' states) would be loaded, recomputed and sent with the delta of
        every page load and live poll (docs/performance.md, "The dashboard's first paint")."""
        changes: dict[str, Any] = {"session_checked": True}
        changes["is_authenticated"] = context is not None and context.active is not None
        if context is None or context.active is None:
            changes |= {"user_email": "", "is_staff": False, "accounts": [], "account_id": "", "account_name": "",
                        "role": "", "permissions": []}  # fmt: skip
        else:
            actor = context.actor
            changes |= {
                "user_email": context.email,
                "is_staff": context.is_staff,
                "accounts": [AccountOption(public_id=a.public_id, name=a.name, role=a.role) for a in context.accounts],
                "account_id": context.active.public_id,
                "account_name": context.active.name,
                "account_timezone": context.active.timezone,
                "account_locale": context.active.locale,
                "role": context.active.role,
                "permissions": [p.name for p in Permission if actor is not None and actor.can(p)],
            }
        for name, value in changes.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "auth_token":
            # Every way the token arrives (hydration, a login, a logout, Reflex resetting browser storage) assigns
            # it here: remember its hash and the connection it came on.
            token = value if isinstance(value, str) else ""
            self._session_hash = account_service.session_token_hash(token)
            self._session_sid = self.router.session.session_id if token else ""

    def __getstate__(self) -> dict[str, Any]:
        fields = super().__getstate__()
        if fields.get("auth_token"):  # only AppState's own pickle holds it; substates inherit it
            fields = {**fields, "auth_token": ""}
        return fields

    def _session_token_hash(self) -> str:
        """The session's key when the browser presented its token on this connection, else "" (signed out)."""
        if not self._session_hash or self._session_sid != self.router.session.session_id:
            return ""
        return self._session_hash

    def _context(self, session: Session) -> account_service.SessionContext | None:
        return account_service.resolve_session(session=session, token_hash=self._session_token_hash())

    def _actor(self, session: Session) -> Actor:
        """The current actor, resolved from the database on every call (roles may change any time)."""
        context = self._context(session)
        self._apply_context(context)
        if context is None or context.actor is None:
            raise AuthenticationFailed("Your session has ended; log in again.")
        return context.actor

    def _run(self, action: Callable[[Session], T]) -> tuple[T | None, str | None]:
        """Run a service call in a transaction; return its result or the message of its ServiceError."""
        try:
            with session_scope() as session:
                return action(session), None
        except ServiceError as error:
            return None, error.message

    def _campaign_options(self) -> list[CampaignOption]:
        """The account's campaigns for a filter menu (empty when they cannot be read)."""
        rows, _error = self._run(
            lambda s: campaign_service.campaign_choices(session=s, account_id=self._actor(s).account_id)
        )
        return [CampaignOption(public_id=public_id, name=name) for public_id, name in rows or []]

    @rx.var
    def can_manage_keys(self) -> bool:
        return Permission.MANAGE_KEYS.name in self.permissions

    @rx.var
    def can_manage_team(self) -> bool:
        return Permission.MANAGE_TEAM.name in self.permissions

    @rx.var
    def can_manage_account(self) -> bool:
        return Permission.MANAGE_ACCOUNT.name in self.permissions

    @rx.var
    def can_edit_marketing(self) -> bool:
        return Permission.EDIT_MARKETING.name in self.permissions

    @rx.var
    def can_manage_stripe(self) -> bool:
        return Permission.MANAGE_STRIPE.name in self.permissions

    @rx.var
    def can_view_usage(self) -> bool:
        return Permission.VIEW_USAGE.name in self.permissions

    @rx.event
    def check_login(self) -> Any:
        """on_load of every backoffice page: refresh the context, or send the visitor to the login page."""
        with session_scope() as session:
            self._apply_context(self._context(session))
        if not self.is_authenticated:
            path = self.router.url.path or routes.HOME
            return rx.redirect(routes.login_url(path if path != routes.HOME else None))
        return None

    @rx.event
    def redirect_if_logged_in(self) -> Any:
        """on_load of the login and sign-up pages."""
        with session_scope() as session:
            self._apply_context(self._context(session))
        if self.is_authenticated:
            return rx.redirect(routes.HOME)
        return None

    @rx.event
    def logout(self) -> Any:
        with session_scope() as session:
            account_service.end_session(session=session, token_hash=self._session_token_hash())
        self.auth_token = ""
        self._apply_context(None)
        return rx.redirect(routes.LOGIN)

    @rx.event
    def switch_account(self, account_public_id: str) -> Any:
        _, error = self._run(
            lambda s: account_service.switch_account(
                session=s, token_hash=self._session_token_hash(), account_public_id=account_public_id
            )
        )
        if error:
            return toast.error(error)
        # Reload the page so every state loads the new account's data.
        return rx.redirect(self.router.url.path or routes.HOME)

    def _start_session(self, session: Session, user: Any, account_id: int | None = None) -> None:
        self.auth_token = account_service.start_session(
            session=session,
            user=user,
            account_id=account_id,
            user_agent=self.router.headers.user_agent,
            ip=self.router.session.client_ip,
        )
