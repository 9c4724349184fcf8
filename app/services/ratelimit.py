"""Moving-window rate limits: login attempts, ingest per key, checkouts per key and client.

In process memory by default; in Redis when ``REDIS_URL`` is set, so that N processes share one budget instead of
multiplying it. When Redis does not answer, the process falls back to its own memory (limits then count per
process, as in the embedded default) rather than refusing or failing the request.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from app import runtime
from app.services.errors import RateLimited
from app.settings import get_settings

log = logging.getLogger("paidsignal.ratelimit")

# Keys in Redis start with this: several deployments may share one Redis.
REDIS_KEY_PREFIX = "paidsignal:limits"


class RateLimiter:
    """The counters of one process (its runtime's, app/runtime.py), kept in Redis when ``redis_url`` is given."""

    def __init__(self, redis_url: str | None = None) -> None:
        if redis_url is None:
            redis_url = get_settings().redis_url
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if redis_url:
            storage = RedisStorage(redis_url, key_prefix=REDIS_KEY_PREFIX, wrap_exceptions=True, socket_timeout=2)
            self._shared = MovingWindowRateLimiter(storage)

    @property
    def shared(self) -> bool:
        """Whether the limits are counted in Redis, across processes."""
        return self._shared is not None

    def reset(self) -> None:
        """Forget every counter (tests that need a fresh budget within one test)."""
        for limiter in (self._memory, self._shared):
            if limiter is not None:
                storage: Storage = limiter.storage
                storage.reset()

    def _hit(self, limit: RateLimitItem, scope: tuple[str, ...]) -> tuple[bool, float]:
        """(allowed, when the window resets) from Redis, or from memory when Redis fails."""
        if self._shared is not None:
            try:
                if self._shared.hit(limit, *scope):
                    return True, 0.0
                return False, self._shared.get_window_stats(limit, *scope).reset_time
            except Exception as error:  # limits wraps the client's errors in its StorageError
                log.warning("rate limit storage failed (%s): counting in this process", error)
        if self._memory.hit(limit, *scope):
            return True, 0.0
        return False, self._memory.get_window_stats(limit, *scope).reset_time

    def hit(self, limits: str, *scope: str, message: str) -> None:
        """See :func:`hit`."""
        for limit in parse_many(limits):
            allowed, reset_at = self._hit(limit, scope)
            if not allowed:
                retry_after = max(1, int(reset_at - time.time()) + 1)
                raise RateLimited(
                    message.format(limit=limit, retry_after=retry_after, retry_minutes=-(-retry_after // 60)),
                    retry_after=retry_after,
                )

    def take(self, limit: str, *scope: str) -> float:
        """Count one hit against ``limit`` (e.g. "300/minute") for ``scope`` if it has room: 0.0; else nothing is
        counted and the answer is the seconds until the oldest hit leaves the window."""
        allowed, reset_at = self._hit(parse_many(limit)[0], scope)
        return 0.0 if allowed else max(0.01, reset_at - time.time())


def hit(limits: str, *scope: str, message: str) -> None:
    """Count one hit against each limit in ``limits`` (e.g. "500/second" or "10/minute;100/hour") for ``scope``.

    Raises:
        RateLimited: a limit is exceeded; ``message`` may use ``{limit}`` and ``{retry_after}`` (seconds) and
            ``{retry_minutes}``.
    """
    runtime.current().rate_limiter.hit(limits, *scope, message=message)
