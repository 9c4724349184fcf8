"""The process's in-memory parts (ingest writer, caches, rate limiter, usage counters, job runner), owned in one place:
created on first use in each process, started and stopped for the way the process runs, reset between tests.

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
    from app.services.stripe_webhooks.delivery import WebhookArrivals
    from app.services.usage import ApiUsageCounter

log = logging.getLogger("paidsignal.runtime")


class ProcessRole(StrEnum):
    """How a process runs, which decides what ``start`` starts."""

    WEB = "web"  # the Reflex app (pages and the mounted API); the scheduled jobs too when JOBS_ENABLED
    API = "api"  # a plain ASGI app serving the API only: with JOBS_ENABLED, only the flushes of its own counters
    JOBS = "jobs"  # a job process: every scheduled job, no requests
    CLI = "cli"  # one command: nothing in the background


@dataclass
class Runtime:
    """One process's in-memory state. Each part is safe to share between the process's threads."""

    writer: GroupCommitWriter  # group-commit writer of tracking events (services/ingest.py)
    api_usage: ApiUsageCounter  # API requests per account, key, route and day, until flush_api_usage
    key_usage: KeyUsage  # API keys' last-used times, until flush_key_usage
    key_identities: IdentityCache  # valid API keys, for KEY_CACHE_SECONDS
    campaign_matchers: MatcherCache  # campaign rules per account for the ingest path
    webhook_secrets: WebhookSecretCache  # Stripe signing secrets per account
    webhook_arrivals: WebhookArrivals  # when each account last had a Stripe webhook
    rate_limiter: RateLimiter  # login, ingest and checkout limits
    google_tokens: TokenCache  # Google OAuth access tokens until shortly before they expire
    resolver: Resolver  # host names to addresses for the outbound guard (tests put a fake DNS here)
    # Wakes the conversion sender after a commit that enqueued deliveries; None where no sender is scheduled (it
    # then runs on its interval in the process that has it).
    wake_conversion_sender: Callable[[], None] | None = None
    role: ProcessRole | None = None  # set by start(), None until then and after stop()
    job_runner: JobRunner | None = field(default=None, repr=False)

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
        from app.services.stripe_webhooks.delivery import WebhookArrivals
        from app.services.usage import ApiUsageCounter

        return cls(
            writer=GroupCommitWriter(get_engine),
            api_usage=ApiUsageCounter(),
            key_usage=KeyUsage(),
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
        if specs:
            from app.jobs.runner import JobRunner

            runner = JobRunner(specs)
            runner.start()
            self.job_runner = runner
            if any(spec.name == "send_conversions" for spec in specs):
                self.wake_conversion_sender = functools.partial(runner.wake, "send_conversions")
        if role is ProcessRole.WEB and get_settings().llm_model.strip():
            # litellm takes 10-20 s to import: in a thread at start, not in the first question.
            from app.integrations import llm

            threading.Thread(target=llm.load, name="litellm-import", daemon=True).start()
        log.info("runtime started as %s with %d job(s)", role, len(specs))

    def stop(self) -> None:
        """Stop the jobs (their last flush writes what this process counted), then drain the ingest writer: every
        queued request is committed and answered."""
        self.wake_conversion_sender = None
        runner, self.job_runner = self.job_runner, None
        if runner is not None:
            runner.stop()
        self.writer.stop()
        self.role = None


def jobs_for(role: ProcessRole) -> list[JobSpec]:
    """The scheduled jobs a process of ``role`` runs (see ProcessRole)."""
    from app.jobs.runner import default_jobs

    if role is ProcessRole.JOBS:
        return default_jobs()
    if role is ProcessRole.CLI or not get_settings().jobs_enabled:
        return []
    if role is ProcessRole.API:
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
    """The runtime started as ``role`` for the body's duration: a server's lifespan (app/app.py)."""
    runtime = start(role)
    try:
        yield runtime
    finally:
        runtime.stop()


def reset_for_tests() -> None:
    """Stop this process's runtime and start over with empty caches, counters and limits (tests reuse ids)."""
    with _create_lock:
        old = _by_process.pop(os.getpid(), None)
    if old is not None:
        old.stop()
