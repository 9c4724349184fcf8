"""The whole ASGI app as Reflex serves it (our API mounted with its CORS middleware), without compiling pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient


@pytest.fixture(scope="session")
def asgi_app() -> object:
    from reflex.utils.prerequisites import get_and_validate_app

    return get_and_validate_app().app()


@pytest.fixture
def client(asgi_app: object, db: object) -> Iterator[TestClient]:
    with TestClient(asgi_app, base_url="http://localhost:3000") as test_client:  # type: ignore[arg-type]
        yield test_client
