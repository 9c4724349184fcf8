"""Form primitives the campaign and pixel pages share: labelled controls, selects with a stable id, badges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import reflex as rx

STATUS_COLORS = {"draft": "gray", "active": "green", "paused": "amber", "archived": "red"}


def labelled(label: str, control: rx.Component, *, html_for: str | None = None, **props: Any) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", size="2", weight="medium", html_for=html_for),
        control,
        spacing="1",
        **props,
    )


def option_select(options: Any, *, value: Any, on_change: Any, id: str, **props: Any) -> rx.Component:
    """A select over a list var of ``{value, label}`` options (the service's menus)."""
    return rx.select.root(
        rx.select.trigger(id=id, width="100%"),
        rx.select.content(rx.foreach(options, lambda o: rx.select.item(o["label"], value=o["value"]))),
        value=value,
        on_change=on_change,
        **props,
    )


def select_input(
    items: list[tuple[str, str]] | list[str] | rx.Var[list[str]] | rx.Var[Sequence[str]],
    *,
    value: Any,
    on_change: Any,
    id: str | None = None,
    class_name: str | None = None,
    disabled: Any = False,
    size: str = "2",
    width: str | None = None,
    placeholder: str | None = None,
) -> rx.Component:
    """A Radix select whose trigger carries ``id``/``class_name`` (the high-level ``rx.select`` drops the class).

    ``items`` are values, ``(value, label)`` pairs, or a list var of values.
    """
    if isinstance(items, rx.Var):
        options: Any = rx.foreach(items, lambda item: rx.select.item(item, value=item))
        content = rx.select.content(options)
    else:
        pairs = [(i, i) if isinstance(i, str) else i for i in items]
        content = rx.select.content(*[rx.select.item(label, value=v) for v, label in pairs])
    trigger_props: dict[str, Any] = {"id": id, "class_name": class_name, "width": width, "placeholder": placeholder}
    return rx.select.root(
        rx.select.trigger(**{k: v for k, v in trigger_props.items() if v is not None}),
        content,
        value=value,
        on_change=on_change,
        disabled=disabled,
        size=size,
    )


def status_badge(status: Any, **props: Any) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        variant="soft",
        **props,
    )


def readonly_note(text: str, id: str) -> rx.Component:
    return rx.callout(text, icon="eye", color_scheme="gray", size="1", id=id, width="100%")


def campaign_filter(options: Any, *, value: Any, on_change: Any, all_value: str) -> rx.Component:
    """The "All campaigns" / one campaign select of list pages (orders, conversions); options are
    ``{public_id, name}`` rows."""
    return rx.select.root(
        rx.select.trigger(id="filter-campaign", placeholder="All campaigns"),
        rx.select.content(
            rx.select.item("All campaigns", value=all_value),
            rx.foreach(options, lambda c: rx.select.item(c["name"], value=c["public_id"])),
        ),
        value=value,
        on_change=on_change,
    )


def date_range_form(*, since: Any, until: Any, on_submit: Any, prefix: str) -> rx.Component:
    """From/to date inputs (``from`` and ``to`` in the submitted form) with an Apply button."""
    return rx.form(
        rx.hstack(
            rx.text("From", as_="label", size="2", html_for=f"{prefix}-from"),
            # A new value from the URL (back button, shared link) remounts the input with it.
            rx.input(type="date", name="from", id=f"{prefix}-from", default_value=since, key=since),
            rx.text("to", as_="label", size="2", html_for=f"{prefix}-to"),
            rx.input(type="date", name="to", id=f"{prefix}-to", default_value=until, key=until),
            rx.button("Apply", type="submit", variant="soft", id="apply-dates"),
            align="center",
            spacing="2",
        ),
        on_submit=on_submit,
    )


def clear_filters_button(filtered: Any, on_click: Any) -> rx.Component:
    return rx.cond(
        filtered,
        rx.button("Clear filters", type="button", variant="ghost", on_click=on_click, id="clear-filters"),
    )


def campaign_and_date_filters(state: Any, *, prefix: str, all_value: str) -> tuple[rx.Component, ...]:
    """The campaign menu, the From/To form and "Clear filters" of a list whose filters live in the URL: ``state``
    has the filter names of app/state/lists.FilteredListMixin (orders, conversions, spend)."""
    return (
        campaign_filter(
            state.campaign_options, value=state.campaign_filter, on_change=state.filter_campaign, all_value=all_value
        ),
        date_range_form(since=state.since, until=state.until, on_submit=state.filter_dates, prefix=prefix),
        clear_filters_button(state.filtered, state.clear_filters),
    )


def load_more_footer(
    *,
    shown: Any,
    total: Any,
    noun: str,
    has_more: Any,
    loading: Any,
    on_click: Any,
    id: str,
    singular: str = "",
) -> rx.Component:
    """ "Showing N of M <noun>" and a "Load more" button while a cursor remains (the paged lists share it).
    ``noun`` is the plural ("orders"); ``singular`` defaults to it without its "s" ("Showing 1 of 1 order")."""
    one = singular or noun.removesuffix("s")
    return rx.hstack(
        rx.text(
            "Showing ",
            shown,
            " of ",
            total,
            rx.cond(total == 1, f" {one}", f" {noun}"),
            size="2",
            color_scheme="gray",
            id=id,
        ),
        rx.spacer(),
        rx.cond(
            has_more,
            rx.button("Load more", size="2", variant="soft", loading=loading, on_click=on_click, id="load-more"),
        ),
        align="center",
        width="100%",
    )
