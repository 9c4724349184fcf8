"""The real server (``reflex run --env prod``) as a subprocess for browser, crash and benchmark runs.

It runs in its own process group with its own DATA_DIR (SQLite file, email outbox) and its own copy of ``.web``
(the frontend build bakes PUBLIC_URL in, so sharing the checkout's ``.web`` would rewire another server started
from it). It is stopped by signalling that group; a check makes sure no process of it survives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's virtualenv (``make setup``), else the one running the tests.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "reflex").exists() else Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
REFLEX = str(VENV_BIN / "reflex")
SECRET_KEY = "e2e-secret-key-fixed-for-tests-0123456789abcdef"
STOP_TIMEOUT_S = 15
# Variables tests/conftest.py sets for in-process tests that must not leak into the server.
_STRIPPED_ENV = ("__REFLEX_SKIP_COMPILE", "DATABASE_URL", "TEST_DATABASE_URL")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(port: int, data_dir: Path, web_dir: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(
        {
            "PATH": f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            "PAIDSIGNAL_ENV": "development",  # PASSWORD_HASH_PROFILE=fast is refused in production
            "PUBLIC_URL": f"http://localhost:{port}",
            "PORT": str(port),
            "DATA_DIR": str(data_dir),
            "PASSWORD_HASH_PROFILE": "fast",
            "SECRET_KEY": SECRET_KEY,
            "EMAIL_BACKEND": "file",
            "JOBS_ENABLED": "true",
            "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1",  # webhook pixels may point at the tests' recording servers
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_OFFLINE_MODE": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if web_dir is not None:
        env["REFLEX_WEB_WORKDIR"] = str(web_dir)
        env["REFLEX_STATES_WORKDIR"] = str(web_dir.parent / "states")
    env.update(extra)
    return env


def status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, urllib.error.URLError):
        return None


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def _processes_of(pgid: int, port: int) -> list[int]:
    """PIDs still in the server's process group, or whose command line names its port (in case one escaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        state, group = fields[0], int(fields[2])
        if state == "Z":
            continue
        if group == pgid or (f"--backend-port {port}" in cmdline and ("reflex" in cmdline or "granian" in cmdline)):
            found.append(int(entry.name))
    return found


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    env: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def cli(self, *args: str) -> str:
        """Run ``python -m app.cli ARGS`` against the server's database; returns stdout."""
        done = subprocess.run(
            [PYTHON, "-m", "app.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"app.cli {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def log_tail(self) -> str:
        return _tail(self.log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the whole group (reflex supervises granian workers), then make sure nothing of it is left."""
        pgid = self.process.pid  # start_new_session=True: the server leads its own group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_S)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _processes_of(pgid, self.port) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in _processes_of(pgid, self.port):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        left = _processes_of(pgid, self.port)
        assert not left, f"server processes left running: {left}"


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [PYTHON, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{done.stdout}{done.stderr}")


def start_server(
    port: int, data_dir: Path, env: dict[str, str], *, backend_only: bool = False, timeout: float = 300
) -> Server:
    """Migrate, start, and wait until the API (and, with the frontend, the home page) answers 200."""
    migrate(env)
    command = [REFLEX, "run", "--env", "prod", "--backend-host", "127.0.0.1"]
    command += (
        ["--backend-only", "--backend-port", str(port)]
        if backend_only
        else ["--frontend-port", str(port), "--backend-port", str(port)]
    )
    log = data_dir / "server.log"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = Server(process, port, data_dir, env, log)
    deadline = time.monotonic() + timeout
    while not (status(f"{server.url}/api/v1/health") == 200 and (backend_only or status(f"{server.url}/") == 200)):
        if process.poll() is not None:
            server.stop()
            raise RuntimeError(f"the server exited with {process.returncode}; log tail:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            server.stop(signal.SIGKILL)
            raise RuntimeError(f"the server did not answer within {timeout} s; log tail:\n{server.log_tail()}")
        time.sleep(0.5)
    return server
