"""Versions compared with confidence at scale: what the campaign page's "Did the new version win?" costs.

One run, one SQLite file in a temporary DATA_DIR: an account (UTC) with one campaign of three versions, each live 30
days, ``--sessions`` sessions per version spread over its days, about 3 % of them converted by a one-off order
(EUR, one in ten in USD; 5 % refunded in part), written in large transactions, then ``rollups.rebuild``.

Timed, ``--reps`` times each, p50 and p95:

- ceiling: the versions' windows as the page read them before issue 24 (one ``metrics.metrics`` call per version);
- the page now: ``metrics.version_report`` (the windows, the shop's figures over them, the converted sessions' net
  revenue, every consecutive pair with P(B > A) by quadrature, the credible interval, the bootstraps) and the
  presenter's lines;

and the ratio of their p50s. Checked after the load: each version's converted sessions and net revenue per currency
equal what was generated, and every P(B > A) equals the closed form (Evan Miller's sum over scipy.special.betaln).

Usage: ``.venv/bin/python bench/versions.py [--sessions 20000] [--reps 7]``. Writes bench/results/versions-*.json
and prints a Markdown table; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = Path(tempfile.gettempdir()) / f"paidsignal-bench-versions-{os.getpid()}-{os.urandom(4).hex()}"


def closed_form(ca: int, na: int, cb: int, nb: int) -> float:
    from scipy import special

    aa, ba, ab, bb = 1 + ca, 1 + na - ca, 1 + cb, 1 + nb - cb
    return sum(
        math.exp(
            special.betaln(aa + i, ba + bb) - math.log(bb + i) - special.betaln(1 + i, bb) - special.betaln(aa, ba)
        )
        for i in range(ab)
    )


def build(args: argparse.Namespace) -> tuple[int, str, dict[int, dict[str, Any]]]:
    """The dataset; returns (account id, campaign public id, per version number: generated truth)."""
    from sqlalchemy import insert
    from sqlmodel import Session

    from app.db import get_engine
    from app.models import Campaign, CampaignVersion, Order, Payment, Refund, VisitSession
    from app.models.base import new_public_id
    from app.services import accounts

    rng = random.Random(24)
    today = datetime.now(UTC).date()
    first = today - timedelta(days=90)
    truth: dict[int, dict[str, Any]] = {}
    with Session(get_engine(), expire_on_commit=False) as db:
        account, _user = accounts.signup(
            session=db, account_name="Bench versions", email="bench-versions@example.com", password="bench-pass-123"
        )
        account_id = account.id or 0
        campaign = Campaign(public_id=new_public_id("cmp"), account_id=account_id, name="Spring", channel="meta",
                            channel_group="paid_social", status="active")  # fmt: skip
        db.add(campaign)
        db.flush()
        versions = []
        for number in (1, 2, 3):
            start = first + timedelta(days=30 * (number - 1))
            live = datetime(start.year, start.month, start.day, tzinfo=UTC)
            version = CampaignVersion(
                public_id=new_public_id("cv"),
                account_id=account_id,
                campaign_id=campaign.id or 0,
                number=number,
                config={},
                published_at=live,
            )
            db.add(version)
            db.flush()
            versions.append((number, start, version.id or 0, (0.03, 0.033, 0.029)[number - 1]))
        db.commit()
        session_id = 0
        for number, start, vid, rate in versions:
            sessions, orders, payments, refunds = [], [], [], []
            money: dict[str, int] = defaultdict(int)
            converted = 0
            for _ in range(args.sessions):
                session_id += 1
                at = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(
                    seconds=rng.randrange(30 * 86_400)
                )
                key = f"s{session_id}"
                sessions.append({"account_id": account_id, "session_key": key, "visitor_key": f"v{session_id}",
                                 "started_at": at, "last_event_at": at, "campaign_id": campaign.id,
                                 "campaign_version_id": vid, "inferred": False})  # fmt: skip
                if rng.random() >= rate:
                    continue
                converted += 1
                currency = "USD" if rng.random() < 0.1 else "EUR"
                amount = rng.randrange(2_000, 12_000)
                paid = at + timedelta(minutes=10)
                credits = [{"campaign_id": campaign.id, "campaign_version_id": vid, "share": "1"}]
                order_id = len(orders) + 1 + 10_000_000 * number
                orders.append({
                    "id": order_id, "public_id": new_public_id("ord"), "account_id": account_id,
                    "request_key": new_public_id("rq", 40), "mode": "payment", "status": "paid", "currency": currency,
                    "amount_paid": amount, "event_id": new_public_id("ev"), "campaign_id": campaign.id,
                    "campaign_version_id": vid, "attribution": {"models": {"last_touch": credits}, "touches": []},
                    "success_url": "https://s/t", "cancel_url": "https://s/c",
                    "items": [{"product": "prod_x", "price": "price_x", "unit_amount": amount, "quantity": 1}],
                    "created_at": paid - timedelta(minutes=5), "paid_at": paid, "session_key": key,
                    "visitor_id": f"v{session_id}", "imported": False,
                })  # fmt: skip
                payments.append({"account_id": account_id, "order_id": order_id, "stripe_key": new_public_id("pi"),
                                 "kind": "one_off", "amount": amount, "amount_refunded": 0, "currency": currency,
                                 "paid_at": paid})  # fmt: skip
                # Money counts when paid or refunded before the window's end (its 30 days).
                window_end = datetime(start.year, start.month, start.day, tzinfo=UTC) + timedelta(days=30)
                money[currency] += amount if paid < window_end else 0
                if rng.random() < 0.05:
                    back, refunded = amount // 2, paid + timedelta(days=1)
                    refunds.append({"account_id": account_id, "order_id": order_id, "charge_id": "ch",
                                    "stripe_event_id": "ev", "amount": back, "currency": currency,
                                    "refunded_at": refunded})  # fmt: skip
                    money[currency] -= back if refunded < window_end else 0
            for table, rows in ((VisitSession, sessions), (Order, orders), (Payment, payments), (Refund, refunds)):
                for at in range(0, len(rows), 5000):
                    db.execute(insert(table), rows[at : at + 5000])  # type: ignore[arg-type]
            db.commit()
            truth[number] = {"sessions": args.sessions, "converted": converted, "money": dict(money)}
        return account_id, campaign.public_id, truth


def timed(fn: Any, reps: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(reps):
        began = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - began) * 1000)
    return times, result


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions per version")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the top functions of one page load")
    args = parser.parse_args()
    DATA.mkdir(parents=True)
    os.environ.update({"PAIDSIGNAL_ENV": "development", "DATA_DIR": str(DATA),
                       "DATABASE_URL": f"sqlite:///{DATA / 'paidsignal.db'}", "JOBS_ENABLED": "false",
                       "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
                       "PASSWORD_HASH_PROFILE": "fast"})  # fmt: skip
    from sqlmodel import Session

    from app.cli import migrate
    from app.db import get_engine
    from app.presenters.metrics import pair_lines
    from app.services import metrics, rollups
    from app.services.metrics import Compare, Dimension, MetricsQuery

    migrate()
    began = time.perf_counter()
    account_id, campaign, truth = build(args)
    with Session(get_engine(), expire_on_commit=False) as db:
        rollups.rebuild(db, account_id)
        db.commit()
    built_s = time.perf_counter() - began

    with Session(get_engine(), expire_on_commit=False) as db:
        windows = metrics.version_comparison(session=db, account_id=account_id, campaign_public_id=campaign)

        def before_issue_24() -> None:
            for w in windows:
                query = MetricsQuery(start=w.start, end=w.end, compare=Compare.NONE, campaign=campaign,
                                     dimension=Dimension.VERSION)  # fmt: skip
                metrics.metrics(session=db, account_id=account_id, query=query)

        def now() -> Any:
            report = metrics.version_report(session=db, account_id=account_id, campaign_public_id=campaign)
            pair_lines(report, "en_US")
            return report

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(now)
            pstats.Stats(profiler).sort_stats(os.environ.get("BENCH_SORT", "cumulative")).print_stats(25)
        ceiling_times, _ = timed(before_issue_24, args.reps)
        page_times, report = timed(now, args.reps)

    failures = []
    for w in report.windows:
        want = truth[w.number]
        if (w.figures.sessions, w.figures.converted_sessions) != (want["sessions"], want["converted"]):
            failures.append(f"v{w.number}: sessions/converted {w.figures.sessions}/{w.figures.converted_sessions}")
        got = {code: round(sample.total) for code, sample in w.revenue.items()}
        if got != want["money"]:
            failures.append(f"v{w.number}: net revenue {got} != {want['money']}")
    for pair in report.pairs:
        expected = closed_form(pair.rate.converted_a, pair.rate.sessions_a, pair.rate.converted_b, pair.rate.sessions_b)
        if abs(pair.rate.p_b_better - expected) > 1e-6:
            failures.append(f"v{pair.a.number}→v{pair.b.number}: P {pair.rate.p_b_better} != {expected}")
    ceiling, page = summary(ceiling_times), summary(page_times)
    result = {
        "sessions_per_version": args.sessions,
        "converted": {f"v{n}": t["converted"] for n, t in truth.items()},
        "build_s": round(built_s, 1),
        "ceiling_before_issue_24": ceiling,
        "page_now": page,
        "ratio_p50": page["p50_ms"] / ceiling["p50_ms"],
        "pairs": [metrics.pair_summary(p) for p in report.pairs],
        "failures": failures,
    }
    out = ROOT / "bench" / "results" / f"versions-{datetime.now(UTC):%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"| sessions per version | {args.sessions:,} (converted: {result['converted']}) |")
    print("| --- | --- |")
    print(f"| ceiling: windows as before (p50 / p95) | {ceiling['p50_ms']:.1f} / {ceiling['p95_ms']:.1f} ms |")
    print(f"| the page now: version_report + lines (p50 / p95) | {page['p50_ms']:.1f} / {page['p95_ms']:.1f} ms |")
    print(f"| ratio (p50) | {result['ratio_p50']:.2f}× |")
    print(f"| checks | {'ok' if not failures else '; '.join(failures)} |")
    print(f"\nresults in {out.relative_to(ROOT)}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        code = main()
    finally:
        shutil.rmtree(DATA, ignore_errors=True)
    sys.exit(code)
