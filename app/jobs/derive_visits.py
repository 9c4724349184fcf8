"""Derive visitors, sessions and touches from stored events still waiting: those a crash left between their commit and
the writer's pass, and those another process stored. Leased and quiet (most runs find nothing)."""

from __future__ import annotations

from app.services.ingest import catch_up


def derive_visits() -> str | None:
    derived = catch_up()
    return f"{derived} event(s) derived" if derived else None
