"""Operator commands: ``python -m app.cli migrate | create-account | create-key | connect-stripe | create-pixel |
rebuild-rollups | make-staff | seed-demo | evaluate-alerts | jobs``."""

from __future__ import annotations

import argparse
import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlmodel import Session, col, select

from app.db import get_engine, session_scope, write_lock
from app.models import Account, JobOutcome, Membership, Role
from app.services import accounts, ingest, keys, lifetime, pixels, rollups, secret_rotation, stripe_connection
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


def _owner_actor(session: Session, account_id: int) -> Actor:
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


# --- the subcommands: each a function of its parsed arguments, with the function that declares them -------------


def run_migrate(args: argparse.Namespace) -> None:
    migrate()
    print("database is up to date")


def create_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True)
    parser.add_argument("--email", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--timezone", default="UTC")


def run_create_account(args: argparse.Namespace) -> None:
    with session_scope() as session:
        account, _user = accounts.signup(
            session=session,
            account_name=args.name,
            email=args.email,
            password=args.password,
            timezone=args.timezone,
        )
        print(f"account slug={account.slug} id={account.public_id}")


def _account_argument(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    if required:
        parser.add_argument("--account", required=True, help="account slug or id (acc_…)")
    else:
        parser.add_argument("--account", default="", help="account slug or id (acc_…); every account when left out")


def optional_account_arguments(parser: argparse.ArgumentParser) -> None:
    _account_argument(parser, required=False)


def _find_account(session: Session, ref: str) -> tuple[Account, Actor]:
    """The account ``ref`` names, and its owner acting on it."""
    account = accounts.find_account(session=session, ref=ref)
    assert account.id is not None
    return account, _owner_actor(session, account.id)


def create_key_arguments(parser: argparse.ArgumentParser) -> None:
    _account_argument(parser)
    parser.add_argument("--kind", required=True, choices=["publishable", "secret"])
    parser.add_argument("--origin", action="append", default=[], help="allowed origin (publishable keys)")
    parser.add_argument("--label", default="")


def run_create_key(args: argparse.Namespace) -> None:
    with session_scope() as session:
        _account, owner = _find_account(session, args.account)
        created = keys.create_key(session=session, actor=owner, kind=args.kind, label=args.label, origins=args.origin)
        print(created.plaintext)


def connect_stripe_arguments(parser: argparse.ArgumentParser) -> None:
    _account_argument(parser)
    parser.add_argument("--key", required=True, help="secret or restricted key (sk_… / rk_…)")
    parser.add_argument("--webhook-secret", default="", help="the webhook endpoint's signing secret (whsec_…)")


def run_connect_stripe(args: argparse.Namespace) -> None:
    with session_scope() as session:
        account, owner = _find_account(session, args.account)
        result = stripe_connection.connect_stripe(
            session=session, actor=owner, secret_key=args.key, webhook_secret=args.webhook_secret
        )
        row = result.connection
        print(
            f"connected {row.stripe_account_name or row.stripe_account_id or 'Stripe'}; "
            f"{row.products} products, {row.prices} prices"
        )
        print(f"webhook URL: {stripe_connection.webhook_url(account.public_id)}")
        if result.sync_error:
            print(result.sync_error, file=sys.stderr)


def create_pixel_arguments(parser: argparse.ArgumentParser) -> None:
    _account_argument(parser)
    parser.add_argument("--provider", required=True, choices=["meta", "ga4", "google_ads", "webhook"])
    parser.add_argument("--name", default="")
    parser.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE", help="e.g. pixel_id=123…")
    parser.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE", help="e.g. access_token=EAA…")
    parser.add_argument("--events", default="purchase", help="comma-separated: purchase, renewal, lead, begin_checkout")
    parser.add_argument("--default", action="store_true", help="receives every campaign's conversions")
    parser.add_argument("--test-mode", action="store_true")


def run_create_pixel(args: argparse.Namespace) -> None:
    with session_scope() as session:
        _account, owner = _find_account(session, args.account)
        row = pixels.create_pixel(
            session=session,
            actor=owner,
            provider=args.provider,
            name=args.name,
            settings=_pairs(args.setting, "--setting"),
            credentials=_pairs(args.secret, "--secret"),
            events=[e.strip() for e in args.events.split(",") if e.strip()],
            is_default=args.default,
            test_mode=args.test_mode,
        )
        print(row.public_id)


def run_rebuild_rollups(args: argparse.Namespace) -> None:
    with session_scope() as session:
        if args.account:
            targets = [accounts.find_account(session=session, ref=args.account)]
        else:
            targets = list(session.exec(select(Account)).all())
        for account in targets:
            assert account.id is not None
            # Events stored a moment ago may wait for the server's derivation pass: include them.
            ingest.catch_up(account_id=account.id)
            with write_lock:
                traffic_days, sales_days = rollups.rebuild(session, account.id)
                customer_rows = lifetime.rebuild(session, account.id)
            print(
                f"{account.slug}: {traffic_days} traffic day(s), {sales_days} sales day(s), "
                f"{customer_rows} customer row(s) recomputed"
            )


def run_reencrypt_credentials(args: argparse.Namespace) -> None:
    with session_scope() as session:
        account_id = None
        if args.account:
            account = accounts.find_account(session=session, ref=args.account)
            account_id = account.id
        report = secret_rotation.reencrypt_credentials(session, account_id=account_id)
    print(report.summary())
    if report.unreadable:
        raise ServiceError(
            "some credentials cannot be decrypted: put the SECRET_KEY they were saved under in "
            "SECRET_KEY_PREVIOUS and run this again, or save them again in the app"
        )


def make_staff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--email", required=True)


def run_make_staff(args: argparse.Namespace) -> None:
    with session_scope() as session:
        user = accounts.make_staff(session=session, email=args.email)
        print(f"{user.email} is now staff")


def seed_demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=90, help="days of history (default 90)")
    parser.add_argument("--sessions-per-day", type=int, default=300)
    parser.add_argument("--password", default="", help="the demo owner's password (default: a generated one, printed)")
    parser.add_argument("--reset", action="store_true", help="delete the existing demo account first")


def run_seed_demo(args: argparse.Namespace) -> None:
    from app.devtools import demo

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


def run_evaluate_alerts(args: argparse.Namespace) -> None:
    print(evaluate_alerts(args.account))


def jobs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ops-port", type=int, default=None, help="serve /_ops/live, /_ops/ready and /_ops/metrics on this port"
    )
    parser.add_argument("--ops-host", default="127.0.0.1", help="address of that port (default 127.0.0.1)")


def run_jobs(args: argparse.Namespace) -> None:
    """The jobs role: every scheduled job, until SIGTERM (app/jobs/worker.py)."""
    from app.jobs.worker import run_jobs as run

    run(ops_host=args.ops_host, ops_port=args.ops_port)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class Subcommand:
    name: str
    help: str
    run: Callable[[argparse.Namespace], None]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


SUBCOMMANDS = (
    Subcommand("migrate", "apply database migrations", run_migrate),
    Subcommand("create-account", "create an account and its owner", run_create_account, create_account_arguments),
    Subcommand("create-key", "create an API key and print it", run_create_key, create_key_arguments),
    Subcommand(
        "connect-stripe",
        "connect an account's Stripe (checks the key with Stripe)",
        run_connect_stripe,
        connect_stripe_arguments,
    ),
    Subcommand(
        "create-pixel",
        "add a conversion destination (Meta, GA4, Google Ads, webhook)",
        run_create_pixel,
        create_pixel_arguments,
    ),
    Subcommand(
        "rebuild-rollups",
        "recompute the dashboard's daily rollups from the raw tables",
        run_rebuild_rollups,
        optional_account_arguments,
    ),
    Subcommand(
        "reencrypt-credentials",
        "after a SECRET_KEY rotation: encrypt every stored credential again under the current SECRET_KEY",
        run_reencrypt_credentials,
        optional_account_arguments,
    ),
    Subcommand("make-staff", "give a user platform staff rights (/admin)", run_make_staff, make_staff_arguments),
    Subcommand(
        "seed-demo",
        "create a demo account with campaigns, traffic, orders, refunds and spend",
        run_seed_demo,
        seed_demo_arguments,
    ),
    Subcommand(
        "evaluate-alerts",
        "evaluate the alert rules now and send the alert e-mails that are due",
        run_evaluate_alerts,
        optional_account_arguments,
    ),
    Subcommand(
        "jobs",
        "run the scheduled jobs (rollups, conversion sender, alerts, purges) until SIGTERM: a cluster's jobs process",
        run_jobs,
        jobs_arguments,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app.cli", description="PaidSignal operator commands")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for subcommand in SUBCOMMANDS:
        subcommand.arguments(subparsers.add_parser(subcommand.name, help=subcommand.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Exit code 0, or 2 with ``error: …`` on stderr when a service refuses (argparse exits 2
    on bad arguments)."""
    args = build_parser().parse_args(argv)
    run = next(s.run for s in SUBCOMMANDS if s.name == args.command)
    try:
        run(args)
    except ServiceError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
