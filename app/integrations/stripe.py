"""The Stripe client PaidSignal uses: the pinned API version, the configurable base URL, and webhook verification.

Every call to Stripe goes through :func:`client`, so the version (``STRIPE_API_VERSION``) and the base URL
(``STRIPE_API_BASE``, a local server in tests) are set in one place. Errors become :class:`StripeCallFailed` with
Stripe's own message, so services can turn them into answers a shop understands.
"""

from __future__ import annotations

import json
import time
from typing import Any

import stripe

from app.settings import get_settings


class StripeCallFailed(RuntimeError):
    """A Stripe API call failed.

    Attributes:
        status: Stripe's HTTP status (None when Stripe could not be reached).
        code: Stripe's error code (``resource_missing``, ``api_key_expired``…), or "".
        param: The request parameter Stripe blamed, or "".
    """

    def __init__(self, message: str, *, status: int | None, code: str = "", param: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.param = param

    @property
    def unreachable(self) -> bool:
        return self.status is None or self.status >= 500 or self.status == 429

    @property
    def bad_key(self) -> bool:
        return self.status in {401, 403}


class BadSignature(ValueError):
    """The ``Stripe-Signature`` header does not match the body, or is too old or too new; the message says which."""


class MalformedPayload(ValueError):
    """The body is signed but is not JSON we can read (invalid, NaN or Infinity, nested past Python's limit)."""


def client(secret_key: str) -> stripe.StripeClient:
    """A StripeClient on the pinned API version and the configured base URL."""
    settings = get_settings()
    return stripe.StripeClient(
        secret_key,
        stripe_version=settings.stripe_api_version,
        base_addresses={"api": settings.stripe_api_base},
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=settings.stripe_timeout_seconds),
    )


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run one stripe-python call, turning its errors into :class:`StripeCallFailed`."""
    try:
        return fn(*args, **kwargs)
    except stripe.StripeError as error:
        status = error.http_status
        message = getattr(error, "user_message", None) or error._message or str(error)
        code = error.code or ""
        param = getattr(error, "param", "") or ""
        if isinstance(error, stripe.APIConnectionError):
            status = None
            message = f"Stripe could not be reached: {error._message}"
        raise StripeCallFailed(str(message), status=status, code=code, param=param) from error


def as_dict(obj: Any) -> dict[str, Any]:
    """A stripe-python object as plain JSON data (what the webhooks carry too)."""
    if isinstance(obj, dict) and not isinstance(obj, stripe.StripeObject):
        return obj
    return json.loads(str(obj)) if isinstance(obj, stripe.StripeObject) else dict(obj)


def verify_webhook(payload: bytes, header: str | None, secret: str) -> Any:
    """Check Stripe's signature on the raw body (every ``v1``, the tolerance both ways) and parse the JSON.

    Returns:
        The parsed body; its shape is the caller's to check.

    Raises:
        BadSignature: the header is missing or malformed, no ``v1`` matches, or the timestamp is further than the
            tolerance in the past or in the future.
        MalformedPayload: the body is signed but is not JSON.
    """
    tolerance = get_settings().stripe_webhook_tolerance_seconds
    try:
        stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
    except stripe.SignatureVerificationError as error:
        raise BadSignature(_reason(str(error._message or error))) from error
    # stripe-python only refuses old timestamps; a future one (a signature made ahead, to be replayed later) must
    # be refused the same way. Read t= as stripe-python does; verify_header has checked it is there and an integer.
    items = [item.split("=", 2) for item in str(header).split(",")]
    signed_at = int(next(item[1] for item in items if item[0] == "t"))
    if signed_at > time.time() + tolerance:
        raise BadSignature(
            f"The Stripe-Signature timestamp is more than {tolerance} s in the future; check this server's clock."
        )
    try:
        return json.loads(payload, parse_constant=_no_constant)
    except RecursionError as error:
        raise MalformedPayload("The body is signed but nests too deeply to be a Stripe event.") from error
    except ValueError as error:
        raise MalformedPayload(f"The body is signed but is not JSON: {error}.") from error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _reason(message: str) -> str:
    if message.startswith("Timestamp outside"):
        return "The Stripe-Signature timestamp is older than the tolerance; was this event replayed?"
    if message.startswith("No Stripe-Signature"):
        return "The Stripe-Signature header is missing."
    if message.startswith("No signatures found matching"):
        return "No v1 signature matches the body with this account's webhook signing secret."
    return f"The Stripe-Signature header is invalid: {message}"
