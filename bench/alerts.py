"""Alert evaluation at scale: the ``evaluate_alerts`` job on two weeks of raw data, with and without its window cache.

One run, one SQLite file in a temporary folder:

- (a) the dataset, written with ``sqlite3`` ``executemany`` in large transactions into the migrated schema: one shop
  (Europe/Berlin) with N campaigns (1–3 published versions each, KPI targets and a EUR budget in every version's
  config), D days of sessions ending at the latest 20:00 local time, orders from those sessions (20 products, 4 %
  in USD, 10 % subscriptions) with their attribution snapshot (every model's credits from ``attribution.credit``
  over the visitor's touches, as ``attribution.snapshot`` stores them), one payment each, refunds on about 5 %,
  ad spend per campaign and day; two campaigns stop converting 8 hours before the end. Three noise accounts hold
  1 % of the volume each;
- (b) the rules, created with ``alerts.create_rule`` as the owner: one account-wide rule per metric and window,
  one rule per campaign, two per noise account;
- (c) timings at ``now`` = the end of the data, 20:00 in the shop's timezone (``time.perf_counter``, p50 / p95 in
  whole ms): ``metrics.window_figures`` alone for 1 h, 24 h and 7 d; ``evaluate_rules`` in steady state (states
  exist, nothing changes) with the per-run cache as shipped, and without it (``alerts.evaluate`` wrapped to drop
  the cache: every rule reads its own windows) as the baseline, same data, same run; the first run after the states
  are cleared (fires, records events) against the run right after it; each run split into ``window_figures``, the
  rest of ``evaluate`` (reads only) and what lies outside it (states, events, commits); ``send_due_emails`` with
  the file backend for the e-mails the first run queued; ``rollups._is_new`` per call against its SQL in sqlite3.
  Cached and uncached runs must leave identical states.

Usage: ``.venv/bin/python bench/alerts.py [--sessions 300000] [--orders 9000] [--campaigns 30] [--days 14] [--reps 3]
[--uncached-reps 1] [--window-reps 3] [--profile]``. At the defaults a run takes about 9 minutes on the 2-core
machine: one run without the cache alone takes over 4 minutes, one with it 15–25 s; ``--sessions 100000 --orders
3000`` needs about 3 minutes of CPU (5 on a busy machine). Writes bench/results/alerts-*.json and prints a Markdown
table. The run fails (exit 1) when a check fails: a window without data, a run with errors, cached and uncached runs
disagreeing, an e-mail missing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Made in main() once the arguments are read: --help must not leave an empty folder behind.
DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-alerts-{os.getpid()}-{os.urandom(4).hex()}"
DB_PATH = DATA / "paidsignal.db"
os.environ.update(
    {
        "DATA_DIR": str(DATA),
        "DATABASE_URL": f"sqlite:///{DB_PATH}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_PROFILE": "fast",
        "JOBS_ENABLED": "false",
        "EMAIL_BACKEND": "file",
        "__REFLEX_SKIP_COMPILE": "true",
    }
)

TIMEZONE = "Europe/Berlin"
PASSWORD = "bench-password-0123"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
HOURS = [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 8, 8, 7, 7, 7, 8, 9, 10, 10, 9, 6, 4]  # local hour of day
CHANNELS = [("meta", "facebook", "paid_social", 55), ("google", "google", "cpc", 80),
            ("tiktok", "tiktok", "paid_social", 35), ("email", "newsletter", "email", 0)]  # fmt: skip
PRODUCTS = ["T-shirt", "Hoodie", "Mug", "Cap", "Poster", "Tote bag", "Socks", "Beanie", "Scarf", "Sticker pack",
            "Notebook", "Pin set", "Water bottle", "Backpack", "Jacket", "Sweatpants", "Phone case", "Keychain",
            "Blanket", "Gift card"]  # fmt: skip
STALLED_HOURS = 8  # the two stalled campaigns' last order is at least this long before the end
END_HOUR = 20  # local hour the data ends at (``now`` of every measure)


# --- timestamps as SQLite stores them (UTCDateTime: naive UTC text, microseconds always written) ---------------------

_DAY_TEXT: dict[int, str] = {}


def ts(us: int) -> str:
    day, rest = divmod(us, DAY_US)
    text = _DAY_TEXT.get(day)
    if text is None:
        text = _DAY_TEXT[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    seconds, micro = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{text} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


def to_dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def hexid(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


# --- the dataset ----------------------------------------------------------------------------------------------------


class Ids:
    """Explicit row ids shared by every account (orders and their payment share one id)."""

    order = 0


def build_account(
    db: sqlite3.Connection, account_id: int, *, sessions: int, orders: int, campaigns: int, days: int, end_us: int,
    seed: int,
) -> dict[str, int]:  # fmt: skip
    """One account's campaigns, sessions, visitors, orders, payments, refunds and spend; returns row counts."""
    from app.models import AttributionModel
    from app.services.attribution import TouchPoint, credit
    from app.services.campaigns import CampaignConfig

    rng = random.Random(seed)
    zone = ZoneInfo(TIMEZONE)
    start_us = end_us - days * DAY_US
    counts: dict[str, int] = defaultdict(int)
    acc = account_id

    # products
    catalogue = [(f"prod_{account_id}_{n:02d}", f"price_{account_id}_{n:02d}", rng.choice((900, 1500, 2500, 3900,
                  5900, 8900))) for n in range(len(PRODUCTS))]  # fmt: skip
    db.executemany(
        "INSERT INTO stripe_product (account_id, stripe_id, name, active, deleted, stripe_updated, synced_at)"
        " VALUES (?, ?, ?, 1, 0, 0, ?)",
        [(acc, pid, name, ts(start_us)) for (pid, _p, _u), name in zip(catalogue, PRODUCTS, strict=True)],
    )
    counts["products"] = len(catalogue)

    # campaigns and versions: v1 before the data starts, later versions published inside it
    camps: list[dict[str, Any]] = []
    for n in range(campaigns):
        channel, source, medium, cpc = CHANNELS[n % len(CHANNELS)]
        key = f"campaign-{n + 1:02d}"
        created = start_us - rng.randint(2, 60) * DAY_US
        cursor = db.execute(
            "INSERT INTO campaign (public_id, account_id, name, channel, status, priority, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
            (f"cmp_{hexid(rng)}", acc, f"Campaign {n + 1:02d} ({channel})", channel, 100 + n, ts(created),
             ts(created)),
        )  # fmt: skip
        cid = int(cursor.lastrowid or 0)
        count = rng.choice((1, 2, 2, 3))
        times = sorted([created + HOUR_US, *(rng.randint(start_us, end_us - 2 * HOUR_US) for _ in range(count - 1))])
        versions = []
        for number, published in enumerate(times, start=1):
            config = CampaignConfig.model_validate(
                {"matching_rules": [{"conditions": [{"field": "utm_campaign", "op": "equals", "value": key}]}],
                 "budget": {"amount": rng.randint(50, 400) * 100, "currency": "EUR", "period": "daily"},
                 "targets": {"min_roas": round(rng.uniform(1.5, 4.0), 1), "target_cpa": rng.randint(15, 45) * 100,
                             "min_conversion_rate": round(rng.uniform(0.01, 0.04), 3)},
                 "notes": f"v{number}"}
            ).model_dump(mode="json")  # fmt: skip
            cursor = db.execute(
                "INSERT INTO campaign_version (public_id, account_id, campaign_id, number, config, change_note,"
                " published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (f"cv_{hexid(rng)}", acc, cid, number, json.dumps(config), f"v{number}", ts(published)),
            )
            versions.append((published, int(cursor.lastrowid or 0), rng.uniform(0.75, 1.3)))
        db.execute("UPDATE campaign SET active_version_id = ? WHERE id = ?", (versions[-1][1], cid))
        camps.append({"id": cid, "key": key, "source": source, "medium": medium, "cpc": cpc, "channel": channel,
                      "weight": rng.uniform(1, 10), "mult": rng.uniform(0.5, 1.8), "versions": versions,
                      "stalled": n in (1, 2)})  # fmt: skip
        counts["campaigns"] += 1
        counts["versions"] += len(versions)
    weights = [c["weight"] for c in camps]
    by_id = {c["id"]: c for c in camps}
    stall_from = end_us - (STALLED_HOURS + 1) * HOUR_US  # an order is paid within ~40 min of its session start
    public = dict(db.execute("SELECT id, public_id FROM campaign WHERE account_id = ?", (acc,)).fetchall())
    version_public = {
        vid: (pid, number)
        for vid, pid, number in db.execute(
            "SELECT id, public_id, number FROM campaign_version WHERE account_id = ?", (acc,)
        ).fetchall()
    }
    names = dict(db.execute("SELECT id, name FROM campaign WHERE account_id = ?", (acc,)).fetchall())

    # sessions hour by hour (local daily shape), returning visitors, converting sessions
    hour_weights = []
    for h in range(days * 24):
        local = to_dt(start_us + h * HOUR_US).astimezone(zone)
        hour_weights.append(HOURS[local.hour] * (0.8 if local.weekday() >= 5 else 1.0) * rng.uniform(0.85, 1.15))
    total_weight = sum(hour_weights)
    mean_mult = 0.62 * sum(c["weight"] * c["mult"] for c in camps) / sum(weights) + 0.38 * 0.8
    p_base = orders / sessions / mean_mult / 1.12  # 1.12: returning visitors convert 1.3× and are 40 %
    visitor_keys: list[str] = []
    visitor_rows: dict[int, list[Any]] = {}
    touches_of: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    converting: list[tuple[int, str, int, int, int]] = []  # visitor, session key, created, paid, campaign or 0
    traffic: dict[tuple[int, int], int] = defaultdict(int)  # (campaign, local day ordinal) -> sessions
    session_sql = (
        "INSERT INTO visit_session (account_id, session_key, visitor_key, inferred, started_at, last_event_at,"
        " event_count, landing_url, referrer, utm_source, utm_medium, utm_campaign, fbclid, fbc, gclid, user_agent,"
        " campaign_id, campaign_version_id) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    done, cumulative = 0, 0.0
    rows: list[tuple[Any, ...]] = []
    for h, weight in enumerate(hour_weights):
        cumulative += weight
        hour_us = start_us + h * HOUR_US
        local_day = to_dt(hour_us).astimezone(zone).date().toordinal()
        n_hour = round(sessions * cumulative / total_weight) - done
        done += n_hour
        for _ in range(n_hour):
            at = hour_us + rng.randrange(HOUR_US)
            if visitor_keys and rng.random() < 0.4:
                vindex, returning = rng.randrange(len(visitor_keys)), True
            else:
                vindex, returning = len(visitor_keys), False
                visitor_keys.append(f"v{hexid(rng)}{vindex:x}")
            vkey = visitor_keys[vindex]
            skey = f"s{hexid(rng)}{counts['sessions']:x}"
            counts["sessions"] += 1
            r = rng.random()
            campaign, version_id, mult = None, None, 0.8
            utm: tuple[str | None, str | None, str | None] = (None, None, None)
            referrer = None
            if r < 0.62:
                campaign = rng.choices(camps, weights=weights)[0]
                version_id, vmult = next((v, m) for p, v, m in reversed(campaign["versions"]) if p <= at)
                mult = campaign["mult"] * vmult
                utm = (campaign["source"], campaign["medium"], campaign["key"])
                traffic[(campaign["id"], local_day)] += 1
                touches_of[vindex].append((at, campaign["id"], version_id))
            elif r < 0.8:
                referrer = "https://www.google.com/"
            # last touch credits a stalled campaign: no order (whatever this session's own source)
            if touches_of.get(vindex) and by_id[touches_of[vindex][-1][1]]["stalled"] and at >= stall_from:
                mult = 0.0
            pages = 1 + min(int(rng.expovariate(0.5)), 15)
            last = at + pages * rng.randint(10, 90) * 1_000_000
            landing = "https://shop.example/" + (f"?utm_campaign={utm[2]}" if utm[2] else "")
            click = f"IwAR{hexid(rng)}" if campaign and campaign["channel"] == "meta" else None
            gclid = f"Cj0K{hexid(rng)}" if campaign and campaign["channel"] == "google" else None
            rows.append((acc, skey, vkey, ts(at), ts(last), pages, landing, referrer, *utm, click,
                         f"fb.1.{at // 1000}.{click}" if click else None, gclid, "Mozilla/5.0 (bench)",
                         campaign["id"] if campaign else None, version_id))  # fmt: skip
            row = visitor_rows.get(vindex)
            if row is None:
                visitor_rows[vindex] = [at, last, pages]
            else:
                row[1] = max(row[1], last)
                row[2] += pages
            if rng.random() < p_base * mult * (1.3 if returning else 1.0):
                created = last + rng.randint(30, 600) * 1_000_000
                paid = created + rng.randint(60, 240) * 1_000_000
                if paid < end_us:
                    converting.append((vindex, skey, created, paid, campaign["id"] if campaign else 0))
        if len(rows) >= 50_000:
            db.executemany(session_sql, rows)
            rows = []
    db.executemany(session_sql, rows)
    db.executemany(
        "INSERT INTO visitor (account_id, visitor_key, first_seen_at, last_seen_at, event_count)"
        " VALUES (?, ?, ?, ?, ?)",
        [(acc, visitor_keys[i], ts(r[0]), ts(r[1]), r[2]) for i, r in visitor_rows.items()],
    )
    counts["visitors"] = len(visitor_rows)

    # orders with their attribution snapshot, one payment each, refunds
    models = [m.value for m in AttributionModel]
    order_rows, payment_rows, refund_rows = [], [], []
    for vindex, skey, created, paid, _cid in converting:
        Ids.order += 1
        order_id = Ids.order
        at = to_dt(created)
        touches = [t for t in touches_of.get(vindex, []) if created - 28 * DAY_US <= t[0] <= created]
        points = [TouchPoint(to_dt(t[0]), t[1], t[2]) for t in touches]
        credits = {
            model: [
                {"campaign_id": c.campaign_id, "campaign_version_id": c.version_id,
                 "campaign": public[c.campaign_id] if c.campaign_id else None,
                 "campaign_name": names[c.campaign_id] if c.campaign_id else None,
                 "campaign_version": version_public[c.version_id][0] if c.version_id else None,
                 "version_number": version_public[c.version_id][1] if c.version_id else None,
                 "share": str(c.share)}
                for c in credit(points, at, model=model)
            ]
            for model in models
        }  # fmt: skip
        snapshot = {
            "at": at.isoformat(), "lookback_days": 28,
            "touches": [{"at": to_dt(t[0]).isoformat(), "campaign": public[t[1]], "campaign_name": names[t[1]],
                         "campaign_version": version_public[t[2]][0], "version_number": version_public[t[2]][1]}
                        for t in touches],
            "models": credits, "user_agent": "Mozilla/5.0 (bench)", "ip": "203.0.113.7", "consent": None,
        }  # fmt: skip
        last = credits["last_touch"][0]
        subscription = rng.random() < 0.1
        currency = "USD" if not subscription and rng.random() < 0.04 else "EUR"
        chosen = rng.sample(catalogue, k=1 if subscription else rng.choice((1, 1, 1, 2, 3)))
        items = [{"product": prod, "price": price, "quantity": 1 if subscription else rng.choice((1, 1, 1, 2)),
                  "unit_amount": unit} for prod, price, unit in chosen]  # fmt: skip
        amount = sum(i["unit_amount"] * i["quantity"] for i in items)
        refunded, refunded_at = 0, 0
        if rng.random() < 0.05:
            refunded_at = paid + rng.randint(1, 5 * 24 * 60) * 60_000_000
            if refunded_at < end_us:
                refunded = amount if rng.random() < 0.7 else amount // 2
        status = "paid" if not refunded else ("refunded" if refunded >= amount else "partially_refunded")
        email = f"buyer-{visitor_keys[vindex][1:13]}@customers.example"
        pid = f"ord_{hexid(rng)}"
        charge = f"ch_{hexid(rng, 96)}"
        order_rows.append(
            (order_id, pid, acc, f"rk_{pid}", "subscription" if subscription else "payment", status, ts(paid),
             currency, amount, amount, refunded, json.dumps(items), hexid(rng, 128), visitor_keys[vindex], skey,
             email, last["campaign_id"], last["campaign_version_id"], json.dumps(snapshot),
             "https://shop.example/thanks", "https://shop.example/cart", f"cs_{hexid(rng, 96)}",
             None if subscription else f"pi_{hexid(rng, 96)}", f"sub_{hexid(rng, 96)}" if subscription else None,
             f"cus_{visitor_keys[vindex][1:15]}", ts(created), ts(paid), f"email:{email}")
        )  # fmt: skip
        key = f"in_{hexid(rng, 96)}" if subscription else f"pi_{hexid(rng, 96)}"
        payment_rows.append((order_id, acc, order_id, key, "first" if subscription else "one_off",
                             "subscription_create" if subscription else None, charge, amount, refunded, currency,
                             ts(paid)))  # fmt: skip
        if refunded:
            refund_rows.append((acc, order_id, order_id, charge, f"evt_{hexid(rng, 96)}", refunded, currency,
                                ts(refunded_at)))  # fmt: skip
    db.executemany(
        "INSERT INTO shop_order (id, public_id, account_id, request_key, mode, status, status_changed_at, currency,"
        " amount_expected, amount_paid, amount_refunded, items, event_id, visitor_id, session_key, customer_email,"
        " campaign_id, campaign_version_id, attribution, success_url, cancel_url, checkout_session_id,"
        " payment_intent_id, subscription_id, customer_id, disputed, created_at, paid_at, customer_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)",
        order_rows,
    )
    db.executemany(
        "INSERT INTO payment (id, account_id, order_id, stripe_key, kind, billing_reason, charge_id, amount,"
        " amount_refunded, currency, paid_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        payment_rows,
    )
    db.executemany(
        "INSERT INTO refund (account_id, order_id, payment_id, charge_id, stripe_event_id, amount, currency,"
        " refunded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        refund_rows,
    )
    counts["orders"], counts["refunds"] = len(order_rows), len(refund_rows)

    # ad spend per campaign and local day; partial first/last days scaled to a whole day's spend
    spend_rows = []
    for (cid, ordinal), n in sorted(traffic.items()):
        campaign = by_id[cid]
        if not campaign["cpc"]:
            continue
        day = date.fromordinal(ordinal)
        day_start = to_us(datetime.combine(day, datetime.min.time(), zone))
        day_end = to_us(datetime.combine(day + timedelta(days=1), datetime.min.time(), zone))
        covered = (min(day_end, end_us) - max(day_start, start_us)) / (day_end - day_start)
        clicks = int(n / covered * rng.uniform(1.05, 1.25))
        spend_rows.append((acc, day.isoformat(), cid, "EUR", int(clicks * campaign["cpc"] * rng.uniform(0.85, 1.15)),
                           clicks * rng.randint(40, 90), clicks, "csv", ts(min(day_end, end_us))))  # fmt: skip
    db.executemany(
        "INSERT INTO ad_spend (account_id, day, campaign_id, currency, amount, impressions, clicks, source,"
        " imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        spend_rows,
    )
    counts["ad_spend_rows"] = len(spend_rows)
    db.commit()
    return dict(counts)


def build_dataset(args: argparse.Namespace, end: datetime) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Accounts and owners through the service, then every account's data in bulk. Returns (counts, label ->
    (account id, owner user id))."""
    from sqlmodel import Session

    from app.db import get_engine
    from app.services import accounts

    owners: dict[str, tuple[int, int]] = {}
    with Session(get_engine()) as session:
        for label in ("big", "noise1", "noise2", "noise3"):
            account, user = accounts.signup(
                session=session, account_name=f"Bench {label}", email=f"{label}@bench.example", password=PASSWORD,
                timezone=TIMEZONE,
            )  # fmt: skip
            session.commit()
            owners[label] = (account.id or 0, user.id or 0)
    get_engine().dispose()
    db = sqlite3.connect(DB_PATH, isolation_level="DEFERRED")
    db.execute("PRAGMA journal_mode=OFF")  # a bulk load into a fresh file; WAL again afterwards
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA foreign_keys=OFF")
    counts: dict[str, Any] = {}
    end_us = to_us(end)
    for n, (label, (account_id, _user)) in enumerate(owners.items()):
        scale = 1.0 if label == "big" else 0.01
        counts[label] = build_account(
            db, account_id, sessions=max(500, int(args.sessions * scale)), orders=max(15, int(args.orders * scale)),
            campaigns=args.campaigns if label == "big" else 3, days=args.days, end_us=end_us, seed=100 + n,
        )  # fmt: skip
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return counts, owners


# --- rules ----------------------------------------------------------------------------------------------------------

VOLUME = {"1h": 20, "24h": 200, "7d": 1000}  # minimum sessions per campaign and window


def account_rules() -> list[dict[str, Any]]:
    """Every metric over every window where it means something, for every active campaign."""
    rules: list[dict[str, Any]] = []
    for window in ("1h", "24h", "7d"):
        # thresholds from the live version's KPI targets
        targeted = ("roas", "cpa", "conversion_rate")
        rules += [{"metric": m, "window": window, "min_sessions": VOLUME[window]} for m in targeted]
        rules.append({"metric": "net_revenue", "window": window, "currency": "EUR",
                      "threshold": {"1h": 15, "24h": 400, "7d": 3000}[window]})  # fmt: skip
        rules.append({"metric": "orders", "window": window, "threshold": {"1h": 1, "24h": 10, "7d": 80}[window],
                      "min_sessions": VOLUME[window]})  # fmt: skip
        if window != "1h":  # refunds trail payments by days: an hour says nothing
            rules.append({"metric": "refund_rate", "window": window, "threshold": 10, "min_orders": 5})
    rules += [{"metric": "conversions_stopped", "stopped_hours": hours, "min_sessions": 10} for hours in (3, 6, 24)]
    return [rule | {"name": f"All campaigns: {rule['metric']} {rule.get('window', '')}".strip()} for rule in rules]


CAMPAIGN_RULES = [
    {"metric": "roas", "window": "24h", "min_sessions": 100},
    {"metric": "cpa", "window": "7d", "min_sessions": 500},
    {"metric": "conversion_rate", "window": "1h", "min_sessions": 10},
    {"metric": "net_revenue", "window": "24h", "mode": "change", "threshold": 30},
    {"metric": "orders", "window": "24h", "mode": "change", "threshold": 40, "min_sessions": 100},
    {"metric": "refund_rate", "window": "7d", "threshold": 8, "min_orders": 10},
    {"metric": "conversions_stopped", "stopped_hours": 6, "min_sessions": 10},
]


def create_rules(owners: dict[str, tuple[int, int]]) -> dict[str, int]:
    from sqlmodel import Session, col, select

    from app.db import get_engine
    from app.models import Campaign, Role
    from app.services import alerts
    from app.services.permissions import Actor

    made: dict[str, int] = defaultdict(int)
    with Session(get_engine()) as session:
        for label, (account_id, user_id) in owners.items():
            actor = Actor(user_id=user_id, account_id=account_id, role=Role.OWNER)
            base = {"recipient_roles": ["owner"], "recipient_emails": ["marketing@bench.example"]}
            if label != "big":
                for data in ({"name": "ROAS 24h", "metric": "roas", "window": "24h"},
                             {"name": "Orders 1h", "metric": "orders", "window": "1h", "threshold": 1}):  # fmt: skip
                    alerts.create_rule(session=session, actor=actor, data=base | data)
                    made["noise"] += 1
                continue
            for data in account_rules():
                alerts.create_rule(session=session, actor=actor, data=base | data)
                made["account_wide"] += 1
            campaigns = session.exec(
                select(Campaign.public_id, Campaign.name).where(Campaign.account_id == account_id).order_by(
                    col(Campaign.id))
            ).all()  # fmt: skip
            for n, (public_id, name) in enumerate(campaigns):
                data = CAMPAIGN_RULES[n % len(CAMPAIGN_RULES)]
                named = data | {"campaign": public_id, "name": f"{name}: {data['metric']}"}
                alerts.create_rule(session=session, actor=actor, data=base | named)
                made["per_campaign"] += 1
    return dict(made)


# --- timing ---------------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def stats(times_ms: list[float]) -> dict[str, Any]:
    return {"p50_ms": round(statistics.median(times_ms)), "p95_ms": round(percentile(times_ms, 95)),
            "runs_ms": [round(t) for t in times_ms]}  # fmt: skip


def job_session() -> Any:
    """A session as the ``evaluate_alerts`` job opens it."""
    from sqlmodel import Session

    from app.db import get_engine

    return Session(get_engine(), expire_on_commit=False)


@dataclass
class Run:
    """One ``evaluate_rules`` run and where its time went."""

    ms: float  # the whole run
    evaluate_ms: float  # inside ``alerts.evaluate`` (reads only), window figures included
    window_ms: float  # inside ``metrics.window_figures``
    window_calls: int
    distinct_windows: int
    summary: Any

    @property
    def write_ms(self) -> float:
        """Outside ``evaluate``: the rules query, states moved, events composed and inserted, one commit per rule."""
        return self.ms - self.evaluate_ms


def timed_run(now: datetime, *, cache: bool = True) -> Run:
    """``evaluate_rules`` as the job runs it; ``cache=False``: ``alerts.evaluate`` loses the run's shared cache, so
    every rule reads its own windows (the baseline)."""
    from app.services import alerts, metrics
    from app.services.alerts import runs  # evaluate_rules calls runs.evaluate

    evaluate, window_figures = runs.evaluate, metrics.window_figures
    calls: list[tuple[int, datetime, datetime]] = []
    spent = {"evaluate": 0.0, "window": 0.0}

    def timed_evaluate(
        session: Any, rule: Any, *, now: datetime | None = None, cache: Any = None, locale: str | None = None
    ) -> Any:
        started = time.perf_counter()
        try:
            return evaluate(session, rule, now=now, cache=cache if keep else None, locale=locale)
        finally:
            spent["evaluate"] += time.perf_counter() - started

    def timed_window_figures(**kwargs: Any) -> Any:
        calls.append((kwargs["account_id"], kwargs["start"], kwargs["end"]))
        started = time.perf_counter()
        try:
            return window_figures(**kwargs)
        finally:
            spent["window"] += time.perf_counter() - started

    keep = cache
    runs.evaluate, metrics.window_figures = timed_evaluate, timed_window_figures  # type: ignore[assignment]
    try:
        with job_session() as session:
            started = time.perf_counter()
            summary = alerts.evaluate_rules(session, now=now)
            ms = (time.perf_counter() - started) * 1e3
    finally:
        runs.evaluate, metrics.window_figures = evaluate, window_figures  # type: ignore[assignment]
    return Run(ms, spent["evaluate"] * 1e3, spent["window"] * 1e3, len(calls), len(set(calls)), summary)


def run_stats(runs: list[Run]) -> dict[str, Any]:
    last = runs[-1]
    return stats([r.ms for r in runs]) | {
        "evaluate_p50_ms": round(statistics.median(r.evaluate_ms for r in runs)),
        "window_figures_p50_ms": round(statistics.median(r.window_ms for r in runs)),
        "writes_p50_ms": round(statistics.median(r.write_ms for r in runs)),
        "writes_runs_ms": [round(r.write_ms) for r in runs],
        "window_figures_calls": last.window_calls, "distinct_windows": last.distinct_windows,
        "summary": last.summary.text(),
    }  # fmt: skip


def sql(statement: str) -> None:
    from sqlalchemy import text

    from app.db import get_engine, write_lock

    with write_lock, get_engine().begin() as connection:
        connection.execute(text(statement))


def states() -> list[tuple[Any, ...]]:
    from sqlalchemy import text

    from app.db import get_engine

    with get_engine().connect() as connection:
        return [tuple(r) for r in connection.execute(text(
            "SELECT rule_id, campaign_id, status, suppressed, last_value FROM alert_state ORDER BY rule_id, campaign_id"
        ))]  # fmt: skip


def data_end() -> datetime:
    """The latest 20:00 in the shop's timezone that has passed: the data ends there (an evening hour, so the last
    hour holds orders and every run has the same shape of day)."""
    local = datetime.now(UTC).astimezone(ZoneInfo(TIMEZONE))
    end = local.replace(hour=END_HOUR, minute=0, second=0, microsecond=0)
    if end > local:
        end = (end - timedelta(days=1)).replace(hour=END_HOUR)
    return end.astimezone(UTC)


def is_new_cost(account_id: int, now: datetime, samples: int = 200) -> tuple[float, float]:
    """Per first payment, ``sales_between`` asks ``rollups._is_new`` (one ORM query): ms per call, and ms per call
    of the same SQL through plain ``sqlite3`` (the floor)."""
    from sqlmodel import col, select

    from app.models import Order, Payment
    from app.services import rollups

    with job_session() as session:
        rows = session.exec(
            select(Order, Payment.paid_at)
            .join(Payment, col(Payment.order_id) == col(Order.id))
            .where(Order.account_id == account_id, col(Payment.kind).in_(("one_off", "first")))
            .where(col(Payment.paid_at) < now)
            .order_by(col(Payment.paid_at).desc())
            .limit(samples)
        ).all()
        started = time.perf_counter()
        for order, paid_at in rows:
            rollups._is_new(session, order, paid_at)
        orm_ms = (time.perf_counter() - started) * 1e3 / len(rows)
    db = sqlite3.connect(DB_PATH)
    query = (
        "SELECT shop_order.id FROM shop_order JOIN payment ON payment.order_id = shop_order.id"
        " WHERE shop_order.account_id = ? AND shop_order.id != ? AND shop_order.customer_key = ?"
        " AND payment.kind IN ('one_off', 'first') AND (payment.paid_at < ? OR (payment.paid_at = ?"
        " AND shop_order.id < ?)) LIMIT 1"
    )
    started = time.perf_counter()
    for order, paid_at in rows:
        at = ts(to_us(paid_at))
        db.execute(query, (account_id, order.id, order.customer_key, at, at, order.id)).fetchone()
    raw_ms = (time.perf_counter() - started) * 1e3 / len(rows)
    db.close()
    return orm_ms, raw_ms


def time_window(account_id: int, now: datetime, length: timedelta, reps: int) -> tuple[list[float], Any]:
    from app.services import metrics

    times, figures = [], None
    for _ in range(reps):
        with job_session() as session:
            started = time.perf_counter()
            figures = metrics.window_figures(session=session, account_id=account_id, start=now - length, end=now)
            times.append((time.perf_counter() - started) * 1e3)
    return times, figures


def profile_top(fn: Callable[[], Any], limit: int = 18) -> dict[str, list[str]]:
    """One cProfile of ``fn``: the top lines by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out: dict[str, list[str]] = {}
    for sort in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(sort).print_stats(limit)
        lines = [line.rstrip() for line in text.getvalue().splitlines() if line.strip()]
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        out[sort] = lines[start : start + limit + 1]
    return out


# --- main -----------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--orders", type=int, default=9_000)
    parser.add_argument("--campaigns", type=int, default=30)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--reps", type=int, default=3, help="runs per row: cached, first and second, e-mails")
    parser.add_argument("--uncached-reps", type=int, default=1, help="runs without the cache (the slow baseline)")
    parser.add_argument("--window-reps", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="profile one more cached run (printed and stored)")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its path is printed)")
    args = parser.parse_args()
    DATA.mkdir(mode=0o700, exist_ok=True)

    from app.cli import migrate
    from app.services import alerts
    from app.settings import get_settings

    failures: list[str] = []
    begun = time.perf_counter()
    end = data_end()
    result: dict[str, Any] = {
        "at": datetime.now(UTC).isoformat(),
        "now": end.isoformat(),
        "args": vars(args),
        "load_average_start": os.getloadavg(),
    }  # other work on the machine skews timings
    print(f"data in {DATA}; {args.sessions:,} sessions / ~{args.orders:,} orders / {args.campaigns} campaigns over "
          f"{args.days} days ending {end:%Y-%m-%d %H:%M} UTC", flush=True)  # fmt: skip

    # (a) dataset
    started = time.perf_counter()
    migrate()
    counts, owners = build_dataset(args, end)
    build_s = time.perf_counter() - started
    result |= {"dataset": counts, "build_s": round(build_s, 1)}
    print(f"dataset built in {build_s:.0f} s: {counts['big']}", flush=True)
    big = owners["big"][0]

    # (b) rules
    started = time.perf_counter()
    made = create_rules(owners)
    result["rules"] = made | {"create_s": round(time.perf_counter() - started, 1)}
    total_rules = sum(made.values())
    print(f"rules: {total_rules} ({made['account_wide']} account-wide and {made['per_campaign']} per campaign on the "
          f"big account, {made['noise']} on the noise accounts)", flush=True)  # fmt: skip

    # (c1) window figures alone (a 7 d read first: every window's pages in the cache)
    time_window(big, end, timedelta(days=7), 1)
    windows: dict[str, Any] = {}
    for label, length in (("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))):
        times, figures = time_window(big, end, length, args.window_reps)
        sessions = sum(f.sessions for f in figures.campaigns.values())
        orders = sum(f.orders for f in figures.campaigns.values())
        windows[label] = stats(times) | {"sessions": sessions, "orders": round(orders)}
        if not sessions or not orders:
            failures.append(f"the {label} window holds no sessions or no orders")
        print(f"  window_figures {label}: p50 {windows[label]['p50_ms']:,} ms ({sessions:,} sessions, "
              f"{orders:,.0f} orders)", flush=True)  # fmt: skip
    result["window_figures"] = windows
    orm_ms, raw_ms = is_new_cost(big, end)
    result["is_new_ms_per_call"] = {"orm": round(orm_ms, 3), "raw_sqlite3": round(raw_ms, 3)}
    print(f"  rollups._is_new: {orm_ms:.2f} ms per call (the same SQL in sqlite3: {raw_ms:.3f} ms)", flush=True)

    # (c2) first run after clearing the states (fires, records events) vs the run right after it (nothing changes)
    first: list[Run] = []
    second: list[Run] = []
    for _ in range(args.reps):
        sql("DELETE FROM alert_event")
        sql("DELETE FROM alert_state")
        first.append(timed_run(end))
        second.append(timed_run(end))
    first_summary = first[-1].summary
    failures += [f"a run failed: {r.summary.errors[:3]}" for r in (*first, *second) if r.summary.errors]
    if any(r.summary.fired or r.summary.suppressed or r.summary.resolved for r in second):
        failures.append(f"the second run changed states: {second[-1].summary.text()}")
    result["first_run"], result["second_run"] = run_stats(first), run_stats(second)
    for label, key in (("first run", "first_run"), ("second run", "second_run")):
        r = result[key]
        print(f"  {label} p50 {r['p50_ms']:,} ms, of which state and event writes {r['writes_p50_ms']:,} ms "
              f"({r['summary']})", flush=True)  # fmt: skip

    # (c3) steady state: cached (as shipped) vs uncached (baseline); both must leave the states as they were
    before = states()
    cached = [timed_run(end) for _ in range(args.reps)]
    cached_states = states()
    uncached = [timed_run(end, cache=False) for _ in range(args.uncached_reps)]
    if not (before == cached_states == states()):
        failures.append("cached and uncached runs left different alert states")
    if any(r.summary.errors for r in (*cached, *uncached)):
        failures.append("a steady-state run had errors")
    ratio = statistics.median(r.ms for r in uncached) / statistics.median(r.ms for r in cached)
    result["steady_cached"] = run_stats(cached) | {"evaluations": first_summary.evaluations}
    result["steady_uncached"] = run_stats(uncached)
    result["uncached_over_cached_p50"] = round(ratio, 1)
    sc, su = result["steady_cached"], result["steady_uncached"]
    print(f"  steady cached p50 {sc['p50_ms']:,} ms ({sc['window_figures_p50_ms']:,} ms in {sc['distinct_windows']} "
          f"window reads), uncached p50 {su['p50_ms']:,} ms ({su['window_figures_calls']} window reads): "
          f"{ratio:.1f}×", flush=True)  # fmt: skip
    if args.profile:  # one more cached run, under cProfile (about twice as slow)
        result["profile_cached"] = profile_top(lambda: timed_run(end))
        print("\n".join(result["profile_cached"]["cumulative"] + [""] + result["profile_cached"]["tottime"]))

    # (c4) the e-mails the first run queued, file backend, as many send_due_emails calls (100 each) as it takes
    outbox = get_settings().outbox_dir
    email_ms, sent_counts, batches = [], [], 0
    for _ in range(args.reps):
        sql("UPDATE alert_event SET email_status = 'pending', email_attempts = 0, emailed_at = NULL, email_error = '',"
            " next_email_at = window_end, details = json_set(details, '$.attempts', json('[]'))"
            " WHERE email_status != 'none'")  # fmt: skip
        shutil.rmtree(outbox, ignore_errors=True)
        sent, batches = 0, 0
        with job_session() as session:
            started = time.perf_counter()
            while True:
                done, failed = alerts.send_due_emails(session, now=end)
                sent += done
                if done + failed == 0:
                    break
                batches += 1
            email_ms.append((time.perf_counter() - started) * 1e3)
        sent_counts.append(sent)
        files = len(list(outbox.glob("*.eml"))) if outbox.is_dir() else 0
        if files != sent:
            failures.append(f"{sent} e-mails sent but {files} files in the outbox")
    queued = first_summary.fired + first_summary.resolved
    if sent_counts[-1] != queued:
        failures.append(f"{queued} e-mails queued by the first run, {sent_counts[-1]} sent")
    per_second = sent_counts[-1] / (statistics.median(email_ms) / 1e3) if sent_counts[-1] else 0.0
    result["emails"] = stats(email_ms) | {"sent": sent_counts[-1], "per_second": round(per_second),
                                          "batches_of_100": batches}  # fmt: skip
    print(f"  e-mails: {sent_counts[-1]} in p50 {result['emails']['p50_ms']:,} ms ({per_second:,.0f}/s)", flush=True)
    result["load_average_end"] = os.getloadavg()
    result["total_s"] = round(time.perf_counter() - begun)

    result["failures"] = failures
    out = ROOT / "bench" / "results" / f"alerts-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))

    c = counts["big"]
    print(f"\nresults in {out.relative_to(ROOT)}\n")
    print("| what | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for label in ("1h", "24h", "7d"):
        w = windows[label]
        print(f"| `metrics.window_figures`, {label} ({w['sessions']:,} sessions, {w['orders']:,} orders) | "
              f"{w['p50_ms']:,} | {w['p95_ms']:,} |")  # fmt: skip
    print(f"| `evaluate_rules`, steady state, shared cache ({total_rules} rules, {sc['evaluations']} evaluations, "
          f"{sc['distinct_windows']} window reads) | {sc['p50_ms']:,} | {sc['p95_ms']:,} |")  # fmt: skip
    print(f"| … of which `window_figures` / the rest of `evaluate` / state writes (p50) | "
          f"{sc['window_figures_p50_ms']:,} / {sc['evaluate_p50_ms'] - sc['window_figures_p50_ms']:,} / "
          f"{sc['writes_p50_ms']:,} | |")  # fmt: skip
    print(f"| `evaluate_rules`, steady state, no cache (baseline: {su['window_figures_calls']} window reads, "
          f"{args.uncached_reps} runs) | {su['p50_ms']:,} | {su['p95_ms']:,} |")  # fmt: skip
    print(f"| no cache / cache (p50) | {ratio:.1f}× | |")
    fr, sr = result["first_run"], result["second_run"]
    events = first_summary.fired + first_summary.suppressed
    print(f"| first run after clearing the states ({first_summary.fired} fired, {first_summary.suppressed} held "
          f"back: {events} events) | {fr['p50_ms']:,} | {fr['p95_ms']:,} |")  # fmt: skip
    print(f"| … of which state and event writes | {fr['writes_p50_ms']:,} | {max(fr['writes_runs_ms']):,} |")
    print(f"| the run right after it (nothing changes) | {sr['p50_ms']:,} | {sr['p95_ms']:,} |")
    print(f"| … of which state writes | {sr['writes_p50_ms']:,} | {max(sr['writes_runs_ms']):,} |")
    em = result["emails"]
    print(f"| `send_due_emails`, {em['sent']} e-mails, file backend ({batches} batches of ≤ 100) | "
          f"{em['p50_ms']:,} | {em['p95_ms']:,} |")  # fmt: skip
    print(f"| … e-mails per second (p50) | {per_second:,.0f}/s | |")
    print(f"| `rollups._is_new`, per first payment in a window (same SQL in sqlite3) | {orm_ms:.1f} ({raw_ms:.2f}) | |")
    print(f"\ndataset (big account): {c['sessions']:,} sessions, {c['visitors']:,} visitors, {c['orders']:,} orders, "
          f"{c['refunds']:,} refunds, {c['campaigns']} campaigns / {c['versions']} versions, "
          f"{c['ad_spend_rows']:,} spend rows; built in {build_s:,.0f} s; whole run {result['total_s']:,} s; "
          f"load average {result['load_average_start'][0]:.1f} → {result['load_average_end'][0]:.1f} on "
          f"{os.cpu_count()} cores")  # fmt: skip
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)
    else:
        print(f"data kept in {DATA}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
