"""Start and stop the real server (``reflex run --env prod``) for tests and benchmarks, by process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# In-process test settings that must not leak into a server we start.
_PRIVATE = {"DATABASE_URL", "TEST_DATABASE_URL", "__REFLEX_SKIP_COMPILE", "PUBLIC_URL", "DATA_DIR", "JOBS_ENABLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE}
    env.update(
        PATH=f"{ROOT / '.tools' / 'node_modules' / '.bin'}:{env.get('PATH', '')}",
        REFLEX_USE_SYSTEM_BUN="1",
        REFLEX_TELEMETRY_ENABLED="false",
        PUBLIC_URL=f"http://localhost:{port}",
        DATA_DIR=str(data_dir),
        PASSWORD_HASH_PROFILE="fast",
        SECRET_KEY="e2e-secret-key-0123456789abcdef0123456789",
        EMAIL_BACKEND="file",
    )
    env.update(extra)
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """Signal the whole process group (reflex supervises granian workers) and wait for it."""
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Workers may outlive the supervisor for a moment after SIGKILL.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


def migrate(env: Mapping[str, str]) -> None:
    subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "app.cli", "migrate"],
        cwd=ROOT,
        env=dict(env),
        check=True,
        capture_output=True,
    )


def start_server(
    env: Mapping[str, str],
    port: int,
    *,
    backend_only: bool = False,
    log: Path,
    ready_path: str = "/api/v1/health",
    timeout: float = 300,
) -> Server:
    command = [str(ROOT / ".venv/bin/reflex"), "run", "--env", "prod", "--backend-host", "127.0.0.1"]
    command += (
        ["--backend-only", "--backend-port", str(port)]
        if backend_only
        else ["--frontend-port", str(port), "--backend-port", str(port)]
    )
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base}{ready_path}", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.kill(signal.SIGKILL)
    raise RuntimeError(f"server not ready after {timeout} s:\n{server.log_tail()}")
