""" "Why wasn't this order counted?": the checklist shown with each conversion delivery.

Each check reads what was (or will be) sent and what PaidSignal saw in the browser, and says in plain words what
is right, what is weak and what is wrong, per provider.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.integrations import ga4, google_ads, meta_capi, signed_webhook
from app.integrations.conversion import stored_conversion
from app.integrations.hashing import hash_self_test, is_hashed
from app.models import ConversionDelivery, Event, Order, Provider, VisitSession
from app.models.base import utcnow

# Providers that serve ads: the buyer's ``ad_user_data`` consent decides whether they may have the conversion.
AD_PLATFORMS = frozenset({Provider.META.value, Provider.GOOGLE_ADS.value})


@dataclass(frozen=True)
class CheckItem:
    """One line of the checklist."""

    label: str
    state: str  # ok | warn | fail | info
    detail: str


def consent_skip(provider: str, consent: dict[str, Any]) -> str | None:
    """Why a conversion must not go to this provider under the buyer's consent, or None."""
    if provider in AD_PLATFORMS and consent.get("ad_user_data") is False:
        return "The buyer denied consent to using their data for ads (ad_user_data): not sent to an ad platform."
    if provider == Provider.GA4.value and consent.get("analytics") is False:
        return "The buyer denied analytics consent: not sent to Google Analytics."
    return None


_FBC = re.compile(r"^fb\.(\d)\.(\d+)\.(.+)$")
_FBP = re.compile(r"^fb\.(\d)\.(\d+)\.(\d+)$")
_MAX_AGE = {
    Provider.META.value: meta_capi.MAX_AGE,
    Provider.GA4.value: ga4.MAX_AGE,
    Provider.GOOGLE_ADS.value: google_ads.MAX_AGE,
    Provider.WEBHOOK.value: signed_webhook.MAX_AGE,
}


def _ok(label: str, detail: str) -> CheckItem:
    return CheckItem(label, "ok", detail)


def _warn(label: str, detail: str) -> CheckItem:
    return CheckItem(label, "warn", detail)


def _fail(label: str, detail: str) -> CheckItem:
    return CheckItem(label, "fail", detail)


def _info(label: str, detail: str) -> CheckItem:
    return CheckItem(label, "info", detail)


def check_fbc(fbc: str | None, landing_fbclid: str | None = None) -> CheckItem:
    label = "fbc (Meta click id)"
    if not fbc:
        return _warn(label, "None: the buyer did not arrive from a Meta ad click we saw. Meta matches on other data.")
    match = _FBC.match(fbc)
    if not match:
        return _fail(label, f"{fbc[:40]!r} is not fb.<index>.<creation ms>.<fbclid>.")
    stamp, fbclid = match.group(2), match.group(3)
    if len(stamp) != 13:
        return _fail(label, f"The creation time {stamp} has {len(stamp)} digits: it must be milliseconds (13 digits).")
    if landing_fbclid and fbclid != landing_fbclid:
        if fbclid.lower() == landing_fbclid.lower():
            return _fail(label, "The fbclid was changed in case: it is case-sensitive and must be kept exactly.")
        return _warn(label, "The fbclid differs from the landing's: a later ad click replaced it (that is right).")
    return _ok(label, f"fb.{match.group(1)}.{stamp}.… — well-formed, creation time in milliseconds.")


def check_fbp(fbp: str | None) -> CheckItem:
    label = "fbp (Meta browser id)"
    if not fbp:
        return _warn(label, "None: the shop's page had no _fbp cookie (the Meta pixel is not on it, or was blocked).")
    match = _FBP.match(fbp)
    if not match or len(match.group(2)) != 13:
        return _fail(label, f"{fbp[:40]!r} is not fb.<index>.<creation ms>.<random>.")
    return _ok(label, "Well-formed.")


def check_hashing(sent_user_data: dict[str, Any] | None) -> CheckItem:
    label = "User data hashing"
    failures = hash_self_test()
    if failures:
        return _fail(label, "; ".join(failures))
    bad = [
        name
        for name, values in (sent_user_data or {}).items()
        if name in {"em", "ph", "fn", "ln", "external_id"}
        for value in (values if isinstance(values, list) else [values])
        if not is_hashed(str(value))
    ]
    if bad:
        return _fail(label, f"Not SHA-256 hex: {', '.join(sorted(set(bad)))}.")
    return _ok(label, "SHA-256 after normalising; matches Meta's and Google's published test vectors.")


def _sent_body(session: Session, delivery: ConversionDelivery) -> dict[str, Any] | None:
    from app.models import DeliveryAttempt

    request = session.exec(
        select(DeliveryAttempt.request)
        .where(DeliveryAttempt.delivery_id == delivery.id)
        .order_by(col(DeliveryAttempt.id).desc())
        .limit(1)
    ).first()
    body = (request or {}).get("body")
    return body if isinstance(body, dict) else None


def checklist(*, session: Session, delivery: ConversionDelivery, now: datetime | None = None) -> list[CheckItem]:
    conversion = stored_conversion(delivery.conversion)
    provider = delivery.provider
    user = conversion.get("user") or {}
    items: list[CheckItem] = []
    order = session.get(Order, delivery.order_id) if delivery.order_id else None
    sent = _sent_body(session, delivery)

    if provider == Provider.META.value:
        if conversion["kind"] == "purchase":
            browser = session.exec(
                select(Event.type).where(
                    Event.account_id == delivery.account_id, Event.event_id == conversion["event_id"]
                )
            ).first()
            label, event_id = "Deduplication with the browser", conversion["event_id"]
            if browser:
                detail = f"The browser's {browser} event used the same event id ({event_id}): Meta keeps one."
                items.append(_ok(label, detail))
            else:
                detail = (
                    f"No browser event with event id {event_id} reached PaidSignal. Call paidsignal('purchase') on "
                    "the thank-you page so the Meta pixel fires with this id; until then Meta counts only the "
                    "server event."
                )
                items.append(_warn(label, detail))
        else:
            items.append(_info("Deduplication with the browser", "Renewals happen without a browser: nothing to pair."))
        landing = None
        if order is not None and order.session_key:
            landing = session.exec(
                select(VisitSession.fbclid).where(
                    VisitSession.account_id == delivery.account_id, VisitSession.session_key == order.session_key
                )
            ).first()
        items.append(check_fbc(user.get("fbc"), landing))
        items.append(check_fbp(user.get("fbp")))
        events = (sent or {}).get("data") or [{}]
        items.append(check_hashing(events[0].get("user_data") if sent else meta_capi.user_data(conversion)))
        if not user.get("user_agent") and conversion["kind"] != "renewal":
            items.append(_fail("Browser user agent", "Missing: Meta requires client_user_agent for website events."))
    if provider == Provider.GA4.value:
        ga = conversion.get("ga") or {}
        if ga.get("client_id"):
            items.append(_ok("GA client_id", f"{ga['client_id']} (from the _ga cookie)."))
        else:
            no_client = "None (no _ga cookie when checkout started): sent with a PaidSignal id, so GA cannot join"
            items.append(_warn("GA client_id", no_client + " the sale to the visit and reports it as direct."))
        kind = conversion["kind"]
        if kind != "purchase":
            detail = (
                f"Not sent: a {kind} comes without the buyer, days or weeks after the visit, and GA4 joins an event "
                "to a session only within it."
            )
            items.append(_info("GA session_id", detail))
        elif not ga.get("session_id"):
            items.append(_warn("GA session_id", "None: without it GA4 attributes the purchase to Unassigned/Direct."))
        elif ga4.in_session(conversion, delivery.event_time, delivery.sent_at or now or utcnow()):
            items.append(_ok("GA session_id", f"{ga['session_id']}."))
        else:
            detail = (
                "Not sent: the purchase was paid more than 30 minutes after checkout, after the GA session ended, "
                "and GA4 joins an event to a session only within it."
            )
            items.append(_info("GA session_id", detail))
        if kind == "refund":
            if conversion.get("items_note"):
                items.append(_info("Refunded items", conversion["items_note"]))
            else:
                returned = conversion.get("items") or []
                names = ", ".join(f"{i['quantity']} × {i.get('name') or i['id']}" for i in returned)
                items.append(_ok("Refunded items", f"The amount is whole units: {names}."))
    if provider == Provider.GOOGLE_ADS.value:
        clicks = conversion.get("clicks") or {}
        chosen = google_ads.click_id(clicks)
        if chosen:
            others = [k for k in clicks if k != chosen[0]]
            unsent = f" ({', '.join(others)} present, not sent: one click id per event, gclid > wbraid > gbraid)"
            items.append(_ok("Google click id", f"{chosen[0]} sent{unsent if others else ''}."))
        elif user.get("email"):
            items.append(_warn("Google click id", "None: Google Ads can match this sale only from the hashed e-mail."))
        else:
            items.append(_fail("Google click id", "No gclid, gbraid, wbraid or e-mail: Google Ads cannot match it."))
        items.append(check_hashing(None))
        if conversion["kind"] == "refund":
            detail = (
                f"Sent as an adjustment of {conversion['transaction_id']}: Google Ads restates its value to "
                f"{conversion.get('remaining_value', 0)} {conversion['currency']} (the conversion keeps counting once)."
            )
            items.append(_info("Refund", detail))

    consent = conversion.get("consent") or {}
    blocked = consent_skip(provider, consent)
    if blocked:
        items.append(_fail("Consent", blocked))
    elif consent:
        given = ", ".join(f"{k} {'granted' if v else 'denied'}" for k, v in consent.items())
        items.append(_ok("Consent", given + "."))
    else:
        items.append(_info("Consent", "No consent signal was given with the checkout (treated as granted)."))

    start = google_ads.age_start(conversion, delivery.event_time) if provider == Provider.GOOGLE_ADS.value else None
    age = (now or utcnow()) - (start or delivery.event_time)
    limit = _MAX_AGE[provider]
    hours = age.total_seconds() / 3600
    since = "since the ad click" if start is not None and start < delivery.event_time else "old"
    if delivery.status == "sent":
        items.append(
            _ok("Age", f"Sent {_duration((delivery.sent_at or utcnow()) - delivery.event_time)} after the sale.")
        )
    elif age > limit:
        items.append(
            _fail("Age", f"{hours:.0f} h {since}: past {provider}'s limit of {limit.total_seconds() / 3600:.0f} h.")
        )
    else:
        items.append(_ok("Age", f"{hours:.1f} h {since} (limit {limit.total_seconds() / 3600:.0f} h)."))
    if delivery.test:
        items.append(_warn("Test mode", "On: the provider validates this conversion but does not count it."))
    else:
        items.append(_ok("Test mode", "Off: live conversion."))
    return items


def _duration(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
