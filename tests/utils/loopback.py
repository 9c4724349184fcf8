"""HTTP receivers on loopback addresses, for the outbound guard's tests: one port served on 127.0.0.1, 127.0.0.2
and ::1, counting every TCP connection accepted (a request that is refused must not even connect) and answering
what the test sets, e.g. an "internal" body that must never be shown. Optionally TLS, recording the SNI name."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

ADDRESSES = ("127.0.0.1", "127.0.0.2", "::1")
SECRET_BODY = "internal-admin-token-7f3c: this body must never be shown"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackReceivers

    def verify_request(self, request: Any, client_address: Any) -> bool:
        self.owner._connected(self.server_address[0])
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client dropping the connection (e.g. refusing our certificate) is part of the tests


class _Server6(_Server):
    address_family = socket.AF_INET6


class LoopbackReceivers:
    def __init__(self, *, tls: ssl.SSLContext | None = None, addresses: tuple[str, ...] = ADDRESSES) -> None:
        self._addresses = addresses
        self._tls = tls
        self._lock = threading.Lock()
        self.connections: Counter[str] = Counter()
        self.paths: list[tuple[str, str]] = []  # (address, path) of each request
        self.sni: list[str | None] = []
        self.reply: tuple[int, str, str | None, dict[str, str]] = (200, '{"ok":true}', None, {})
        self._servers: list[_Server] = []
        self.port = 0

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.connections.values())

    def answer(self, status: int, body: str = SECRET_BODY, *, reason: str | None = None, **headers: str) -> None:
        """Answer every request so from now on (``reason``: a reason phrase of the server's own)."""
        self.reply = (status, body, reason, headers)

    def _connected(self, address: str) -> None:
        with self._lock:
            self.connections[address] += 1

    def start(self) -> Self:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with owner._lock:
                    owner.paths.append((self.server.server_address[0], self.path))  # type: ignore[index]
                status, body, reason, headers = owner.reply
                payload = body.encode()
                self.send_response(status, reason)
                for name, value in {"Content-Type": "text/plain", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

        if self._tls is not None:
            self._tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)  # type: ignore[assignment, misc]
        for _ in range(20):  # a port free on every address
            with contextlib.ExitStack() as undo:
                servers = []
                try:
                    for address in self._addresses:
                        kind = _Server6 if ":" in address else _Server
                        server = kind((address, self.port), Handler)
                        undo.callback(server.server_close)
                        servers.append(server)
                        self.port = server.server_address[1]
                except OSError:
                    self.port = 0
                    continue
                undo.pop_all()
                break
        else:
            raise RuntimeError("no port free on every loopback address")
        for server in servers:
            server.owner = self
            if self._tls is not None:
                server.socket = self._tls.wrap_socket(server.socket, server_side=True)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._servers = servers
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
