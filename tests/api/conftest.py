"""The whole ASGI app as Reflex serves it (our API mounted with its CORS middleware), without compiling pages."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient


@pytest.fixture(scope="session")
def asgi_app() -> object:
    """The web role's whole app; with ``TEST_API_APP=api``, the api role's (app/asgi_api.py), which must answer the
    same (make test-cluster runs these tests that way)."""
    if os.environ.get("TEST_API_APP") == "api":
        from app.asgi_api import build_api_server

        return build_api_server()
    from reflex.utils.prerequisites import get_and_validate_app

    return get_and_validate_app().app()


@pytest.fixture
def client(asgi_app: object, db: object) -> Iterator[TestClient]:
    with TestClient(asgi_app, base_url="http://localhost:3000") as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
def mount_frontend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], Path]]:
    """Mounts a frontend build folder the way the production server mounts ``.web/build/client``; returns the empty
    folder to write the build's files into."""
    from reflex.utils.exec import get_frontend_mount
    from reflex.utils.prerequisites import get_and_validate_app

    web = tmp_path / ".web"
    static = web / "build" / "client"
    (static / "assets").mkdir(parents=True)
    monkeypatch.setenv("REFLEX_WEB_WORKDIR", str(web))
    routes = get_and_validate_app().app._api.routes  # type: ignore[union-attr]
    mounts = []

    def mount() -> Path:
        mounts.append(get_frontend_mount(router=None))
        routes.append(mounts[-1])
        return static

    yield mount
    for added in mounts:
        routes.remove(added)


@pytest.fixture(scope="session")
def live_api() -> Iterator[str]:
    """Our API served over real HTTP (uvicorn in a thread) on the test database, for callers that are other
    processes: localstripe delivering webhooks."""
    import threading

    import uvicorn

    from app.api.factory import build_api
    from tests.utils.server import free_port

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(build_api(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    import time

    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def localstripe() -> Iterator[object]:
    """localstripe in its own process (GPL: never imported here), stopped by PID at the end of the session."""
    from tests.utils.stripe_fakes import LocalStripe

    with LocalStripe() as server:
        yield server
