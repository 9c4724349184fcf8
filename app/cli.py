"""Operator commands: ``python -m app.cli migrate | create-account | create-key | connect-stripe | create-pixel |
rebuild-rollups | make-staff | seed-demo | evaluate-alerts``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.db import session_scope
from app.models import JobOutcome, Membership, Role
from app.services import accounts, keys, pixels, rollups, stripe_connection
from app.services.errors import ServiceError
from app.services.permissions import Actor

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str | None = None) -> None:
    """Bring the database schema to the newest migration."""
    command.upgrade(alembic_config(database_url), "head")


def _owner_actor(session: object, account_id: int) -> Actor:
    from sqlmodel import Session, col, select

    assert isinstance(session, Session)
    owner = session.exec(
        select(Membership)
        .where(Membership.account_id == account_id, Membership.role == Role.OWNER.value)
        .order_by(col(Membership.id))
    ).first()
    if owner is None:
        raise ServiceError("This account has no owner.")
    return Actor(user_id=owner.user_id, account_id=account_id, role=Role.OWNER)


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, equals, text = value.partition("=")
        if not equals or not name.strip():
            raise ServiceError(f"{option} takes NAME=VALUE, got {value!r}.")
        pairs[name.strip()] = text
    return pairs


def evaluate_alerts(account_ref: str = "") -> str:
    """What the ``evaluate_alerts`` job does, now: evaluate the enabled rules (of one account, or all), then send
    the alert e-mails that are due. It runs through the job runner under the job's lease (waiting up to a minute
    while a scheduled run holds it) and is recorded as a job run; the scheduler's slots are left as they were."""
    import secrets
    import socket
    import time

    from sqlmodel import Session

    from app.db import get_engine
    from app.jobs.runner import JobSpec, run_job
    from app.services import alerts
    from app.settings import get_settings

    account_id = None
    if account_ref:
        with Session(get_engine()) as session:
            account_id = accounts.find_account(session=session, ref=account_ref).id
    said: list[str] = []

    def work() -> str:
        with Session(get_engine(), expire_on_commit=False) as session:
            said.append(alerts.run_evaluation(session, account_id=account_id).text())
        return said[-1]

    spec = JobSpec("evaluate_alerts", work, get_settings().alerts_evaluate_seconds)
    holder = f"cli:{socket.gethostname()}:{secrets.token_hex(3)}"
    deadline = time.monotonic() + 60
    while (outcome := run_job(spec, holder=holder)) == JobOutcome.SKIPPED:
        if time.monotonic() > deadline:
            raise ServiceError("The scheduled alert evaluation is still running; try again in a minute.")
        time.sleep(0.5)
    if outcome != JobOutcome.OK:
        raise ServiceError(f"The evaluation ended with {outcome!r}: see the job runs on /admin/jobs.")
    return said[-1] or "no enabled alert rule and no e-mail due"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="PaidSignal operator commands")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")

    p = sub.add_parser("create-account", help="create an account and its owner")
    p.add_argument("--name", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--timezone", default="UTC")

    p = sub.add_parser("create-key", help="create an API key and print it")
    p.add_argument("--account", required=True, help="account slug or id (acc_…)")
    p.add_argument("--kind", required=True, choices=["publishable", "secret"])
    p.add_argument("--origin", action="append", default=[], help="allowed origin (publishable keys)")
    p.add_argument("--label", default="")

    p = sub.add_parser("connect-stripe", help="connect an account's Stripe (checks the key with Stripe)")
    p.add_argument("--account", required=True, help="account slug or id (acc_…)")
    p.add_argument("--key", required=True, help="secret or restricted key (sk_… / rk_…)")
    p.add_argument("--webhook-secret", default="", help="the webhook endpoint's signing secret (whsec_…)")

    p = sub.add_parser("create-pixel", help="add a conversion destination (Meta, GA4, Google Ads, webhook)")
    p.add_argument("--account", required=True, help="account slug or id (acc_…)")
    p.add_argument("--provider", required=True, choices=["meta", "ga4", "google_ads", "webhook"])
    p.add_argument("--name", default="")
    p.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE", help="e.g. pixel_id=123…")
    p.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE", help="e.g. access_token=EAA…")
    p.add_argument("--events", default="purchase", help="comma-separated: purchase, renewal, lead, begin_checkout")
    p.add_argument("--default", action="store_true", help="receives every campaign's conversions")
    p.add_argument("--test-mode", action="store_true")

    p = sub.add_parser("rebuild-rollups", help="recompute the dashboard's daily rollups from the raw tables")
    p.add_argument("--account", default="", help="account slug or id (acc_…); every account when left out")

    p = sub.add_parser("make-staff", help="give a user platform staff rights (/admin)")
    p.add_argument("--email", required=True)

    p = sub.add_parser("seed-demo", help="create a demo account with campaigns, traffic, orders, refunds and spend")
    p.add_argument("--days", type=int, default=90, help="days of history (default 90)")
    p.add_argument("--sessions-per-day", type=int, default=300)
    p.add_argument("--password", default="", help="the demo owner's password (default: a generated one, printed)")
    p.add_argument("--reset", action="store_true", help="delete the existing demo account first")

    p = sub.add_parser("evaluate-alerts", help="evaluate the alert rules now and send the alert e-mails that are due")
    p.add_argument("--account", default="", help="account slug or id (acc_…); every account when left out")

    args = parser.parse_args(argv)
    try:
        if args.command == "migrate":
            migrate()
            print("database is up to date")
        elif args.command == "create-account":
            with session_scope() as session:
                account, _user = accounts.signup(
                    session=session,
                    account_name=args.name,
                    email=args.email,
                    password=args.password,
                    timezone=args.timezone,
                )
                print(f"account slug={account.slug} id={account.public_id}")
        elif args.command == "create-key":
            with session_scope() as session:
                account = accounts.find_account(session=session, ref=args.account)
                assert account.id is not None
                created = keys.create_key(
                    session=session,
                    actor=_owner_actor(session, account.id),
                    kind=args.kind,
                    label=args.label,
                    origins=args.origin,
                )
                print(created.plaintext)
        elif args.command == "connect-stripe":
            with session_scope() as session:
                account = accounts.find_account(session=session, ref=args.account)
                assert account.id is not None
                result = stripe_connection.connect_stripe(
                    session=session,
                    actor=_owner_actor(session, account.id),
                    secret_key=args.key,
                    webhook_secret=args.webhook_secret,
                )
                row = result.connection
                print(
                    f"connected {row.stripe_account_name or row.stripe_account_id or 'Stripe'}; "
                    f"{row.products} products, {row.prices} prices"
                )
                print(f"webhook URL: {stripe_connection.webhook_url(account.public_id)}")
                if result.sync_error:
                    print(result.sync_error, file=sys.stderr)
        elif args.command == "create-pixel":
            with session_scope() as session:
                account = accounts.find_account(session=session, ref=args.account)
                assert account.id is not None
                row = pixels.create_pixel(
                    session=session,
                    actor=_owner_actor(session, account.id),
                    provider=args.provider,
                    name=args.name,
                    settings=_pairs(args.setting, "--setting"),
                    credentials=_pairs(args.secret, "--secret"),
                    events=[e.strip() for e in args.events.split(",") if e.strip()],
                    is_default=args.default,
                    test_mode=args.test_mode,
                )
                print(row.public_id)
        elif args.command == "rebuild-rollups":
            from sqlmodel import select

            from app.db import write_lock
            from app.models import Account

            with session_scope() as session:
                if args.account:
                    targets = [accounts.find_account(session=session, ref=args.account)]
                else:
                    targets = list(session.exec(select(Account)).all())
                for account in targets:
                    assert account.id is not None
                    with write_lock:
                        traffic_days, sales_days = rollups.rebuild(session, account.id)
                    print(f"{account.slug}: {traffic_days} traffic day(s), {sales_days} sales day(s) recomputed")
        elif args.command == "make-staff":
            with session_scope() as session:
                user = accounts.make_staff(session=session, email=args.email)
                print(f"{user.email} is now staff")
        elif args.command == "seed-demo":
            from app.services import demo

            with session_scope() as session:
                made = demo.seed_demo(session=session, days=args.days, sessions_per_day=args.sessions_per_day,
                                      reset=args.reset, password=args.password or None)  # fmt: skip
            c = made.counts
            print(f"demo account {made.account_slug} ({made.account_id}), {made.start} to {made.end}, "
                  f"made in {made.seconds:.0f} s:")  # fmt: skip
            print(f"  {c['campaigns']} campaigns with {c['versions']} versions, {c['pixels']} pixels (disabled)")
            print(f"  {c['sessions']:,} sessions, {c['events']:,} events through the ingest pipeline")
            print(
                f"  {c['orders']:,} orders ({c['subscriptions']:,} subscriptions), {c['renewals']:,} renewals, "
                f"{c['refunds']:,} refunds, {c['churned']:,} cancellations: {c['webhooks']:,} signed webhooks"
            )
            print(f"  {c['spend_rows']:,} ad spend rows (CSV import)")
            print(f"log in with {made.email} / {made.password}")
        elif args.command == "evaluate-alerts":
            print(evaluate_alerts(args.account))
    except ServiceError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
