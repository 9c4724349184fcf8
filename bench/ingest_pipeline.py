"""Ingest's pipeline without HTTP, in one process: CPU time per event of each step, for 100-event batches.

The steps the server runs for a ``POST /api/v1/events`` body (bench/ingest.py's x100 rows), timed with the thread's CPU
clock (user + system, so SQLite's own work and its writes count; not the time waiting on fsync):

- ``parse``: the body's bytes into events (``ingest.validate_batch``, or JSON and ``split_payload`` when it refuses);
- ``prepare``: each event's checks and enrichment into rows (``ingest.prepare``);
- ``write``: the writer's transaction for a group of requests (``ingest.write_requests`` and its commit);
- ``derive``: the passes that derive visitors, sessions and touches from them (``ingest.catch_up``), one every
  ``--derive-every`` groups, as the writer's delay would group them.

``--one-visitor``: each request is one visitor's batch (one session), as a browser sends; otherwise every event is
another visitor and session (5,000 of them in turn, bench/ingest.py's worst case). Afterwards every event must be
stored once and counted once in its visitor and its session.

Usage: ``.venv/bin/python bench/ingest_pipeline.py [--requests 1000] [--group 10] [--derive-every 5] [--one-visitor]``
(a fresh SQLite file; ``DATABASE_URL`` for another database).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def body(request: int, *, one_visitor: bool, size: int = 100) -> bytes:
    """bench/ingest.py's batch: ``size`` page views, one visitor and session per event (or per request)."""
    parts = []
    for i in range(size):
        counter = request * size + i + 1
        visitor = request % 5000 if one_visitor else counter % 5000
        parts.append(
            f'{{"event_id":"e-{counter}","type":"page_view","visitor_id":"v{visitor}","session_id":"s{visitor}",'
            f'"url":"https://shop.example.com/p/{i}","utm_campaign":"bench"}}'
        )
    return ('{"events":[' + ",".join(parts) + "]}").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--group", type=int, default=10, help="requests per writer transaction")
    parser.add_argument("--derive-every", type=int, default=5, help="groups per derivation pass")
    parser.add_argument("--one-visitor", action="store_true")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="paidsignal-pipeline-"))
    os.environ.update(
        {
            "PAIDSIGNAL_ENV": "development",
            "DATA_DIR": str(data),
            "DATABASE_URL": os.environ.get("DATABASE_URL") or f"sqlite:///{data / 'paidsignal.db'}",
            "SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "PASSWORD_HASH_PROFILE": "fast",
            "JOBS_ENABLED": "false",
            "EMAIL_BACKEND": "file",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_OFFLINE_MODE": "true",
        }
    )
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import text
    from sqlmodel import Session

    from app.api.body import loads
    from app.cli import migrate
    from app.db import get_engine
    from app.services import accounts, ingest

    migrate()
    engine = get_engine()
    with Session(engine) as session:
        slug = f"pipeline-{time.time_ns()}"
        account, _user = accounts.signup(
            session=session, account_name=slug, email=f"{slug}@example.com", password="bench-pass-123"
        )
        session.commit()
        account_id = account.id
    assert account_id is not None
    ctx = ingest.IngestContext(account_id=account_id, source=ingest.Source.BROWSER, user_agent=UA, ip="127.0.0.1")
    bodies = [body(r, one_visitor=args.one_visitor) for r in range(args.requests)]
    validate = getattr(ingest, "validate_batch", lambda _raw: None)  # trees before it: JSON, then each event
    spent = dict.fromkeys(("parse", "prepare", "write", "derive"), 0.0)
    clock = time.thread_time
    ingest.catch_up(engine=engine)  # the first pass loads the account's zone and matchers
    for group_number, start in enumerate(range(0, args.requests, args.group)):
        requests = []
        for raw in bodies[start : start + args.group]:
            began = clock()
            batch = validate(raw)
            events, _key = (list(batch.events), batch.key) if batch else ingest.split_payload(loads(raw))
            parsed = clock()
            _result, rows = ingest.prepare(events, ctx, validated=True) if batch else ingest.prepare(events, ctx)
            spent["parse"] += parsed - began
            spent["prepare"] += clock() - parsed
            requests.append(rows)
        began = clock()
        with Session(engine, expire_on_commit=False) as session:
            ingest.write_requests(session, account_id, requests)
            session.commit()
        spent["write"] += clock() - began
        if group_number % args.derive_every == args.derive_every - 1:
            began = clock()
            ingest.catch_up(engine=engine)
            spent["derive"] += clock() - began
    began = clock()
    ingest.catch_up(engine=engine)
    spent["derive"] += clock() - began

    events_total = args.requests * 100
    with engine.connect() as connection:
        stored, visitors, sessions = connection.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM event WHERE account_id = :a),"
                " (SELECT SUM(event_count) FROM visitor WHERE account_id = :a),"
                " (SELECT SUM(event_count) FROM visit_session WHERE account_id = :a)"
            ),
            {"a": account_id},
        ).one()
    engine.dispose()
    shape = "one visitor per request" if args.one_visitor else "a visitor and session per event"
    steps = ", ".join(f"{name} {seconds / events_total * 1e6:.1f}" for name, seconds in spent.items())
    print(f"{events_total:,} events in 100-event batches ({shape}); CPU µs per event: {steps}; ", end="")
    print(f"total {sum(spent.values()) / events_total * 1e6:.1f}")
    exact = stored == visitors == sessions == events_total
    print(f"stored {stored:,}, counted in visitors {visitors:,} and sessions {sessions:,}")
    if not exact:
        print("CORRECTNESS CHECK FAILED", file=sys.stderr)
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
