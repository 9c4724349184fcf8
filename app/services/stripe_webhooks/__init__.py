"""Stripe's signed webhooks: verify, record each event id once together with its effect, and move orders,
subscriptions, payments and refunds forward.

Delivery is at least once and in no guaranteed order, so every handler treats the event as a snapshot of the
object at ``event.created`` and only moves state forward. Events of the pinned API version and older shapes
(localstripe sends 2017 events) are read alike. ``delivery`` verifies, claims and group-commits, ``effects``
applies each event type, ``ledger`` finds orders and records payments.
"""

from app.services.stripe_webhooks.delivery import (
    InvalidSignature,
    NoWebhookSecret,
    WebhookArrivals,
    WebhookResult,
    WebhookWriter,
    apply_event,
    receive_webhook,
    submit_cached_webhook,
    submit_event,
    submit_webhook,
)

__all__ = [
    "InvalidSignature",
    "NoWebhookSecret",
    "WebhookArrivals",
    "WebhookResult",
    "WebhookWriter",
    "apply_event",
    "receive_webhook",
    "submit_cached_webhook",
    "submit_event",
    "submit_webhook",
]
