"""Health of the service: the version and whether the database answers."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import text

from app.db import get_engine
from app.settings import get_settings


@dataclass(frozen=True)
class HealthReport:
    status: str
    version: str
    database: str


def app_version() -> str:
    try:
        return version("paidsignal")
    except PackageNotFoundError:
        return "0.1.0"


def check_health() -> HealthReport:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
        database = "ok"
    except Exception as error:
        database = f"unreachable: {type(error).__name__}"
    return HealthReport(status="ok" if database == "ok" else "degraded", version=app_version(), database=database)


@dataclass(frozen=True)
class Readiness:
    ready: bool
    database: str
    redis: str  # "ok", "unreachable: …", or "not used" without REDIS_URL


def check_readiness() -> Readiness:
    """Whether this process can serve: the database answers, and Redis too when ``REDIS_URL`` is set."""
    database = check_health().database
    redis_url = get_settings().redis_url
    redis = "not used"
    if redis_url:
        import redis as redis_client

        try:
            client = redis_client.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
            try:
                client.ping()
            finally:
                client.close()
            redis = "ok"
        except Exception as error:
            redis = f"unreachable: {type(error).__name__}"
    return Readiness(ready=database == "ok" and redis in {"ok", "not used"}, database=database, redis=redis)
