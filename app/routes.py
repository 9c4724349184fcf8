"""Route constants and URL builders: no page or API path is written anywhere else."""

from __future__ import annotations

from urllib.parse import urlencode

from app.settings import get_settings

# Backoffice pages
HOME = "/"
SIGNUP = "/signup"
LOGIN = "/login"
INSTALL = "/install"
CAMPAIGNS = "/campaigns"
CAMPAIGN = "/campaigns/[campaign_id]"
PIXELS = "/pixels"
ORDERS = "/orders"
ORDER = "/orders/[order_id]"
CONVERSIONS = "/conversions"
METRICS = "/metrics"
LTV = "/ltv"
SPEND = "/spend"
ALERTS = "/alerts"
ASSISTANT = "/assistant"
SETTINGS_KEYS = "/settings/keys"
SETTINGS_TEAM = "/settings/team"
SETTINGS_STRIPE = "/settings/stripe"
SETTINGS_AD_PLATFORMS = "/settings/ad-platforms"
INVITE = "/invite/[token]"
USAGE = "/usage"
ADMIN_JOBS = "/admin/jobs"
ADMIN_USAGE = "/admin/usage"

PUBLIC_PAGES = {SIGNUP, LOGIN, INVITE}

# Static files (from assets/)
FAVICON_SVG = "/favicon.svg"
FAVICON_ICO = "/favicon.ico"  # what browsers and crawlers ask for without a <link rel=icon>

# API
API_V1 = "/api/v1"
API_OPENAPI = "/api/openapi.json"
API_DOCS = "/api/docs"
API_DOCS_ASSETS = "/api/docs/assets"
# The overview's KPI cards for the backoffice session in the Authorization header (internal: the page fetches it from
# its first script, before Reflex connects; app/api/endpoints/overview_kpis.py).
API_OVERVIEW_KPIS = "/api/internal/overview-kpis"
# The documentation site (docs/, built by `make run` with mkdocs into site/), served by the app itself.
HELP = "/help"


def invite_url(token: str) -> str:
    return f"{get_settings().public_url}/invite/{token}"


def login_url(next_path: str | None = None) -> str:
    return f"{LOGIN}?next={next_path}" if next_path else LOGIN


def campaign_url(public_id: str) -> str:
    return f"{CAMPAIGNS}/{public_id}"


def campaigns_url(*, q: str = "", status: str = "", channel: str = "", group: str = "", page: int = 1) -> str:
    """The campaign list with its filters in the query string, so a filtered view can be shared (``channel`` is the
    platform, ``group`` the channel group)."""
    params = {
        "q": q.strip(),
        "status": status,
        "channel": channel,
        "group": group,
        "page": str(page) if page > 1 else "",
    }
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{CAMPAIGNS}?{query}" if query else CAMPAIGNS


def order_url(public_id: str) -> str:
    return f"{ORDERS}/{public_id}"


def orders_url(*, status: str = "", since: str = "", until: str = "", campaign: str = "") -> str:
    """The orders list with its filters in the query string (dates as YYYY-MM-DD in the account's timezone)."""
    params = {"status": status, "from": since, "to": until, "campaign": campaign}
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{ORDERS}?{query}" if query else ORDERS


def conversions_url(
    *, provider: str = "", status: str = "", campaign: str = "", since: str = "", until: str = ""
) -> str:
    """The conversion deliveries with their filters in the query string (dates as YYYY-MM-DD in the account's
    timezone), so a filtered view can be shared."""
    params = {"provider": provider, "status": status, "campaign": campaign, "from": since, "to": until}
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{CONVERSIONS}?{query}" if query else CONVERSIONS


def alerts_url(*, rule: str = "", kind: str = "") -> str:
    """/alerts with the history's filters (a rule's public id, an event kind) in the query string."""
    query = urlencode({k: v for k, v in {"rule": rule, "kind": kind}.items() if v})
    return f"{ALERTS}?{query}" if query else ALERTS


def dashboard_url(path: str, params: dict[str, str]) -> str:
    """The overview (``/``) or the explorer (``/metrics``) with its range, comparison, model and other choices in the
    query string (empty values left out), so a view can be shared."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path
