"""Metrics at scale: the overview's query set from the daily rollups and from the raw tables, on a year of data.

One run, one SQLite file (``DATA_DIR/paidsignal.db``, the file the production server opens):

- (a) the dataset: one shop (created with ``python -m app.cli create-account``, timezone Europe/Berlin) with a year of
  traffic: 10 million events in about 2.8 million sessions of about 1.5 million visitors; campaigns with several
  versions each (sessions tagged with the version live when they started), one touch per marketing session,
  200,000 paid orders with their attribution snapshot (every model's credits computed by ``attribution.credit``
  over the visitor's touches, as ``attribution.snapshot`` stores them), one-off payments, subscriptions with their
  first invoice and monthly renewals, refunds on about 5 % of orders (full and partial), ad spend per campaign and
  day; plus three small noise accounts (1 % of the volume each). Written with ``sqlite3`` ``executemany`` in large
  transactions straight into the migrated schema (the per-request pipeline would take hours: bench/ingest.py);
- (b) ``rollups.rebuild`` for every account (timed);
- (c) the overview query set, exactly what ``/`` needs: 30 days ending on the dataset's last day, previous-period
  comparison, the total, by campaign and by day (three ``metrics.metrics`` calls), N times from the rollups and M
  times from the raw tables (``source="raw"``), p50/p95 and the ratio; every figure from both sources must agree;
  then the lifetime value page's query set (a year of customers by campaign and by version) from the customer rollup
  (rebuilt by ``lifetime.rebuild``, timed), p50/p95, and once computed live: both must agree;
- (d) the overview page in headless Chromium: the production server on that database, the owner logged in, time
  from navigation to the KPI figures being visible.

Usage: ``.venv/bin/python bench/metrics.py [--events 10000000] [--orders 200000] [--rollup-reps 30] [--raw-reps 3]
[--no-browser] [--data DIR]``; ``--events 200000 --orders 4000`` runs in about a minute. ``--data DIR`` keeps the
dataset; ``--overview-only --data DIR`` (the overview again, ``--raw-reps 0`` to skip the raw tables) and
``--page-only --data DIR`` (the page again) time a kept dataset. Writes bench/results/metrics-*.json and
prints a Markdown table. The run fails (exit 1) when a check fails: the dataset is off its target size, a measure is
missing (refunds, renewals, spend), rollups and raw disagree, or the page never shows its figures.
"""

from __future__ import annotations

import argparse
import bisect
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Made in main() once the arguments are read: --help must not leave an empty folder behind.
DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-metrics-{os.getpid()}-{os.urandom(4).hex()}"
DB_PATH = DATA / "paidsignal.db"
os.environ.update(
    {
        "DATA_DIR": str(DATA),
        "DATABASE_URL": f"sqlite:///{DB_PATH}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_PROFILE": "fast",
        "JOBS_ENABLED": "false",
        "__REFLEX_SKIP_COMPILE": "true",
    }
)

TIMEZONE = "Europe/Berlin"
OWNER_EMAIL = "owner@bench.example"
OWNER_PASSWORD = "bench-password-0123"
TARGET_P95_MS = 50
TARGET_RATIO = 50
TARGET_LTV_P95_MS = 100  # the lifetime value page's query set from rollup_customer (issue 23)
# The page: the first real KPI figure within 0.5 s of navigation at p50 and 1 s at worst, over cold browser contexts.
TARGET_PAGE_P50_MS = 500
TARGET_PAGE_MAX_MS = 1_000
SHELL_SELECTOR = "#dashboard-loading"  # the overview's skeleton, shown while its figures load
CARDS_SELECTOR = "#kpis .kpi-card"  # every KPI card (id and text), first as shown and then as the state has them
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537",
]
PATHS = ["/", "/shop", "/shop/t-shirts", "/shop/hoodies", "/shop/mugs", "/about", "/blog/summer-lookbook", "/faq"]
# (product, price, unit amount, currency, monthly?) — EUR catalogue, a small USD one, two subscription plans.
CATALOGUE = {
    "EUR": [
        ("prod_tshirt", "price_tshirt_eur", 2_500),
        ("prod_hoodie", "price_hoodie_eur", 5_900),
        ("prod_mug", "price_mug_eur", 1_500),
        ("prod_cap", "price_cap_eur", 2_200),
        ("prod_poster", "price_poster_eur", 1_900),
    ],
    "USD": [("prod_tshirt", "price_tshirt_usd", 2_900), ("prod_hoodie", "price_hoodie_usd", 6_900)],
}
PLANS = [("prod_club", "price_club_monthly", 1_900, "EUR"), ("prod_club_plus", "price_club_plus_monthly", 4_900, "EUR")]
# name, channel, utm_campaign, traffic weight, conversion multiplier, first active day (0-364), versions
CAMPAIGNS = [
    ("Spring sale", "meta", "spring-sale", 9, 1.1, 40, 3),
    ("Retargeting", "meta", "retargeting", 7, 2.0, 0, 4),
    ("Brand search", "google", "brand", 10, 1.6, 0, 2),
    ("Shopping feed", "google", "shopping", 12, 1.2, 0, 5),
    ("Generic search", "google", "generic", 8, 0.7, 20, 3),
    ("TikTok creators", "tiktok", "creators", 9, 0.5, 120, 3),
    ("Newsletter", "email", "newsletter", 6, 1.8, 0, 4),
    ("Black Friday", "meta", "black-friday", 15, 1.5, 320, 2),
]
SOURCES = {"meta": ("facebook", "paid_social"), "google": ("google", "cpc"), "tiktok": ("tiktok", "paid_social"),
           "email": ("newsletter", "email")}  # fmt: skip


# --- timestamps as SQLite stores them (UTCDateTime: naive UTC, microseconds always written) -------------------------


_DAY_TEXT: dict[int, str] = {}


def ts(us: int) -> str:
    """Microseconds since the epoch as SQLAlchemy's SQLite DATETIME text."""
    day, rest = divmod(us, 86_400_000_000)
    text = _DAY_TEXT.get(day)
    if text is None:
        text = _DAY_TEXT[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
    seconds, micro = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{text} {hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}"


def to_dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def hexid(rng: random.Random, bits: int = 64) -> str:
    return f"{rng.getrandbits(bits):0{bits // 4}x}"


# --- the dataset ----------------------------------------------------------------------------------------------------


class Builder:
    """Writes one account's year into the open sqlite3 connection; keeps what later tables need in memory."""

    def __init__(
        self, db: sqlite3.Connection, account_id: int, events: int, orders: int, last_day: date, seed: int
    ) -> None:
        self.db = db
        self.account_id = account_id
        self.target_events = events
        self.target_orders = orders
        self.last_day = last_day
        self.first_day = last_day - timedelta(days=364)
        self.rng = random.Random(seed)
        self.end_us = (
            int((datetime.combine(last_day + timedelta(days=1), datetime.min.time(), UTC) - EPOCH).total_seconds())
            * 1_000_000
            - 7_200_000_000
        )  # fmt: skip  (Berlin midnight, roughly)
        self.counts: dict[str, int] = defaultdict(int)
        self.campaigns: list[dict[str, Any]] = []
        self.visitor_touches: dict[int, list[tuple[int, int | None, int | None, str, str, str, str | None]]] = {}
        self.visitor_keys: list[str] = []
        self.sessions_by_campaign_day: dict[tuple[int, int], int] = defaultdict(int)

    # campaigns and versions
    def make_campaigns(self, config_of: Any) -> None:
        rng = self.rng
        for priority, (name, channel, key, weight, mult, first, versions) in enumerate(CAMPAIGNS):
            start_us = self._day_us(first) - 86_400_000_000
            created = ts(start_us)
            cursor = self.db.execute(
                "INSERT INTO campaign (public_id, account_id, name, channel, status, priority, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'active', ?, ?, ?)",
                (f"cmp_{hexid(rng, 64)}", self.account_id, name, channel, 100 + priority, created, created),
            )
            campaign_id = int(cursor.lastrowid or 0)
            version_rows = []
            span = 365 - first
            for number in range(1, versions + 1):
                at_day = first if number == 1 else first + (span * (number - 1)) // versions + rng.randint(-5, 5)
                published = self._day_us(max(first, at_day)) - 86_400_000_000 + rng.randint(0, 20) * 3_600_000_000
                config = config_of(key, f"v{number}: {'launch' if number == 1 else 'new creative and offer'}")
                cursor = self.db.execute(
                    "INSERT INTO campaign_version (public_id, account_id, campaign_id, number, config, change_note,"
                    " published_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (f"cv_{hexid(rng, 64)}", self.account_id, campaign_id, number, json.dumps(config),
                     f"v{number}", ts(published)),
                )  # fmt: skip
                # Each version converts a little differently (what the version comparison is for).
                version_rows.append((published, int(cursor.lastrowid or 0), mult * rng.uniform(0.75, 1.3)))
            self.db.execute(
                "UPDATE campaign SET active_version_id = ? WHERE id = ?", (version_rows[-1][1], campaign_id)
            )
            self.campaigns.append(
                {"id": campaign_id, "name": name, "channel": channel, "key": key, "weight": weight,
                 "first_us": version_rows[0][0], "versions": version_rows,
                 "public_id": None}
            )  # fmt: skip
            self.counts["campaigns"] += 1
            self.counts["versions"] += versions

    def _day_us(self, day_index: int) -> int:
        day = self.first_day + timedelta(days=day_index)
        return int((datetime.combine(day, datetime.min.time(), UTC) - EPOCH).total_seconds()) * 1_000_000

    # traffic: events, visitors, sessions, touches; orders are collected for later
    def traffic(self) -> list[dict[str, Any]]:
        rng = self.rng
        acc = self.account_id
        weights = []
        for d in range(365):
            day = self.first_day + timedelta(days=d)
            weekday = (1.0, 1.0, 1.0, 1.0, 0.95, 0.8, 0.85)[day.weekday()]
            november = 1.5 if day.month == 11 and day.day >= 20 else 1.0
            weights.append((0.7 + 0.6 * d / 364) * weekday * november * rng.uniform(0.9, 1.1))
        total_weight = sum(weights)
        mean_events = 3.6
        orders_out: list[dict[str, Any]] = []
        visitor_first_day: list[int] = []  # by visitor index
        event_sql = (
            "INSERT INTO event (account_id, event_id, type, occurred_at, received_at, source, visitor_id, session_key,"
            " url, referrer, utm_source, utm_medium, utm_campaign, fbclid, fbc, gclid, value, currency, user_agent, ip)"
            " VALUES (?, ?, ?, ?, ?, 'browser', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        session_sql = (
            "INSERT INTO visit_session (account_id, session_key, visitor_key, inferred, started_at, last_event_at,"
            " event_count, landing_url, referrer, utm_source, utm_medium, utm_campaign, fbclid, fbc, gclid,"
            " user_agent, campaign_id, campaign_version_id) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?)"
        )
        touch_sql = (
            "INSERT INTO touch (account_id, visitor_key, session_key, touched_at, is_first, utm_source, utm_medium,"
            " utm_campaign, click_id_type, click_id, landing_url, referrer, campaign_id, campaign_version_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        visitor_rows: dict[int, list[Any]] = {}  # index -> [first_us, last_us, fbc, count]
        events_done = 0
        orders_done = 0
        sessions_done = 0
        for d in range(365):
            day_us = self._day_us(d) - 3_600_000_000  # local (CET) midnight, close enough for traffic shape
            day_events = int(self.target_events * sum(weights[: d + 1]) / total_weight) - events_done
            expected_sessions = max(1.0, day_events / mean_events)
            day_orders = int(self.target_orders * sum(weights[: d + 1]) / total_weight) - orders_done
            p_order = min(0.9, day_orders / expected_sessions)
            live = [c for c in self.campaigns if c["first_us"] <= day_us + 86_400_000_000]
            live_weights = [c["weight"] for c in live]
            # returning visitors come from the last 60 days
            recent_from = bisect.bisect_left(visitor_first_day, d - 60)
            events: list[tuple[Any, ...]] = []
            sessions: list[tuple[Any, ...]] = []
            touches: list[tuple[Any, ...]] = []
            produced = 0
            while produced < day_events:
                # hour of day: quiet nights, busy evenings
                hour = rng.choices(range(24), weights=_HOURS)[0]
                start = day_us + hour * 3_600_000_000 + rng.randrange(3_600_000_000)
                if start >= self.end_us:
                    start = self.end_us - rng.randrange(3_600_000_000)
                if visitor_first_day and rng.random() < 0.42 and recent_from < len(visitor_first_day):
                    vindex = rng.randrange(recent_from, len(visitor_first_day))
                    returning = True
                else:
                    vindex = len(visitor_first_day)
                    visitor_first_day.append(d)
                    self.visitor_keys.append(f"{hexid(rng, 64)}{vindex:x}")
                    returning = False
                vkey = self.visitor_keys[vindex]
                skey = f"s{hexid(rng, 64)}{sessions_done:x}"
                sessions_done += 1
                ua = USER_AGENTS[vindex % len(USER_AGENTS)]
                ip = f"203.0.{vindex % 250}.{vindex % 199 + 1}"
                r = rng.random()
                campaign = None
                version_id = None
                utm = (None, None, None)
                click = (None, None)
                referrer = None
                mult = 0.6
                if r < 0.62 and live:
                    campaign = rng.choices(live, weights=live_weights)[0]
                    version_id, mult = _version_at(campaign["versions"], start)
                    source, medium = SOURCES[campaign["channel"]]
                    utm = (source, medium, campaign["key"])
                    if campaign["channel"] == "meta":
                        click = ("fbclid", f"IwAR{hexid(rng, 64)}")
                    elif campaign["channel"] == "google":
                        click = ("gclid", f"Cj0K{hexid(rng, 64)}")
                elif r < 0.67:
                    utm = ("partner", "referral", rng.choice(["summer-blog", "podcast", "affiliate-7"]))
                    mult = 0.8
                elif r < 0.85:
                    referrer = "https://www.google.com/"
                    mult = 0.9
                path = rng.choice(PATHS)
                landing = f"https://shop.example{path}"
                if utm[0]:
                    landing += f"?utm_source={utm[0]}&utm_medium={utm[1]}&utm_campaign={utm[2]}"
                    if click[0]:
                        landing += f"&{click[0]}={click[1]}"
                fbc = f"fb.1.{start // 1000}.{click[1]}" if click[0] == "fbclid" else None
                gclid = click[1] if click[0] == "gclid" else None
                fbclid = click[1] if click[0] == "fbclid" else None
                converts = rng.random() < p_order * mult * (1.3 if returning else 1.0)
                pages = 1
                while rng.random() < 0.68 and pages < 16:
                    pages += 1
                at = start
                first_at = start
                count = 0
                for n in range(pages):
                    kind = "page_view" if n == 0 or rng.random() < 0.6 else "view_item"
                    url = landing if n == 0 else f"https://shop.example{rng.choice(PATHS)}"
                    at_text = ts(at)
                    first = n == 0
                    events.append((acc, hexid(rng, 128), kind, at_text, at_text, vkey, skey, url,
                                   referrer if first else None, *(utm if first else (None, None, None)),
                                   fbclid if first else None, fbc, gclid if first else None, None, None, ua,
                                   ip))  # fmt: skip
                    count += 1
                    at += rng.randint(5, 120) * 1_000_000
                if converts or rng.random() < 0.08:
                    at_text = ts(at)
                    events.append((acc, hexid(rng, 128), "add_to_cart", at_text, at_text, vkey, skey, None,
                                   None, None, None, None, None, fbc, None, None, None, ua, ip))  # fmt: skip
                    count += 1
                    at += rng.randint(5, 60) * 1_000_000
                if converts:
                    order = {"visitor": vindex, "session": skey, "created_us": at, "ua": ua, "ip": ip}
                    at_text = ts(at)
                    events.append((acc, hexid(rng, 128), "begin_checkout", at_text, at_text, vkey, skey,
                                   None, None, None, None, None, None, fbc, None, None, None, ua, ip))  # fmt: skip
                    at += rng.randint(60, 240) * 1_000_000
                    order["paid_us"] = at
                    order["event_id"] = hexid(rng, 128)
                    at_text = ts(at)
                    events.append((acc, order["event_id"], "purchase", at_text, at_text, vkey, skey,
                                   "https://shop.example/thanks", None, None, None, None, None, fbc, None, None,
                                   None, ua, ip))  # fmt: skip
                    count += 2
                    orders_out.append(order)
                    orders_done += 1
                last_at = at
                produced += count
                sessions.append((acc, skey, vkey, ts(first_at), ts(last_at), count, landing, referrer, *utm, fbclid,
                                 fbc, gclid, ua, campaign["id"] if campaign else None, version_id))  # fmt: skip
                row = visitor_rows.get(vindex)
                if row is None:
                    visitor_rows[vindex] = [first_at, last_at, fbc, count]
                else:
                    row[0], row[1] = min(row[0], first_at), max(row[1], last_at)
                    row[2] = fbc or row[2]
                    row[3] += count
                if utm[0]:
                    own = self.visitor_touches.setdefault(vindex, [])
                    cid = campaign["id"] if campaign else None
                    touches.append((acc, vkey, skey, ts(first_at), 0 if own else 1, *utm, click[0], click[1],
                                    landing, referrer, cid, version_id))  # fmt: skip
                    own.append((first_at, cid, version_id, *utm, click[0]))
                if campaign:
                    self.sessions_by_campaign_day[(campaign["id"], d)] += 1
            self.db.executemany(event_sql, events)
            self.db.executemany(session_sql, sessions)
            self.db.executemany(touch_sql, touches)
            events_done += produced
            self.counts["events"] += len(events)
            self.counts["sessions"] += len(sessions)
            self.counts["touches"] += len(touches)
            if d % 30 == 29:
                self.db.commit()
        self.db.executemany(
            "INSERT INTO visitor (account_id, visitor_key, first_seen_at, last_seen_at, fbc, event_count)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ((acc, self.visitor_keys[i], ts(r[0]), ts(r[1]), r[2], r[3]) for i, r in visitor_rows.items()),
        )
        self.counts["visitors"] = len(visitor_rows)
        self.db.commit()
        return orders_out

    # orders, subscriptions, payments, refunds
    def sales(self, orders: list[dict[str, Any]], credit: Any, models: list[str]) -> None:
        from app.services.attribution import TouchPoint

        rng = self.rng
        acc = self.account_id
        campaign_by_id = {c["id"]: c for c in self.campaigns}
        version_info: dict[int, tuple[str, int]] = {}
        for row in self.db.execute(
            "SELECT id, public_id, number FROM campaign_version WHERE account_id = ?", (acc,)
        ).fetchall():
            version_info[row[0]] = (row[1], row[2])
        for row in self.db.execute("SELECT id, public_id FROM campaign WHERE account_id = ?", (acc,)).fetchall():
            campaign_by_id[row[0]]["public_id"] = row[1]
        order_rows, payment_rows, sub_rows, refund_updates = [], [], [], []
        refunds: list[tuple[int, dict[str, Any], int, int, str, str]] = []
        lookback_us = 90 * 86_400_000_000
        for number, order in enumerate(orders):
            vindex = order["visitor"]
            created, paid = order["created_us"], order["paid_us"]
            at = to_dt(created)
            touches = [t for t in self.visitor_touches.get(vindex, []) if created - lookback_us <= t[0] <= created]
            points = [TouchPoint(to_dt(t[0]), t[1], t[2]) for t in touches]
            credits_by_model = {}
            for model in models:
                credits_by_model[model] = [
                    {"campaign_id": c.campaign_id, "campaign_version_id": c.version_id,
                     "campaign": campaign_by_id[c.campaign_id]["public_id"] if c.campaign_id else None,
                     "campaign_name": campaign_by_id[c.campaign_id]["name"] if c.campaign_id else None,
                     "campaign_version": version_info[c.version_id][0] if c.version_id else None,
                     "version_number": version_info[c.version_id][1] if c.version_id else None,
                     "share": str(c.share)}
                    for c in credit(points, at, model=model)
                ]  # fmt: skip
            snapshot = {
                "at": at.isoformat(),
                "lookback_days": 28,
                "touches": [
                    {"at": to_dt(t[0]).isoformat(), "utm_source": t[3], "utm_medium": t[4], "utm_campaign": t[5],
                     "click_id_type": t[6],
                     "campaign": campaign_by_id[t[1]]["public_id"] if t[1] else None,
                     "campaign_name": campaign_by_id[t[1]]["name"] if t[1] else None,
                     "campaign_version": version_info[t[2]][0] if t[2] else None,
                     "version_number": version_info[t[2]][1] if t[2] else None}
                    for t in touches
                ],
                "models": credits_by_model,
                "user_agent": order["ua"],
                "ip": order["ip"],
                "consent": None,
            }  # fmt: skip
            last = credits_by_model["last_touch"][0]
            subscription = rng.random() < 0.22
            currency = "USD" if not subscription and rng.random() < 0.04 else "EUR"
            if subscription:
                product, price, unit, currency = rng.choice(PLANS)
                items = [{"price": price, "product": product, "quantity": 1, "unit_amount": unit}]
            else:
                chosen = rng.sample(CATALOGUE[currency], k=min(len(CATALOGUE[currency]), rng.choice((1, 1, 1, 2, 3))))
                items = [{"price": p, "product": prod, "quantity": rng.choice((1, 1, 1, 2)), "unit_amount": u}
                         for prod, p, u in chosen]  # fmt: skip
            amount = sum(i["unit_amount"] * i["quantity"] for i in items)
            order_id = number + 1 + self._order_offset
            public = f"ord_{hexid(rng, 64)}"
            customer = f"cus_{self.visitor_keys[vindex][:14]}"
            email = f"buyer-{self.visitor_keys[vindex][:12]}@customers.example"
            pi = f"pi_{hexid(rng, 96)}"
            charge = f"ch_{hexid(rng, 96)}"
            sub_id = f"sub_{hexid(rng, 96)}" if subscription else None
            refunded = 0
            if rng.random() < 0.05:
                refunded = amount if rng.random() < 0.7 else amount // 2
                refunds.append((order_id, order, refunded, paid, charge, currency))
            status = "paid" if not refunded else ("refunded" if refunded >= amount else "partially_refunded")
            order_rows.append(
                (order_id, public, acc, f"rk_{public}", "subscription" if subscription else "payment", status,
                 ts(paid), currency, amount, amount, refunded, json.dumps(items), order["event_id"],
                 self.visitor_keys[vindex], order["session"], email, last["campaign_id"],
                 last["campaign_version_id"], json.dumps(snapshot), "https://shop.example/thanks",
                 "https://shop.example/cart", f"cs_{hexid(rng, 96)}", None if subscription else pi, sub_id, customer,
                 ts(created), ts(paid), f"email:{email}")
            )  # fmt: skip
            if subscription:
                invoice = f"in_{hexid(rng, 96)}"
                payment_rows.append((acc, order_id, sub_id, invoice, "first", "subscription_create", invoice, pi,
                                     charge, amount, refunded, currency, ts(paid)))  # fmt: skip
                renew = paid
                status_sub = "active"
                canceled = None
                while True:
                    renew += 30 * 86_400_000_000 + rng.randint(-3600, 3600) * 1_000_000
                    if renew >= self.end_us:
                        break
                    if rng.random() < 0.09:
                        status_sub, canceled = "canceled", renew
                        break
                    inv = f"in_{hexid(rng, 96)}"
                    payment_rows.append((acc, order_id, sub_id, inv, "renewal", "subscription_cycle", inv,
                                         f"pi_{hexid(rng, 96)}", f"ch_{hexid(rng, 96)}", amount, 0, currency,
                                         ts(renew)))  # fmt: skip
                    self.counts["renewals"] += 1
                sub_rows.append((acc, sub_id, order_id, status_sub, customer, items[0]["price"], ts(renew),
                                 ts(canceled) if canceled else None, ts(paid), ts(paid)))  # fmt: skip
            else:
                payment_rows.append((acc, order_id, None, pi, "one_off", None, None, pi, charge, amount, refunded,
                                     currency, ts(paid)))  # fmt: skip
        # shop_order.customer_key (new vs returning) as the webhook sets it, when the schema has it
        keyed = any(row[1] == "customer_key" for row in self.db.execute("PRAGMA table_info(shop_order)"))
        self.db.executemany(
            "INSERT INTO shop_order (id, public_id, account_id, request_key, mode, status, status_changed_at,"
            " currency, amount_expected, amount_paid, amount_refunded, items, event_id, visitor_id, session_key,"
            " customer_email, campaign_id, campaign_version_id, attribution, success_url, cancel_url,"
            " checkout_session_id, payment_intent_id, subscription_id, customer_id, disputed, created_at, paid_at"
            + (", customer_key)" if keyed else ")")
            + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?"
            + (", ?)" if keyed else ")"),
            order_rows if keyed else [row[:-1] for row in order_rows],
        )
        self.db.executemany(
            "INSERT INTO payment (account_id, order_id, subscription_stripe_id, stripe_key, kind, billing_reason,"
            " invoice_id, payment_intent_id, charge_id, amount, amount_refunded, currency, paid_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            payment_rows,
        )
        self.db.executemany(
            "INSERT INTO subscription (account_id, stripe_id, order_id, status, customer_id, price_stripe_id,"
            " cancel_at_period_end, current_period_end, canceled_at, last_event_created, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, 0, ?, ?)",
            sub_rows,
        )
        payment_ids = dict(
            self.db.execute(
                "SELECT charge_id, id FROM payment WHERE account_id = ? AND kind IN ('one_off', 'first')", (acc,)
            ).fetchall()
        )
        refund_rows = []
        for order_id, _order, amount, paid, charge, currency in refunds:
            at = min(paid + rng.randint(1, 20) * 86_400_000_000 + rng.randrange(86_400_000_000), self.end_us - 1)
            refund_rows.append((acc, order_id, payment_ids[charge], charge, f"evt_{hexid(rng, 96)}", amount,
                                currency, ts(at)))  # fmt: skip
        self.db.executemany(
            "INSERT INTO refund (account_id, order_id, payment_id, charge_id, stripe_event_id, amount, currency,"
            " refunded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            refund_rows,
        )
        del refund_updates
        self.counts["orders"] = len(order_rows)
        self.counts["subscriptions"] = len(sub_rows)
        self.counts["payments"] = len(payment_rows)
        self.counts["refunds"] = len(refund_rows)
        self.db.commit()

    _order_offset = 0

    def spend(self) -> None:
        rng = self.rng
        rows = []
        for (campaign_id, d), sessions in sorted(self.sessions_by_campaign_day.items()):
            campaign = next(c for c in self.campaigns if c["id"] == campaign_id)
            if campaign["channel"] == "email":
                continue
            clicks = int(sessions * rng.uniform(1.05, 1.25))
            cpc = {"meta": 55, "google": 80, "tiktok": 35}[campaign["channel"]]
            rows.append((self.account_id, (self.first_day + timedelta(days=d)).isoformat(), campaign_id, "EUR",
                         int(clicks * cpc * rng.uniform(0.85, 1.15)), clicks * rng.randint(40, 90), clicks, "csv",
                         ts(self._day_us(d) + 2 * 86_400_000_000)))  # fmt: skip
        self.db.executemany(
            "INSERT INTO ad_spend (account_id, day, campaign_id, currency, amount, impressions, clicks, source,"
            " imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self.counts["ad_spend_rows"] = len(rows)
        self.db.commit()


_HOURS = [2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 7, 8, 8, 7, 7, 7, 8, 9, 10, 10, 9, 6, 4]


def _version_at(versions: list[tuple[int, int, float]], at: int) -> tuple[int | None, float]:
    chosen: tuple[int | None, float] = (None, 1.0)
    for published, version_id, mult in versions:
        if published <= at:
            chosen = (version_id, mult)
    return chosen


def build_dataset(args: argparse.Namespace, last_day: date) -> tuple[dict[str, Any], dict[str, int], int]:
    """Accounts through the CLI, then every account's data in bulk. Returns (counts, account ids, big account id)."""
    from app.cli import main as cli
    from app.models import AttributionModel
    from app.services.attribution import credit
    from app.services.campaigns import CampaignConfig

    def config_of(key: str, note: str) -> dict[str, Any]:
        return CampaignConfig.model_validate(
            {"matching_rules": [{"conditions": [{"field": "utm_campaign", "op": "equals", "value": key}]}],
             "notes": note}
        ).model_dump(mode="json")  # fmt: skip

    accounts = {"big": ("Big Shop", OWNER_EMAIL)} | {
        f"noise{n}": (f"Noise Shop {n}", f"noise{n}@bench.example") for n in range(1, 4)
    }
    for name, email in accounts.values():
        assert cli(["create-account", "--name", name, "--email", email, "--password", OWNER_PASSWORD,
                    "--timezone", TIMEZONE]) == 0  # fmt: skip
    from app.db import get_engine

    get_engine().dispose()  # leaving WAL needs the only connection to the file
    db = sqlite3.connect(DB_PATH, isolation_level="DEFERRED")
    ids = {
        label: db.execute(
            "SELECT account.id FROM account JOIN membership ON membership.account_id = account.id "
            "JOIN app_user ON app_user.id = membership.user_id WHERE app_user.email = ?",
            (email,),
        ).fetchone()[0]
        for label, (_name, email) in accounts.items()
    }
    db.execute("PRAGMA journal_mode=OFF")  # a bulk load into a fresh file; WAL again afterwards
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-6000000")  # 6 GB: every index stays in memory while loading
    db.execute("PRAGMA foreign_keys=OFF")
    # Secondary indexes of the big tables are dropped for the load and created again after it (a sort instead of
    # millions of random B-tree inserts); the unique constraints stay.
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('event', 'visit_session', 'touch', 'visitor')"
    ).fetchall()
    for name, _sql in indexes:
        db.execute(f"DROP INDEX {name}")
    counts: dict[str, Any] = {}
    models = [m.value for m in AttributionModel]
    order_offset = 0
    for n, (label, account_id) in enumerate(ids.items()):
        scale = 1.0 if label == "big" else 0.01
        builder = Builder(db, account_id, int(args.events * scale), max(10, int(args.orders * scale)), last_day,
                          seed=1000 + n)  # fmt: skip
        builder._order_offset = order_offset
        started = time.perf_counter()
        builder.make_campaigns(config_of)
        orders = builder.traffic()
        traffic_s = time.perf_counter() - started
        builder.sales(orders, credit, models)
        order_offset += len(orders)
        builder.spend()
        counts[label] = dict(builder.counts) | {"traffic_s": round(traffic_s, 1),
                                                "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        print(f"  {label}: {dict(builder.counts)} in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    for _name, sql in indexes:
        db.execute(sql)
    db.commit()
    counts["indexes_s"] = round(time.perf_counter() - started, 1)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return counts, ids, ids["big"]


# --- timing the overview ----------------------------------------------------------------------------------------------


def overview(session: Any, account_id: int, last_day: date, source: str) -> list[Any]:
    """What ``/`` reads (``app/services/dashboard.overview`` through ``metrics.overview_reports``) for 30 days ending
    on ``last_day`` compared with the previous 30: the period by day, the comparison period by day, and the period
    by campaign."""
    from app.services.metrics import Period, overview_reports

    start = last_day - timedelta(days=29)
    found = overview_reports(session=session, account_id=account_id, source=source, model="last_touch",
                             period=Period(start, last_day),
                             comparison=Period(start - timedelta(days=30), start - timedelta(days=1)))  # fmt: skip
    return [found.by_day, found.by_day_before, found.by_campaign]


def as_data(reports: list[Any]) -> list[Any]:
    from app.services.metrics import figure_dict

    return [
        [(row.key, figure_dict(row.figures), figure_dict(row.previous)) for row in [r.total, *r.rows]] for r in reports
    ]


CPU_MS: dict[str, list[float]] = defaultdict(list)  # the process's CPU time per overview, by source


def time_overview(engine: Any, account_id: int, last_day: date, source: str, reps: int) -> tuple[list[float], Any]:
    """Wall-clock ms per overview; the CPU time of each (this process only: what other work on a shared machine
    takes from it does not count) goes to ``CPU_MS``."""
    from sqlmodel import Session

    times, data = [], None
    for _ in range(reps):
        with Session(engine) as session:
            started, cpu = time.perf_counter(), time.process_time()
            reports = overview(session, account_id, last_day, source)
            times.append((time.perf_counter() - started) * 1e3)
            CPU_MS[source].append((time.process_time() - cpu) * 1e3)
        data = reports
    return times, data


def first_payments(engine: Any, account_id: int, last_day: date) -> int:
    """A plain SQL count of the first and one-off payments in the overview's 30 days (Europe/Berlin days)."""
    from sqlalchemy import text
    from sqlmodel import Session

    from app.services import rollups
    from app.services.days import time_zone

    with Session(engine) as session:
        start = last_day - timedelta(days=29)
        zone_start, _ = rollups.day_bounds(start, time_zone(TIMEZONE))
        _, zone_end = rollups.day_bounds(last_day, time_zone(TIMEZONE))
        return int(session.exec(  # type: ignore[call-overload]
            text("SELECT count(*) FROM payment WHERE account_id = :a AND kind IN ('one_off', 'first') "
                 "AND paid_at >= :s AND paid_at < :e"),
            params={"a": account_id, "s": ts(int((zone_start - EPOCH).total_seconds() * 1e6)),
                    "e": ts(int((zone_end - EPOCH).total_seconds() * 1e6))},
        ).one()[0])  # fmt: skip


def overview_reads(engine: Any, account_id: int, last_day: date) -> dict[str, int]:
    """The SQL statements one overview runs and the rows they return to Python: each statement is traced with its
    bound values (sqlite3's trace callback) and run again on a connection of its own to count its rows."""
    from sqlmodel import Session

    statements: list[str] = []
    with Session(engine) as session:
        raw = session.connection().connection.driver_connection
        raw.set_trace_callback(statements.append)
        try:
            overview(session, account_id, last_day, "rollup")
        finally:
            raw.set_trace_callback(None)
    selects = [sql for sql in statements if sql.lstrip().upper().startswith(("SELECT", "WITH"))]
    db = sqlite3.connect(f"file:{DB_PATH}?mode=ro", uri=True)
    try:
        rows = sum(len(db.execute(sql).fetchall()) for sql in selects)
    finally:
        db.close()
    return {"statements": len(selects), "rows": rows}


def measure_overview(
    engine: Any, big: int, last_day: date, args: argparse.Namespace, result: dict[str, Any], failures: list[str]
) -> tuple[float, float, float, float]:
    """The overview from the rollups (``--rollup-reps`` runs) then the raw tables (``--raw-reps``, 0: none) in this
    process, every figure equal from both and the orders equal to a SQL count; p50/p95 into ``result``."""
    time_overview(engine, big, last_day, "rollup", 2)  # warm-up
    CPU_MS.clear()
    rollup_ms, rollup_reports = time_overview(engine, big, last_day, "rollup", args.rollup_reps)
    p50_r, p95_r = statistics.median(rollup_ms), percentile(rollup_ms, 95)
    cpu = CPU_MS["rollup"]
    print(f"  rollup overview p50 {p50_r:.1f} ms, p95 {p95_r:.1f} ms (CPU time p50 {statistics.median(cpu):.1f} ms, "
          f"p95 {percentile(cpu, 95):.1f} ms)", flush=True)  # fmt: skip
    raw_ms: list[float] = []
    if args.raw_reps:
        raw_ms, raw_reports = time_overview(engine, big, last_day, "raw", args.raw_reps)
        print(f"  raw overview p50 {statistics.median(raw_ms):.0f} ms", flush=True)
        if as_data(rollup_reports) != as_data(raw_reports):
            failures.append("the overview from rollups differs from the raw tables")
    total = rollup_reports[0].total.figures
    paid = first_payments(engine, big, last_day)
    if round(total.orders) != paid:
        failures.append(f"overview orders {total.orders} != {paid} first payments in SQL")
    eur = total.money.get("EUR")
    if not (eur and eur.refunds and eur.renewal_revenue and eur.spend and total.sessions):
        failures.append("the overview lacks refunds, renewals, spend or sessions")
    p50_w = statistics.median(raw_ms) if raw_ms else float("nan")
    p95_w = percentile(raw_ms, 95) if raw_ms else float("nan")
    result["overview"] = {
        "rollup_ms": [round(t, 2) for t in rollup_ms], "raw_ms": [round(t) for t in raw_ms],
        "rollup_p50_ms": round(p50_r, 1), "rollup_p95_ms": round(p95_r, 1),
        "rollup_cpu_p50_ms": round(statistics.median(cpu), 1), "rollup_cpu_p95_ms": round(percentile(cpu, 95), 1),
        "raw_p50_ms": round(p50_w) if raw_ms else None, "raw_p95_ms": round(p95_w) if raw_ms else None,
        "ratio_p50": round(p50_w / p50_r) if raw_ms else None, "ratio_p95": round(p95_w / p95_r) if raw_ms else None,
        "rows": {"day": len(rollup_reports[0].rows), "campaign": len(rollup_reports[2].rows)},
        "reads": overview_reads(engine, big, last_day),
        "total": {"sessions": total.sessions, "orders": round(total.orders, 3),
                  "net_eur": eur.net if eur else None, "spend_eur": eur.spend if eur else None},
    }  # fmt: skip
    print(f"  overview reads: {result['overview']['reads']}", flush=True)
    result.setdefault("targets", {})[f"rollup_p95_ms<={TARGET_P95_MS}"] = p95_r <= TARGET_P95_MS
    if raw_ms:
        result["targets"][f"ratio>={TARGET_RATIO}"] = p50_w / p50_r >= TARGET_RATIO

    def profiled() -> None:
        from sqlmodel import Session

        with Session(engine) as session:
            overview(session, big, last_day, "rollup")

    result["profile_rollup"] = profile_top(profiled)
    if not all(result["targets"].values()):
        print("\n".join(result["profile_rollup"]))
    return p50_r, p95_r, p50_w, p95_w


def dataset_of(engine: Any) -> tuple[int, date]:
    """The big shop's id and the last day of a dataset an earlier run kept (its last day of spend)."""
    from sqlalchemy import text
    from sqlmodel import Session

    with Session(engine) as session:
        big = session.exec(  # type: ignore[call-overload]
            text("SELECT account.id FROM account JOIN membership ON membership.account_id = account.id "
                 "JOIN app_user ON app_user.id = membership.user_id WHERE app_user.email = :e"),
            params={"e": OWNER_EMAIL},
        ).one()[0]  # fmt: skip
        last = session.exec(  # type: ignore[call-overload]
            text("SELECT max(day) FROM ad_spend WHERE account_id = :a"), params={"a": big}
        ).one()[0]
    return int(big), date.fromisoformat(str(last)[:10])


def overview_only(args: argparse.Namespace) -> int:
    """Time the overview's query set again on a dataset built by an earlier run (``--data DIR``), e.g. after a
    change to the metrics' reads: rollups ``--rollup-reps`` times, the raw tables ``--raw-reps`` times (each
    ~2 minutes at 10M events; 0 skips the equality check)."""
    from app.db import get_engine

    engine = get_engine()
    big, last_day = dataset_of(engine)
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "data": str(DATA), "overview_only": True,
                              "last_day": last_day.isoformat(), "load_average_start": os.getloadavg()}  # fmt: skip
    failures: list[str] = []
    print(f"data in {DATA}; the overview of 30 days ending {last_day}", flush=True)
    p50_r, p95_r, p50_w, p95_w = measure_overview(engine, big, last_day, args, result, failures)
    result["load_average_end"] = os.getloadavg()
    result["failures"] = failures
    out = ROOT / "bench" / "results" / f"metrics-overview-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    reads = result["overview"]["reads"]
    print(f"\nresults in {out.relative_to(ROOT)}\n")
    print("| what | figure |\n| --- | ---: |")
    print(f"| overview from rollups, p50 / p95 ({args.rollup_reps} runs) | {p50_r:,.1f} / {p95_r:,.1f} ms |")
    print(f"| … its CPU time (this process), p50 / p95 | {result['overview']['rollup_cpu_p50_ms']:,.1f} / "
          f"{result['overview']['rollup_cpu_p95_ms']:,.1f} ms |")  # fmt: skip
    if args.raw_reps:
        print(f"| overview from raw tables, p50 / p95 ({args.raw_reps} runs) | {p50_w:,.0f} / {p95_w:,.0f} ms |")
        print(f"| raw / rollups (p50) | {p50_w / p50_r:,.0f}× |")
    print(f"| SQL statements / rows returned per overview | {reads['statements']} / {reads['rows']:,} |")
    print(f"| load average at start / end | {result['load_average_start'][0]:.2f} / "
          f"{result['load_average_end'][0]:.2f} |")  # fmt: skip
    print(f"\ntargets: {result.get('targets')}")
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
    return 1 if failures else 0


CUSTOMER_INDEXES = (
    "CREATE INDEX IF NOT EXISTS ix_order_account_email_key ON shop_order (account_id, lower(trim(customer_email)))",
    "CREATE INDEX IF NOT EXISTS ix_order_account_customer ON shop_order (account_id, customer_id)",
)


def time_is_new(engine: Any, account_id: int, samples: int = 20) -> float:
    """Milliseconds per ``rollups._is_new`` call (new vs returning customer) for the latest first payments."""
    from sqlmodel import Session, col, select

    from app.models import Order, Payment
    from app.services import rollups

    with Session(engine) as session:
        rows = session.exec(
            select(Order, Payment.paid_at)
            .join(Payment, col(Payment.order_id) == col(Order.id))
            .where(Order.account_id == account_id, col(Payment.kind).in_(("one_off", "first")))
            .order_by(col(Order.id).desc())
            .limit(samples)
        ).all()
        started = time.perf_counter()
        for order, paid_at in rows:
            rollups._is_new(session, order, paid_at)
        return (time.perf_counter() - started) * 1e3 / max(1, len(rows))


def ltv_reports(session: Any, account_id: int, last_day: date, source: str) -> list[Any]:
    """What the lifetime value page reads: the customers acquired over the year ending on ``last_day``, by campaign
    and by version (``services/metrics/ltv``)."""
    from app.services.metrics import Dimension, LtvQuery, lifetime_value

    start = last_day - timedelta(days=364)
    return [
        lifetime_value(session=session, account_id=account_id, source=source, today=last_day + timedelta(days=1),
                       query=LtvQuery(start=start, end=last_day, dimension=dimension))
        for dimension in (Dimension.CAMPAIGN, Dimension.VERSION)
    ]  # fmt: skip


def ltv_data(reports: list[Any]) -> list[Any]:
    from app.services.metrics import ltv_dict

    return [[(row.key, ltv_dict(row.figures)) for row in [r.total, *r.rows]] for r in reports]


def time_ltv(engine: Any, account_id: int, last_day: date, source: str, reps: int) -> tuple[list[float], Any]:
    from sqlmodel import Session

    times, data = [], None
    for _ in range(reps):
        with Session(engine) as session:
            started = time.perf_counter()
            data = ltv_reports(session, account_id, last_day, source)
            times.append((time.perf_counter() - started) * 1e3)
    return times, data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def profile_top(fn: Any, limit: int = 14) -> list[str]:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return lines[start : start + limit + 1]


# --- the page in Chromium ---------------------------------------------------------------------------------------------


# Runs in the page before its own scripts: records, in ms from navigation start (performance.now()), when the page's
# loading skeleton, the first real KPI figure (the selector's element with text: the cards exist only once the
# figures are loaded; the skeleton is a different element) and the first drawn chart appear, the paints, and when
# the websocket opened and got its first message. Playwright injects it outside the page's CSP.
PAINT_PROBE = """
(() => {
  const marks = (window.__paint = {});
  const now = () => Math.round(performance.now());
  try {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) marks[entry.name] = Math.round(entry.startTime);
    }).observe({ type: "paint", buffered: true });
  } catch (e) {}
  const Socket = window.WebSocket;
  window.WebSocket = function (...args) {
    const socket = new Socket(...args);
    marks.ws_created = marks.ws_created ?? now();
    socket.addEventListener("open", () => { marks.ws_open = marks.ws_open ?? now(); });
    marks.ws_messages = [];  // [ms, characters] of every message the server sent
    socket.addEventListener("message", (event) => {
      marks.ws_first_message = marks.ws_first_message ?? now();
      marks.ws_messages.push([now(), String(event.data).length, String(event.data).slice(0, %(head)d)]);
    });
    return socket;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  const check = () => {
    if (marks.shell === undefined && document.querySelector(%(shell)s)) marks.shell = now();
    if (marks.figure === undefined) {
      const figure = document.querySelector(%(figure)s);
      if (figure && figure.textContent.trim()) {
        marks.figure = now(); marks.figure_text = figure.textContent;
        // Every card as first shown, and whether they were the early cards (app/components/early_figures.py):
        // checked against the state's cards once the page is loaded.
        marks.first_cards = [...document.querySelectorAll(%(cards)s)].map((card) => [card.id, card.textContent]);
        marks.early = !!document.querySelector("#early-figures");
      }
    }
    if (marks.chart === undefined && document.querySelector(".js-plotly-plot .main-svg")) marks.chart = now();
    if (marks.figure !== undefined && marks.chart !== undefined) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true, characterData: true });
})();
"""

# What the page downloaded (transfer sizes: compressed bytes plus headers; 0 for what came from the cache), split at
# the moment the first figure showed, and when plotly's chunk started loading.
RESOURCES = """
(figureAt) => {
  const entries = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")];
  const sum = (list, key) => list.reduce((n, e) => n + (e[key] || 0), 0);
  const before = entries.filter((e) => e.responseEnd <= figureAt);
  const plotly = entries.find((e) => /plotly/.test(e.name));
  const early = entries.find((e) => /overview-kpis/.test(e.name));  // the early cards' request, if any
  return {
    requests: entries.length, transfer_bytes: sum(entries, "transferSize"), body_bytes: sum(entries, "decodedBodySize"),
    requests_before_figure: before.length, transfer_before_figure: sum(before, "transferSize"),
    plotly_start_ms: plotly ? Math.round(plotly.startTime) : null,
    plotly_transfer_bytes: plotly ? plotly.transferSize : null,
    early_request_ms: early ? [Math.round(early.startTime), Math.round(early.responseEnd)] : null,
  };
}
"""


STATE_CARDS = "(s) => [...document.querySelectorAll(s)].map((card) => [card.id, card.textContent])"


def time_page(args: argparse.Namespace) -> dict[str, Any]:
    """``/`` in ``--page-reps`` cold browser contexts (empty HTTP cache, the owner's session in local storage): from
    navigation start to the first real KPI figure, and what was downloaded."""
    from playwright.sync_api import sync_playwright

    from tests.utils.server import free_port, server_env, start_server

    port = free_port()
    web_dir = DATA / "web" / ".web"
    shutil.rmtree(web_dir, ignore_errors=True)  # an earlier run's (--data): the server builds the checkout's code
    if (ROOT / ".web" / "node_modules").is_dir():
        shutil.copytree(ROOT / ".web", web_dir, symlinks=True)
    started = time.perf_counter()
    server = start_server(port, DATA, server_env(port, DATA, web_dir), timeout=600)
    result: dict[str, Any] = {"server_start_s": round(time.perf_counter() - started, 1), "selector": args.selector}
    probe = PAINT_PROBE % {"shell": json.dumps(SHELL_SELECTOR), "figure": json.dumps(args.selector), "head": 300,
                           "cards": json.dumps(CARDS_SELECTOR)}  # fmt: skip
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                      "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            options: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "timezone_id": TIMEZONE}
            context = browser.new_context(**options)
            page = context.new_page()
            page.goto(f"{server.url}/login")
            page.wait_for_function(
                "() => { const f = document.querySelector('form'); return !!f && Object.keys(f).some("
                "(k) => k.startsWith('__reactFiber$') || k.startsWith('__reactProps$')); }",
                polling=100,
            )
            page.locator("input[name=email]").fill(OWNER_EMAIL)
            page.locator("input[name=password]").fill(OWNER_PASSWORD)
            page.locator("#login-submit").click()
            page.wait_for_url(f"{server.url}/", timeout=30_000)
            page.wait_for_selector(args.selector, state="visible", timeout=60_000)  # warms the server's caches
            signed_in = context.storage_state()  # the session token, in local storage
            context.close()
            loads = []
            for _ in range(args.page_reps):
                context = browser.new_context(**options, storage_state=signed_in)  # a cold cache each time
                context.add_init_script(probe)
                page = context.new_page()
                page.goto(f"{server.url}/", wait_until="commit")
                page.wait_for_selector(args.selector, state="visible", timeout=30_000)
                page.wait_for_selector(".js-plotly-plot .main-svg", state="attached", timeout=30_000)
                page.wait_for_load_state("networkidle")
                marks = page.evaluate("() => window.__paint")
                # The state's cards (the charts' row mounts with them, so they are in by now).
                marks["state_cards"] = page.evaluate(STATE_CARDS, CARDS_SELECTOR)
                loads.append(marks | page.evaluate(RESOURCES, marks["figure"]))
                context.close()
            browser.close()
    finally:
        server.stop()
    figures = [load["figure"] for load in loads]
    result |= {
        "loads": loads, "times_ms": figures, "p50_ms": round(statistics.median(figures)), "max_ms": max(figures),
        "shell_p50_ms": round(statistics.median(load.get("shell", load["figure"]) for load in loads)),
        "fcp_p50_ms": round(statistics.median(load.get("first-contentful-paint", 0) for load in loads)),
        "ws_open_p50_ms": round(statistics.median(load.get("ws_open", 0) for load in loads)),
        "chart_p50_ms": round(statistics.median(load["chart"] for load in loads)),
        "transfer_kib_p50": round(statistics.median(load["transfer_bytes"] for load in loads) / 1024),
        "transfer_before_figure_kib_p50": round(
            statistics.median(load["transfer_before_figure"] for load in loads) / 1024
        ),
        "shown": loads[-1].get("figure_text", "")[:200],
        "early_loads": sum(bool(load.get("early")) for load in loads),
        # Loads whose first cards differed from the state's: a correctness failure (measure_page).
        "cards_differ": sum(load.get("first_cards") != load["state_cards"] for load in loads),
    }  # fmt: skip
    return result


def measure_page(args: argparse.Namespace, result: dict[str, Any], failures: list[str]) -> None:
    try:
        page = result["page"] = time_page(args)
    except Exception as error:  # the page never showing its figures is a failed run, not a crash
        failures.append(f"the overview page: {error}")
        result["page"] = {"error": str(error)[:2000]}
        return
    if page["cards_differ"]:
        failures.append(f"the first KPI cards shown differed from the state's in {page['cards_differ']} load(s)")
    result.setdefault("targets", {})
    result["targets"][f"page_p50<={TARGET_PAGE_P50_MS}ms"] = page["p50_ms"] <= TARGET_PAGE_P50_MS
    result["targets"][f"page_max<={TARGET_PAGE_MAX_MS}ms"] = page["max_ms"] <= TARGET_PAGE_MAX_MS


def print_page(args: argparse.Namespace, result: dict[str, Any]) -> None:
    page = result.get("page", {})
    if "p50_ms" not in page:
        return
    loads = f"{args.page_reps} cold contexts"
    print(f"| `/` until the first real KPI figure (`{args.selector}`), p50 / max ({loads}) | "
          f"{page['p50_ms']:,} / {page['max_ms']:,} ms |")  # fmt: skip
    print(f"| … first contentful paint / skeleton / websocket open, p50 | {page['fcp_p50_ms']:,} / "
          f"{page['shell_p50_ms']:,} / {page['ws_open_p50_ms']:,} ms |")  # fmt: skip
    print(f"| … first chart drawn, p50 | {page['chart_p50_ms']:,} ms |")
    print(f"| … loads whose first cards were the early ones / differed from the state's | "
          f"{page['early_loads']} / {page['cards_differ']} |")  # fmt: skip
    print(f"| … transferred before the figure / in all, p50 | {page['transfer_before_figure_kib_p50']:,} / "
          f"{page['transfer_kib_p50']:,} KiB |")  # fmt: skip


def use_data_dir(folder: Path) -> None:
    """Work in ``folder`` instead of a new temporary one (before the app is imported: it reads the environment)."""
    global DATA, DB_PATH
    DATA = folder.resolve()
    DB_PATH = DATA / "paidsignal.db"
    os.environ.update({"DATA_DIR": str(DATA), "DATABASE_URL": f"sqlite:///{DB_PATH}"})


def page_only(args: argparse.Namespace) -> int:
    """Time the page on a dataset built by an earlier run (``--data DIR``), e.g. after a frontend change."""
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "data": str(DATA), "page_only": True}
    failures: list[str] = []
    measure_page(args, result, failures)
    result["failures"] = failures
    out = ROOT / "bench" / "results" / f"metrics-page-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nresults in {out.relative_to(ROOT)}\n")
    print("| what | figure |\n| --- | ---: |")
    print_page(args, result)
    print(f"\ntargets: {result.get('targets')}")
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
    return 1 if failures else 0


# --- main -------------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--rollup-reps", type=int, default=30)
    parser.add_argument("--raw-reps", type=int, default=3)
    parser.add_argument("--ltv-reps", type=int, default=30, help="runs of the lifetime value page's query set")
    parser.add_argument("--page-reps", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--selector", default="#kpis .kpi-value",
                        help="CSS selector of a KPI figure on / (visible = the figures are shown)")  # fmt: skip
    parser.add_argument(
        "--no-customer-index",
        action="store_true",
        help="rebuild without the proposed index on shop_order's customer key (slow at full size)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its path is printed)")
    parser.add_argument("--data", type=Path, help="the data folder to use (kept), instead of a new temporary one")
    parser.add_argument("--page-only", action="store_true",
                        help="only time the page, on the dataset a run with --data DIR built")  # fmt: skip
    parser.add_argument("--overview-only", action="store_true",
                        help="only time the overview's reads, on the dataset a run with --data DIR built")  # fmt: skip
    args = parser.parse_args()
    if args.data is not None:
        use_data_dir(args.data)
        args.keep = True
    if args.page_only:
        if args.data is None or not DB_PATH.is_file():
            parser.error("--page-only needs --data DIR holding the paidsignal.db of an earlier run")
        return page_only(args)
    if args.overview_only:
        if args.data is None or not DB_PATH.is_file():
            parser.error("--overview-only needs --data DIR holding the paidsignal.db of an earlier run")
        return overview_only(args)
    DATA.mkdir(mode=0o700, exist_ok=True)

    from sqlalchemy import text
    from sqlmodel import Session

    from app.cli import migrate
    from app.db import get_engine
    from app.services import lifetime, rollups

    failures: list[str] = []
    result: dict[str, Any] = {"at": datetime.now(UTC).isoformat(), "events_target": args.events,
                              "orders_target": args.orders, "load_average_start": os.getloadavg()}  # fmt: skip
    last_day = datetime.now(UTC).date() - timedelta(days=1)
    result["last_day"] = last_day.isoformat()
    print(f"data in {DATA}; building {args.events:,} events / {args.orders:,} orders ending {last_day}", flush=True)

    # (a) dataset
    started = time.perf_counter()
    migrate()
    counts, ids, big = build_dataset(args, last_day)
    build_s = time.perf_counter() - started
    size = DB_PATH.stat().st_size + sum(p.stat().st_size for p in DATA.glob("paidsignal.db-*"))
    result |= {"dataset": counts, "build_s": round(build_s, 1), "db_bytes": size}
    big_counts = counts["big"]
    for name, target in (("events", args.events), ("orders", args.orders)):
        if abs(big_counts[name] - target) > 0.05 * target:
            failures.append(f"{name}: {big_counts[name]:,} is more than 5 % off {target:,}")
    failures += [f"the dataset has no {name}" for name in ("refunds", "renewals", "ad_spend_rows", "touches")
                 if not big_counts.get(name)]  # fmt: skip
    print(f"dataset built in {build_s:.0f} s, {size / 2**30:.2f} GiB", flush=True)

    # (b) rollups. rollups._is_new looks up a customer's earlier orders: by the indexed shop_order.customer_key since
    # 8e123ae; before, by lower(trim(customer_email)), which scanned every order of the account (472 ms per call at
    # 200,000 orders): on that schema the bench adds an expression index (measured before and after).
    engine = get_engine()
    with Session(engine) as session:
        keyed = any(row[1] == "customer_key" for row in session.exec(text("PRAGMA table_info(shop_order)")))  # type: ignore[call-overload]
    is_new_ms = {"schema_as_migrated": time_is_new(engine, big)}
    if not keyed and not args.no_customer_index:
        with Session(engine) as session:
            for statement in CUSTOMER_INDEXES:
                session.exec(text(statement))  # type: ignore[call-overload]
            session.exec(text("ANALYZE shop_order"))  # type: ignore[call-overload]
            session.commit()
        is_new_ms["with_index"] = time_is_new(engine, big)
    result["is_new_ms_per_call"] = {k: round(v, 3) for k, v in is_new_ms.items()}
    result["customer_index"] = not args.no_customer_index
    print(f"  rollups._is_new per call: {result['is_new_ms_per_call']} ms", flush=True)
    rebuild_s: dict[str, float] = {}
    for label, account_id in ids.items():
        with Session(engine) as session:
            started = time.perf_counter()
            traffic_days, sales_days = rollups.rebuild(session, account_id)
            rebuild_s[label] = time.perf_counter() - started
        print(f"  rollups of {label}: {traffic_days} traffic + {sales_days} sales days in {rebuild_s[label]:.1f} s",
              flush=True)  # fmt: skip
    with Session(engine) as session:
        rollup_rows = {
            table: session.exec(text(f"SELECT count(*) FROM {table} WHERE account_id = :a"),  # type: ignore[call-overload]
                                params={"a": big}).one()[0]
            for table in ("rollup_traffic", "rollup_sales")
        }  # fmt: skip
    result |= {"rebuild_s": {k: round(v, 1) for k, v in rebuild_s.items()}, "rollup_rows": rollup_rows}
    with Session(engine) as session:
        started = time.perf_counter()
        customer_rows = lifetime.rebuild(session, big)
        customers_s = time.perf_counter() - started
    result["customer_rebuild"] = {"rows": customer_rows, "s": round(customers_s, 1)}
    print(f"  customer rollup of big: {customer_rows:,} rows in {customers_s:.1f} s", flush=True)

    # (c) the overview, rollups then raw (same process, same warm cache)
    p50_r, p95_r, p50_w, p95_w = measure_overview(engine, big, last_day, args, result, failures)
    ratio = p50_w / p50_r

    # (c2) lifetime value: by campaign and by version over a year of customers, from rollup_customer, then computed
    # live from the raw tables once (the same figures, or the run fails)
    time_ltv(engine, big, last_day, "rollup", 2)  # warm-up
    ltv_ms, ltv_rolled = time_ltv(engine, big, last_day, "rollup", args.ltv_reps)
    live_ms, ltv_live = time_ltv(engine, big, last_day, "live", 1)
    if ltv_data(ltv_rolled) != ltv_data(ltv_live):
        failures.append("lifetime value from rollup_customer differs from the live computation")
    ltv_customers = ltv_rolled[0].total.figures.customers
    if not ltv_customers:
        failures.append("lifetime value found no customers")
    p50_l, p95_l = statistics.median(ltv_ms), percentile(ltv_ms, 95)
    result["ltv"] = {"rollup_ms": [round(t, 2) for t in ltv_ms], "rollup_p50_ms": round(p50_l, 1),
                     "rollup_p95_ms": round(p95_l, 1), "live_ms": round(live_ms[0]),
                     "ratio_p95": round(live_ms[0] / p95_l), "customers": round(ltv_customers, 3)}  # fmt: skip
    result["targets"]["ltv_p95_ms<=100"] = p95_l <= TARGET_LTV_P95_MS
    print(f"  lifetime value p95 {p95_l:.1f} ms (live {live_ms[0]:.0f} ms)", flush=True)

    # (d) the page
    if not args.no_browser:
        measure_page(args, result, failures)

    result["load_average_end"] = os.getloadavg()
    result["failures"] = failures
    out = ROOT / "bench" / "results" / f"metrics-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    big_counts = counts["big"]
    print(f"\nresults in {out.relative_to(ROOT)}\n")
    print("| what | figure |\n| --- | ---: |")
    print(f"| dataset (big account) | {big_counts['events']:,} events, {big_counts['sessions']:,} sessions, "
          f"{big_counts['visitors']:,} visitors, {big_counts['touches']:,} touches, {big_counts['orders']:,} orders, "
          f"{big_counts['renewals']:,} renewals, {big_counts['refunds']:,} refunds, "
          f"{big_counts['ad_spend_rows']:,} spend rows |")  # fmt: skip
    print(f"| dataset build (4 accounts, bulk SQL) | {build_s:,.0f} s |")
    print(f"| database file | {size / 2**30:.2f} GiB |")
    print(f"| `rollups.rebuild`, big account | {rebuild_s['big']:,.0f} s ({rollup_rows['rollup_traffic']:,} traffic + "
          f"{rollup_rows['rollup_sales']:,} sales rows) |")  # fmt: skip
    print(f"| overview from rollups, p50 / p95 ({args.rollup_reps} runs) | {p50_r:,.0f} / {p95_r:,.0f} ms |")
    print(f"| overview from raw tables, p50 / p95 ({args.raw_reps} runs) | {p50_w:,.0f} / {p95_w:,.0f} ms |")
    print(f"| raw / rollups (p50) | {ratio:,.0f}× |")
    print(f"| customer rollup rebuild, big account | {customers_s:,.1f} s ({customer_rows:,} rows) |")
    print(f"| lifetime value (by campaign + by version, a year of customers) from rollup_customer, p50 / p95 "
          f"({args.ltv_reps} runs) | {p50_l:,.1f} / {p95_l:,.1f} ms |")  # fmt: skip
    print(f"| lifetime value computed live (1 run) / rollup p95 | {live_ms[0]:,.0f} ms, {live_ms[0] / p95_l:,.0f}× |")
    print_page(args, result)
    print(f"\ntargets: {result['targets']}")
    if failures:
        print("\nFAILED:\n- " + "\n- ".join(failures))
    if not args.keep:
        shutil.rmtree(DATA, ignore_errors=True)
    else:
        print(f"data kept in {DATA}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
