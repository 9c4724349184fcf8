"""Moving-window rate limits in process memory: login attempts, ingest per key, checkouts per key and client."""

from __future__ import annotations

import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from app import runtime
from app.services.errors import RateLimited


class RateLimiter:
    """The counters of one process (its runtime's, app/runtime.py)."""

    def __init__(self) -> None:
        self._storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(self._storage)

    def reset(self) -> None:
        """Forget every counter (tests that need a fresh budget within one test)."""
        self._storage.reset()

    def hit(self, limits: str, *scope: str, message: str) -> None:
        """See :func:`hit`."""
        for limit in parse_many(limits):
            if not self._limiter.hit(limit, *scope):
                reset_at = self._limiter.get_window_stats(limit, *scope).reset_time
                retry_after = max(1, int(reset_at - time.time()) + 1)
                raise RateLimited(
                    message.format(limit=limit, retry_after=retry_after, retry_minutes=-(-retry_after // 60)),
                    retry_after=retry_after,
                )

    def take(self, limit: str, *scope: str) -> float:
        """Count one hit against ``limit`` (e.g. "300/minute") for ``scope`` if it has room: 0.0; else nothing is
        counted and the answer is the seconds until the oldest hit leaves the window."""
        parsed = parse_many(limit)[0]
        if self._limiter.hit(parsed, *scope):
            return 0.0
        return max(0.01, self._limiter.get_window_stats(parsed, *scope).reset_time - time.time())


def hit(limits: str, *scope: str, message: str) -> None:
    """Count one hit against each limit in ``limits`` (e.g. "500/second" or "10/minute;100/hour") for ``scope``.

    Raises:
        RateLimited: a limit is exceeded; ``message`` may use ``{limit}`` and ``{retry_after}`` (seconds) and
            ``{retry_minutes}``.
    """
    runtime.current().rate_limiter.hit(limits, *scope, message=message)
