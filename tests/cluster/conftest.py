"""The cluster of ``make cluster`` (scripts/cluster.sh) on ports of its own, started once for these tests with the
recording Stripe API and ad platforms as its Stripe and Meta, and stopped at the end; only ``make test-cluster``
collects this folder (tests/conftest.py). The test process reaches the cluster's PostgreSQL through
TEST_DATABASE_URL (set by the Makefile), so tests build their shops with the same services as elsewhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.utils.server import ROOT, status

PORTS = {"PORT": 8190, "WEB_PORT": 8191, "API1_PORT": 8192, "API2_PORT": 8193, "JOBS_OPS_PORT": 8194,
         "REDIS_PORT": 6391, "PG_PORT": 55434}  # fmt: skip
EXTRA_JOBS_OPS_PORT = 8195
PG_DB = "paidsignal_cluster_test"
DATABASE_URL = f"postgresql+psycopg://paidsignal:paidsignal@127.0.0.1:{PORTS['PG_PORT']}/{PG_DB}"
# What tests/conftest.py set for in-process tests that must not reach the cluster's processes.
_STRIPPED = ("__REFLEX_SKIP_COMPILE", "DATABASE_URL", "TEST_DATABASE_URL", "DATA_DIR", "PUBLIC_URL", "JOBS_ENABLED")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[-1].split()[0] == "Z")


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[1])


def live_pid(port: int) -> int:
    """The PID of the process answering ``/_ops/live`` on ``port`` (a granian worker)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_ops/live", timeout=5) as response:
        return int(json.load(response)["pid"])


def wait_until(condition: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.2)


def wait_ready(port: int) -> None:
    wait_until(lambda: status(f"http://127.0.0.1:{port}/_ops/ready") == 200, f"port {port} ready")


@dataclass
class Cluster:
    env: dict[str, str]
    directory: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://localhost:{PORTS['PORT']}"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{PORTS['PORT']}"

    def log_lines(self, role: str) -> list[dict[str, object]]:
        """The JSON log lines of one role (honcho prefixes them with the time and ``role.1 |``)."""
        lines = []
        for raw in (self.directory / "logs" / "roles.log").read_text(errors="replace").splitlines():
            name, bar, text = raw.partition("| ")
            if bar and name.split()[-1].startswith(f"{role}.") and text.startswith("{"):
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    continue
        return lines

    def restart_api(self, port: int) -> None:
        """A graceful restart of one api process: SIGTERM to its granian (it drains), respawned by respawn.sh."""
        worker = live_pid(port)
        os.kill(parent_of(worker), signal.SIGTERM)
        wait_until(lambda: not _pid_alive(worker), f"api worker {worker} stopped")
        wait_until(lambda: status(f"http://127.0.0.1:{port}/_ops/ready") == 200 and live_pid(port) != worker,
                   f"api on {port} back")  # fmt: skip

    def kill_api(self, port: int) -> int:
        """kill -9 of the api process that serves on ``port``; returns its PID."""
        worker = live_pid(port)
        os.kill(worker, signal.SIGKILL)
        return worker

    def start_jobs(self, ops_port: int) -> subprocess.Popen[bytes]:
        """One more jobs process (python -m app.cli jobs) with the cluster's environment."""
        env = {**self.env, **_env_file(self.directory / "env")}
        with (self.directory / "logs" / f"jobs-{ops_port}.log").open("ab") as sink:
            process = subprocess.Popen(
                [str(ROOT / ".venv" / "bin" / "python"), "-m", "app.cli", "jobs", "--ops-port", str(ops_port)],
                cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.started.append(process)
        wait_ready(ops_port)
        return process


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return dict(pairs)


def _script(command: str, env: dict[str, str]) -> None:
    done = subprocess.run(["bash", "scripts/cluster.sh", command], cwd=ROOT, env=env, check=False, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/cluster.sh {command} exited with {done.returncode}")


@pytest.fixture(scope="session")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, _stripe_recorder: object, _ad_platforms: object
) -> Iterator[Cluster]:
    """The cluster, its Stripe and Meta the recording servers (their URLs are in this process's environment)."""
    directory = tmp_path_factory.mktemp("cluster")
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    env.update({name: str(port) for name, port in PORTS.items()})
    env.update({"CLUSTER_DIR": str(directory), "PG_DB": PG_DB, "PG_FAST": "1",
                "PG_DIR": str(Path("/tmp") / f"paidsignal-cluster-test-postgres-{PORTS['PG_PORT']}")})  # fmt: skip
    # The checkout's cluster build, when there is one, saves building the frontend again (a copy: PUBLIC_URL differs).
    built = ROOT / ".cluster" / "web" / ".web"
    if (built / "node_modules").is_dir():
        (directory / "web").mkdir()
        subprocess.run(["cp", "-a", str(built), str(directory / "web" / ".web")], check=True)
    running = Cluster(env, directory)
    try:
        _script("start", env)
        yield running
    finally:
        for process in running.started:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
        _script("stop", env)
        subprocess.run(["bash", "scripts/pg.sh", "drop"], cwd=ROOT, env=env, check=False)
