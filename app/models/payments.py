"""Stripe: the shop's connection, its synced catalogue, orders started by checkout, subscriptions, the money that
Stripe confirmed (payments and refunds), and every webhook event processed once."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from app.models.base import enum_field, utc_field


def _json(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(JSON(none_as_null=True), nullable=nullable))


def _money(default: int | None = 0) -> Any:
    return Field(default=default, sa_column=Column(BigInteger, nullable=default is None, default=default))


class StripeConnection(SQLModel, table=True):
    """One per account: the shop's Stripe key and webhook signing secret, both encrypted at rest."""

    __tablename__ = "stripe_connection"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", unique=True, ondelete="CASCADE")
    secret_key_encrypted: str = Field(sa_column=Column(Text, nullable=False))
    key_hint: str = Field(max_length=40)
    webhook_secret_encrypted: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    stripe_account_id: str = Field(default="", max_length=64)
    stripe_account_name: str = Field(default="", max_length=200)
    livemode: bool = Field(default=False)
    connected_at: datetime = utc_field(default_now=True)
    catalog_synced_at: datetime | None = utc_field(nullable=True)
    last_webhook_at: datetime | None = utc_field(nullable=True)


class StripeProduct(SQLModel, table=True):
    __tablename__ = "stripe_product"
    __table_args__ = (UniqueConstraint("account_id", "stripe_id", name="uq_stripe_product_account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    stripe_id: str = Field(max_length=64)
    name: str = Field(default="", max_length=250)
    active: bool = Field(default=True)
    deleted: bool = Field(default=False)
    # Stripe's `updated` (or the event's `created`): an older snapshot never overwrites a newer one.
    stripe_updated: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    synced_at: datetime = utc_field(default_now=True)


class StripePrice(SQLModel, table=True):
    __tablename__ = "stripe_price"
    __table_args__ = (UniqueConstraint("account_id", "stripe_id", name="uq_stripe_price_account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    stripe_id: str = Field(max_length=64)
    product_stripe_id: str = Field(default="", max_length=64)
    nickname: str = Field(default="", max_length=250)
    currency: str = Field(max_length=3)
    unit_amount: int | None = _money(None)
    # None for one-time prices; "day" | "week" | "month" | "year" for recurring ones.
    recurring_interval: str | None = Field(default=None, max_length=8)
    recurring_interval_count: int | None = Field(default=None)
    active: bool = Field(default=True)
    deleted: bool = Field(default=False)
    stripe_updated: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    synced_at: datetime = utc_field(default_now=True)


class OrderStatus(StrEnum):
    """Where an order's payment is (services/orders.py moves it forward only; the refunded ones are shown, not
    stored: see ``display_status``)."""

    CREATED = "created"
    PENDING = "pending"
    FAILED = "failed"
    EXPIRED = "expired"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class OrderMode(StrEnum):
    """What the Checkout Session sold: a one-off payment or a subscription."""

    PAYMENT = "payment"
    SUBSCRIPTION = "subscription"


class PaymentKind(StrEnum):
    """Which money a payment is: a one-off order's, a subscription's first invoice, a renewal, or another invoice
    of the subscription (an adjustment)."""

    ONE_OFF = "one_off"
    FIRST = "first"
    RENEWAL = "renewal"
    ADJUSTMENT = "adjustment"


class WebhookOutcome(StrEnum):
    """What a Stripe event did (``duplicate`` is only answered, never stored: the first delivery's row stays)."""

    APPLIED = "applied"
    IGNORED = "ignored"
    UNLINKED = "unlinked"  # no order yet: kept, and applied once an order claims its link key
    DUPLICATE = "duplicate"


class Order(SQLModel, table=True):
    """A checkout started through PaidSignal, with the attribution snapshot taken when it started."""

    __tablename__ = "shop_order"
    __table_args__ = (
        Index("ix_order_account_created", "account_id", "created_at"),
        Index("ix_order_account_status", "account_id", "status"),
        Index("ix_order_checkout_session", "checkout_session_id"),
        Index("ix_order_payment_intent", "account_id", "payment_intent_id"),
        Index("ix_order_subscription", "account_id", "subscription_id"),
        Index("ix_order_customer", "account_id", "customer_key", "paid_at"),  # a customer's later orders: a range
        # The session a checkout converted (services/rollups.converted_sessions), by key or else by visitor.
        Index("ix_order_account_session", "account_id", "session_key"),
        Index("ix_order_account_visitor", "account_id", "visitor_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    # Deterministic per request (see checkout.idempotency_key): the same request twice is one order.
    request_key: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    mode: OrderMode = enum_field(OrderMode, 16)
    status: OrderStatus = enum_field(OrderStatus, 24, default=OrderStatus.CREATED)
    status_changed_at: datetime = utc_field(default_now=True)
    currency: str = Field(max_length=3)
    # What the items cost at our catalogue's prices when checkout started; Stripe's amount_total once known.
    amount_expected: int | None = _money(None)
    amount_paid: int = _money()
    amount_refunded: int = _money()
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    event_id: str = Field(max_length=64)
    visitor_id: str | None = Field(default=None, max_length=64)
    session_key: str | None = Field(default=None, max_length=64)
    customer_email: str | None = Field(default=None, max_length=320)
    # Who the buyer is for "new vs returning" (services/rollups.customer_key): the e-mail trimmed and lowercased,
    # else the Stripe customer; kept up to date by the webhook that changes the order.
    customer_key: str | None = Field(default=None, max_length=340)
    # Attribution snapshot: the campaign and version credited by the last-touch model at checkout, and the
    # whole snapshot (every model, the touches, click and GA ids, user agent, IP, consent) as JSON.
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", ondelete="SET NULL")
    campaign_version_id: int | None = Field(default=None, foreign_key="campaign_version.id", ondelete="SET NULL")
    attribution: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    consent: dict[str, bool] | None = _json()
    success_url: str = Field(sa_column=Column(String(2048), nullable=False))
    cancel_url: str = Field(sa_column=Column(String(2048), nullable=False))
    checkout_session_id: str | None = Field(default=None, max_length=255)
    checkout_url: str | None = Field(default=None, sa_column=Column(String(2048), nullable=True))
    payment_intent_id: str | None = Field(default=None, max_length=64)
    subscription_id: str | None = Field(default=None, max_length=64)
    customer_id: str | None = Field(default=None, max_length=64)
    disputed: bool = Field(default=False)
    dispute_status: str | None = Field(default=None, max_length=32)
    # Imported from Stripe's history (issue 21's backfill), not started through PaidSignal's checkout: never
    # attributed, never credited to a campaign, never sent to an ad platform; its own bucket in every view.
    imported: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    created_at: datetime = utc_field(default_now=True)
    paid_at: datetime | None = utc_field(nullable=True)


class Subscription(SQLModel, table=True):
    __tablename__ = "subscription"
    __table_args__ = (UniqueConstraint("account_id", "stripe_id", name="uq_subscription_account_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    stripe_id: str = Field(max_length=64)
    order_id: int | None = Field(default=None, foreign_key="shop_order.id", index=True, ondelete="SET NULL")
    status: str = Field(max_length=24)
    customer_id: str | None = Field(default=None, max_length=64)
    price_stripe_id: str | None = Field(default=None, max_length=64)
    cancel_at_period_end: bool = Field(default=False)
    current_period_end: datetime | None = utc_field(nullable=True)
    canceled_at: datetime | None = utc_field(nullable=True)
    # The `created` time of the newest Stripe event applied: an older event never overwrites a newer snapshot.
    last_event_created: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_at: datetime = utc_field(default_now=True)
    updated_at: datetime = utc_field(default_now=True)


class Payment(SQLModel, table=True):
    """Money Stripe confirmed: a one-off payment, a subscription's first invoice, or a renewal."""

    __tablename__ = "payment"
    __table_args__ = (
        # A PaymentIntent id (one-off) or an invoice id (subscriptions): the same money is recorded once, whichever
        # of the events that report it arrives first.
        UniqueConstraint("account_id", "stripe_key", name="uq_payment_account_key"),
        Index("ix_payment_account_paid", "account_id", "paid_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    order_id: int | None = Field(default=None, foreign_key="shop_order.id", index=True, ondelete="SET NULL")
    subscription_stripe_id: str | None = Field(default=None, max_length=64)
    stripe_key: str = Field(max_length=64)
    kind: PaymentKind = enum_field(PaymentKind, 16)
    billing_reason: str | None = Field(default=None, max_length=40)
    invoice_id: str | None = Field(default=None, max_length=64)
    payment_intent_id: str | None = Field(default=None, max_length=64, index=True)
    charge_id: str | None = Field(default=None, max_length=64, index=True)
    amount: int = _money()
    amount_refunded: int = _money()
    currency: str = Field(max_length=3)
    paid_at: datetime = utc_field()


class Refund(SQLModel, table=True):
    """Money returned, as the increase of a charge's ``amount_refunded`` seen in one event (a time series)."""

    __tablename__ = "refund"
    __table_args__ = (Index("ix_refund_account_refunded", "account_id", "refunded_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    order_id: int | None = Field(default=None, foreign_key="shop_order.id", index=True, ondelete="SET NULL")
    payment_id: int | None = Field(default=None, foreign_key="payment.id", ondelete="SET NULL")
    charge_id: str = Field(max_length=64)
    stripe_event_id: str = Field(max_length=64)
    amount: int = _money()
    currency: str = Field(max_length=3)
    refunded_at: datetime = utc_field()


class StripeEvent(SQLModel, table=True):
    """Each Stripe event id once (stored in the same transaction as its effect), with what it did."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        UniqueConstraint("account_id", "stripe_event_id", name="uq_stripe_event_account_id"),
        Index("ix_stripe_event_order", "order_id", "received_at"),
        Index("ix_stripe_event_account_received", "account_id", "received_at"),
        Index("ix_stripe_event_link", "account_id", "link_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", ondelete="CASCADE")
    stripe_event_id: str = Field(max_length=255)
    type: str = Field(max_length=80)
    api_version: str | None = Field(default=None, max_length=40)
    stripe_created: int = Field(sa_column=Column(BigInteger, nullable=False))
    object_id: str | None = Field(default=None, max_length=255)
    order_id: int | None = Field(default=None, foreign_key="shop_order.id", ondelete="SET NULL")
    outcome: WebhookOutcome = enum_field(WebhookOutcome, 16)
    # Unlinked events keep their object and the Stripe id that would link them (a subscription, a PaymentIntent),
    # so they are applied as soon as an order claims that id: nothing Stripe sent is lost to arrival order.
    link_key: str | None = Field(default=None, max_length=255)
    payload: dict[str, Any] | None = _json()
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    deliveries: int = Field(default=1)
    received_at: datetime = utc_field(default_now=True)
    last_delivery_at: datetime = utc_field(default_now=True)
