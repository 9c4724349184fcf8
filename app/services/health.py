"""Health of the service: the version and whether the database answers."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

from sqlalchemy import text

from app.db import get_engine


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
