"""The jobs role (``python -m app.cli jobs``): every scheduled job, its /_ops/ endpoints, a clean stop."""

from __future__ import annotations

import json
import threading
import time
import urllib.request

from sqlmodel import Session

from app import runtime
from app.jobs.worker import run_jobs
from app.runtime import ProcessRole
from tests.utils.server import free_port


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


def test_the_jobs_process_runs_every_job_answers_its_health_and_stops(db: Session) -> None:
    port, stop = free_port(), threading.Event()
    thread = threading.Thread(target=run_jobs, kwargs={"ops_port": port, "stop": stop}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while runtime.current().job_runner is None and time.monotonic() < deadline:
            time.sleep(0.05)
        started = runtime.current()
        assert started.role is ProcessRole.JOBS and started.runs_shared_jobs
        assert started.job_runner is not None
        assert {spec.name for spec in started.job_runner.specs} >= {"send_conversions", "evaluate_alerts"}
        status, live = _get(f"http://127.0.0.1:{port}/_ops/live")
        assert status == 200 and live["role"] == "jobs"
        status, ready = _get(f"http://127.0.0.1:{port}/_ops/ready")
        assert status == 200 and ready["database"] == "ok"
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and runtime.current().role is None
