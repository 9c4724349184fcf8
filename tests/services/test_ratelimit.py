"""The in-memory moving windows behind every rate limit (login, ingest per key, checkout) when Redis is not set."""

from __future__ import annotations

import threading
import time

import pytest

from app.services.errors import RateLimited
from app.services.ratelimit import MemoryWindows, RateLimiter, parse_many


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_moving_window_refuses_past_its_limit_until_the_oldest_hit_leaves() -> None:
    clock = Clock()
    windows = MemoryWindows(clock)
    limit = parse_many("3/minute")[0]
    for step in range(3):
        assert windows.hit(limit, ("login", "a")) == (True, 0.0)
        clock.now += 10 * (step + 1)  # hits at 0, 10 and 30 s
    clock.now = 1_000_000.0 + 50
    allowed, reset_at = windows.hit(limit, ("login", "a"))
    assert not allowed and reset_at == 1_000_000.0 + 60  # room again when the first hit leaves
    assert windows.hit(limit, ("login", "b"))[0]  # another scope has its own window
    clock.now = 1_000_000.0 + 60
    assert windows.hit(limit, ("login", "a"))[0]  # the refused hit was not counted
    assert not windows.hit(limit, ("login", "a"))[0]


def test_idle_keys_are_swept() -> None:
    clock = Clock()
    windows = MemoryWindows(clock)
    second = parse_many("5/second")[0]
    for ip in range(100):
        windows.hit(second, ("ip", str(ip)))
    assert windows.keys() == 100
    clock.now += MemoryWindows.SWEEP_SECONDS + 1
    windows.hit(second, ("ip", "new"))
    assert windows.keys() == 1


def test_hits_in_memory_start_no_thread() -> None:
    """limits' MemoryStorage started a timer thread 10 ms after the previous one ended: one per ingest request under
    a steady load, the path's largest cost after the database."""
    limiter = RateLimiter(redis_url="")
    time.sleep(0.05)  # any thread the construction started has ended
    before = set(threading.enumerate())
    limiter.hit("500/second", "ingest", "key-1", message="slow down")
    assert set(threading.enumerate()) - before == set()


def test_hit_raises_with_retry_after() -> None:
    limiter = RateLimiter(redis_url="")
    limiter.hit("1/hour", "checkout", "k", message="limit {limit}")
    with pytest.raises(RateLimited) as raised:
        limiter.hit("1/hour", "checkout", "k", message="limit {limit}, retry after {retry_after} s")
    assert 3590 <= raised.value.retry_after <= 3601
    limiter.reset()
    limiter.hit("1/hour", "checkout", "k", message="limit {limit}")
