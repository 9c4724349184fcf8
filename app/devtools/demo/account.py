"""The demo shop's setup steps: the account with its owner and publishable key, the Stripe connection and
catalogue (as Stripe's webhooks bring it), the campaigns with their versions, and the pixels."""

from __future__ import annotations

import random
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import Session, col

from app import runtime
from app.db import write_lock
from app.devtools.demo.shop import (
    CAMPAIGNS,
    CATALOGUE,
    DEMO_ACCOUNT,
    DEMO_EMAIL,
    DEMO_STRIPE_KEY,
    DEMO_TIMEZONE,
    SHOP,
    WARMUP_DAYS,
    DemoCampaign,
)
from app.devtools.demo.stripe_events import DemoStripe
from app.models import Account, CampaignVersion, Role, StripeConnection
from app.services import accounts, campaigns, keys, pixels
from app.services.crypto import encrypt_secret
from app.services.keys import KeyIdentity
from app.services.permissions import Actor


def create_owner_and_key(session: Session, password: str) -> tuple[Account, Actor, KeyIdentity]:
    """The account and its owner (signed up as a person would), a publishable key for the shop's origin, and the
    gatekeeper's check of that key as for a request from the shop."""
    with write_lock:
        account, user = accounts.signup(session=session, account_name=DEMO_ACCOUNT, email=DEMO_EMAIL,
                                        password=password, timezone=DEMO_TIMEZONE)  # fmt: skip
        session.flush()
        assert account.id is not None and user.id is not None
        actor = Actor(user_id=user.id, account_id=account.id, role=Role.OWNER)
        key = keys.create_key(session=session, actor=actor, kind="publishable", label="Demo shop", origins=[SHOP])
        session.commit()
    identity = keys.authenticate_publishable_key(session=session, raw=key.plaintext, origin=SHOP)
    return account, actor, identity


def connect_stripe(session: Session, account: Account, *, now: datetime, catalogue_at: datetime) -> DemoStripe:
    """A Stripe connection with a webhook secret (the key is a placeholder: nothing calls Stripe offline), and the
    catalogue as ``product.created`` / ``price.created`` webhooks dated ``catalogue_at``."""
    assert account.id is not None
    webhook_secret = f"whsec_demo_{secrets.token_hex(16)}"
    with write_lock:
        session.add(
            StripeConnection(
                account_id=account.id,
                secret_key_encrypted=encrypt_secret(DEMO_STRIPE_KEY),
                key_hint="sk_test_…0000 (offline demo)",
                webhook_secret_encrypted=encrypt_secret(webhook_secret),
                stripe_account_id="acct_demo",
                stripe_account_name="Demo Shop (offline demo)",
                catalog_synced_at=now,
            )
        )
        session.commit()
    runtime.current().webhook_secrets.clear()
    stripe = DemoStripe(session, account.public_id, webhook_secret)
    for product, name, price, amount, monthly in CATALOGUE:
        stripe.send("product.created", {"id": product, "object": "product", "name": name, "active": True}, catalogue_at)
        stripe.send(
            "price.created",
            {"id": price, "object": "price", "product": product, "currency": "eur", "unit_amount": amount,
             "active": True, "type": "recurring" if monthly else "one_time",
             "recurring": {"interval": "month", "interval_count": 1} if monthly else None},
            catalogue_at,
        )  # fmt: skip
    return stripe


def create_campaigns(
    session: Session, actor: Actor, rng: random.Random, *, first_day: date, days: int
) -> list[DemoCampaign]:
    """The campaigns and their versions, published through the service, then moved back to their simulated dates:
    the first a day before the warm-up month, the others spread over the window (the only direct write: a real
    shop's history cannot be made otherwise)."""
    zone = ZoneInfo(DEMO_TIMEZONE)
    made = []
    with write_lock:
        for priority, plan in enumerate(CAMPAIGNS):
            row = campaigns.create_campaign(session=session, actor=actor, name=plan.name, channel=plan.channel,
                                            priority=100 + priority)  # fmt: skip
            schedule = []
            for number in range(1, plan.versions + 1):
                config: dict[str, Any] = {
                    "matching_rules": [
                        {"conditions": [{"field": "utm_campaign", "op": "equals", "value": plan.utm_campaign}]}
                    ],
                    "budget": {"amount": plan.cpc * 400, "currency": "EUR", "period": "daily"} if plan.cpc else None,
                    "targets": {"target_cpa": 2_500 if plan.cpc else None, "min_roas": 2.0 if plan.cpc else None},
                    "notes": "Launch creative." if number == 1 else f"v{number}: new creative and a sharper offer.",
                }
                version = campaigns.publish(session=session, actor=actor, campaign_public_id=row.public_id,
                                            config=config, change_note=config["notes"])  # fmt: skip
                offset = -WARMUP_DAYS if number == 1 else (days * (number - 1)) // plan.versions
                published = datetime.combine(first_day + timedelta(days=offset), datetime.min.time(), zone) - (
                    timedelta(days=1) if number == 1 else timedelta(hours=-9)
                )
                session.execute(
                    update(CampaignVersion)
                    .where(col(CampaignVersion.public_id) == version.public_id)
                    .values(published_at=published.astimezone(UTC))
                )
                schedule.append((published.astimezone(UTC), plan.conversion * rng.uniform(0.75, 1.3)))
            campaign = campaigns.get_campaign(session, actor.account_id, row.public_id)
            assert campaign.id is not None
            made.append(
                DemoCampaign(
                    public_id=row.public_id,
                    id=campaign.id,
                    channel=plan.channel,
                    utm=(plan.utm_source, plan.utm_medium, plan.utm_campaign),
                    click=plan.click_id,
                    weight=plan.weight,
                    schedule=schedule,
                    cpc=plan.cpc,
                )
            )
        session.commit()
    runtime.current().campaign_matchers.clear()
    return made


def create_pixels(session: Session, actor: Actor, made: list[DemoCampaign]) -> int:
    """Meta on the Meta campaigns, GA4 for everything, both disabled (demo credentials: nothing is sent to Meta or
    Google). Returns how many."""
    with write_lock:
        meta = pixels.create_pixel(session=session, actor=actor, provider="meta", name="Meta (demo)",
                                   settings={"pixel_id": "123456789012345"},
                                   credentials={"access_token": "EAAdemo0000000000"})  # fmt: skip
        ga4 = pixels.create_pixel(session=session, actor=actor, provider="ga4", name="GA4 (demo)",
                                  settings={"measurement_id": "G-DEMO12345"},
                                  credentials={"api_secret": "demo-secret-0000"}, is_default=True)  # fmt: skip
        for c in made:
            if c.channel == "meta":
                pixels.attach_pixel(session=session, actor=actor, campaign_public_id=c.public_id,
                                    pixel_public_id=meta.public_id)  # fmt: skip
        for pixel in (meta, ga4):
            pixels.update_pixel(session=session, actor=actor, pixel_public_id=pixel.public_id, enabled=False)
        session.commit()
    return 2
