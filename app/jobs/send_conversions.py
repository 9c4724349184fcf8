"""Send the conversion outbox: due deliveries to Meta, GA4, Google Ads and webhooks (see services/conversion_sender)."""

from __future__ import annotations

from app.services.conversion_sender import send_due


def send_conversions(holder: str) -> str | None:
    """One pass; batches until the outbox has nothing due (bounded so one run never holds the thread forever)."""
    total = []
    for _ in range(10):
        report = send_due(holder=holder)
        if not report.claimed:
            break
        total.append(str(report))
    return "; ".join(total) or None
