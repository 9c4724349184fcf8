"""The staff jobs page through its state: leases and runs for staff (filters, "Load more", abandoned runs), and
"Staff only" with nothing loaded for everyone else, owners included."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reflex.state import State
from sqlmodel import Session

from app.jobs.runner import JobSpec, run_job
from app.models import JobRun, User
from app.models.base import utcnow
from app.services import accounts
from app.services import jobs as job_service
from app.state.admin_jobs import ALL, STAFF_ONLY, AdminJobsState, duration_text
from tests.utils.factories import make_owner
from tests.utils.states import sign_in, substate


def _staff(db: Session) -> User:
    _, user, _ = make_owner(db)
    accounts.make_staff(session=db, email=user.email)
    db.commit()
    return user


def _open(root: State) -> AdminJobsState:
    state = substate(root, AdminJobsState)
    state.load_jobs()
    return state


def _boom() -> str:
    raise RuntimeError("provider down")


@pytest.fixture
def ran(db: Session) -> None:
    """A once-per-interval job that ran, a failing job, a lease held now, and a run whose holder died."""
    assert run_job(JobSpec("evaluate", lambda: "3 rule(s)", 300, once_per_interval=True), holder="p1") == "ok"
    assert run_job(JobSpec("flaky", _boom, 60), holder="p2") == "error"
    assert job_service.acquire_lease(session=db, name="busy", holder="p3", ttl_seconds=600)
    assert job_service.acquire_lease(session=db, name="nightly", holder="dead", ttl_seconds=0)
    job_service.start_run(session=db, job_name="nightly", holder="dead")


def test_staff_see_leases_and_runs_and_the_nav_link(root: State, db: Session, ran: None) -> None:
    sign_in(root, db, _staff(db))
    state = _open(root)
    assert state.loaded and not state.forbidden and state.error == "" and state.is_staff
    leases = {lease["name"]: lease for lease in state.leases}
    assert list(leases) == ["busy", "evaluate", "flaky", "nightly"]
    assert leases["busy"]["held"] and leases["busy"]["holder"] == "p3" and leases["busy"]["due_at"] == "—"
    assert not leases["evaluate"]["held"] and leases["evaluate"]["due_at"].endswith(("0:00", "5:00"))
    assert not leases["nightly"]["held"]  # the dead holder's lease expired
    assert state.job_names == ["busy", "evaluate", "flaky", "nightly"]

    assert state.total == 3 and not state.has_more and not state.filtered
    runs = {run["job_name"]: run for run in state.runs}
    assert runs["evaluate"]["outcome"] == "ok" and runs["evaluate"]["detail"] == "3 rule(s)"
    assert runs["evaluate"]["holder"] == "p1" and runs["evaluate"]["duration"].endswith("ms")
    assert runs["flaky"]["outcome"] == "error" and "provider down" in runs["flaky"]["detail"]
    assert runs["nightly"]["outcome"] == "abandoned" and runs["nightly"]["finished_at"] == "—"
    assert runs["nightly"]["duration"] == "—"


def test_filters_by_job_and_outcome(root: State, db: Session, ran: None) -> None:
    sign_in(root, db, _staff(db))
    state = _open(root)
    state.filter_outcome("error")
    assert state.filtered and state.total == 1 and state.runs[0]["job_name"] == "flaky"
    state.filter_job("evaluate")
    assert state.total == 0 and state.runs == []  # the page shows "no match" and "Clear filters"
    state.filter_outcome(ALL)
    assert [r["job_name"] for r in state.runs] == ["evaluate"]
    state.filter_outcome("bogus")
    state.filter_job("not-a-job")
    assert (state.job_filter, state.outcome_filter, state.total) == (ALL, ALL, 3)
    state.filter_job("nightly")
    state.clear_filters()
    assert not state.filtered and state.total == 3
    # Reloading the page starts unfiltered.
    state.filter_outcome("ok")
    assert _open(root).total == 3


def test_load_more_pages_through_every_run(root: State, db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.state.admin_jobs.PAGE_SIZE", 4)
    start = utcnow() - timedelta(hours=1)
    for n in range(10):
        begun = start + timedelta(seconds=n)
        db.add(JobRun(job_name="tick", holder="h", started_at=begun, finished_at=begun, outcome="ok", detail=str(n)))
    db.commit()
    sign_in(root, db, _staff(db))
    state = _open(root)
    assert len(state.runs) == 4 and state.total == 10 and state.has_more
    while state.has_more:
        list(state.load_more())
        assert not state.loading_more
    assert [r["detail"] for r in state.runs] == [str(n) for n in reversed(range(10))]
    assert list(state.load_more()) == []
    state.refresh()
    assert len(state.runs) == 4


def test_an_owner_who_is_not_staff_sees_staff_only(root: State, db: Session, ran: None) -> None:
    _, owner, _ = make_owner(db)
    sign_in(root, db, owner)
    state = _open(root)
    assert state.loaded and state.forbidden and not state.is_staff
    assert state.leases == [] and state.runs == [] and state.job_names == [] and state.total == 0
    assert state.error == "" and "Staff only" in STAFF_ONLY
    # The handlers refuse too, not only the page.
    state.filter_outcome("error")
    list(state.load_more())
    assert state.forbidden and state.runs == [] and state.leases == []


def test_staff_rights_are_read_on_every_load(root: State, db: Session, ran: None) -> None:
    user = _staff(db)
    sign_in(root, db, user)
    assert _open(root).runs
    user.is_staff = False
    db.add(user)
    db.commit()
    state = _open(root)
    assert state.forbidden and state.runs == []


@pytest.mark.parametrize(("seconds", "text"), [(None, "—"), (0.0123, "12 ms"), (3.21, "3.2 s"), (600, "10.0 min")])
def test_duration_text(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text
