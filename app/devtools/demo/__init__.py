"""Demo data: a shop with campaigns, versions, pixels and ``days`` days of traffic, orders, renewals, refunds and ad
spend, made by driving the real services, so a newcomer sees a living dashboard (``python -m app.cli seed-demo``).

- Traffic goes through the ingest pipeline the events API uses (parse, enrich with bot check and ``fbc``, the
  writer's ``write_requests``, then the deriver's pass: visitors, sessions, campaign/version tags and touches), one
  transaction per simulated day. The pipeline refuses events older than 7 days when they arrive now, so each day is
  replayed with the clock of that day (``now`` = the end of the simulated day).
- Orders are created as checkout creates them (with ``attribution.snapshot`` taken at checkout time); no Stripe is
  reachable offline, so the money arrives as signed Stripe webhook payloads (``checkout.session.completed``,
  ``customer.subscription.*``, ``invoice.paid`` renewals, ``charge.refunded``) delivered to
  ``stripe_webhooks.receive_webhook`` with the account's webhook secret, exactly as the webhook endpoint does. The
  catalogue arrives the same way (``product.created`` / ``price.created``).
- Ad spend is imported as a CSV through ``services/spend`` (preview, then import).
- Campaign versions are published through ``services/campaigns``, then their publish time is moved back into the
  simulated past (the only direct write: a real shop's history cannot be made otherwise). Pixels are created and
  attached through ``services/pixels`` and left disabled (demo credentials; nothing is sent to Meta or Google).
- Finally ``rollups.rebuild`` so the dashboard reads the daily rollups at once.

The steps, one module each: ``account`` (owner and key, Stripe and its catalogue, campaigns, pixels), ``traffic``
(sessions and events, ingested), ``stripe_events`` (orders and their webhooks, renewals, cancellations, refunds),
``ad_spend`` (the spend CSV); ``shop`` holds the demo shop's data, ``seed`` runs the steps in order.
"""

from __future__ import annotations

from app.devtools.demo.seed import DemoResult, delete_demo, find_demo_account, seed_demo
from app.devtools.demo.shop import DEMO_ACCOUNT, DEMO_EMAIL, DEMO_TIMEZONE

__all__ = ["DEMO_ACCOUNT", "DEMO_EMAIL", "DEMO_TIMEZONE", "DemoResult", "delete_demo", "find_demo_account", "seed_demo"]
