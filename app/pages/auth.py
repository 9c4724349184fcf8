"""Sign-up, login and invitation pages.

Their forms say ``method="post"``: the pages are prerendered, and a form submitted before React has hydrated it
(a fast Enter, a slow connection, JavaScript off) would otherwise be sent natively as a GET, putting the password
in the URL, the browser history and access logs.
"""

from __future__ import annotations

import reflex as rx

from app import routes
from app.components.layout import field, form_error, public_page
from app.state.auth import MIN_PASSWORD_LENGTH, InviteState, LoginState, SignupState

# Evaluated by the page itself, in the browser (the policy forbids running scripts the server sends).
BROWSER_TIMEZONE: rx.Var[str] = rx.Var("Intl.DateTimeFormat().resolvedOptions().timeZone").to(str)


@public_page(routes.SIGNUP, "Create your account", on_load=SignupState.load_signup)
def signup() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.vstack(
                form_error(SignupState.error),
                field("Shop or company name", "account_name", placeholder="Acme Store", required=True),
                field("Email", "email", type="email", placeholder="you@example.com", required=True),
                field(
                    f"Password (at least {MIN_PASSWORD_LENGTH} characters)", "password", type="password", required=True
                ),
                field(
                    "Timezone (for 'today' and date ranges)",
                    "timezone",
                    default_value=SignupState.timezone,
                    key=SignupState.timezone,
                ),
                rx.button("Create account", type="submit", width="100%", id="signup-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=SignupState.submit,
            on_mount=SignupState.set_browser_timezone(BROWSER_TIMEZONE),
            method="post",
            width="100%",
        ),
        rx.text("Already have an account? ", rx.link("Log in", href=routes.LOGIN), size="2"),
        width="100%",
    )


@public_page(routes.LOGIN, "Log in", on_load=LoginState.load_login)
def login() -> rx.Component:
    return rx.vstack(
        rx.form(
            rx.vstack(
                form_error(LoginState.error),
                field("Email", "email", type="email", required=True),
                field("Password", "password", type="password", required=True),
                rx.button("Log in", type="submit", width="100%", id="login-submit"),
                spacing="3",
                width="100%",
            ),
            on_submit=LoginState.submit,
            method="post",
            width="100%",
        ),
        rx.text("New to PaidSignal? ", rx.link("Create an account", href=routes.SIGNUP), size="2"),
        width="100%",
    )


@public_page(routes.INVITE, "Join a team", on_load=InviteState.load_invite)
def invite() -> rx.Component:
    return rx.cond(
        InviteState.invite_error != "",
        rx.vstack(
            form_error(InviteState.invite_error),
            rx.link("Go to the login page", href=routes.LOGIN),
            width="100%",
        ),
        rx.form(
            rx.vstack(
                rx.text(
                    "Join ",
                    rx.text.strong(InviteState.invite_account),
                    " as ",
                    rx.text.strong(InviteState.invite_role),
                    " with ",
                    rx.text.strong(InviteState.invite_email),
                    ".",
                    id="invite-summary",
                ),
                form_error(InviteState.error),
                rx.cond(
                    InviteState.user_exists,
                    field("Your password", "password", type="password", required=True),
                    field(
                        f"Choose a password (at least {MIN_PASSWORD_LENGTH} characters)",
                        "password",
                        type="password",
                        required=True,
                    ),
                ),
                rx.button("Accept invitation", type="submit", width="100%", id="invite-accept"),
                spacing="3",
                width="100%",
            ),
            on_submit=InviteState.accept,
            method="post",
            width="100%",
        ),
    )
