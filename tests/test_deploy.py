"""The deployment templates under deploy/: the systemd units pass ``systemd-analyze verify`` and the nginx site
passes ``nginx -t`` (each skipped where the tool is not installed), and the Procfile names every role."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


def test_systemd_units_verify(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # The units name /opt/paidsignal: point them at this checkout so the executables they start exist.
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace("/opt/paidsignal", str(ROOT))
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name).replace("@.service", "@8101.service"))
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "paidsignal" in line]
    assert not problems, "\n".join(problems)


def test_nginx_site_passes_nginx_t(tmp_path: Path) -> None:
    nginx = Path("/usr/sbin/nginx")
    if not nginx.exists():
        pytest.skip("nginx is not installed (make cluster installs it)")
    site = (DEPLOY / "nginx" / "paidsignal.conf").read_text()
    for name, value in {"LISTEN": "127.0.0.1:1", "SERVER_NAME": "localhost", "WEB_PORT": "2", "API1_PORT": "3",
                        "API2_PORT": "4"}.items():  # fmt: skip
        site = site.replace(f"@{name}@", value)
    code = "\n".join(line.split("#", 1)[0] for line in site.splitlines())
    assert not re.search(r"@[A-Z0-9_]+@", code), "a placeholder is left"
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log; events {{}}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy; "
        f"include {tmp_path}/site.conf; }}\n"
    )
    done = subprocess.run(
        [str(nginx), "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_procfile_runs_every_role() -> None:
    roles = {line.split(":", 1)[0] for line in (DEPLOY / "Procfile").read_text().splitlines() if ":" in line
             and not line.startswith("#")}  # fmt: skip
    assert roles == {"web", "api1", "api2", "jobs"}


def test_nginx_site_keeps_request_bodies_in_memory() -> None:
    """An ingest batch is not spooled to a temporary file before nginx passes it on: that costs a disk write per
    batch, and fails with 500 when nginx's worker user may not write the temporary directory (a private nginx
    started by root in a 0700 directory, as bench/cluster.py found)."""
    site = (DEPLOY / "nginx" / "paidsignal.conf").read_text()
    sizes = dict(re.findall(r"^\s*(client_max_body_size|client_body_buffer_size)\s+(\d+)m;", site, re.MULTILINE))
    assert "client_body_buffer_size" in sizes, "client_body_buffer_size is not set: nginx's default is 16 KB"
    assert int(sizes["client_body_buffer_size"]) >= int(sizes["client_max_body_size"])
