"""Group commit: one writer thread whose transactions each carry the work of every request that arrived while the
previous one committed. Each request is answered only once its transaction has committed; when a group's
transaction fails, each of its requests is retried alone, so one that fails cannot take the others down.

Used by the tracking events' writer (services/ingest.py) and by Stripe's webhooks (services/stripe_webhooks).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session

from app.services.errors import ServiceError

log = logging.getLogger("paidsignal.group_commit")

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(ABC, Generic[T, R]):
    """Subclasses say how a group is written (``write_group``, no commit) and how one request is written alone
    (``write_one``: by default, as a group of one); this class queues, groups, commits, retries and answers.

    ``lock`` is taken around each transaction (``app.db.write_lock``, say), before the transaction's connection.
    """

    thread_name = "paidsignal-group-commit"

    def __init__(
        self,
        engine_factory: Callable[[], Engine],
        *,
        max_weight: int = 20_000,
        lock: AbstractContextManager[None] | None = None,
    ) -> None:
        self._engine_factory = engine_factory
        self._max_weight = max_weight
        self._lock_for_writes = lock or contextlib.nullcontext()
        self._queue: queue.Queue[tuple[T, Future[R]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.transactions = 0  # for benchmarks and tests: how many commits served how many requests
        self.requests = 0

    # --- what subclasses say ------------------------------------------------------------------------------------

    def weight(self, item: T) -> int:
        """How much of a group's ``max_weight`` the request takes (1 unless said otherwise)."""
        return 1

    @abstractmethod
    def write_group(self, session: Session, items: list[T]) -> list[R]:
        """Write every request of the group on ``session`` (no commit); one result per request, in order."""

    def write_one(self, session: Session, item: T) -> R:
        """Write one request on its own (after its group failed); committed by the caller if not here."""
        return self.write_group(session, [item])[0]

    # Hooks for metrics (app/observability/metrics.py): a request queued, a group taken off the queue, a group
    # written (its requests, its weight, the seconds its transaction or transactions took). Nothing by default.

    def queued(self) -> None:
        return None

    def dequeued(self, count: int) -> None:
        return None

    def written(self, requests: int, weight: int, seconds: float) -> None:
        return None

    # Hooks for work the writer thread does besides writing (the ingest writer derives visitors and sessions a
    # moment after a commit): ``wait_seconds`` bounds the wait for the next request (None: wait for one),
    # ``between_groups`` runs before each wait, ``committed`` after each successful commit, ``stopping`` at a clean
    # stop once every queued request is answered.

    def wait_seconds(self) -> float | None:
        return None

    def between_groups(self) -> None:
        return None

    def committed(self) -> None:
        return None

    def stopping(self) -> None:
        return None

    # --- queue and thread ---------------------------------------------------------------------------------------

    def submit_item(self, item: T) -> Future[R]:
        future: Future[R] = Future()
        self._ensure_started()
        self.queued()
        self._queue.put((item, future))
        return future

    def _ensure_started(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Write and answer every queued request, then end the thread."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            self.between_groups()
            try:
                first = self._queue.get(timeout=self.wait_seconds())
            except queue.Empty:
                continue
            if first is None:
                self.stopping()
                return
            group, weight, stop = [first], self.weight(first[0]), False
            while weight < self._max_weight:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                weight += self.weight(nxt[0])
            self.dequeued(len(group))
            try:
                started = time.perf_counter()
                self._write(group)
                self.written(len(group), weight, time.perf_counter() - started)
            except Exception:  # the thread must never die: every later request would hang
                log.exception("%s failed on a group", self.thread_name)
                for _item, future in group:
                    with contextlib.suppress(InvalidStateError):
                        future.set_exception(RuntimeError(f"{self.thread_name} failed"))
            if stop:
                self.stopping()
                return

    def _write(self, group: list[tuple[T, Future[R]]]) -> None:
        engine = self._engine_factory()
        if len(group) > 1:
            try:
                with self._lock_for_writes, Session(engine, expire_on_commit=False) as session:
                    results = self.write_group(session, [item for item, _future in group])
                    session.commit()
            except Exception as error:
                log.info("%s: a group of %d failed (%s); each is retried alone", self.thread_name, len(group), error)
            else:
                self.committed()
                self.transactions += 1
                self.requests += len(group)
                for (_item, future), result in zip(group, results, strict=True):
                    _answer(future, result)
                return
        # Alone: a group of one, or each of a failed group, so that one failure cannot fail the others.
        for item, future in group:
            try:
                with self._lock_for_writes, Session(engine, expire_on_commit=False) as session:
                    result = self.write_one(session, item)
                    if session.in_transaction():  # unless write_one committed itself
                        session.commit()
            except Exception as error:
                _fail(future, error)
                continue
            self.committed()
            self.transactions += 1
            self.requests += 1
            _answer(future, result)


def _answer(future: Future[R], result: R) -> None:
    """Answer a request's future unless its caller gave up (a cancelled future refuses a result). Its work is
    committed all the same: the client was not told it was, and a retry finds it done."""
    with contextlib.suppress(InvalidStateError):
        future.set_result(result)


def _fail(future: Future[R], error: BaseException) -> None:
    if not isinstance(error, ServiceError):  # a refusal the caller answers (a conflict, say) is no failure here
        log.error("a group-commit request failed", exc_info=error)
    with contextlib.suppress(InvalidStateError):
        future.set_exception(error)
