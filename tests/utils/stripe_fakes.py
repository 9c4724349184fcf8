"""Stripe counterparts for tests: localstripe in a child process, a recording fake API, and signed webhook events.

* :class:`LocalStripe` runs localstripe (GPL, so only ever as a separate process: see
  ``tests/utils/localstripe_server.py``) on 127.0.0.1 for customers, PaymentIntents, legacy Plans + subscriptions,
  invoices and refunds. Its behaviour is written down in ``tests/utils/LOCALSTRIPE_NOTES.md``.
* :class:`StripeRecorder` is a threaded local HTTP server answering the calls localstripe cannot (Checkout Sessions,
  Prices, Products, Invoice Payments, the account) from Stripe's own example objects, recording every request.
* :class:`WebhookReceiver` records webhook deliveries (used to observe localstripe).
* :func:`stripe_object`, :func:`stripe_event` and :func:`sign` build webhook payloads localstripe cannot send and
  sign the exact bytes with the real ``Stripe-Signature`` scheme.

Stripe example objects come from ``tests/fixtures/stripe/fixtures3.json`` (MIT, Stripe's OpenAPI repository; its
README says which commit).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import stripe

from tests.utils.server import PYTHON, ROOT, free_port

FIXTURES_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"  # MIT, Stripe
TEST_API_KEY = "sk_test_x"
_ALPHANUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

FormDict = dict[str, str | list[str]]


# --------------------------------------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------------------------------------


@functools.cache
def _fixtures() -> dict[str, Any]:
    with FIXTURES_PATH.open(encoding="utf-8") as source:
        return dict(json.load(source)["resources"])


def random_id(prefix: str, length: int = 24) -> str:
    """A Stripe-looking id.

    Args:
        prefix: The id prefix including its underscore, e.g. ``"cs_test_"`` or ``"evt_"``.
        length: How many random alphanumerics follow the prefix.

    Returns:
        ``prefix`` followed by random letters and digits.
    """
    return prefix + "".join(secrets.choice(_ALPHANUM) for _ in range(length))


def stripe_object(name: str, /, **overrides: Any) -> dict[str, Any]:
    """A deep copy of Stripe's example object for a resource, with top-level keys replaced.

    Args:
        name: The resource name as in ``fixtures3.json``, e.g. ``"checkout.session"``, ``"charge"``, ``"invoice"``,
            ``"invoice_payment"``, ``"subscription"``, ``"payment_intent"``, ``"price"``, ``"product"``,
            ``"refund"``, ``"dispute"``, ``"account"``.
        **overrides: Top-level keys to set (nested values are taken as given, not merged).

    Returns:
        A fresh dict the caller may mutate.

    Raises:
        KeyError: When ``name`` is not a resource in the fixtures.
    """
    fixtures = _fixtures()
    if name not in fixtures:
        raise KeyError(f"no Stripe example object named {name!r} in {FIXTURES_PATH}")
    obj = copy.deepcopy(fixtures[name])
    obj.update(copy.deepcopy(overrides))
    return obj


def stripe_event(
    type: str,
    obj: Mapping[str, Any],
    *,
    event_id: str | None = None,
    created: int | None = None,
    api_version: str = stripe.api_version,
) -> bytes:
    """The exact JSON bytes of a Stripe ``event`` wrapping ``obj``: sign and send these very bytes.

    Args:
        type: The event type, e.g. ``"checkout.session.completed"``.
        obj: The object that goes to ``data.object``.
        event_id: The event id; a fresh ``evt_…`` by default.
        created: The event's unix time; now by default.
        api_version: The ``api_version`` the event claims (stripe-python's pinned version by default).

    Returns:
        UTF-8 JSON bytes of ``{"id", "object": "event", "type", "api_version", "created", "livemode": false,
        "pending_webhooks": 1, "data": {"object": obj}}``.
    """
    event = {
        "id": event_id or random_id("evt_test_"),
        "object": "event",
        "type": type,
        "api_version": api_version,
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "data": {"object": obj},
    }
    return json.dumps(event, indent=2).encode("utf-8")


def sign(payload: bytes, secret: str, *, timestamp: int | None = None, extra_secrets: Sequence[str] = ()) -> str:
    """A real ``Stripe-Signature`` header value for ``payload``.

    Args:
        payload: The exact request body bytes.
        secret: The endpoint secret (``whsec_…``); its signature comes first.
        timestamp: The ``t=`` unix time; now by default (use an old one to test the tolerance).
        extra_secrets: More secrets to sign with, each adding a ``v1=`` (as while a secret is rotated).

    Returns:
        ``"t=<unix>,v1=<hex>[,v1=<hex>...]"`` with HMAC-SHA256 over ``b"<t>." + payload``.
    """
    t = int(time.time()) if timestamp is None else timestamp
    signed = f"{t}.".encode() + payload
    parts = [f"t={t}"]
    parts += [f"v1={hmac.new(s.encode(), signed, hashlib.sha256).hexdigest()}" for s in (secret, *extra_secrets)]
    return ",".join(parts)


def webhook_headers(payload: bytes, secret: str, **sign_options: Any) -> dict[str, str]:
    """Headers Stripe sends with a webhook delivery of ``payload``.

    Args:
        payload: The exact request body bytes.
        secret: The endpoint secret.
        **sign_options: Passed to :func:`sign` (``timestamp``, ``extra_secrets``).

    Returns:
        ``Content-Type``, ``Stripe-Signature`` and ``User-Agent`` headers.
    """
    return {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": sign(payload, secret, **sign_options),
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }


def stripe_error(status: int, message: str | None = None, *, type: str | None = None, **fields: Any) -> dict[str, Any]:
    """Stripe's error body ``{"error": {...}}`` for an HTTP status.

    Args:
        status: The HTTP status, used to choose the error type and a default message.
        message: The message; a generic one by default.
        type: The error type; by default ``invalid_request_error`` (4xx), ``authentication_error`` (401),
            ``card_error`` (402), ``rate_limit_error`` (429) or ``api_error`` (5xx).
        **fields: More keys of the error object (``code``, ``param``, ``decline_code``, ...).

    Returns:
        The error body as a dict.
    """
    defaults = {
        401: ("authentication_error", "Invalid API Key provided: sk_test_***"),
        402: ("card_error", "Your card was declined."),
        404: ("invalid_request_error", "Not found."),
        429: ("rate_limit_error", "Too many requests hit the API too quickly."),
    }
    default_type, default_message = defaults.get(
        status,
        ("api_error", "An unknown error occurred.") if status >= 500 else ("invalid_request_error", "Bad request."),
    )
    return {"error": {"type": type or default_type, "message": message or default_message, **fields}}


def _missing(kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
    return 404, stripe_error(
        404, f"No such {kind}: '{object_id}'", type="invalid_request_error", code="resource_missing", param="id"
    )


def decode_form(raw: str) -> FormDict:
    """Decode a query string or form body, keeping Stripe's bracket keys flat.

    Args:
        raw: ``a=1&metadata[order_id]=x&expand[0]=product``.

    Returns:
        ``{"a": "1", "metadata[order_id]": "x", "expand[0]": "product"}``; a key that repeats or ends with ``[]``
        maps to a list.
    """
    flat: FormDict = {}
    for key, value in urllib.parse.parse_qsl(raw, keep_blank_values=True):
        if key in flat:
            old = flat[key]
            flat[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            flat[key] = [value] if key.endswith("[]") else value
    return flat


_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def unflatten(flat: Mapping[str, str | list[str]]) -> dict[str, Any]:
    """Nest Stripe's bracket form: ``metadata[order_id]`` → ``{"metadata": {"order_id": ...}}``, ``items[0][price]``
    and ``expand[]`` → lists.

    Args:
        flat: A :func:`decode_form` result.

    Returns:
        The nested parameters.
    """
    root: dict[str, Any] = {}
    for key, value in flat.items():
        match = _KEY.match(key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [key]
        if parts[-1] == "":
            parts.pop()
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value

    def listify(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        value = {k: listify(v) for k, v in value.items()}
        if value and all(k.isdigit() for k in value):
            return [value[k] for k in sorted(value, key=int)]
        return value

    return {k: listify(v) for k, v in root.items()}


# --------------------------------------------------------------------------------------------------------------------
# Recording HTTP servers
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One HTTP request as a recording server saw it.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: The path without the query string.
        query: The decoded query string (flat bracket keys, see :func:`decode_form`).
        form: The decoded form body (flat bracket keys), empty unless the body is form-encoded.
        headers: Every header, names as sent (use :meth:`header` for a case-insensitive look-up).
        body: The raw body bytes.
        at: ``time.monotonic()`` when the request arrived.
    """

    method: str
    path: str
    query: FormDict
    form: FormDict
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def params(self) -> dict[str, Any]:
        """Query and form parameters merged and nested (see :func:`unflatten`)."""
        return unflatten({**self.query, **self.form})

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header."""
        return self.header("Idempotency-Key")

    @property
    def stripe_version(self) -> str | None:
        """The ``Stripe-Version`` header."""
        return self.header("Stripe-Version")

    @property
    def authorization(self) -> str | None:
        """The ``Authorization`` header (``Bearer sk_…``)."""
        return self.header("Authorization")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Reply:
    """What a recording server answers.

    Attributes:
        status: The HTTP status.
        body: JSON-serialisable data or raw bytes.
        headers: Extra response headers.
        delay: Seconds to wait before answering (to provoke client timeouts).
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> bytes:
        """The body as bytes (JSON unless it already is bytes)."""
        if isinstance(self.body, bytes):
            return self.body
        return (json.dumps(self.body, indent=2) + "\n").encode("utf-8")


class _QuietHTTPServer(ThreadingHTTPServer):
    """Daemon handler threads; a client dropping a kept-alive connection (e.g. localstripe stopping) is not an error."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RecordingServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread that records every request before answering it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._arrived = threading.Condition(self._lock)
        self._requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Subclasses answer here (called without the lock held).
    def _respond(self, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests recorded so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path_prefix: str = "/", method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path starts with ``path_prefix`` (and with ``method``, if given)."""
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method.upper())
        ]

    def clear(self) -> None:
        """Forget the recorded requests (state such as catalogues and sessions is kept)."""
        with self._lock:
            self._requests.clear()

    def wait_for(
        self, predicate: Callable[[list[RecordedRequest]], bool], timeout: float = 10.0
    ) -> list[RecordedRequest]:
        """Block until ``predicate(requests)`` holds.

        Args:
            predicate: Called with the recorded requests each time one arrives.
            timeout: Seconds to wait.

        Returns:
            The recorded requests at that moment.

        Raises:
            TimeoutError: When the predicate still fails after ``timeout``.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate(list(self._requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s; got {len(self._requests)} requests")
                self._arrived.wait(left)
            return list(self._requests)

    def start(self) -> Self:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._server is not None:
            return self
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                split = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                content_type = self.headers.get("Content-Type", "")
                form = (
                    decode_form(body.decode("utf-8"))
                    if content_type.startswith("application/x-www-form-urlencoded")
                    else {}
                )
                request = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query=decode_form(split.query),
                    form=form,
                    headers=dict(self.headers.items()),
                    body=body,
                )
                with owner._arrived:
                    owner._requests.append(request)
                    owner._arrived.notify_all()
                try:
                    reply = owner._respond(request)
                except Exception as error:  # a bug in a fake handler: answer 500 and say why
                    reply = Reply(500, stripe_error(500, f"fake server error: {error!r}"))
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", "Request-Id": random_id("req_", 14), **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def do_DELETE(self) -> None:
                self._handle()

            def do_PUT(self) -> None:
                self._handle()

            def do_PATCH(self) -> None:
                self._handle()

        server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class WebhookReceiver(_RecordingServer):
    """Records webhook deliveries and answers each with ``status`` (200 by default)."""

    def __init__(self, status: int = 200) -> None:
        """Create the receiver (call :meth:`start` or use it as a context manager).

        Args:
            status: The HTTP status every delivery gets.
        """
        super().__init__()
        self.status = status

    def _respond(self, request: RecordedRequest) -> Reply:
        return Reply(self.status, {"received": True})

    @property
    def events(self) -> list[dict[str, Any]]:
        """The JSON bodies of the POSTs received so far."""
        return [r.json() for r in self.requests if r.method == "POST"]

    @property
    def event_types(self) -> list[str]:
        """The ``type`` of each event received so far, in arrival order."""
        return [e.get("type", "") for e in self.events]

    def wait_for_events(self, *types: str, count: int | None = None, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until every type in ``types`` arrived (and at least ``count`` events in all).

        Args:
            *types: Event types that must all have arrived.
            count: A minimum number of events.
            timeout: Seconds to wait.

        Returns:
            All events received at that moment.
        """

        def done(requests: list[RecordedRequest]) -> bool:
            seen = [json.loads(r.body).get("type") for r in requests if r.method == "POST"]
            return all(t in seen for t in types) and len(seen) >= (count or 0)

        self.wait_for(done, timeout)
        return self.events


@dataclass
class _Failure:
    path_prefix: str
    method: str | None
    reply: Reply
    remaining: int


def line_item(price: dict[str, Any], quantity: int = 1) -> dict[str, Any]:
    """A Checkout Session's line item (Stripe's ``item`` object) of ``quantity`` × ``price``."""
    amount = int(price.get("unit_amount") or 0) * quantity
    return {
        "id": random_id("li_"), "object": "item", "amount_discount": 0, "amount_subtotal": amount, "amount_tax": 0,
        "amount_total": amount, "currency": price.get("currency"), "description": str(price.get("nickname") or ""),
        "price": price, "quantity": quantity,
    }  # fmt: skip


class StripeRecorder(_RecordingServer):
    """A fake Stripe API for what localstripe lacks; records every request.

    Default routes (replies built from Stripe's example objects):

    * ``GET /v1/account``
    * ``POST /v1/checkout/sessions`` (honours ``Idempotency-Key``), ``GET /v1/checkout/sessions[/{id}]`` (``expand``
      of ``line_items`` / ``data.line_items`` is honoured: 10 items and ``has_more``, as Stripe embeds a list),
      ``GET /v1/checkout/sessions/{id}/line_items``
    * ``GET /v1/prices[/{id}]``, ``GET /v1/products[/{id}]`` from the catalogue set with :meth:`add_price` and
      :meth:`add_product` (``expand`` of ``product`` / ``data.product`` is honoured, other expansions are ignored)
    * ``GET /v1/invoice_payments?invoice=in_…`` from :meth:`add_invoice_payment`

    Unknown ids answer 404 ``resource_missing``; unknown routes 404 as Stripe does. :meth:`fail_next` injects errors.
    """

    def __init__(self, *, account_id: str = "acct_1TestPaidSignal01", display_name: str = "Test Shop") -> None:
        """Create the recorder (call :meth:`start` or use it as a context manager).

        Args:
            account_id: The id ``GET /v1/account`` answers.
            display_name: ``settings.dashboard.display_name`` and ``business_profile.name`` of the account.
        """
        super().__init__()
        self.account_id = account_id
        self.display_name = display_name
        self.sessions: dict[str, dict[str, Any]] = {}
        """Checkout Sessions created so far, by id; mutate one to change what ``GET`` answers for it."""
        self.line_items: dict[str, list[dict[str, Any]]] = {}
        """Each Checkout Session's line items (``item`` objects), by session id: answered by
        ``GET /v1/checkout/sessions/{id}/line_items`` and by ``expand[]=line_items`` / ``data.line_items``."""
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.invoice_payments: list[dict[str, Any]] = []
        self.history: dict[str, list[dict[str, Any]]] = {name: [] for name in HISTORY_LISTS}
        """Objects the list endpoints of :data:`HISTORY_LISTS` answer (events, charges, refunds, disputes, invoices,
        balance transactions), added with :meth:`add_history`."""
        self.owners: dict[str, str] = {}
        """Which secret key's account an object belongs to (by id): the list endpoints answer a key with its own
        objects and those of no key (added by a test without one), as two Stripe accounts never see each other's.
        Many tests' shops share this one recorder."""
        self.list_delay: dict[str, float] = {}
        """Seconds to wait before answering a ``GET`` of these exact paths (a slow Stripe, so a browser test can
        watch progress); empty by default."""
        self._failures: list[_Failure] = []
        self._idempotent: dict[str, tuple[tuple[str, str, FormDict], Reply]] = {}
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]] = [
            ("GET", re.compile(r"/v1/account"), self._account),
            ("POST", re.compile(r"/v1/checkout/sessions"), self._create_session),
            ("GET", re.compile(r"/v1/checkout/sessions"), self._list_sessions),
            ("GET", re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)"), self._get_session),
            ("GET", re.compile(r"/v1/checkout/sessions/(?P<id>[^/]+)/line_items"), self._list_line_items),
            ("GET", re.compile(r"/v1/prices"), self._list_prices),
            ("GET", re.compile(r"/v1/prices/(?P<id>[^/]+)"), self._get_price),
            ("GET", re.compile(r"/v1/products"), self._list_products),
            ("GET", re.compile(r"/v1/products/(?P<id>[^/]+)"), self._get_product),
            ("GET", re.compile(r"/v1/invoice_payments"), self._list_invoice_payments),
            *[
                ("GET", re.compile(f"/v1/{name}"), functools.partial(self._list_history, name))
                for name in HISTORY_LISTS
            ],
        ]

    # -- test set-up -------------------------------------------------------------------------------------------------

    def client(self, api_key: str = TEST_API_KEY, **options: Any) -> stripe.StripeClient:
        """A StripeClient pointed at this recorder.

        Args:
            api_key: Any ``sk_…`` key.
            **options: More ``StripeClient`` options (e.g. ``max_network_retries=0``).
        """
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **options)

    def add_product(self, *, id: str | None = None, name: str = "Test product", **fields: Any) -> dict[str, Any]:
        """Add a product to the catalogue.

        Args:
            id: The product id; a fresh ``prod_…`` by default.
            name: The product name.
            **fields: More top-level fields (``description``, ``metadata``, ``default_price``...).

        Returns:
            The stored product (mutable).
        """
        now = int(time.time())
        defaults: dict[str, Any] = {
            "id": id or random_id("prod_", 14),
            "name": name,
            "created": now,
            "updated": now,
            "description": None,
            "default_price": None,
            "package_dimensions": None,
            "type": "service",
        }
        product = stripe_object("product", **{**defaults, **fields})
        with self._lock:
            self.products[product["id"]] = product
        return product

    def add_price(
        self,
        *,
        id: str | None = None,
        product: str,
        unit_amount: int,
        currency: str = "eur",
        recurring: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Add a price to the catalogue.

        Args:
            id: The price id; a fresh ``price_…`` by default.
            product: The product id (not required to be in the catalogue, but expansion needs it there).
            unit_amount: The amount in minor units.
            currency: Lowercase ISO currency.
            recurring: None for a one-time price, else e.g. ``{"interval": "month"}`` (other keys get defaults).
            **fields: More top-level fields (``nickname``, ``lookup_key``, ``active``, ``metadata``...).

        Returns:
            The stored price (mutable).
        """
        recurring_full = (
            None
            if recurring is None
            else {"interval_count": 1, "meter": None, "usage_type": "licensed", "trial_period_days": None, **recurring}
        )
        defaults: dict[str, Any] = {
            "id": id or random_id("price_", 24),
            "product": product,
            "unit_amount": unit_amount,
            "unit_amount_decimal": str(unit_amount),
            "currency": currency,
            "recurring": recurring_full,
            "type": "one_time" if recurring is None else "recurring",
            "created": int(time.time()),
            "custom_unit_amount": None,
            "transform_quantity": None,
        }
        price = stripe_object("price", **{**defaults, **fields})
        with self._lock:
            self.prices[price["id"]] = price
        return price

    def add_invoice_payment(
        self, *, invoice: str, payment_intent: str, amount_paid: int, currency: str = "eur", **fields: Any
    ) -> dict[str, Any]:
        """Add an ``invoice_payment`` (the ``2025-03-31.basil``+ link between an invoice and its PaymentIntent).

        Args:
            invoice: The invoice id (``in_…``).
            payment_intent: The PaymentIntent id (``pi_…``).
            amount_paid: The amount paid in minor units.
            currency: Lowercase ISO currency.
            **fields: More top-level fields (``status``, ``is_default``...).

        Returns:
            The stored invoice payment (mutable).
        """
        now = int(time.time())
        defaults: dict[str, Any] = {
            "id": random_id("inpay_", 24),
            "invoice": invoice,
            "amount_paid": amount_paid,
            "amount_requested": amount_paid,
            "currency": currency,
            "created": now,
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": payment_intent},
            "status": "paid",
            "status_transitions": {"canceled_at": None, "paid_at": now},
        }
        payment = stripe_object("invoice_payment", **{**defaults, **fields})
        with self._lock:
            self.invoice_payments.append(payment)
        return payment

    def add_history(self, name: str, obj: dict[str, Any], *, api_key: str | None = None) -> dict[str, Any]:
        """Add an object one of the list endpoints answers.

        Args:
            name: One of :data:`HISTORY_LISTS` (``"events"``, ``"charges"``, ``"refunds"``, ``"disputes"``,
                ``"invoices"``, ``"balance_transactions"``).
            obj: The object (with ``id`` and ``created``); stored as given, so a test may change it later.
            api_key: The account's secret key: only that key lists it (None: every key).

        Returns:
            ``obj``.
        """
        with self._lock:
            self.history[name].append(obj)
            if api_key is not None:
                self.owners[obj["id"]] = api_key
        return obj

    def _visible(self, objects: list[dict[str, Any]], request: RecordedRequest) -> list[dict[str, Any]]:
        """The objects the request's key may list: its account's and those of no account (see ``owners``)."""
        key = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        return [o for o in objects if self.owners.get(str(o.get("id"))) in (None, key)]

    def fail_next(
        self,
        path_prefix: str,
        status: int = 500,
        body: Mapping[str, Any] | bytes | None = None,
        *,
        method: str | None = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next matching request(s) with an error instead of the default reply.

        stripe-python retries 409, 429-with-``Stripe-Should-Retry`` and 5xx up to ``max_network_retries`` times
        (2 by default), so use ``times`` (or a client with ``max_network_retries=0``) for a lasting failure.
        Injected failures are not stored for idempotent replay: a retry with the same key reaches the real handler.

        Args:
            path_prefix: Matches requests whose path starts with it, e.g. ``"/v1/checkout/sessions"``.
            status: The HTTP status.
            body: The error body (dict → JSON, or raw bytes); :func:`stripe_error` for ``status`` by default.
            method: Only match this method.
            times: How many requests fail.
            headers: Extra response headers (e.g. ``{"Stripe-Should-Retry": "false"}``).
            delay: Seconds to wait before answering.
        """
        reply = Reply(status, stripe_error(status) if body is None else body, dict(headers or {}), delay)
        with self._lock:
            self._failures.append(_Failure(path_prefix, method.upper() if method else None, reply, times))

    def complete_session(self, session_id: str, **overrides: Any) -> dict[str, Any]:
        """Mark a created Checkout Session paid and complete (what Stripe does when the buyer pays).

        Args:
            session_id: A session this recorder created.
            **overrides: More top-level fields, e.g. ``payment_intent="pi_…"``, ``subscription="sub_…"``.

        Returns:
            A copy of the updated session, ready for :func:`stripe_event`.
        """
        with self._lock:
            session = self.sessions[session_id]
            session.update(
                status="complete",
                payment_status="paid",
                customer_details={
                    "address": None,
                    "email": session.get("customer_email") or "buyer@example.com",
                    "name": "Test Buyer",
                    "phone": None,
                    "tax_exempt": "none",
                    "tax_ids": [],
                    "business_name": None,
                    "individual_name": None,
                },
            )
            if session["mode"] == "payment" and not session.get("payment_intent"):
                session["payment_intent"] = random_id("pi_", 24)
            if session["mode"] == "subscription" and not session.get("subscription"):
                session["subscription"] = random_id("sub_", 24)
            session.update(copy.deepcopy(overrides))
            return copy.deepcopy(session)

    # -- serving -----------------------------------------------------------------------------------------------------

    def _respond(self, request: RecordedRequest) -> Reply:
        delay = self.list_delay.get(request.path, 0.0) if request.method == "GET" else 0.0
        if delay:
            time.sleep(delay)  # outside the lock: other requests are answered meanwhile
        with self._lock:
            for failure in self._failures:
                if request.path.startswith(failure.path_prefix) and failure.method in (None, request.method):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return failure.reply
            key = request.idempotency_key if request.method == "POST" else None
            fingerprint = (request.method, request.path, request.form)
            if key and key in self._idempotent:
                seen, reply = self._idempotent[key]
                if seen != fingerprint:
                    return Reply(
                        400,
                        stripe_error(
                            400,
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            f"used with. Try using a key other than '{key}' if you meant to execute a different "
                            "request.",
                            type="idempotency_error",
                        ),
                    )
                return Reply(reply.status, reply.body, {**reply.headers, "Idempotent-Replayed": "true"})
            reply = self._route(request)
            if key and reply.status < 500:
                self._idempotent[key] = (fingerprint, copy.deepcopy(reply))
            return reply

    def _route(self, request: RecordedRequest) -> Reply:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                status, body = handler(request, **match.groupdict())
                return Reply(status, copy.deepcopy(body))
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return Reply(404, stripe_error(404, message, type="invalid_request_error"))

    @staticmethod
    def _list(url: str, items: Iterable[dict[str, Any]], params: Mapping[str, Any]) -> dict[str, Any]:
        objects = list(items)
        after = params.get("starting_after")
        if after:
            ids = [o["id"] for o in objects]
            objects = objects[ids.index(after) + 1 :] if after in ids else []
        limit = max(1, min(100, int(params.get("limit") or 10)))
        return {"object": "list", "data": objects[:limit], "has_more": len(objects) > limit, "url": url}

    @staticmethod
    def _expansions(params: Mapping[str, Any]) -> list[str]:
        expand = params.get("expand") or []
        return [expand] if isinstance(expand, str) else list(expand)

    def _with_product(self, price: dict[str, Any], expand: bool) -> dict[str, Any]:
        if expand and isinstance(price.get("product"), str) and price["product"] in self.products:
            return {**price, "product": self.products[price["product"]]}
        return price

    def _account(self, request: RecordedRequest) -> tuple[int, Any]:
        account = stripe_object(
            "account", id=self.account_id, charges_enabled=True, payouts_enabled=True, details_submitted=True
        )
        account["settings"]["dashboard"]["display_name"] = self.display_name
        account["business_profile"]["name"] = self.display_name
        return 200, account

    def _create_session(self, request: RecordedRequest) -> tuple[int, Any]:
        params = request.params
        mode = params.get("mode")
        if mode not in ("payment", "subscription", "setup"):
            return 400, stripe_error(400, "Missing required param: mode.", code="parameter_missing", param="mode")
        total, currency = 0, params.get("currency")
        lines: list[dict[str, Any]] = []
        for item in params.get("line_items") or []:
            quantity = int(item.get("quantity") or 1)
            price = self.prices.get(item.get("price", "")) or item.get("price_data")
            if price is None:
                return _missing("price", item.get("price", ""))
            total += int(price.get("unit_amount") or 0) * quantity
            currency = currency or price.get("currency")
            lines.append(line_item(price, quantity))
        now = int(time.time())
        session_id = random_id("cs_test_", 58)
        session = stripe_object(
            "checkout.session",
            id=session_id,
            url=f"https://checkout.stripe.com/c/pay/{session_id}",
            mode=mode,
            client_reference_id=params.get("client_reference_id"),
            metadata=params.get("metadata") or {},
            success_url=params.get("success_url"),
            cancel_url=params.get("cancel_url"),
            customer=params.get("customer"),
            customer_email=params.get("customer_email"),
            customer_details=None,
            status="open",
            payment_status="unpaid",
            created=now,
            expires_at=int(params.get("expires_at") or now + 24 * 3600),
            currency=currency,
            amount_subtotal=total,
            amount_total=total,
            total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            payment_intent=None,
            subscription=None,
            invoice=None,
            locale=params.get("locale"),
            ui_mode=params.get("ui_mode") or "hosted",
            payment_method_types=params.get("payment_method_types") or ["card"],
            allow_promotion_codes=params.get("allow_promotion_codes"),
            after_expiration=None,
            consent=None,
            shipping_cost=None,
            shipping_address_collection=None,
            invoice_creation=None,
        )
        self.sessions[session_id] = session
        self.line_items[session_id] = lines
        self.owners[session_id] = (request.header("Authorization") or "").removeprefix("Bearer ").strip()
        return 200, session

    def _with_line_items(self, session: dict[str, Any], expand: bool) -> dict[str, Any]:
        if not expand:
            return session
        url = f"/v1/checkout/sessions/{session['id']}/line_items"
        return {**session, "line_items": self._list(url, self.line_items.get(session["id"], []), {})}

    def _get_session(self, request: RecordedRequest, id: str) -> tuple[int, Any]:
        if id not in self.sessions:
            return _missing("checkout.session", id)
        return 200, self._with_line_items(self.sessions[id], "line_items" in self._expansions(request.params))

    def _list_sessions(self, request: RecordedRequest) -> tuple[int, Any]:
        params = request.params
        sessions = [s for s in self.sessions.values() if params.get("status") in (None, s.get("status"))]
        sessions = self._visible(sessions, request)
        expand = "data.line_items" in self._expansions(params)
        listed = self._list("/v1/checkout/sessions", _newest_first(sessions, params), params)
        return 200, {**listed, "data": [self._with_line_items(s, expand) for s in listed["data"]]}

    def _list_line_items(self, request: RecordedRequest, id: str) -> tuple[int, Any]:
        if id not in self.sessions:
            return _missing("checkout.session", id)
        return 200, self._list(f"/v1/checkout/sessions/{id}/line_items", self.line_items.get(id, []), request.params)

    def _list_history(self, name: str, request: RecordedRequest) -> tuple[int, Any]:
        """A list endpoint as Stripe documents it: newest first, ``created`` bounds, its own filters, pages."""
        params = request.params
        objects = self._visible(list(self.history[name]), request)
        if name == "events":
            types = params.get("types")
            if isinstance(types, list) and len(types) > 20:
                return 400, stripe_error(400, "You may pass at most 20 types.", param="types")
            if types and params.get("type"):
                return 400, stripe_error(400, "You cannot pass both type and types.", param="types")
            wanted = [types] if isinstance(types, str) else types
            objects = [e for e in objects if not wanted or e["type"] in wanted]
            objects = [e for e in objects if params.get("type") in (None, e["type"])]
            # Stripe keeps events 30 days.
            objects = [e for e in objects if e["created"] >= time.time() - 30 * 86_400]
        for name_ in ("status", "source", "currency", "type", "charge", "payment_intent", "subscription"):
            if name != "events" and params.get(name_) is not None:
                objects = [o for o in objects if str(o.get(name_)) == params[name_]]
        if name == "balance_transactions" and "data.source" in self._expansions(params):
            sources = {o["id"]: o for kind in ("charges", "refunds", "disputes") for o in self.history[kind]}
            objects = [{**o, "source": sources.get(o["source"], o["source"])} for o in objects]
        return 200, self._list(f"/v1/{name}", _newest_first(objects, params), params)

    def _get_price(self, request: RecordedRequest, id: str) -> tuple[int, Any]:
        if id not in self.prices:
            return _missing("price", id)
        return 200, self._with_product(self.prices[id], "product" in self._expansions(request.params))

    def _list_prices(self, request: RecordedRequest) -> tuple[int, Any]:
        params = request.params
        expand = "data.product" in self._expansions(params)
        prices = [
            self._with_product(p, expand)
            for p in self.prices.values()
            if params.get("product") in (None, p["product"])
            and params.get("active") in (None, str(p["active"]).lower())
        ]
        return 200, self._list("/v1/prices", prices, params)

    def _get_product(self, request: RecordedRequest, id: str) -> tuple[int, Any]:
        if id not in self.products:
            return _missing("product", id)
        return 200, self.products[id]

    def _list_products(self, request: RecordedRequest) -> tuple[int, Any]:
        params = request.params
        products = [p for p in self.products.values() if params.get("active") in (None, str(p["active"]).lower())]
        return 200, self._list("/v1/products", products, params)

    def _list_invoice_payments(self, request: RecordedRequest) -> tuple[int, Any]:
        params = request.params
        invoice = params.get("invoice")
        payments = [p for p in self.invoice_payments if invoice in (None, p["invoice"])]
        return 200, self._list("/v1/invoice_payments", payments, params)


HISTORY_LISTS = ("events", "charges", "refunds", "disputes", "invoices", "balance_transactions")


def _newest_first(objects: Iterable[dict[str, Any]], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``objects`` within the ``created`` bounds of ``params`` (an int, or ``gt``/``gte``/``lt``/``lte``), newest
    first as Stripe lists them (ties by id, so pages are stable)."""
    created = params.get("created")
    bounds = created if isinstance(created, dict) else ({"gte": created, "lte": created} if created else {})
    tests: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b,
    }  # fmt: skip
    kept = [
        o
        for o in objects
        if all(tests[op](int(o["created"]), int(value)) for op, value in bounds.items() if op in tests)
    ]
    return sorted(kept, key=lambda o: (int(o["created"]), str(o["id"])), reverse=True)


# --------------------------------------------------------------------------------------------------------------------
# localstripe in a child process
# --------------------------------------------------------------------------------------------------------------------


class LocalStripe:
    """localstripe running as ``python -m tests.utils.localstripe_server PORT PICKLE`` on 127.0.0.1.

    Its state lives in memory (pickled to a file of its own, removed on :meth:`stop`); :meth:`reset` empties it.
    Registered webhooks survive :meth:`reset` (localstripe keeps them apart from its store).
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 30.0) -> None:
        """Prepare the server (call :meth:`start` or use it as a context manager).

        Args:
            port: The port; a free one by default.
            startup_timeout: Seconds to wait for it to answer.
        """
        self._port = port
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("localstripe is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        """The child's PID while it runs."""
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path | None:
        """Where the child's stdout and stderr go (access log, webhook delivery lines, tracebacks)."""
        return self._dir / "localstripe.log" if self._dir else None

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the child's log."""
        path = self.log_path
        if path is None or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> Self:
        """Start the child and wait until it answers; retries on another port if the chosen one was taken.

        Raises:
            RuntimeError: When it exits or does not answer in time.
        """
        if self.process is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="localstripe-"))
        fixed_port = self._port is not None
        for _attempt in range(1 if fixed_port else 3):
            port = self._port if fixed_port and self._port is not None else free_port()
            self._port = port
            assert self.log_path is not None
            with self.log_path.open("ab") as sink:
                self.process = subprocess.Popen(
                    [PYTHON, "-m", "tests.utils.localstripe_server", str(port), str(self._dir / "store.pickle")],
                    cwd=ROOT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            deadline = time.monotonic() + self.startup_timeout
            while self.process.poll() is None and time.monotonic() < deadline:
                if self._status("GET", "/js.stripe.com/v3/") == 200:
                    return self
                time.sleep(0.1)
            if self.process.poll() is None:  # hung: give up
                break
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"localstripe did not start on {self.url}; log tail:\n{tail}")

    def stop(self) -> None:
        """Terminate the child by PID (SIGKILL after 5 s), then remove its temp directory (idempotent)."""
        process, self.process = self.process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait(timeout=5)
        if self._dir is not None:
            for leftover in self._dir.iterdir():
                leftover.unlink(missing_ok=True)
            self._dir.rmdir()
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _status(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> int | None:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return None

    def _call(self, method: str, path: str, form: list[tuple[str, str]] | None = None) -> None:
        status = self._status(method, path, form)
        if status is None or not 200 <= status < 300:
            raise RuntimeError(f"localstripe {method} {path} answered {status}; log tail:\n{self.log_tail()}")

    def reset(self) -> None:
        """Empty localstripe's store (``DELETE /_config/data``); webhooks stay registered."""
        self._call("DELETE", "/_config/data")

    def register_webhook(self, webhook_id: str, url: str, secret: str, events: Sequence[str] | None = None) -> None:
        """Register (or replace) a webhook endpoint (``POST /_config/webhooks/{id}``).

        Args:
            webhook_id: Any id; registering it again replaces it. There is no way to unregister.
            url: Where localstripe POSTs events.
            secret: The signing secret (``whsec_…``).
            events: Event types to send; None (or empty) sends every type.
        """
        form = [("url", url), ("secret", secret)] + [("events[]", e) for e in events or ()]
        self._call("POST", f"/_config/webhooks/{urllib.parse.quote(webhook_id, safe='')}", form)

    def client(self, api_key: str = TEST_API_KEY, **options: Any) -> stripe.StripeClient:
        """A StripeClient pointed at localstripe, to act as the shop or the Stripe dashboard.

        Args:
            api_key: Any ``sk_…`` key (localstripe accepts every one).
            **options: More ``StripeClient`` options.
        """
        return stripe.StripeClient(api_key, base_addresses={"api": self.url}, **options)
