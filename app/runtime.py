"""The process's in-memory parts (ingest and webhook writers, caches, rate limiter, usage counters, job runner), owned
in one place: created on first use in each process, started and stopped for the way the process runs,
reset between tests.

Services reach them through ``current()``: nothing here is created at import, so a worker forked from a parent that
imported the app starts with parts of its own. The classes stay with their domain (``GroupCommitWriter`` in
services/ingest.py, ``IdentityCache`` in services/keys.py, …); this module only imports them when it builds a runtime.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from app.settings import get_settings

if TYPE_CHECKING:
    from app.integrations.address_guard import Resolver
    from app.integrations.google_ads import TokenCache
    from app.jobs.runner import JobRunner, JobSpec
    from app.services.campaign_matching import MatcherCache
    from app.services.ingest import GroupCommitWriter
    from app.services.keys import IdentityCache, KeyUsage
    from app.services.ratelimit import RateLimiter
    from app.services.stripe_connection import WebhookSecretCache
    from app.services.stripe_webhooks.delivery import WebhookArrivals, WebhookWriter
    from app.services.usage import ApiUsageCounter
    from app.services.usage.drops import DropCounter
    from app.services.wakeups import WakeListener

log = logging.getLogger("paidsignal.runtime")


class ProcessRole(StrEnum):
    """How a process runs, which decides what ``start`` starts."""

    # the Reflex app (pages and the mounted API); with JOBS_ENABLED the scheduled jobs too, or only the flushes of its
    # own counters when WEB_RUNS_JOBS is false (a cluster's jobs process runs the rest)
    WEB = "web"
    API = "api"  # the plain ASGI API (app/api/server.py): with JOBS_ENABLED, only the flushes of its own counters
    JOBS = "jobs"  # a job process: every scheduled job, no requests
    CLI = "cli"  # one command: nothing in the background


@dataclass
class Runtime:
    """One process's in-memory state. Each part is safe to share between the process's threads."""

    writer: GroupCommitWriter  # group-commit writer of tracking events (services/ingest.py)
    webhook_writer: WebhookWriter  # group-commit writer of Stripe deliveries (services/stripe_webhooks)
    api_usage: ApiUsageCounter  # API requests per account, key, route and day, until flush_api_usage
    key_usage: KeyUsage  # API keys' last-used times, until flush_key_usage
    ingest_drops: DropCounter  # tracking events not kept, per account, reason and origin, until flush_api_usage
    key_identities: IdentityCache  # valid API keys, for KEY_CACHE_SECONDS
    campaign_matchers: MatcherCache  # campaign rules per account for the ingest path
    webhook_secrets: WebhookSecretCache  # Stripe signing secrets per account
    webhook_arrivals: WebhookArrivals  # when each account last had a Stripe webhook
    rate_limiter: RateLimiter  # login, ingest and checkout limits
    google_tokens: TokenCache  # Google OAuth access tokens until shortly before they expire
    resolver: Resolver  # host names to addresses for the outbound guard (tests put a fake DNS here)
    # Wakes the conversion sender after a commit that enqueued deliveries: this process's own, and on PostgreSQL
    # every other process's through NOTIFY (services/wakeups.py); None where neither applies (a sender elsewhere
    # then finds the work on its interval).
    wake_conversion_sender: Callable[[], None] | None = None
    role: ProcessRole | None = None  # set by start(), None until then and after stop()
    job_runner: JobRunner | None = field(default=None, repr=False)
    wake_listener: WakeListener | None = field(default=None, repr=False)  # LISTENs for other processes' wake-ups

    @classmethod
    def create(cls) -> Runtime:
        from app.db import get_engine
        from app.integrations.address_guard import system_resolver
        from app.integrations.google_ads import TokenCache
        from app.services.campaign_matching import MatcherCache
        from app.services.ingest import GroupCommitWriter
        from app.services.keys import IdentityCache, KeyUsage
        from app.services.ratelimit import RateLimiter
        from app.services.stripe_connection import WebhookSecretCache
        from app.services.stripe_webhooks.delivery import WebhookArrivals, WebhookWriter
        from app.services.usage import ApiUsageCounter
        from app.services.usage.drops import DropCounter

        return cls(
            writer=GroupCommitWriter(get_engine),
            webhook_writer=WebhookWriter(get_engine),
            api_usage=ApiUsageCounter(),
            key_usage=KeyUsage(),
            ingest_drops=DropCounter(),
            key_identities=IdentityCache(),
            campaign_matchers=MatcherCache(),
            webhook_secrets=WebhookSecretCache(),
            webhook_arrivals=WebhookArrivals(),
            rate_limiter=RateLimiter(),
            google_tokens=TokenCache(),
            resolver=system_resolver,
        )

    def start(self, role: ProcessRole) -> None:
        """Start what ``role`` runs in the background (see ProcessRole). Starting twice is refused."""
        if self.role is not None:
            raise RuntimeError(f"the runtime already runs as {self.role}")
        self.role = role
        specs = jobs_for(role)
        local_wake: Callable[[], None] | None = None
        if specs:
            from app.jobs.runner import JobRunner

            runner = JobRunner(specs)
            runner.start()
            self.job_runner = runner
            if any(spec.name == "send_conversions" for spec in specs):
                local_wake = functools.partial(runner.wake, "send_conversions")
        self.wake_conversion_sender = local_wake
        if role is not ProcessRole.CLI:
            self._wake_across_processes(local_wake)
        if role is ProcessRole.WEB and get_settings().llm_model.strip():
            # litellm takes 10-20 s to import: in a thread at start, not in the first question.
            from app.integrations import llm

            threading.Thread(target=llm.load, name="litellm-import", daemon=True).start()
        log.info("runtime started as %s with %d job(s)", role, len(specs))

    @property
    def runs_shared_jobs(self) -> bool:
        """Whether this process runs the cluster's shared jobs (the sender among them): its metrics then include the
        figures read from the database (app/observability/metrics.py), so one process in a cluster reports them."""
        runner = self.job_runner
        return runner is not None and any(spec.name == "send_conversions" for spec in runner.specs)

    def _wake_across_processes(self, local_wake: Callable[[], None] | None) -> None:
        """On PostgreSQL: a process with a sender listens for other processes' wake-ups, and every process notifies
        them after enqueueing (its own sender, if any, is woken in memory as well)."""
        from app.services import wakeups

        if not wakeups.supported():
            return
        if local_wake is not None:
            runner = self.job_runner
            assert runner is not None
            listener = wakeups.WakeListener(runner.wake)
            listener.start()
            self.wake_listener = listener

        def wake_everywhere() -> None:
            if local_wake is not None:
                local_wake()
            wakeups.notify("send_conversions")

        self.wake_conversion_sender = wake_everywhere

    def stop(self) -> None:
        """Stop the jobs (their last flush writes what this process counted), then drain the ingest and webhook
        writers: every queued request is committed and answered."""
        self.wake_conversion_sender = None
        listener, self.wake_listener = self.wake_listener, None
        if listener is not None:
            listener.stop()
        runner, self.job_runner = self.job_runner, None
        if runner is not None:
            runner.stop()
        self.writer.stop()
        self.webhook_writer.stop()
        self.role = None


def jobs_for(role: ProcessRole) -> list[JobSpec]:
    """The scheduled jobs a process of ``role`` runs (see ProcessRole)."""
    from app.jobs.runner import default_jobs

    if role is ProcessRole.JOBS:
        return default_jobs()
    settings = get_settings()
    if role is ProcessRole.CLI or not settings.jobs_enabled:
        return []
    if role is ProcessRole.API or not settings.web_runs_jobs:
        return [spec for spec in default_jobs() if spec.per_process]
    return default_jobs()


# One runtime per process id: a forked worker must not use (or flush) its parent's memory.
_by_process: dict[int, Runtime] = {}
_create_lock = threading.Lock()


def current() -> Runtime:
    """This process's runtime, created on first use."""
    pid = os.getpid()
    found = _by_process.get(pid)
    if found is None:
        with _create_lock:
            found = _by_process.get(pid)
            if found is None:
                _by_process.clear()
                found = _by_process[pid] = Runtime.create()
    return found


def start(role: ProcessRole) -> Runtime:
    """Start this process's runtime as ``role``."""
    runtime = current()
    runtime.start(role)
    return runtime


def stop() -> None:
    """Stop this process's runtime (a no-op part by part for what never started)."""
    current().stop()


@asynccontextmanager
async def running(role: ProcessRole) -> AsyncIterator[Runtime]:
    """The runtime started as ``role`` for the body's duration: a server's lifespan (app/app.py, app/asgi_api.py),
    with the process's log format set first (app/observability/logs.py)."""
    from app.observability import logs, metrics

    logs.configure(role.value)
    runtime = start(role)
    try:
        yield runtime
    finally:
        runtime.stop()
        metrics.process_exited()


def reset_for_tests() -> None:
    """Stop this process's runtime and start over with empty caches, counters and limits (tests reuse ids)."""
    with _create_lock:
        old = _by_process.pop(os.getpid(), None)
    if old is not None:
        old.stop()
