"""The job runner: APScheduler in-process, with a database lease so each leased job runs once in a cluster.

Started and stopped by the process's runtime (app/runtime.py), which picks the jobs for the way the process runs.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import Session

from app.db import JOB_THREADS, get_engine
from app.models import JobOutcome
from app.models.base import utcnow
from app.observability import metrics
from app.services import jobs as job_service
from app.settings import get_settings

log = logging.getLogger("paidsignal.jobs")

_holders: dict[int, str] = {}


def current_holder() -> str:
    """This process's lease-holder name (host:pid:random). Worked out per process, not at import: a server's
    workers are forked from one parent after the import, and each must hold leases under its own name."""
    pid = os.getpid()
    if pid not in _holders:
        _holders[pid] = f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}"
    return _holders[pid]


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[[], str | None]
    every_seconds: int
    leased: bool = True  # False: per-process work (e.g. flushing this process's memory)
    # Quiet jobs run often and mostly find nothing to do: a run is recorded only when it did something or failed.
    quiet: bool = False
    # Once per interval slot across the cluster (not once per process per interval): e.g. alert evaluation.
    once_per_interval: bool = False

    @property
    def per_process(self) -> bool:
        """Work on this process's memory (the usage flushes): every process that counts runs it, and once more when
        it stops."""
        return not self.leased and not self.quiet


def run_job(spec: JobSpec, *, holder: str | None = None, ttl_seconds: int | None = None) -> JobOutcome:
    """Run one job now if we can take its lease; return the outcome (``skipped`` when another holds it)."""
    holder = holder or current_holder()
    ttl = ttl_seconds or get_settings().job_lease_seconds
    engine = get_engine()
    if spec.leased:
        with Session(engine) as session:
            if not job_service.acquire_lease(
                session=session, name=spec.name, holder=holder, ttl_seconds=ttl, due_only=spec.once_per_interval
            ):
                metrics.JOB_RUNS.labels(spec.name, JobOutcome.SKIPPED.value).inc()
                return JobOutcome.SKIPPED
            # We hold the lease: a run of this job still marked running belongs to a holder that died.
            job_service.mark_interrupted(session=session, job_name=spec.name, holder=holder)
    stop = threading.Event()
    lost = threading.Event()

    def keep_renewing() -> None:
        # Renew at a third of the lease so a slow run keeps it; a dead process stops renewing and loses it.
        # A failed renewal (database busy, reconnecting) is retried until the lease would have expired.
        last_renewed = time.monotonic()
        while not stop.wait(ttl / 3):
            try:
                with Session(engine) as session:
                    if not job_service.renew_lease(session=session, name=spec.name, holder=holder, ttl_seconds=ttl):
                        lost.set()
                        return
                last_renewed = time.monotonic()
            except Exception:
                log.exception("renewing the lease of %s failed", spec.name)
                if time.monotonic() - last_renewed >= ttl:
                    lost.set()
                    return

    renewer = threading.Thread(target=keep_renewing, daemon=True) if spec.leased else None
    run_id: int | None = None
    started_at = utcnow()
    if not spec.quiet:
        with Session(engine) as session:
            run_id = job_service.start_run(session=session, job_name=spec.name, holder=holder)
    if renewer:
        renewer.start()
    outcome, detail = JobOutcome.OK, ""
    clock = time.perf_counter()
    try:
        detail = spec.func() or ""
        if lost.is_set():
            outcome, detail = JobOutcome.LEASE_LOST, "the lease expired during the run; another process may have run it"
    except Exception as error:
        log.exception("job %s failed", spec.name)
        outcome, detail = JobOutcome.ERROR, f"{type(error).__name__}: {error}"
    finally:
        stop.set()
        if renewer:
            renewer.join(timeout=5)
        with Session(engine) as session:
            if run_id is None and (detail or outcome != JobOutcome.OK):
                run_id = job_service.start_run(
                    session=session, job_name=spec.name, holder=holder, started_at=started_at
                )
            # One transaction: the run's outcome, its slot (a failed run completes it too: the next slot tries
            # again, rather than every process that fires in this one) and the lease's release.
            job_service.end_run(
                session=session,
                name=spec.name,
                holder=holder,
                run_id=run_id,
                outcome=outcome,
                detail=detail,
                slot_due=(
                    job_service.slot_end(started_at, spec.every_seconds)
                    if spec.leased and spec.once_per_interval and not lost.is_set()
                    else None
                ),
                release=spec.leased and not lost.is_set(),
            )
        metrics.JOB_RUNS.labels(spec.name, outcome.value).inc()
        metrics.JOB_SECONDS.labels(spec.name).observe(time.perf_counter() - clock)
    return outcome


def default_jobs() -> list[JobSpec]:
    from app.jobs.catch_up_stripe import catch_up_stripe
    from app.jobs.derive_visits import derive_visits
    from app.jobs.evaluate_alerts import evaluate_alerts
    from app.jobs.flush_api_usage import flush_api_usage
    from app.jobs.flush_key_usage import flush_key_usage
    from app.jobs.purge_sessions import purge_sessions
    from app.jobs.send_conversions import send_conversions
    from app.jobs.sync_ad_reports import sync_ad_reports
    from app.jobs.update_rollups import update_rollups

    settings = get_settings()
    return [
        JobSpec("flush_key_usage", flush_key_usage, settings.key_usage_flush_seconds, leased=False),
        JobSpec("flush_api_usage", flush_api_usage, settings.api_usage_flush_seconds, leased=False),
        JobSpec("purge_sessions", purge_sessions, 6 * 3600, once_per_interval=True),
        # Once per interval slot across every process and instance (see JobSpec.once_per_interval).
        JobSpec("evaluate_alerts", evaluate_alerts, settings.alerts_evaluate_seconds, once_per_interval=True),
        JobSpec("derive_visits", derive_visits, settings.derive_seconds, quiet=True),
        JobSpec("update_rollups", update_rollups, settings.rollup_seconds, quiet=True),
        # Not leased: every delivery carries its own lease, so several processes may send side by side.
        JobSpec(
            "send_conversions",
            lambda: send_conversions(current_holder()),
            settings.conversions_send_seconds,
            leased=False,
            quiet=True,
        ),
        # Missed Stripe webhooks applied within minutes, and history imports run (services/stripe_sync).
        JobSpec("catch_up_stripe", catch_up_stripe, settings.stripe_catchup_seconds, quiet=True),
        JobSpec("sync_ad_reports", sync_ad_reports, settings.ads_sync_seconds, quiet=True),
    ]


class JobRunner:
    def __init__(self, specs: list[JobSpec]) -> None:
        self.specs = specs
        # Sized here, not by APScheduler's default, because the database pool counts these threads (app/db.py).
        self.scheduler = BackgroundScheduler(timezone="UTC", executors={"default": ThreadPoolExecutor(JOB_THREADS)})

    def start(self) -> None:
        for spec in self.specs:
            # A once-per-interval job is tried four times per interval: the scheduler's phase is not the slots'
            # (aligned on the epoch), and extra tries in a slot already run are refused by the lease.
            every = max(1, spec.every_seconds // 4) if spec.once_per_interval else spec.every_seconds
            self.scheduler.add_job(
                run_job,
                "interval",
                seconds=every,
                args=[spec],
                id=spec.name,
                max_instances=1,
                coalesce=True,
            )
        self.scheduler.start()
        log.info("job runner %s started with %d job(s)", current_holder(), len(self.specs))

    def wake(self, name: str) -> None:
        """Run a job now instead of at its next interval (e.g. the sender, after a webhook enqueued deliveries)."""
        try:
            self.scheduler.modify_job(name, next_run_time=datetime.now(UTC))
        except Exception:  # shutting down, or the job is not scheduled here
            log.debug("could not wake %s", name, exc_info=True)

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        # Last flush of in-memory state so nothing counted is lost on shutdown.
        for spec in self.specs:
            if spec.per_process:
                run_job(spec)
