"""The jobs role: a process that runs every scheduled job (``python -m app.cli jobs``) and serves no request.

It blocks until SIGTERM or SIGINT, then stops the way a server does: the running jobs finish, the leases are
released, this process's counters are flushed. Its liveness, readiness and metrics (``/_ops/…``, as the servers
answer them) are on a small HTTP server of its own when given a port: bind it to an internal address.
"""

from __future__ import annotations

import logging
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from app import runtime
from app.observability import logs, metrics
from app.observability.asgi import ops_answer
from app.runtime import ProcessRole

log = logging.getLogger("paidsignal.jobs")


class _OpsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        answer = ops_answer(self.path.split("?", 1)[0], ProcessRole.JOBS.value, with_database=True)
        status, content_type, body = answer or (404, "application/json", b'{"status": "not found"}')
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: not worth a line
        pass


def run_jobs(*, ops_host: str = "127.0.0.1", ops_port: int | None = None, stop: threading.Event | None = None) -> None:
    """Run the jobs role until SIGTERM/SIGINT (or until ``stop`` is set, for tests)."""
    stop = stop or threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping the jobs", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    logs.configure(ProcessRole.JOBS.value)
    server = None
    if ops_port is not None:
        server = ThreadingHTTPServer((ops_host, ops_port), _OpsHandler)
        threading.Thread(target=server.serve_forever, name="paidsignal-ops", daemon=True).start()
    runtime.start(ProcessRole.JOBS)
    log.info("jobs process started%s", f"; /_ops/ on {ops_host}:{ops_port}" if server else "")
    try:
        stop.wait()
    finally:
        runtime.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        metrics.process_exited()
        log.info("jobs process stopped")
