"""Moving-window rate limits: login attempts, ingest per key, checkouts per key and client.

In process memory by default; in Redis when ``REDIS_URL`` is set, so that N processes share one budget instead of
multiplying it. When Redis does not answer, the process falls back to its own memory (limits then count per
process, as in the embedded default) rather than refusing or failing the request.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem
from limits import parse_many as _parse_many
from limits.storage import RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from app import runtime
from app.services.errors import RateLimited
from app.settings import get_settings

log = logging.getLogger("paidsignal.ratelimit")

# Keys in Redis start with this: several deployments may share one Redis.
REDIS_KEY_PREFIX = "paidsignal:limits"


@functools.lru_cache(maxsize=256)
def parse_many(limits: str) -> list[RateLimitItem]:
    """``limits``' own parser, once per distinct setting (it runs on every ingest request)."""
    return _parse_many(limits)


class MemoryWindows:
    """Moving windows in this process's memory: per limit and scope, the times of the hits still in the window.

    Rather than ``limits``' MemoryStorage, whose expiry is a ``threading.Timer`` started anew 10 ms after the last
    one ended, that is a thread per request under a steady load (80 to 400 µs of CPU per hit, measured; 4 % of the
    ingest worker's profile). Here a hit drops the key's expired times and appends its own (amortised O(1), no
    thread), and keys idle longer than their window are swept once a minute.
    """

    SWEEP_SECONDS = 60.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._lock = threading.Lock()
        self._swept = clock()

    def hit(self, limit: RateLimitItem, scope: tuple[str, ...]) -> tuple[bool, float]:
        """(allowed, when the window has room again): a refused hit is not counted."""
        key = limit.key_for(*scope)
        window = float(limit.get_expiry())
        with self._lock:
            now = self._clock()
            if now - self._swept > self.SWEEP_SECONDS:
                self._sweep(now)
            entry = self._hits.get(key)
            if entry is None:
                entry = self._hits[key] = (window, deque())
            hits = entry[1]
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit.amount:
                return False, hits[-limit.amount] + window
            hits.append(now)
            return True, 0.0

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key in [k for k, (window, hits) in self._hits.items() if not hits or hits[-1] <= now - window]:
            del self._hits[key]

    def keys(self) -> int:
        """How many keys are held (tests: idle ones are swept)."""
        return len(self._hits)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class RateLimiter:
    """The counters of one process (its runtime's, app/runtime.py), kept in Redis when ``redis_url`` is given."""

    def __init__(self, redis_url: str | None = None) -> None:
        if redis_url is None:
            redis_url = get_settings().redis_url
        self._memory = MemoryWindows()
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
        self._memory.reset()
        if self._shared is not None:
            storage: Storage = self._shared.storage
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
        return self._memory.hit(limit, scope)

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
