"""Test setup: a real database file (or TEST_DATABASE_URL), migrated with our real migrations.

The environment is set before any app module reads its settings.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_DATA = Path(tempfile.mkdtemp(prefix="paidsignal-test-"))
os.environ.update(
    {
        "PAIDSIGNAL_ENV": "development",
        "DATA_DIR": str(_DATA),
        "DATABASE_URL": os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{_DATA / 'test.db'}",
        "SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "PASSWORD_HASH_PROFILE": "fast",
        "JOBS_ENABLED": "false",
        "EMAIL_BACKEND": "file",
        "PUBLIC_URL": "http://localhost:3000",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "__REFLEX_SKIP_COMPILE": "true",
        # Retries of conversions come due in a fraction of a second (backoff is tested with its own numbers).
        "CONVERSIONS_RETRY_BASE_SECONDS": "0.05",
        "CONVERSIONS_RETRY_MAX_SECONDS": "600",
        "CONVERSIONS_TIMEOUT_SECONDS": "3",
        # The recording servers (webhook receivers included) listen on 127.0.0.1: the guard lets only that through.
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",
        # litellm: the price catalogue shipped with it, and no downloads of its own (its import would try the internet).
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_OFFLINE_MODE": "true",
    }
)

import pytest  # noqa: E402

# tests/cluster starts the whole cluster (nginx, PostgreSQL, Redis, several roles): only `make test-cluster` runs it.
collect_ignore = [] if os.environ.get("PAIDSIGNAL_TEST_CLUSTER") else ["cluster"]
from sqlalchemy import text  # noqa: E402
from sqlmodel import Session, SQLModel  # noqa: E402

from app.cli import migrate  # noqa: E402
from app.db import get_engine  # noqa: E402
from app.runtime import reset_for_tests  # noqa: E402
from app.settings import get_settings  # noqa: E402
from tests.utils.world import World, known_answers_world  # noqa: E402


@pytest.fixture(scope="session")
def engine() -> Iterator[object]:
    migrate()
    yield get_engine()


def _wipe(engine: object) -> None:
    with Session(engine) as session:  # type: ignore[arg-type]
        for table in reversed(SQLModel.metadata.sorted_tables):
            session.execute(text(f"DELETE FROM {table.name}"))
        session.commit()


@pytest.fixture
def db(engine: object) -> Iterator[Session]:
    """A session on the migrated test database; every table is emptied after the test."""
    with Session(engine, expire_on_commit=False) as session:  # type: ignore[arg-type]
        yield session
    _wipe(engine)
    reset_for_tests()


@pytest.fixture
def world(db: Session) -> World:
    """The shop with known answers the metrics tests work out (tests/utils/world.py)."""
    return known_answers_world(db)


@pytest.fixture
def strict_lock_order() -> Iterator[None]:
    """Taking ``app.db.write_lock`` while holding a database connection raises (see app/db.py), for the code paths
    that must never wait for the lock with one: webhooks, the conversion sender, rollups."""
    from app.db import write_lock

    write_lock.strict = True
    try:
        yield
    finally:
        write_lock.strict = False


@pytest.fixture
def outbox() -> Path:
    folder = get_settings().outbox_dir
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    return folder


@pytest.fixture(scope="session")
def _stripe_recorder() -> Iterator[object]:
    from tests.utils.stripe_fakes import StripeRecorder

    with StripeRecorder() as recorder:
        os.environ["STRIPE_API_BASE"] = recorder.url
        get_settings.cache_clear()
        yield recorder


@pytest.fixture
def stripe_api(_stripe_recorder: object) -> object:
    """The recording Stripe API (what localstripe lacks), emptied for this test; the app's Stripe calls go there."""
    recorder = _stripe_recorder
    recorder.clear()  # type: ignore[attr-defined]
    for catalogue in (recorder.products, recorder.prices, recorder.sessions, recorder.line_items):  # type: ignore[attr-defined]
        catalogue.clear()
    recorder.invoice_payments.clear()  # type: ignore[attr-defined]
    for listed in recorder.history.values():  # type: ignore[attr-defined]
        listed.clear()
    recorder.list_delay.clear()  # type: ignore[attr-defined]
    return recorder


@pytest.fixture(scope="session")
def _ad_platforms() -> Iterator[object]:
    from tests.utils.ad_platforms import AdPlatforms

    with AdPlatforms() as server:
        os.environ.update(
            {
                "META_GRAPH_BASE": server.url,
                "GA4_BASE": server.url,
                "GOOGLE_DATAMANAGER_BASE": server.url,
                "GOOGLE_OAUTH_TOKEN_URL": f"{server.url}/token",
                "GOOGLE_ADS_API_BASE": server.url,
            }
        )
        get_settings.cache_clear()
        yield server


@pytest.fixture
def ad_platforms(_ad_platforms: object) -> object:
    """The recording Meta / GA4 / Google OAuth / Data Manager / webhook server, reset for this test."""
    _ad_platforms.reset()  # type: ignore[attr-defined]
    return _ad_platforms


@pytest.fixture
def dns() -> Iterator[object]:
    """Host names resolve through a :class:`tests.utils.dns.FakeDNS` the test fills (for the outbound guard)."""
    from app.integrations.address_guard import use_resolver
    from tests.utils.dns import FakeDNS

    fake = FakeDNS()
    with use_resolver(fake):
        yield fake


@pytest.fixture
def guard_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``guard_settings(allowed, production=False)``: OUTBOUND_ALLOWED_HOSTS (the suite's own is 127.0.0.1) and
    optionally production, for this test only."""

    def apply(allowed: str = "", *, production: bool = False) -> None:
        monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", allowed)
        if production:
            monkeypatch.setenv("PAIDSIGNAL_ENV", "production")
            monkeypatch.setenv("PASSWORD_HASH_PROFILE", "default")  # "fast" is refused in production
        get_settings.cache_clear()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()
