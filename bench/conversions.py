"""Conversion outbox benchmark: what the outbox adds to a paying webhook, and how fast the sender empties it, per
provider.

One run, one database, the recording ad-platform server of the tests on 127.0.0.1 standing in for Meta, GA4, Google's
OAuth token endpoint and the Data Manager API:

- (a) ``checkout.session.completed`` paying an order through ``receive_webhook`` (in-process, one thread), for an
  account without pixels and for one with a Meta and a GA4 default pixel: the cost of writing two deliveries in
  the webhook's transaction;
- (b) the sender (``send_due``: claim with leases, build, batch, send, record) emptying an outbox of ``--deliveries``
  conversions per provider (Meta, GA4 with a distinct buyer each, Google Ads), one provider at a time, with
  ``CONVERSIONS_CONCURRENCY`` 1, 4 and 8; the outbox is reset to pending between rows;
- (c) the ceiling: the request bodies the sender sent in (b), POSTed with httpx alone at the same concurrency (the
  same number of requests in flight), no database at all.

After every sender row: every delivery sent, exactly one attempt each, answered ``sent``, and the recorder holds
each conversion's dedup id (Meta ``event_id``, GA4 ``transaction_id``, Google ``transactionId``) exactly once.

Usage: ``.venv/bin/python bench/conversions.py [--orders 300] [--deliveries 3000] [--concurrency 1,4,8]``. Takes
``DATABASE_URL`` from the environment (an empty database: it is migrated, and the bench's rows stay in it); else a
fresh SQLite file. Writes bench/results/conversions-*.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Made in main() once the arguments are read: --help must not leave an empty folder behind.
DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-conversions-{os.getpid()}-{os.urandom(4).hex()}"
os.environ.setdefault("DATABASE_URL", f"sqlite:///{DATA / 'bench.db'}")
os.environ.update(
    {
        "DATA_DIR": str(DATA),
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_PROFILE": "fast",
        "JOBS_ENABLED": "false",
        "__REFLEX_SKIP_COMPILE": "true",
    }
)
PROVIDERS = ("meta", "ga4", "google_ads")
# Where each provider's requests go, and where a conversion's dedup id sits in a request's body.
PATHS = {"meta": "/v26.0/", "ga4": "/mp/collect", "google_ads": "/v1/events:ingest"}


def dedup_ids(provider: str, body: dict[str, Any]) -> list[str]:
    if provider == "meta":
        return [event["event_id"] for event in body["data"]]
    if provider == "ga4":
        return [event["params"]["transaction_id"] for event in body["events"]]
    return [event["transactionId"] for event in body["events"]]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300, help="paying webhooks per account in (a)")
    parser.add_argument("--deliveries", type=int, default=3000, help="conversions per provider in (b)")
    parser.add_argument("--concurrency", default="1,4,8", help="CONVERSIONS_CONCURRENCY values, comma-separated")
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    DATA.mkdir(mode=0o700, exist_ok=True)

    import httpx
    from sqlalchemy import delete, insert
    from sqlmodel import Session, col, func, select, update

    from app.cli import migrate
    from app.db import get_engine
    from app.models import ConversionDelivery, DeliveryAttempt, Pixel
    from app.services import conversion_sender, pixels
    from app.settings import get_settings
    from tests.utils.ad_platforms import AdPlatforms
    from tests.utils.payments import deliver, make_shop, session_of, start_checkout
    from tests.utils.stripe_fakes import StripeRecorder

    migrate()
    stripe_api = StripeRecorder().start()
    platforms = AdPlatforms().start()
    for name in ("META_GRAPH_BASE", "GA4_BASE", "GOOGLE_DATAMANAGER_BASE"):
        os.environ[name] = platforms.url
    os.environ.update({"STRIPE_API_BASE": stripe_api.url, "GOOGLE_OAUTH_TOKEN_URL": f"{platforms.url}/token"})
    get_settings.cache_clear()
    engine = get_engine()
    database = engine.url.get_backend_name()
    result: dict[str, Any] = {"orders": args.orders, "deliveries": args.deliveries, "database": database,
                              "at": datetime.now(UTC).isoformat(), "rows": {}}  # fmt: skip

    # (a) the webhook, without and with two pixels
    def paying_events(shop: Any, db: Session, count: int) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for _ in range(count):
            order_id = start_checkout(shop, db, ga_client_id="555.1732000000", fbp="fb.1.1732000000123.42")
            out.append(
                (order_id, stripe_api.complete_session(session_of(shop, db, order_id)["id"], amount_total=4_900))
            )
        return out

    with Session(engine, expire_on_commit=False) as db:
        bare = make_shop(db, stripe_api, name="No pixels")
        shop = make_shop(db, stripe_api, name="Two pixels")
        pixels.create_pixel(session=db, actor=shop.actor, provider="meta", name="Meta",
                            settings={"pixel_id": "123456789012345"}, credentials={"access_token": "EAAbench0123456"},
                            is_default=True)  # fmt: skip
        pixels.create_pixel(session=db, actor=shop.actor, provider="ga4", name="GA4",
                            settings={"measurement_id": "G-BENCH123"}, credentials={"api_secret": "bench-secret-0"},
                            is_default=True)  # fmt: skip
        db.commit()
        for label, target in (("webhook_no_pixels", bare), ("webhook_two_pixels", shop)):
            events = paying_events(target, db, args.orders)
            started, cpu_started = time.perf_counter(), time.process_time()
            for _, completed in events:
                deliver(target, db, "checkout.session.completed", completed)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            # CPU time of every thread (the webhook writer's included), without the commits' fsync waits: steadier
            # than the wall time on a shared disk.
            result["rows"][label] = {"per_second": round(len(events) / elapsed), "ms_each": elapsed / len(events) * 1e3,
                                     "cpu_ms_each": cpu / len(events) * 1e3}  # fmt: skip
        with Session(engine) as check:
            written = check.exec(select(func.count()).select_from(ConversionDelivery)).one()
        assert written == 2 * args.orders, written
        # A Google Ads pixel (OAuth refresh and Data Manager on the recorder) for (b).
        google = pixels.create_pixel(
            session=db, actor=shop.actor, provider="google_ads", name="Google Ads",
            settings={"operating_account_id": "123-456-7890", "conversion_action_id": "987654321"},
            credentials={"oauth_client_id": "bench-client", "oauth_client_secret": "bench-secret",
                         "refresh_token": "1//bench-refresh"}, is_default=True,
        )  # fmt: skip
        db.commit()
        google_pixel_id = db.exec(select(Pixel.id).where(Pixel.public_id == google.public_id)).one()

    # (b) an outbox of --deliveries conversions per provider, cloned from (a)'s: each its own order, dedup ids and,
    # for GA4, buyer; Google's with a click id.
    with Session(engine) as db:
        templates = {
            d.provider.value: d for d in db.exec(select(ConversionDelivery).order_by(col(ConversionDelivery.id)))
        }
        db.exec(delete(DeliveryAttempt))
        db.exec(delete(ConversionDelivery))
        now = datetime.now(UTC)
        rows = []
        for provider in PROVIDERS:
            template = templates["meta" if provider == "google_ads" else provider]
            for n in range(args.deliveries):
                key = f"{provider}-{n}-{uuid.uuid4().hex[:8]}"
                conversion = {**template.conversion, "order_id": f"ord_bench_{key}", "event_id": str(uuid.uuid4()),
                              "transaction_id": f"ord_bench_{key}", "event_time": now.isoformat(),
                              "clicks": {"gclid": f"bench-gclid-{n}"},
                              "ga": {**template.conversion["ga"], "client_id": f"{n + 1}.1732000000"}}  # fmt: skip
                rows.append({"public_id": f"cvd_{uuid.uuid4().hex[:24]}", "account_id": template.account_id,
                             "pixel_id": google_pixel_id if provider == "google_ads" else template.pixel_id,
                             "pixel_name": provider, "provider": provider, "kind": "purchase", "dedup_key": key,
                             "conversion": conversion, "event_time": now, "test": False, "status": "pending",
                             "reason": "", "attempts": 0, "next_attempt_at": now, "created_at": now,
                             "updated_at": now})  # fmt: skip
        db.execute(insert(ConversionDelivery), rows)
        db.commit()

    def reset(provider: str) -> None:
        """Only ``provider``'s conversions due, none attempted; the recorder empty."""
        with Session(engine) as db:
            db.exec(delete(DeliveryAttempt))
            db.exec(update(ConversionDelivery).where(col(ConversionDelivery.provider) != provider)
                    .values(status="sent", lease_holder=None, lease_until=None))  # fmt: skip
            db.exec(update(ConversionDelivery).where(col(ConversionDelivery.provider) == provider)
                    .values(status="pending", attempts=0, next_attempt_at=datetime.now(UTC), sent_at=None,
                            lease_holder=None, lease_until=None))  # fmt: skip
            db.commit()
        platforms.reset()

    def check_exactly_once(provider: str) -> None:
        """Each delivery sent, recorded once (one attempt, answered sent), its dedup id at the recorder once."""
        with Session(engine) as db:
            statuses = Counter(db.exec(select(ConversionDelivery.status).where(
                col(ConversionDelivery.provider) == provider)).all())  # fmt: skip
            attempts = db.exec(select(DeliveryAttempt.delivery_id, DeliveryAttempt.outcome)).all()
            conversions = db.exec(
                select(ConversionDelivery.conversion).where(col(ConversionDelivery.provider) == provider)
            ).all()
        ids = [c["event_id" if provider == "meta" else "transaction_id"] for c in conversions]
        assert statuses == {"sent": args.deliveries}, statuses
        per_delivery = Counter(delivery_id for delivery_id, _ in attempts)
        assert len(per_delivery) == args.deliveries and set(per_delivery.values()) == {1}, "an attempt recorded twice"
        assert {outcome for _, outcome in attempts} == {"sent"}
        received = [i for body in platforms.bodies(PATHS[provider]) for i in dedup_ids(provider, body)]
        assert len(received) == len(set(received)) == args.deliveries and set(received) == set(ids), provider

    local = threading.local()

    def post(item: tuple[str, dict[str, str], bytes]) -> int:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=10)
        path, headers, body = item
        return client.post(platforms.url + path, content=body, headers=headers).status_code

    for provider in PROVIDERS:
        for concurrency in concurrencies:
            reset(provider)
            os.environ["CONVERSIONS_CONCURRENCY"] = str(concurrency)
            get_settings.cache_clear()
            started = time.perf_counter()
            while conversion_sender.send_due(holder="bench").claimed:
                pass
            elapsed = time.perf_counter() - started
            check_exactly_once(provider)
            sent = platforms.requests_to(PATHS[provider], "POST")
            row = {"per_second": round(args.deliveries / elapsed), "seconds": elapsed, "requests": len(sent)}
            # (c) the same requests with httpx alone, as many in flight
            replay = [(r.path + ("?" + "&".join(f"{k}={v}" for k, v in r.query.items()) if r.query else ""),
                       {"Content-Type": "application/json",
                        **({"Authorization": r.header("Authorization") or ""} if r.header("Authorization") else {})},
                       r.body) for r in sent]  # fmt: skip
            platforms.reset()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                statuses = list(pool.map(post, replay))
            raw = time.perf_counter() - started
            assert all(200 <= s < 300 for s in statuses), Counter(statuses)
            row["httpx_per_second"] = round(args.deliveries / raw)
            row["vs_httpx"] = round(row["per_second"] / row["httpx_per_second"], 2)
            result["rows"][f"{provider}_c{concurrency}"] = row

    rows = result["rows"]
    overhead = rows["webhook_two_pixels"]["ms_each"] - rows["webhook_no_pixels"]["ms_each"]
    result["outbox_ms_per_paying_webhook"] = round(overhead, 2)
    cpu_overhead = rows["webhook_two_pixels"]["cpu_ms_each"] - rows["webhook_no_pixels"]["cpu_ms_each"]
    result["outbox_cpu_ms_per_paying_webhook"] = round(cpu_overhead, 2)
    out = ROOT / "bench" / "results" / f"conversions-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{database}; (a) {args.orders} paid orders per account; (b) {args.deliveries:,} deliveries per provider; "
          f"results in {out.relative_to(ROOT)}\n")  # fmt: skip
    print("| what | per second | ceiling, same run | ratio |\n| --- | ---: | --- | ---: |")
    print(f"| paying webhook, no pixels (in-process) | {rows['webhook_no_pixels']['per_second']:,} | | |")
    bare_cpu, pixels_cpu = rows["webhook_no_pixels"]["cpu_ms_each"], rows["webhook_two_pixels"]["cpu_ms_each"]
    print(f"| paying webhook, 2 pixels (in-process) | {rows['webhook_two_pixels']['per_second']:,} | "
          f"+{overhead:.2f} ms per webhook for the outbox (CPU +{cpu_overhead:.2f} ms: "
          f"{bare_cpu:.2f} → {pixels_cpu:.2f}) | |")  # fmt: skip
    names = {"meta": "Meta", "ga4": "GA4", "google_ads": "Google Ads"}
    for provider in PROVIDERS:
        for concurrency in concurrencies:
            row = rows[f"{provider}_c{concurrency}"]
            print(f"| sender, {names[provider]}, concurrency {concurrency} ({row['requests']:,} requests) | "
                  f"{row['per_second']:,} deliveries/s | httpx alone {row['httpx_per_second']:,} events/s | "
                  f"{row['vs_httpx']:.2f}× |")  # fmt: skip
    stripe_api.stop()
    platforms.stop()
    engine.dispose()
    shutil.rmtree(DATA, ignore_errors=True)  # the SQLite file and data folder of this run (results are kept above)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
