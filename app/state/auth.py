"""Sign-up, login and accepting an invitation."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

import reflex as rx

from app import routes
from app.db import session_scope
from app.services import accounts as account_service
from app.services import team as team_service
from app.services.errors import ServiceError
from app.services.passwords import MIN_PASSWORD_LENGTH as MIN_PASSWORD_LENGTH  # for the page
from app.state.base import AppState


def _safe_next(value: object) -> str:
    """``value`` if it is a path on this site, else the home page.

    Only local paths: an open redirect would let a phishing link borrow our login page. Browsers read ``/\\host``
    like ``//host`` (another site) and drop tabs and newlines anywhere in a URL, so a backslash or any control
    character is refused outright rather than interpreted; what is left must have no scheme and no host and start
    with exactly one slash.
    """
    if not isinstance(value, str) or not value:
        return routes.HOME
    if "\\" in value or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        return routes.HOME
    try:
        parts = urlsplit(value)
    except ValueError:
        return routes.HOME
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return routes.HOME
    # urlsplit reads "///host" as an empty host and the path "/host"; a browser goes to host.
    if value.startswith("//"):
        return routes.HOME
    return value


class SignupState(AppState):
    timezone: str = "UTC"
    error: str = ""
    error_field: str = ""
    submitting: bool = False

    @rx.event
    def set_browser_timezone(self, timezone: str) -> None:
        """on_mount of the sign-up form, with the browser's own timezone (computed by the page: a script sent from
        here would need eval(), which the Content-Security-Policy refuses)."""
        if isinstance(timezone, str) and timezone:
            self.timezone = timezone

    @rx.event
    def load_signup(self) -> Any:
        self.error = self.error_field = ""
        return AppState.redirect_if_logged_in

    @rx.event
    def submit(self, form: dict[str, Any]) -> Any:
        self.error = self.error_field = ""
        try:
            with session_scope() as session:
                account, user = account_service.signup(
                    session=session,
                    account_name=str(form.get("account_name", "")),
                    email=str(form.get("email", "")),
                    password=str(form.get("password", "")),
                    timezone=str(form.get("timezone", "") or self.timezone),
                )
                self._start_session(session, user, account.id)
        except ServiceError as error:
            self.error, self.error_field = error.message, error.field or ""
            return None
        return rx.redirect(routes.HOME)


class LoginState(AppState):
    error: str = ""

    @rx.event
    def load_login(self) -> Any:
        self.error = ""
        return AppState.redirect_if_logged_in

    @rx.event
    def submit(self, form: dict[str, Any]) -> Any:
        self.error = ""
        try:
            with session_scope() as session:
                user = account_service.authenticate(
                    session=session,
                    email=str(form.get("email", "")),
                    password=str(form.get("password", "")),
                    ip=self.router.session.client_ip,
                )
                self._start_session(session, user)
        except ServiceError as error:
            self.error = error.message
            return None
        return rx.redirect(_safe_next(self.router.url.query_parameters.get("next", routes.HOME)))


class InviteState(AppState):
    invite_account: str = ""
    invite_email: str = ""
    invite_role: str = ""
    user_exists: bool = False
    invite_error: str = ""
    error: str = ""

    def _token(self) -> str:
        return (self.router.url.path or "").rstrip("/").rsplit("/", 1)[-1]

    @rx.event
    def load_invite(self) -> None:
        self.error = self.invite_error = ""
        try:
            with session_scope() as session:
                view = team_service.describe_invite(session=session, token=self._token())
        except ServiceError as error:
            self.invite_error = error.message
            return
        self.invite_account, self.invite_email = view.account_name, view.email
        self.invite_role, self.user_exists = view.role, view.user_exists

    @rx.event
    def accept(self, form: dict[str, Any]) -> Any:
        self.error = ""
        try:
            with session_scope() as session:
                user, account = team_service.accept_invite(
                    session=session,
                    token=self._token(),
                    password=str(form.get("password", "")),
                    ip=self.router.session.client_ip,
                )
                self._start_session(session, user, account.id)
        except ServiceError as error:
            self.error = error.message
            return None
        return rx.redirect(routes.HOME)
