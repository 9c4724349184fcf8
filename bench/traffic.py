"""What counting converted sessions adds to a traffic day (``rollups.traffic_between``, which the rollups job, a
rebuild and every alert window run), on a SQLite file in this process:

- a shop with ``--sessions`` sessions over ``--days`` days (two sessions per visitor on average) and ``--orders`` paid
  orders on random sessions; ``--unnamed`` of them (a fraction) were checkouts that named no session (found by
  visitor), the others name theirs (the pixel's checkouts do);
- per day, interleaved so machine noise hits both alike: the sessions-and-visitors query alone (the traffic day before
  converted sessions) and ``traffic_between`` with them; medians over the days.

Usage: ``.venv/bin/python bench/traffic.py [--sessions 300000 --days 30 --orders 10000 --unnamed 0.5]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_DATA = Path(tempfile.mkdtemp(prefix="paidsignal-bench-traffic-"))
os.environ.update(
    {
        "PAIDSIGNAL_ENV": "development",
        "DATA_DIR": str(_DATA),
        "DATABASE_URL": f"sqlite:///{_DATA / 'bench.db'}",
        "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
        "JOBS_ENABLED": "false",
    }
)
sys.path.insert(0, str(ROOT))

from sqlalchemy import func  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from app.cli import migrate  # noqa: E402
from app.db import executemany, get_engine  # noqa: E402
from app.models import Account, Order, Payment, VisitSession  # noqa: E402
from app.services import rollups  # noqa: E402


def build(session: Session, sessions: int, days: int, orders: int, unnamed: float) -> int:
    rng = random.Random(7)
    account = Account(public_id="acc_bench", slug="bench", name="Bench", timezone="Europe/Berlin")
    session.add(account)
    session.commit()
    account_id = account.id or 0
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows = []
    for n in range(sessions):
        at = start + timedelta(seconds=rng.uniform(0, days * 86_400))
        visitor = f"v{rng.randrange(sessions // 2)}"
        rows.append({"account_id": account_id, "session_key": f"s{n}", "visitor_key": visitor, "inferred": False,
                     "started_at": at, "last_event_at": at, "event_count": 1})  # fmt: skip
    executemany(session, VisitSession.__table__.insert(), rows)  # type: ignore[attr-defined]
    made = []
    for n in range(orders):
        visit = rows[rng.randrange(sessions)]
        created = visit["started_at"] + timedelta(minutes=5)
        made.append({
            "public_id": f"ord_{n}", "account_id": account_id, "request_key": f"rq{n}", "mode": "payment",
            "status": "paid", "status_changed_at": created, "currency": "EUR", "amount_paid": 100, "amount_refunded": 0,
            "items": [], "event_id": f"e{n}", "visitor_id": visit["visitor_key"], "attribution": {},
            "session_key": None if rng.random() < unnamed else visit["session_key"], "success_url": "https://s/t",
            "cancel_url": "https://s/c", "created_at": created, "paid_at": created + timedelta(minutes=1),
        })  # fmt: skip
    session.execute(Order.__table__.insert(), made)  # type: ignore[attr-defined]
    session.execute(
        Payment.__table__.insert(),  # type: ignore[attr-defined]
        [{"account_id": account_id, "order_id": order_id, "stripe_key": f"pi{order_id}", "kind": "one_off",
          "amount": 100, "amount_refunded": 0, "currency": "EUR", "paid_at": start}
         for order_id in session.exec(select(Order.id)).all()],
    )  # fmt: skip
    session.commit()
    return account_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--unnamed", type=float, default=0.5)
    args = parser.parse_args()
    migrate()
    with Session(get_engine()) as session:
        account_id = build(session, args.sessions, args.days, args.orders, args.unnamed)
        zone = rollups.account_zone(session, account_id)
        before, after, converted = [], [], 0
        for offset in range(1, args.days - 1):
            start, end = rollups.day_bounds(datetime(2026, 10, 1).date() + timedelta(days=offset), zone)
            t0 = time.perf_counter()
            session.exec(
                select(VisitSession.campaign_id, VisitSession.campaign_version_id, func.count(),
                       func.count(func.distinct(VisitSession.visitor_key)))
                .where(VisitSession.account_id == account_id)
                .where(col(VisitSession.started_at) >= start, col(VisitSession.started_at) < end)
                .group_by(VisitSession.campaign_id, VisitSession.campaign_version_id)
            ).all()  # fmt: skip
            t1 = time.perf_counter()
            rows = rollups.traffic_between(session, account_id, start, end)
            t2 = time.perf_counter()
            before.append(t1 - t0)
            after.append(t2 - t1)
            converted += sum(r["converted_sessions"] for r in rows)
    per_day = args.sessions // args.days
    print(f"| {per_day:,} sessions/day, {args.orders:,} orders ({args.unnamed:.0%} without a session) | median ms |")
    print("| --- | ---: |")
    print(f"| sessions and visitors of a day (before) | {statistics.median(before) * 1000:.1f} |")
    print(f"| `traffic_between` with converted sessions | {statistics.median(after) * 1000:.1f} |")
    print(f"\n{converted:,} converted sessions found over {len(after)} days.")


if __name__ == "__main__":
    main()
