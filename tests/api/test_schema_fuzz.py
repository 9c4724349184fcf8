"""Schema fuzzing of every route in ``/api/openapi.json`` (schemathesis, fixed seed), through the whole ASGI app as
Reflex serves it, with real keys: a publishable key from an allowed origin on the browser routes, a secret key on the
others. Every route must answer without a server error, with 405 and ``Allow`` to a method it lacks, with the
content type and body shape its document declares, and a request the schema calls valid must not be refused unless
it is one of DOCUMENTED_REJECTIONS: rules the schema cannot express. About a minute and a half here (2 cores); raise
``max-examples`` or change the seed to search harder.

Each finding also has a focused regression test (tests/api/test_api_robustness.py and the route's own tests); this
file is the net, not the record.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    unsupported_method,
)
from sqlmodel import Session

from app.api.factory import build_api
from app.services import campaigns as campaign_service
from app.services.permissions import key_actor
from tests.utils.events import DESKTOP_UA
from tests.utils.payments import ORIGIN, make_shop, start_checkout
from tests.utils.stripe_fakes import StripeRecorder

SHOP = ORIGIN
BROWSER_ROUTES = {("POST", "/api/v1/events"), ("POST", "/api/v1/checkout/sessions"), ("POST", "/api/v1/whoami")}

# Refusals of schema-valid requests that the schema cannot express: (method, path, error field, a part of
# "code: message"). An index in a field is written "*".
DOCUMENTED_REJECTIONS: list[tuple[str, str, str | None, str]] = [
    # Cursors are opaque tokens: only one this API returned is a cursor (as an id must be one that exists).
    *[
        ("GET", path, "cursor", "")
        for path in ("/api/v1/events", "/api/v1/orders", "/api/v1/conversions", "/api/v1/spend")
    ],
    # Cross-field rules.
    *[
        ("GET", path, "until", "The end date is before the start date")
        for path in ("/api/v1/orders", "/api/v1/conversions", "/api/v1/conversions/google-ads.csv", "/api/v1/spend")
    ],
    *[
        rule
        for path in ("/api/v1/metrics", "/api/v1/metrics/platform-vs-verified")
        for rule in (
            ("GET", path, "range", "start and end need range=custom"),
            ("GET", path, "start", "A custom range needs both a start and an end date"),
            ("GET", path, "start", "A range may span at most"),
            ("GET", path, "end", "The end date is before the start date"),
        )
    ],
    *[
        ("GET", path, field, message)
        for path in ("/api/v1/metrics/ltv", "/api/v1/metrics/cohorts")
        for field, message in (("start", "A range may span at most"), ("end", "The end date is before the start"))
    ],
    ("GET", "/api/v1/metrics/blended", "range", "start and end need range=custom"),
    ("GET", "/api/v1/metrics/blended", "start", "A custom range needs both a start and an end date"),
    ("GET", "/api/v1/metrics/blended", "start", "A range may span at most"),
    ("GET", "/api/v1/metrics/blended", "end", "The end date is before the start date"),
    ("GET", "/api/v1/conversions/google-ads.csv", None, "Export at most 92 days"),
    ("POST", "/api/v1/campaigns", None, "a target CPA is an amount"),
    ("POST", "/api/v1/campaigns/{campaign_id}/versions", None, "a target CPA is an amount"),
    ("POST", "/api/v1/campaigns", None, "the target CPA is in"),  # …and the budget in another currency
    ("POST", "/api/v1/campaigns/{campaign_id}/versions", None, "the target CPA is in"),
    # Unknown ids, and rules on today's date, in a request body.
    ("POST", "/api/v1/spend", "entries[*].campaign", "Unknown campaign"),
    ("POST", "/api/v1/spend", "entries[*].date", "is in the future"),
    ("POST", "/api/v1/checkout/sessions", "items.*.price", "Stripe has no price"),
    # email-validator refuses special-use domains (.local, .test, …): beyond what "format: email" says.
    ("POST", "/api/v1/checkout/sessions", "customer_email", "special-use or reserved name"),
    # The key's allowed origins are the account's data, not the document's.
    ("POST", "/api/v1/checkout/sessions", "success_url", "allowed origins"),
    ("POST", "/api/v1/checkout/sessions", "cancel_url", "allowed origins"),
    # Stripe's signature over the raw body: only Stripe can make a request this route accepts.
    ("POST", "/api/v1/stripe/webhook/{account_id}", None, "invalid_signature:"),
]
# Browsers send JSON as text/plain (CORS-simple requests): the document declares that body as a string, and cannot
# say that the string must be JSON of the application/json body's shape. Such bodies are checked as JSON is.
TEXT_PLAIN_ROUTES = BROWSER_ROUTES


def documented(method: str, path: str, field: str | None, message: str) -> bool:
    field = re.sub(r"(?<=[\[.])\d+(?=[\].])", "*", field) if field else field
    return any((method, path, field) == (m, p, f) and start in message for m, p, f, start in DOCUMENTED_REJECTIONS)


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261204,
        # NUL is refused in every string (PostgreSQL cannot store it), a rule the document does not repeat on each.
        "generation": {"max-examples": 25, "database": "none", "allow-x00": False},
        "phases": {"stateful": {"enabled": False}},
        "cache": {"enabled": False},
    }
)
schema = schemathesis.openapi.from_asgi("/api/openapi.json", build_api(), config=CONFIG)


def schema_valid_requests_are_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """schemathesis' own ``positive_data_acceptance``, with the documented exceptions: a request generated to be
    valid may be refused only for a reason listed in DOCUMENTED_REJECTIONS."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 413, 415, 422):
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"field": None, "message": response.text[:200]}
    method, path = case.method.upper(), case.operation.path
    if case.media_type == "text/plain" and (method, path) in TEXT_PLAIN_ROUTES:
        return None
    if documented(method, path, error.get("field"), f"{error.get('code')}: {error.get('message')}"):
        return None
    raise AssertionError(
        f"Schema-valid request rejected: {response.status_code} {error} (not in DOCUMENTED_REJECTIONS)"
    )


@pytest.fixture
def fuzz_world(db: Session, stripe_api: StripeRecorder) -> dict[str, str]:
    """A shop with Stripe connected (the recording Stripe server), its keys, a campaign and an order."""
    shop = make_shop(db, stripe_api)
    assert shop.account.id is not None
    campaign = campaign_service.create_campaign(
        session=db, actor=key_actor(shop.account.id), name="Spring", channel="meta", config={}
    )
    order_id = start_checkout(shop, db)
    db.commit()
    return {
        "secret": shop.secret_key,
        "publishable": shop.publishable_key,
        "campaign_id": campaign.public_id,
        "order_id": order_id,
        "account_id": shop.account.public_id,
    }


@schema.parametrize()
# One account and its keys per route (the database is emptied after each test), shared by that route's examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_no_route_fails_or_refuses_a_valid_request(case: Any, fuzz_world: dict[str, str], asgi_app: Any) -> None:
    """Both keys are real; ids in paths are the shop's own (a campaign, an order, the account's webhook)."""
    headers = {"User-Agent": DESKTOP_UA}
    if (case.method.upper(), case.operation.path) in BROWSER_ROUTES:
        headers["Origin"] = SHOP
        case.query = {**(case.query or {}), "key": fuzz_world["publishable"]}
    else:
        headers["Authorization"] = f"Bearer {fuzz_world['secret']}"
    # Checkouts may only return to the key's origins (documented above): valid ones go there, to reach the rest.
    if isinstance(case.body, dict) and case.meta is not None and case.meta.generation.mode.is_positive:
        for name in ("success_url", "cancel_url"):
            if name in case.body:
                case.body[name] = f"{SHOP}/{name}"
    # Real ids where the route reads one, so the fuzzer reaches past "not found".
    for name in ("campaign_id", "order_id", "account_id"):
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = fuzz_world[name]
    case.call_and_validate(
        headers=headers,
        app=asgi_app,
        checks=[
            not_a_server_error,
            unsupported_method,
            content_type_conformance,
            response_schema_conformance,
            schema_valid_requests_are_accepted,
        ],
    )
