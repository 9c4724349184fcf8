"""SQLModel tables, one module per domain. Importing this package registers every table's metadata."""

from app.models.accounts import Account, AuthSession, Invite, Membership, Role, User
from app.models.alerts import AlertEvent, AlertRule, AlertState
from app.models.assistant import Conversation, ConversationMessage
from app.models.campaigns import Campaign, CampaignPixel, CampaignVersion, Pixel
from app.models.conversions import ConversionDelivery, DeliveryAttempt
from app.models.jobs import JobLease, JobRun
from app.models.keys import ApiKey, KeyKind
from app.models.metrics import AdSpend, RollupDirty, SalesRollup, TrafficRollup
from app.models.payments import (
    Order,
    Payment,
    Refund,
    StripeConnection,
    StripeEvent,
    StripePrice,
    StripeProduct,
    Subscription,
)
from app.models.tracking import Event, Touch, Visitor, VisitSession
from app.models.usage import ApiUsageDaily, EventCountDaily, LlmCall

__all__ = [
    "Account",
    "AdSpend",
    "AlertEvent",
    "AlertRule",
    "AlertState",
    "ApiKey",
    "ApiUsageDaily",
    "AuthSession",
    "Campaign",
    "CampaignPixel",
    "CampaignVersion",
    "Conversation",
    "ConversationMessage",
    "ConversionDelivery",
    "DeliveryAttempt",
    "Event",
    "EventCountDaily",
    "Invite",
    "JobLease",
    "JobRun",
    "KeyKind",
    "LlmCall",
    "Membership",
    "Order",
    "Payment",
    "Pixel",
    "Refund",
    "Role",
    "RollupDirty",
    "SalesRollup",
    "StripeConnection",
    "StripeEvent",
    "StripePrice",
    "StripeProduct",
    "Subscription",
    "Touch",
    "TrafficRollup",
    "User",
    "VisitSession",
    "Visitor",
]
