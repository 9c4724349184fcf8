"""The page-layout decorator: every backoffice page gets the same sidebar, header, toasts and auth gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx

from app import routes
from app.state.base import AppState

NAV_ITEMS: list[tuple[str, str, str]] = [
    ("Overview", routes.HOME, "layout-dashboard"),
    ("Metrics", routes.METRICS, "chart-column"),
    ("Lifetime value", routes.LTV, "hourglass"),
    ("Orders", routes.ORDERS, "receipt"),
    ("Conversions", routes.CONVERSIONS, "send"),
    ("Campaigns", routes.CAMPAIGNS, "megaphone"),
    ("Spend", routes.SPEND, "wallet"),
    ("Alerts", routes.ALERTS, "bell"),
    ("Assistant", routes.ASSISTANT, "sparkles"),
    ("Pixels", routes.PIXELS, "radio-tower"),
    ("Install", routes.INSTALL, "code"),
    ("API keys", routes.SETTINGS_KEYS, "key-round"),
    ("Team", routes.SETTINGS_TEAM, "users"),
    ("Stripe", routes.SETTINGS_STRIPE, "credit-card"),
    ("Ad platforms", routes.SETTINGS_AD_PLATFORMS, "plug"),
]

_pages: list[tuple[Callable[[], rx.Component], dict[str, Any]]] = []


def registered_pages() -> list[tuple[Callable[[], rx.Component], dict[str, Any]]]:
    return list(_pages)


def nav_link(label: str, href: str, icon: str, *, external: bool = False) -> rx.Component:
    """A sidebar entry; ``external``: a page the server answers itself (not a route of this frontend), in a new tab."""
    return rx.link(
        rx.hstack(rx.icon(icon, size=16), rx.text(label, size="2"), align="center", spacing="2"),
        href=href,
        is_external=external,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        padding="6px 10px",
        border_radius="6px",
        width="100%",
        _hover={"background": rx.color("gray", 4)},
    )


def account_switcher() -> rx.Component:
    return rx.cond(
        AppState.accounts.length() > 1,
        rx.select.root(
            rx.select.trigger(width="100%", id="account-switcher"),
            rx.select.content(
                rx.foreach(
                    AppState.accounts,
                    lambda a: rx.select.item(a["name"], value=a["public_id"]),
                )
            ),
            value=AppState.account_id,
            on_change=AppState.switch_account,
        ),
        rx.text(AppState.account_name, weight="bold", size="3", id="account-name"),
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        rx.hstack(rx.icon("circle-dollar-sign", size=22), rx.heading("PaidSignal", size="4"), align="center"),
        rx.divider(),
        account_switcher(),
        rx.text(AppState.role, size="1", color_scheme="gray", id="current-role"),
        rx.vstack(
            *[nav_link(*item) for item in NAV_ITEMS],
            rx.cond(
                AppState.can_view_usage,
                rx.box(nav_link("Usage", routes.USAGE, "gauge"), id="nav-usage", width="100%", display="flex"),
            ),
            # The docs site the app serves (app/api/docs_site.py).
            rx.box(
                nav_link("Help", routes.HELP + "/", "circle-help", external=True),
                id="nav-help",
                width="100%",
                display="flex",
            ),
            spacing="1",
            width="100%",
        ),
        rx.cond(
            AppState.is_staff,
            rx.vstack(
                rx.box(nav_link("Jobs", routes.ADMIN_JOBS, "timer"), id="nav-admin-jobs", width="100%", display="flex"),
                rx.box(
                    nav_link("Admin usage", routes.ADMIN_USAGE, "chart-pie"),
                    id="nav-admin-usage",
                    width="100%",
                    display="flex",
                ),
                spacing="1",
                width="100%",
            ),
        ),
        rx.spacer(),
        rx.divider(),
        rx.text(AppState.user_email, size="1", color_scheme="gray", id="user-email"),
        rx.hstack(
            rx.color_mode.button(size="1", variant="ghost"),
            rx.button("Log out", size="1", variant="soft", on_click=AppState.logout, id="logout"),
            justify="between",
            width="100%",
        ),
        width="220px",
        min_width="220px",
        height="100vh",
        padding="16px",
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 5)}",
        spacing="3",
    )


def _as_part_of(page: Callable[[], rx.Component], content: Callable[[], rx.Component]) -> None:
    """Make ``page`` belong to ``content``'s module. Reflex compiles a page's memoized components into one file per
    Python module the page function comes from: were every page's function from this module, every route would load
    the components of all pages (the markdown, syntax highlighting and file upload of others, 0.9 MB of script)."""
    page.__module__ = content.__module__
    page.__qualname__ = f"{content.__qualname__}.page"


def loading() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="60vh", width="100%")


def template(
    route: str,
    title: str,
    on_load: Any = None,
    *,
    own_login_check: bool = False,
    pending: Callable[[], rx.Component] | None = None,
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Register a backoffice page: sidebar, header, and the auth gate (``check_login`` runs first, unless
    ``own_login_check``: the page's one on_load handler checks the session itself, in the same event as its reads).
    ``pending``: what the page shows until the session is known (a spinner by default)."""

    def decorator(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            return rx.hstack(
                sidebar(),
                rx.box(
                    rx.heading(title, size="6", margin_bottom="16px"),
                    rx.cond(AppState.is_authenticated, content(), (pending or loading)()),
                    padding="24px 32px",
                    width="100%",
                    max_width="1100px",
                    # A flex item may not shrink below its content by default: wide tables would push the
                    # page past the window (clipping their last column) instead of scrolling inside it.
                    min_width="0",
                ),
                spacing="0",
                align="start",
                width="100%",
            )

        _as_part_of(page, content)
        extra = on_load if isinstance(on_load, list) else ([on_load] if on_load else [])
        gate = [] if own_login_check else [AppState.check_login]
        _pages.append((page, {"route": route, "title": f"{title} · PaidSignal", "on_load": [*gate, *extra]}))
        return page

    return decorator


def public_page(
    route: str, title: str, on_load: Any = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Register a page for signed-out visitors (login, sign-up, invitations): a centred card."""

    def decorator(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def page() -> rx.Component:
            return rx.center(
                rx.card(
                    rx.vstack(
                        rx.hstack(rx.icon("circle-dollar-sign", size=22), rx.heading("PaidSignal", size="5")),
                        rx.heading(title, size="4"),
                        content(),
                        spacing="4",
                        width="100%",
                    ),
                    width="420px",
                    padding="24px",
                ),
                min_height="100vh",
            )

        _as_part_of(page, content)
        _pages.append((page, {"route": route, "title": f"{title} · PaidSignal", "on_load": on_load}))
        return page

    return decorator


def form_error(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", size="1", role="alert", id="form-error"),
    )


def field(label: str, name: str, **props: Any) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=name),
        rx.input(name=name, id=name, width="100%", **props),
        spacing="1",
        width="100%",
    )


def confirm_button(
    label: str, *, title: str, description: str, confirm_label: str, on_confirm: Any, **props: Any
) -> rx.Component:
    """A button that asks before destroying anything."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(label, size="1", variant="soft", color_scheme="red", **props)),
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(confirm_label, color_scheme="red", on_click=on_confirm, class_name="confirm")
                ),
                justify="end",
                spacing="3",
                margin_top="16px",
            ),
        ),
    )


def no_match_card(what: str, clear: Any) -> rx.Component:
    """The empty state of a filtered list: nothing matches, and a button that clears the filters."""
    return rx.card(
        rx.vstack(
            rx.text(f"No {what} match these filters.", color_scheme="gray"),
            rx.button("Clear filters", variant="soft", size="1", on_click=clear),
            align="center",
            padding="24px",
        ),
        id=f"{what}-no-match",
    )
