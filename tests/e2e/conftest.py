"""Browser tests against the real production server: ``reflex run --env prod`` on one port, Chromium via Playwright.

The server runs as a subprocess in its own process group with its own DATA_DIR (SQLite file, email outbox); it is
stopped by killing that group. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
# The project's virtualenv (``make setup``), else the one running the tests.
VENV_BIN = ROOT / ".venv" / "bin" if (ROOT / ".venv" / "bin" / "reflex").exists() else Path(sys.executable).parent
PYTHON = str(VENV_BIN / "python")
REFLEX = str(VENV_BIN / "reflex")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SECRET_KEY = "e2e-secret-key-fixed-for-tests-0123456789abcdef"
SCREENSHOTS = Path(tempfile.gettempdir()) / "paidsignal-e2e"
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 15
# Variables tests/conftest.py sets for in-process tests that must not leak into the server.
_STRIPPED_ENV = ("__REFLEX_SKIP_COMPILE", "DATABASE_URL", "TEST_DATABASE_URL")

# Every browser expectation waits at most this long (Reflex events are a websocket round trip).
expect.set_options(timeout=15_000)
_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    url: str
    data_dir: Path
    env: dict[str, str]
    log: Path

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


def server_env(port: int, data_dir: Path, web_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED_ENV}
    env.update(
        {
            "PATH": f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}",
            "REFLEX_USE_SYSTEM_BUN": "1",
            "REFLEX_TELEMETRY_ENABLED": "false",
            # Our own copy of .web: the frontend build bakes PUBLIC_URL in, so building in the shared .web would
            # rewire a dev server running from this checkout to our port (and theirs could rewire ours).
            "REFLEX_WEB_WORKDIR": str(web_dir),
            "REFLEX_STATES_WORKDIR": str(web_dir.parent / "states"),
            "PAIDSIGNAL_ENV": "development",  # PASSWORD_HASH_PROFILE=fast is refused in production
            "PUBLIC_URL": f"http://localhost:{port}",
            "PORT": str(port),
            "DATA_DIR": str(data_dir),
            "PASSWORD_HASH_PROFILE": "fast",
            "SECRET_KEY": SECRET_KEY,
            "EMAIL_BACKEND": "file",
            "JOBS_ENABLED": "true",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_OFFLINE_MODE": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, urllib.error.URLError):
        return None


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


def stop_server(proc: subprocess.Popen[bytes], port: int) -> None:
    pgid = proc.pid  # start_new_session=True: the server leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _processes_of(pgid, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _processes_of(pgid, port):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    left = _processes_of(pgid, port)
    assert not left, f"server processes left running: {left}"


def _require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: these tests need Debian's chromium (`make test` installs it; by hand: "
            "apt-get install chromium). Playwright's own browser download does not work offline."
        )


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_chromium()  # before the slow start
    port = free_port()
    data_dir = tmp_path_factory.mktemp("e2e-data")
    web_dir = tmp_path_factory.mktemp("e2e-web") / ".web"
    if (ROOT / ".web" / "node_modules").is_dir():
        # Start from the checkout's compiled frontend and installed packages: only what changed is rebuilt.
        shutil.copytree(ROOT / ".web", web_dir, symlinks=True)
    env = server_env(port, data_dir, web_dir)
    log = data_dir / "server.log"

    migrated = subprocess.run(
        [PYTHON, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if migrated.returncode != 0:
        pytest.fail(f"migrate failed:\n{migrated.stdout}{migrated.stderr}")

    command = [
        REFLEX,
        "run",
        "--env",
        "prod",
        "--frontend-port",
        str(port),
        "--backend-port",
        str(port),
        "--backend-host",
        "127.0.0.1",
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (_status(f"{url}/api/v1/health") == 200 and _status(f"{url}/") == 200):
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}; log tail:\n{_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer within {START_TIMEOUT_S} s; log tail:\n{_tail(log)}")
            time.sleep(1)
        yield Server(port=port, url=url, data_dir=data_dir, env=env, log=log)
    finally:
        stop_server(proc, port)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright, server: Server) -> Iterator[Browser]:
    _require_chromium()
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], BrowserContext]]:
    """A factory for fresh browser contexts (separate cookies and localStorage); all closed after the test.

    When the test fails, every open page is saved as a screenshot under SCREENSHOTS.
    """
    contexts: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    failed = request.node.stash.get(_FAILED, False)
    for n, context in enumerate(contexts):
        for m, open_page in enumerate(context.pages):
            if failed:
                SCREENSHOTS.mkdir(exist_ok=True)
                path = SCREENSHOTS / f"{request.node.name}-{n}-{m}.png"
                with contextlib.suppress(Exception):
                    open_page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {open_page.url}: {path}")
        context.close()


@pytest.fixture
def page(new_context: Callable[[], BrowserContext]) -> Page:
    return new_context().new_page()
