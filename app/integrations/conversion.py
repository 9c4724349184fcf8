"""The internal conversion: what ``services/conversions.build_conversion`` writes (stored with each delivery as JSON)
and what every provider's ``build`` reads. One shape for all providers; each serializer takes what it needs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NotRequired, Protocol, TypedDict, cast

from app.integrations.outbound import Outbound


class ConversionLine(TypedDict):
    """One line of the order: the Stripe price (the id the browser's fbq/gtag items use), its product and money."""

    id: str
    product_id: str | None
    name: str
    quantity: int
    unit_amount: int | None  # minor units
    price: float  # major units, as providers want it


class ConversionUser(TypedDict):
    """Who bought: the clear e-mail (hashed before it leaves), the hashes the browser sent, the request's facts."""

    email: str | None
    hashed: dict[str, list[str]]
    ip: str | None
    user_agent: str | None
    fbc: NotRequired[str | None]  # Meta's click and browser ids (a test send has none)
    fbp: NotRequired[str | None]
    # Read by the serializers when present (hashed before they leave); build_conversion sets none of them today.
    phone: NotRequired[str | None]
    phone_country_code: NotRequired[str | None]  # a calling code; none is guessed
    external_id: NotRequired[str | None]


class ConversionGa(TypedDict):
    """GA4's client and session of the buyer, and their last hit before Stripe (``ga4.in_session``)."""

    client_id: str | None
    session_id: str | None
    checkout_at: str | None


class ConversionCampaign(TypedDict, total=False):
    """The last-touch campaign of the order (empty for a test send)."""

    campaign: str | None
    campaign_name: str | None
    campaign_version: str | None
    version_number: int | None


class CampaignCredit(TypedDict):
    """A campaign's share of the sale under one attribution model."""

    campaign: str | None
    campaign_version: str | None
    share: float | None


class Conversion(TypedDict):
    """A purchase, renewal or refund, as PaidSignal reports it to a provider."""

    kind: str  # purchase, renewal or refund (app.models.ConversionKind)
    order_id: str
    event_id: str
    transaction_id: str
    event_time: str  # ISO 8601, UTC
    amount: int  # minor units
    value: float  # major units
    currency: str
    items: list[ConversionLine]
    partial: bool
    event_source_url: str | None
    visitor_id: str | None
    subscription: NotRequired[str | None]
    invoice: NotRequired[str | None]
    user: ConversionUser
    ga: ConversionGa
    clicks: dict[str, Any]  # gclid / gbraid / wbraid → the id
    click_at: str | None
    consent: dict[str, bool]
    campaign: ConversionCampaign
    credits: dict[str, list[CampaignCredit]]  # attribution model → credits
    # A refund's: what is left of the sale, the sale's time, why no items are named.
    remaining: NotRequired[int]
    remaining_value: NotRequired[float]
    sale_time: NotRequired[str]
    items_note: NotRequired[str]
    # Meta's custom data, when set (a test send names itself).
    content_name: NotRequired[str]
    content_category: NotRequired[str]


class ConversionProvider(Protocol):
    """A provider's module (``meta_capi``, ``ga4``, ``google_ads``, ``signed_webhook``): how old a conversion it
    takes, and its serializer, the conversion as the request to send (raising ``Skip`` or ``Refused``)."""

    MAX_AGE: timedelta

    def build(
        self,
        conversion: Conversion,
        settings: dict[str, str],
        secrets: dict[str, str],
        *,
        test: bool,
        now: datetime,
        delivery_id: str,
    ) -> Outbound: ...


def stored_conversion(stored: dict[str, Any]) -> Conversion:
    """A delivery's conversion, as ``build_conversion`` wrote it to the JSON column. Not validated again: rows written
    before a key existed lack it, which is why the serializers read the later keys with ``.get``."""
    return cast(Conversion, stored)
