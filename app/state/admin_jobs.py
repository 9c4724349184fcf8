"""The staff page of the job runner: every job lease (who holds it, until when, the next slot) and the recent runs
(filter by job and outcome, "Load more" through the service's cursor). Times are shown in UTC: the runner is the
platform's, not an account's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

import reflex as rx
from sqlmodel import Session

from app.services import jobs as job_service
from app.state.base import AppState, next_page
from app.state.format import format_time

PAGE_SIZE = 50
# A select item cannot have an empty value: the filters' "any" choice.
ALL = "all"
OUTCOMES = list(job_service.RUN_OUTCOMES)
STAFF_ONLY = "Staff only: the job runner is visible to PaidSignal staff."


class LeaseItem(TypedDict):
    name: str
    holder: str
    acquired_at: str
    expires_at: str
    due_at: str
    held: bool


class RunItem(TypedDict):
    run_id: int
    job_name: str
    holder: str
    started_at: str
    finished_at: str
    duration: str
    outcome: str  # the stored outcome, or "abandoned" for a run whose process died mid-run
    detail: str


def _utc(value: Any) -> str:
    return format_time(value, "UTC", seconds=True) if value is not None else "—"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def lease_item(row: job_service.JobLeaseRow) -> LeaseItem:
    return LeaseItem(
        name=row.name,
        holder=row.holder,
        acquired_at=_utc(row.acquired_at),
        expires_at=_utc(row.expires_at),
        due_at=_utc(row.due_at),
        held=row.held,
    )


def run_item(row: job_service.JobRunRow) -> RunItem:
    return RunItem(
        run_id=row.run_id,
        job_name=row.job_name,
        holder=row.holder,
        started_at=_utc(row.started_at),
        finished_at=_utc(row.finished_at),
        duration=duration_text(row.duration_seconds),
        outcome="abandoned" if row.abandoned else row.outcome,
        detail=row.detail,
    )


class AdminJobsState(AppState):
    leases: list[LeaseItem] = []
    runs: list[RunItem] = []
    total: int = 0
    next_cursor: str = ""
    job_names: list[str] = []
    job_filter: str = ALL
    outcome_filter: str = ALL
    loaded: bool = False
    loading_more: bool = False
    # Set when the signed-in user is not staff: the page shows STAFF_ONLY and nothing is loaded.
    forbidden: bool = False
    error: str = ""

    @rx.var
    def has_more(self) -> bool:
        return self.next_cursor != ""

    @rx.var
    def filtered(self) -> bool:
        return self.job_filter != ALL or self.outcome_filter != ALL

    def _page(self, cursor: str | None) -> tuple[job_service.JobRunPage | None, str | None]:
        job = None if self.job_filter == ALL else self.job_filter
        outcome = None if self.outcome_filter == ALL else self.outcome_filter
        return self._run(
            lambda s: job_service.list_runs(
                session=s, actor=self._actor(s), job_name=job, outcome=outcome, limit=PAGE_SIZE, cursor=cursor
            )
        )

    def _clear(self) -> None:
        self.leases, self.runs, self.total, self.next_cursor, self.job_names = [], [], 0, "", []

    def _reload(self) -> None:
        """Leases, job names and the first page of runs under the current filters; a non-staff user gets nothing."""
        self.error = ""

        def load(s: Session) -> tuple[list[job_service.JobLeaseRow], list[str], job_service.JobRunPage]:
            actor = self._actor(s)
            job = None if self.job_filter == ALL else self.job_filter
            outcome = None if self.outcome_filter == ALL else self.outcome_filter
            return (
                job_service.list_leases(session=s, actor=actor),
                job_service.job_names(session=s, actor=actor),
                job_service.list_runs(session=s, actor=actor, job_name=job, outcome=outcome, limit=PAGE_SIZE),
            )

        found, error = self._run(load)
        self.loaded = True
        self.forbidden = not self.is_staff
        if error or found is None:
            self._clear()
            self.error = "" if self.forbidden else (error or "The job runs could not be loaded.")
            return
        leases, names, page = found
        self.leases = [lease_item(row) for row in leases]
        self.job_names = names
        self.runs = [run_item(row) for row in page.rows]
        self.total, self.next_cursor = page.total, page.next_cursor or ""

    @rx.event
    def load_jobs(self) -> None:
        """on_load: leases and the newest runs, for staff only (everyone else sees "Staff only")."""
        self.job_filter = self.outcome_filter = ALL
        self._reload()

    @rx.event
    def refresh(self) -> None:
        """Read the leases and the first page of runs again, keeping the filters."""
        self._reload()

    @rx.event
    def load_more(self) -> Iterator[Any]:
        """Append the next page."""
        yield from next_page(self, self._page, self._append, "runs")

    def _append(self, found: Any) -> None:
        self.runs = [*self.runs, *(run_item(row) for row in found.rows)]
        self.total, self.next_cursor = found.total, found.next_cursor or ""

    @rx.event
    def filter_job(self, job_name: str) -> None:
        self.job_filter = job_name if job_name in self.job_names else ALL
        self._reload()

    @rx.event
    def filter_outcome(self, outcome: str) -> None:
        self.outcome_filter = outcome if outcome in OUTCOMES else ALL
        self._reload()

    @rx.event
    def clear_filters(self) -> None:
        self.job_filter = self.outcome_filter = ALL
        self._reload()
