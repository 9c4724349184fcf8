"""The demo shop: its owner, origin, catalogue, campaigns and visitors' browsers, and the shapes the seeder's steps
hand each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from app.models import Order

DEMO_EMAIL = "demo@example.com"
DEMO_ACCOUNT = "Demo Shop"
DEMO_TIMEZONE = "Europe/Berlin"
DEMO_STRIPE_KEY = "sk_test_demo_offline_paidsignal_0000"
SHOP = "https://demo-shop.example"
# A month before the window only brings subscribers, so renewals happen from the window's first days on.
WARMUP_DAYS = 30
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
    "Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36",
)
PATHS = ("/", "/shop", "/shop/sneakers", "/shop/socks", "/shop/caps", "/about", "/journal/autumn-edit")


class Product(NamedTuple):
    product_id: str
    name: str
    price_id: str
    amount: int  # EUR cents
    monthly: bool


CATALOGUE = (
    Product("prod_demo_sneakers", "Sneakers", "price_demo_sneakers", 8_900, False),
    Product("prod_demo_socks", "Socks (3 pairs)", "price_demo_socks", 1_900, False),
    Product("prod_demo_cap", "Cap", "price_demo_cap", 2_900, False),
    Product("prod_demo_club", "Sock club", "price_demo_club_monthly", 1_500, True),
)
SUBSCRIPTION = CATALOGUE[3]


class CampaignPlan(NamedTuple):
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    click_id: str | None  # the ad platform's click id parameter on the landing URL
    weight: int  # share of the campaign traffic
    conversion: float  # conversion multiplier
    versions: int
    cpc: int  # cost per click, EUR cents (0: no paid traffic)


CAMPAIGNS = (
    CampaignPlan("Autumn sale", "meta", "facebook", "paid_social", "autumn-sale", "fbclid", 5, 1.0, 3, 110),
    CampaignPlan("Brand search", "google", "google", "cpc", "brand", "gclid", 4, 1.8, 1, 90),
    CampaignPlan("Shopping feed", "google", "google", "cpc", "shopping", "gclid", 5, 1.1, 2, 80),
    CampaignPlan("Creators", "tiktok", "tiktok", "paid_social", "creators", "ttclid", 4, 0.5, 2, 70),
    CampaignPlan("Newsletter", "email", "newsletter", "email", "newsletter", None, 2, 2.0, 1, 0),
)


@dataclass
class DemoCampaign:
    """A campaign made for the demo, with when each version went live and how well it converts."""

    public_id: str
    id: int
    channel: str
    utm: tuple[str, str, str]  # utm_source, utm_medium, utm_campaign
    click: str | None
    weight: int
    schedule: list[tuple[datetime, float]]  # (published at, conversion multiplier), oldest first
    cpc: int


@dataclass(frozen=True)
class Visitor:
    visitor_id: str
    user_agent: str
    ip: str


@dataclass(frozen=True)
class Checkout:
    """A buyer who started checkout: the order is made at ``at``, Stripe says it is paid at ``paid``."""

    visitor: Visitor
    session_id: str
    at: datetime
    paid: datetime
    items: list[Product]
    quantities: list[int]
    amount: int
    event_id: str
    subscription: bool
    email: str


@dataclass
class Subscriber:
    order: Order
    subscription: str
    customer: str
    amount: int
    next_at: datetime
    churn_at: datetime | None


@dataclass(frozen=True)
class RefundDue:
    at: datetime
    order: Order
    payment_intent: str | None
    amount: int
