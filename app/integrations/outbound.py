"""Sending one request to an ad platform and reading its answer the same way for every provider.

Each provider module (``meta_capi``, ``ga4``, ``google_ads``, ``signed_webhook``) builds an :class:`Outbound`
from the internal conversion; this module sends it with httpx and classifies the answer: sent, retry later
(timeouts, 5xx, 408, 425, 429, honouring ``Retry-After``) or dead (any other 4xx: sending it again would fail
again); redirects are never followed. Secrets never leave here unredacted: :attr:`Outbound.record` is what attempts
store and pages show. A user-entered URL (:attr:`Outbound.user_url`) goes through ``address_guard``.

Requests of several conversions that differ only in one list of their body (Meta's ``data``, the Data Manager's and
GA4's ``events``) can share one request: :func:`batch_key` says which may, :func:`merge` builds the shared one.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from app.integrations import address_guard

Outcome = Literal["sent", "retry", "dead"]
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_SECRET_PARAMS = frozenset({"access_token", "api_secret", "key"})
_SECRET_HEADERS = frozenset({"authorization", "paidsignal-signature", "x-goog-api-key"})
MAX_BODY_STORED = 4000


class Skip(Exception):
    """The conversion must not be sent to this provider; the message says why (kept on the delivery)."""


class Refused(Exception):
    """Sending cannot start (e.g. an OAuth token refresh failed); ``outcome`` says whether to retry."""

    def __init__(self, message: str, *, outcome: Outcome, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Outbound:
    method: str
    url: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    # Provider-specific reading of a 2xx body (GA4's debug endpoint answers 200 with validation messages).
    check_ok: Callable[[int, str], tuple[Outcome, str]] | None = None
    # The exact bytes to send when they were signed; else the JSON of ``body``.
    raw: bytes | None = None
    # A URL that a user of an account entered (a webhook pixel), not a provider's: it is sent only to a public
    # address checked by ``address_guard`` and its answer's body is never read, kept or shown (status and reason).
    user_url: bool = False
    # Batching: the list in ``body`` that several conversions' otherwise equal requests can share, and how many
    # items one request of this provider takes (see batch_key and merge).
    batch_field: str | None = None
    batch_limit: int = 1
    # Whether a refusal of a request of several items may be one item's fault, so that halving the request finds
    # that item and sends the others (Meta refuses a whole request for one invalid event).
    split_on: Callable[[Answer], bool] | None = None
    # The request quota this request counts against (the Data Manager API's per Cloud project), if any.
    quota_key: str | None = None

    @property
    def content(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()

    @property
    def record(self) -> dict[str, Any]:
        """The request as stored with the attempt and shown in diagnostics: secrets replaced by ``[redacted]``."""
        return {
            "method": self.method,
            "url": redact_url(self.url),
            "headers": {k: ("[redacted]" if k.lower() in _SECRET_HEADERS else v) for k, v in self.headers.items()},
            "body": self.body,
        }


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    status: int | None
    body: str
    message: str
    duration_ms: int
    retry_after: float | None = None


def batch_key(request: Outbound) -> tuple[str, ...] | None:
    """What requests must share to be merged into one (all but their batch list), or None when this one cannot be."""
    if request.batch_field is None or request.raw is not None or request.user_url or not isinstance(request.body, dict):
        return None
    rest = {k: v for k, v in request.body.items() if k != request.batch_field}
    headers = json.dumps(sorted(request.headers.items()))
    return (request.method, request.url, headers, json.dumps(rest, sort_keys=True), request.quota_key or "")


def merge(requests: list[Outbound]) -> Outbound:
    """One request carrying the batch lists of ``requests`` (which share a :func:`batch_key`), in their order."""
    first = requests[0]
    if len(requests) == 1 or first.batch_field is None:
        return first
    items = [item for request in requests for item in request.body[first.batch_field]]
    return dataclasses.replace(first, body={**first.body, first.batch_field: items})


@functools.lru_cache(maxsize=1024)  # a batch's parts share their URL
def redact_url(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, "[redacted]" if k in _SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe="[]")))


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def error_message(status: int, body: str) -> str:
    """The provider's own words: Meta's ``error.message`` (+ ``error_user_msg``), Google's ``error.message``."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            parts = [str(error.get(k)) for k in ("message", "error_user_title", "error_user_msg") if error.get(k)]
            if error.get("status"):
                parts.insert(0, str(error["status"]))
            if parts:
                return f"HTTP {status}: " + " — ".join(parts)
        if isinstance(error, str):
            return f"HTTP {status}: {error}"
    text = " ".join(body.split())[:300]
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"


_local = threading.local()


def _client(timeout: float, *, guarded: bool) -> httpx.Client:
    name = "guarded" if guarded else "client"
    client = getattr(_local, name, None)
    if client is None or getattr(_local, f"{name}_timeout", None) != timeout:
        if guarded:
            client = address_guard.guarded_client(timeout=timeout)
        else:
            client = httpx.Client(timeout=timeout, follow_redirects=False)
        setattr(_local, name, client)
        setattr(_local, f"{name}_timeout", timeout)
    return client


def send(request: Outbound, *, timeout: float) -> Answer:
    """Send one request; never raises for network trouble (that is an answer: retry). Redirects are not followed."""
    started = time.perf_counter()
    headers = {"Content-Type": "application/json", "User-Agent": "PaidSignal/1.0", **request.headers}
    client = _client(timeout, guarded=request.user_url)
    try:
        with client.stream(request.method, request.url, content=request.content, headers=headers) as response:
            text = ""
            if not request.user_url:  # a user-entered URL's answer is not even read
                response.read()
                text = response.text
    except address_guard.Blocked as blocked:
        outcome: Outcome = "retry" if blocked.temporary else "dead"
        return Answer(outcome, None, "", str(blocked), _ms(started))
    except httpx.TimeoutException as error:
        return Answer("retry", None, "", f"Timed out after {timeout:g} s ({type(error).__name__}).", _ms(started))
    except httpx.HTTPError as error:
        return Answer("retry", None, "", f"Could not connect: {error}", _ms(started))
    duration = _ms(started)
    body = text[:MAX_BODY_STORED]
    status = response.status_code
    if 200 <= status < 300:
        if request.check_ok and not request.user_url:
            outcome, message = request.check_ok(status, text)
        else:
            outcome, message = "sent", f"HTTP {status}"
        return Answer(outcome, status, body, message, duration)
    if 300 <= status < 400:
        message = f"{_status_line(status)}: a redirect, which PaidSignal does not follow; give the final URL."
        return Answer("dead", status, body, message, duration)
    if request.user_url:
        message = f"{_status_line(status)}: the receiver refused the request (its answer is not shown)."
    else:
        message = error_message(status, text)
    if status in RETRYABLE_STATUS or status >= 500:
        wait = retry_after_seconds(response.headers.get("retry-after"))
        return Answer("retry", status, body, message, duration, wait)
    return Answer("dead", status, body, message, duration)


def _status_line(status: int) -> str:
    """The code and its standard reason phrase (not the server's own, which is free text)."""
    phrase = httpx.codes.get_reason_phrase(status)
    return f"HTTP {status} {phrase}" if phrase else f"HTTP {status}"


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
