"""A table of recent events, shared by the overview and the install page."""

from __future__ import annotations

import reflex as rx

from app.state.live import EventItem


def _row(event: EventItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(event["time"], size="1")),
        rx.table.cell(rx.badge(event["type"])),
        rx.table.cell(rx.cond(event["source"] == "test", rx.badge("test", color_scheme="gray"), event["source"])),
        rx.table.cell(rx.text(event["campaign"], size="1")),
        rx.table.cell(rx.text(event["url"], size="1", max_width="380px", truncate=True)),
        class_name="event-row",
    )


def events_table(events: rx.Var[list[EventItem]], *, empty: str, id: str) -> rx.Component:
    return rx.cond(
        events.length() == 0,  # type: ignore[attr-defined]
        rx.text(empty, color_scheme="gray", size="2", id=f"{id}-empty"),
        rx.table.root(
            rx.table.header(
                rx.table.row(*[rx.table.column_header_cell(h) for h in ("Time", "Type", "Source", "Campaign", "URL")])
            ),
            rx.table.body(rx.foreach(events, _row)),
            width="100%",
            size="1",
            id=id,
        ),
    )
