"""Conversion outbox benchmark: what the outbox adds to a paying webhook, and how fast the sender empties it.

One run, one SQLite file, the recording ad-platform server of the tests on 127.0.0.1 standing in for Meta and GA4:

- (a) ``checkout.session.completed`` paying an order through ``receive_webhook`` (in-process, one thread), for an
  account without pixels and for one with a Meta and a GA4 default pixel: the cost of writing two deliveries in
  the webhook's transaction;
- (b) the sender (``send_due``: claim with leases, build, send, record each attempt) emptying the outbox of (a),
  with ``CONVERSIONS_CONCURRENCY`` 1, 4 and 8; the outbox is reset to pending between rows;
- (c) the baseline: the same request bodies POSTed with httpx at the same concurrency, no database at all.

Usage: ``.venv/bin/python bench/conversions.py [--orders 600]``. Writes bench/results/conversions-*.json and prints a
Markdown table. Every delivery is checked sent once (recorder count = deliveries) after each row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Made in main() once the arguments are read: --help must not leave an empty folder behind.
DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-conversions-{os.getpid()}-{os.urandom(4).hex()}"
os.environ.update(
    {
        "DATA_DIR": str(DATA),
        "DATABASE_URL": f"sqlite:///{DATA / 'bench.db'}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_PROFILE": "fast",
        "JOBS_ENABLED": "false",
        "__REFLEX_SKIP_COMPILE": "true",
    }
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=600)
    args = parser.parse_args()
    DATA.mkdir(mode=0o700, exist_ok=True)

    import httpx
    from sqlmodel import Session, func, select, update

    from app.cli import migrate
    from app.db import get_engine
    from app.models import ConversionDelivery, DeliveryAttempt
    from app.services import conversion_sender
    from app.settings import get_settings
    from tests.utils.ad_platforms import AdPlatforms
    from tests.utils.payments import deliver, make_shop, session_of, start_checkout
    from tests.utils.stripe_fakes import StripeRecorder

    migrate()
    stripe_api = StripeRecorder().start()
    platforms = AdPlatforms().start()
    os.environ.update({"STRIPE_API_BASE": stripe_api.url, "META_GRAPH_BASE": platforms.url, "GA4_BASE": platforms.url})
    get_settings.cache_clear()
    engine = get_engine()
    result: dict[str, Any] = {"orders": args.orders, "at": datetime.now(UTC).isoformat(), "rows": {}}

    # (a) the webhook, without and with two pixels
    from app.services import pixels

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
            started = time.perf_counter()
            for _, completed in events:
                deliver(target, db, "checkout.session.completed", completed)
            elapsed = time.perf_counter() - started
            result["rows"][label] = {"per_second": round(len(events) / elapsed), "ms_each": elapsed / len(events) * 1e3}

    with Session(engine) as db:
        total = db.exec(select(func.count()).select_from(ConversionDelivery)).one()
    assert total == 2 * args.orders, total

    # (b) the sender at three concurrencies
    def reset() -> None:
        with Session(engine) as db:
            db.exec(update(ConversionDelivery).values(status="pending", attempts=0, next_attempt_at=datetime.now(UTC),
                                                      lease_holder=None, lease_until=None))  # fmt: skip
            db.exec(DeliveryAttempt.__table__.delete())  # type: ignore[attr-defined]
            db.commit()
        platforms.reset()

    for concurrency in (1, 4, 8):
        reset()
        os.environ["CONVERSIONS_CONCURRENCY"] = str(concurrency)
        get_settings.cache_clear()
        started = time.perf_counter()
        while conversion_sender.send_due(holder="bench", limit=500).claimed:
            pass
        elapsed = time.perf_counter() - started
        with Session(engine) as db:
            sent = db.exec(
                select(func.count()).select_from(ConversionDelivery).where(ConversionDelivery.status == "sent")
            ).one()
        received = len(platforms.requests)
        assert sent == total and received == total, (sent, received, total)
        result["rows"][f"sender_c{concurrency}"] = {"per_second": round(total / elapsed), "seconds": elapsed}

    # (c) the same bodies with httpx alone
    bodies = [(r.path + ("?" + "&".join(f"{k}={v}" for k, v in r.query.items()) if r.query else ""), r.body)
              for r in platforms.requests]  # fmt: skip
    local = threading.local()
    for concurrency in (1, 4, 8):
        platforms.reset()

        def post(item: tuple[str, bytes]) -> int:
            client = getattr(local, "client", None)
            if client is None:
                client = local.client = httpx.Client(timeout=10)
            return client.post(platforms.url + item[0], content=item[1],
                               headers={"Content-Type": "application/json"}).status_code  # fmt: skip

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency * 2) as pool:
            statuses = list(pool.map(post, bodies))
        elapsed = time.perf_counter() - started
        assert all(200 <= s < 300 for s in statuses)
        result["rows"][f"httpx_c{concurrency}"] = {"per_second": round(len(bodies) / elapsed), "seconds": elapsed}

    rows = result["rows"]
    for concurrency in (1, 4, 8):
        rows[f"sender_c{concurrency}"]["vs_httpx"] = round(
            rows[f"sender_c{concurrency}"]["per_second"] / rows[f"httpx_c{concurrency}"]["per_second"], 2
        )
    overhead = rows["webhook_two_pixels"]["ms_each"] - rows["webhook_no_pixels"]["ms_each"]
    result["outbox_ms_per_paying_webhook"] = round(overhead, 2)
    out = ROOT / "bench" / "results" / f"conversions-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\n{args.orders} paid orders, 2 pixels → {total} deliveries; results in {out.relative_to(ROOT)}\n")
    print("| what | per second | note |\n| --- | ---: | --- |")
    print(f"| paying webhook, no pixels (in-process) | {rows['webhook_no_pixels']['per_second']:,} | |")
    print(f"| paying webhook, 2 pixels (in-process) | {rows['webhook_two_pixels']['per_second']:,} | "
          f"+{overhead:.2f} ms per webhook for the outbox |")  # fmt: skip
    for concurrency in (1, 4, 8):
        sender, raw = rows[f"sender_c{concurrency}"], rows[f"httpx_c{concurrency}"]
        print(f"| sender, concurrency {concurrency} per provider | {sender['per_second']:,} | "
              f"{sender['vs_httpx']:.2f}× httpx alone ({raw['per_second']:,}/s) |")  # fmt: skip
    stripe_api.stop()
    platforms.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
