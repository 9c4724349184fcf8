"""What the server keeps of a browser session, and what it sends again: read as someone who got hold of the state
files (or a Redis dump) and as someone who reloads the tab after a secret key was shown."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import re
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from playwright.sync_api import BrowserContext, Page, WebSocket, expect

from app.state.base import AppState
from tests.e2e.helpers import log_in, log_out, sign_up, url_is
from tests.utils.server import Server, free_port, server_env, start_server

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"
# The disk state manager writes changed states after a short debounce (2 s by default).
STATE_WRITE_TIMEOUT_S = 30
# Reflex's websocket: socket.io at /_event, namespace /_event.
NAMESPACE = "/_event"
KEYS_PATH = "/settings/keys"


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _states_dir(server: Server) -> Path:
    return Path(server.env["REFLEX_STATES_WORKDIR"])


def _stored_files(server: Server) -> list[Path]:
    """Every file the server keeps state or data in: Reflex's state pickles, the database, the outbox, the log."""
    roots = [_states_dir(server), server.data_dir]
    return [path for root in roots if root.is_dir() for path in root.rglob("*") if path.is_file()]


def _forms(token: str) -> dict[str, bytes]:
    """The token as it could be written: itself, and its bytes (it is URL-safe base64 of 32 random bytes) in hex and
    base64, so an encoding on the way to disk does not hide it."""
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return {
        "token": token.encode(),
        "token as hex": token.encode().hex().encode(),
        "token as base64": base64.b64encode(token.encode()).rstrip(b"="),
        "bytes as hex": raw.hex().encode(),
        "bytes as HEX": raw.hex().upper().encode(),
        "bytes as base64": base64.b64encode(raw).rstrip(b"="),
        "raw bytes": raw,
    }


def _wait_for_state_file_containing(server: Server, marker: bytes) -> None:
    """Until the signed-in state has been written (its pickle holds the user's e-mail): a file that has not been
    written yet cannot show what would be written."""
    deadline = time.monotonic() + STATE_WRITE_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(marker in path.read_bytes() for path in _states_dir(server).glob("*.pkl")):
            return
        time.sleep(0.5)
    raise AssertionError(f"no state file under {_states_dir(server)} mentions {marker!r}")


def _app_state_deltas(frames: list[str]) -> list[dict[str, Any]]:
    """AppState's part of each state update in these websocket frames (socket.io: ``42/_event,["event", update]``)."""
    deltas = []
    for frame in frames:
        if frame.startswith("42/_event,"):
            _, update = json.loads(frame.removeprefix("42/_event,"))
            deltas.append(update.get("delta", {}).get(AppState.get_full_name(), {}))
    return [delta for delta in deltas if delta]


def _session_token(page: Page) -> str:
    token = page.evaluate("() => window.localStorage.getItem('paidsignal_session')")
    assert isinstance(token, str) and len(token) >= 40, token
    return token


def test_login_token_is_not_kept_in_server_state_storage(server: Server, page: Page) -> None:
    email = f"{_unique('tokens')}@example.com"
    sign_up(page, server.url, account_name=_unique("Token Shop"), email=email, password=PASSWORD)
    log_out(page, server.url)
    log_in(page, server.url, email=email, password=PASSWORD)
    expect(page).to_have_url(url_is(server.url, "/"))
    page.goto(f"{server.url}/settings/keys")
    expect(page.locator("#keys-empty")).to_be_visible()
    expect(page.locator("#user-email")).to_have_text(email)
    token = _session_token(page)

    _wait_for_state_file_containing(server, email.encode())
    found = [
        f"{name} in {path}"
        for path in _stored_files(server)
        for name, form in _forms(token).items()
        if form in path.read_bytes()
    ]
    assert found == []


async def _replay(url: str, client_token: str, event: dict[str, Any]) -> dict[str, Any]:
    """Connect to the backend's websocket as the tab ``client_token`` (no hydration: a script, not the app's page),
    send ``event`` (an AppState handler) and return the update that carries AppState's answer."""
    answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
    client = socketio.AsyncClient(reconnection=False)

    @client.on("event", namespace=NAMESPACE)
    async def _on_update(update: dict[str, Any]) -> None:
        if AppState.get_full_name() in update.get("delta", {}) and not answer.done():
            answer.set_result(update)

    await client.connect(
        f"{url}?token={client_token}",
        socketio_path="/_event",
        transports=["websocket"],
        headers={"Origin": url},
        namespaces=[NAMESPACE],
        wait_timeout=15,
    )
    try:
        await client.emit("event", event, namespace=NAMESPACE)
        return await asyncio.wait_for(answer, timeout=15)
    finally:
        await client.disconnect()


def test_a_stolen_tab_token_does_not_act_as_the_user(server: Server, page: Page) -> None:
    """The tab's token is in the state store's key names (Redis) and inside the pickles: replaying it over the
    websocket, without the browser's session token, must not be signed in."""
    email = f"{_unique('replay')}@example.com"
    sign_up(page, server.url, account_name=_unique("Replay Shop"), email=email, password=PASSWORD)
    client_token = page.evaluate("() => window.sessionStorage.getItem('token')")
    assert isinstance(client_token, str) and client_token
    page.close()  # the victim's tab is gone; its state stays on the server

    event = {
        "name": f"{AppState.get_full_name()}.check_login",
        "payload": {},
        "router_data": {"pathname": "/", "query": {}, "asPath": "/"},
    }
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        update = pool.submit(asyncio.run, _replay(server.url, client_token, event)).result()
    answer = update["delta"][AppState.get_full_name()]
    assert answer.get("is_authenticated_rx_state_") is False, answer
    assert email not in repr(update)


def test_a_new_secret_key_is_not_sent_again_after_a_reload(server: Server, page: Page) -> None:
    received: list[str] = []

    def watch(ws: WebSocket) -> None:
        ws.on("framereceived", lambda payload: received.append(payload if isinstance(payload, str) else repr(payload)))

    page.on("websocket", watch)
    sign_up(
        page, server.url, account_name=_unique("Key Shop"), email=f"{_unique('keys')}@example.com", password=PASSWORD
    )
    page.goto(f"{server.url}/settings/keys")
    expect(page.locator("#keys-empty")).to_be_visible()
    page.locator("#kind-secret").click()
    page.locator("input[name=label]").fill("Backend")
    page.locator("#create-key").click()
    created = page.locator("#created-key")
    expect(created).to_have_value(re.compile(r"^ps_sk_\S{20,}$"))
    secret = created.input_value()
    assert any(secret in frame for frame in received)  # it did come over the websocket, once

    received.clear()
    page.reload()
    expect(page.locator("#keys-table .key-row")).to_have_count(1)
    expect(page.locator("#created-key-callout")).to_be_hidden()
    expect(page.locator("#created-key")).to_have_value("")
    assert received, "no websocket frames were seen after the reload"
    assert not [frame for frame in received if secret in frame]
    assert secret not in page.content()


def test_a_signed_in_tab_stays_signed_in_across_a_backend_restart(
    server: Server, new_context: Callable[[], BrowserContext], tmp_path: Path
) -> None:
    """The server keeps no token, so the restarted backend (states loaded from disk) must get it from the tab: the
    open tab reconnects by itself and hydrates again, which presents the token on the new connection, then the
    page's on_load checks the session."""
    port = free_port()
    web_dir = tmp_path / "web" / ".web"
    shutil.copytree(Path(server.env["REFLEX_WEB_WORKDIR"]), web_dir, symlinks=True)  # built: only recompiled
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = server_env(port, data_dir, web_dir)
    own = start_server(port, data_dir, env)
    try:
        page = new_context().new_page()
        email = f"{_unique('restart')}@example.com"
        sign_up(page, own.url, account_name=_unique("Restart Shop"), email=email, password=PASSWORD)
        _wait_for_state_file_containing(own, email.encode())
        received: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: received.append(str(payload))))
        own.stop()
        own = start_server(port, data_dir, env)

        # The reconnection's on_load (check_login) answers with AppState's session fields. (A click to another page
        # would not do: the rebuilt frontend's route files have new names, so the old page reloads instead.)
        deadline = time.monotonic() + STATE_WRITE_TIMEOUT_S
        while not (checks := [d for d in _app_state_deltas(received) if d.get("session_checked_rx_state_")]):
            assert time.monotonic() < deadline, f"the tab did not reconnect: {received}"
            page.wait_for_timeout(200)  # lets Playwright deliver the frames
        assert all(check.get("is_authenticated_rx_state_") is True for check in checks), checks
        assert not [frame for frame in received if "/login" in frame]
        expect(page).to_have_url(url_is(own.url, "/"))
        expect(page.locator("#user-email")).to_have_text(email)
    finally:
        own.stop()
