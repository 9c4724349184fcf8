"""A table of recent events, shared by the overview and the install page: newest received first, with the campaign
and version each event's session matched."""

from __future__ import annotations

from collections.abc import Sequence

import reflex as rx

from app.state.live import EventItem


def _row(event: EventItem) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.text(event["time"], size="1", class_name="event-received"),
            rx.cond(
                event["event_time"] != "",
                rx.text("event ", event["event_time"], size="1", color_scheme="gray", class_name="event-time"),
            ),
        ),
        rx.table.cell(rx.badge(event["type"])),
        rx.table.cell(rx.cond(event["source"] == "test", rx.badge("test", color_scheme="gray"), event["source"])),
        rx.table.cell(rx.text(event["campaign"], size="1", class_name="event-campaign")),
        rx.table.cell(rx.text(event["url"], size="1", max_width="380px", truncate=True)),
        class_name="event-row",
    )


def events_table(events: rx.Var[Sequence[EventItem]], *, empty: str, id: str) -> rx.Component:
    return rx.cond(
        events.length() == 0,  # type: ignore[attr-defined]  # a list inside a TypedDict Var is an ArrayVar at run time; mypy sees Var
        rx.text(empty, color_scheme="gray", size="2", id=f"{id}-empty"),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell(
                        rx.tooltip(
                            rx.text("Received"),
                            content="Newest first, by when PaidSignal received the event; the event's own time "
                            "is shown below when it differs.",
                        )
                    ),
                    *[rx.table.column_header_cell(h) for h in ("Type", "Source", "Campaign", "URL")],
                )
            ),
            rx.table.body(rx.foreach(events, _row)),
            width="100%",
            size="1",
            id=id,
        ),
    )
