"""Reflex page functions, one module per page, layout only. Importing this package registers them."""

from app.pages import (
    admin_jobs,
    alerts,
    auth,
    campaign,
    campaigns,
    conversions,
    home,
    install,
    keys,
    metrics,
    orders,
    pixels,
    spend,
    stripe,
    team,
)

__all__ = [
    "admin_jobs",
    "alerts",
    "auth",
    "campaign",
    "campaigns",
    "conversions",
    "home",
    "install",
    "keys",
    "metrics",
    "orders",
    "pixels",
    "spend",
    "stripe",
    "team",
]
