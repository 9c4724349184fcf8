"""The api role's app (app/asgi_api.py) and the web role's wrapper: liveness, readiness, Prometheus metrics on
``/_ops/``, the request id, and one JSON log line per request with ``LOG_FORMAT=json``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import pytest
from sqlmodel import Session
from starlette.testclient import TestClient

from app.observability import logs
from app.services import keys
from app.settings import get_settings
from tests.utils.events import event
from tests.utils.factories import make_owner

SHOP = "https://shop.example.com"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Settings changed through the environment for one test."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _api_client() -> TestClient:
    from app.asgi_api import build_api_server

    return TestClient(build_api_server(), base_url="http://localhost:3000")  # type: ignore[arg-type]


def test_liveness_and_readiness(db: Session) -> None:
    with _api_client() as client:
        live = client.get("/_ops/live")
        ready = client.get("/_ops/ready")
    assert live.status_code == 200 and live.json() == {"status": "ok", "role": "api", "pid": os.getpid()}
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "role": "api", "database": "ok", "redis": "not used"}


def test_readiness_fails_when_redis_does_not_answer(db: Session, settings_env: pytest.MonkeyPatch) -> None:
    from tests.utils.server import free_port

    settings_env.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    get_settings.cache_clear()
    with _api_client() as client:
        ready = client.get("/_ops/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "unavailable" and body["database"] == "ok" and body["redis"].startswith("unreachable")


def test_metrics_are_served_only_when_enabled(db: Session, settings_env: pytest.MonkeyPatch) -> None:
    _, _, owner = make_owner(db)
    publishable = keys.create_key(session=db, actor=owner, kind="publishable", origins=[SHOP]).plaintext
    db.commit()
    with _api_client() as client:
        assert client.get("/_ops/metrics").status_code == 404  # off by default
        settings_env.setenv("METRICS_ENABLED", "true")
        get_settings.cache_clear()
        sent = client.post(
            f"/api/v1/events?key={publishable}",
            content=json.dumps({"events": [event()]}),
            headers={"Content-Type": "text/plain", "Origin": SHOP},
        )
        assert sent.status_code == 200, sent.text
        scraped = client.get("/_ops/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    assert 'paidsignal_http_requests_total{method="POST",role="api",route="/api/v1/events",status="200"}' in text
    assert "paidsignal_http_request_duration_seconds_bucket" in text
    assert "paidsignal_ingest_group_requests_count" in text and "paidsignal_ingest_commit_seconds_sum" in text
    assert "paidsignal_ingest_queue_depth" in text
    assert "paidsignal_conversion_deliveries" not in text  # read from the database by the jobs role only


@pytest.fixture
def root_logging() -> Iterator[None]:
    """The root logger as it was, after a test that configured JSON logs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def test_a_request_is_one_json_line_with_its_id_account_route_status_and_duration(
    db: Session, settings_env: pytest.MonkeyPatch, root_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    account, _, owner = make_owner(db)
    secret = keys.create_key(session=db, actor=owner, kind="secret").plaintext
    db.commit()
    settings_env.setenv("LOG_FORMAT", "json")
    get_settings.cache_clear()
    with _api_client() as client:  # its lifespan sets the log format up
        answer = client.get(
            f"/api/v1/orders/ord_{'x' * 12}",
            headers={"Authorization": f"Bearer {secret}", "X-Request-ID": "req-0123456789abcdef"},
        )
    assert answer.status_code == 404 and answer.headers["x-request-id"] == "req-0123456789abcdef"
    every = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "paidsignal.runtime" for line in every)  # not only requests: every log record
    lines = [line for line in every if line["logger"] == logs.ACCESS_LOG]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-0123456789abcdef" and line["account_id"] == account.id
    assert line["route"] == "/api/v1/orders/{order_id}" and line["status"] == 404 and line["method"] == "GET"
    assert line["duration_ms"] >= 0 and line["role"] == "api" and line["pid"] == os.getpid()
    assert line["message"] == "GET /api/v1/orders/{order_id} 404" and line["level"] == "info"


def test_text_logs_by_default_and_a_request_id_is_made_when_none_comes(
    db: Session, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=logs.ACCESS_LOG), _api_client() as client:
        answer = client.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(answer.headers["x-request-id"]) == 32  # ours, not the malformed one
    assert [r for r in caplog.records if r.name == logs.ACCESS_LOG] == []


def test_socket_event_names_are_read_without_the_payload() -> None:
    from app.observability.asgi import _socket_event_name

    packet = '42/_event,["event",{"name":"reflex___state____state.auth.login","payload":{"password":"p"}}]'
    assert _socket_event_name(packet) == "reflex___state____state.auth.login"
    assert _socket_event_name("2") is None and _socket_event_name("42/_event,[broken") is None
