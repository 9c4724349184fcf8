"""Reaching only public internet addresses, for URLs that users of an account enter (webhook pixels).

A host is resolved once, every address it resolves to must be public (not loopback, private, link-local, CGNAT,
multicast, reserved or unspecified, nor an IPv6 form that embeds such an IPv4 address), and the connection goes to
an address that was checked: a DNS answer that changes between the check and the connection cannot redirect it.
TLS still verifies the certificate against the URL's host name (httpcore sends it as SNI and checks it).
``OUTBOUND_ALLOWED_HOSTS`` lets named hosts, addresses or networks through (local recorders in development, tests).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from app import runtime
from app.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> the addresses it resolves to, as strings; a socket.gaierror (an OSError) when it does not.
Resolver = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# What ``is_global`` (Python 3.11) lets through although it is not the public internet, in the words shown.
_NOT_PUBLIC: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), label)
    for network, label in (
        ("0.0.0.0/8", "this-network (0.0.0.0/8)"),
        ("100.64.0.0/10", "carrier-grade NAT (100.64.0.0/10)"),
        ("192.0.0.0/24", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.88.99.0/24", "6to4 relay anycast (192.88.99.0/24)"),
        ("198.18.0.0/15", "benchmarking (198.18.0.0/15)"),
        ("::/96", "IPv4-compatible IPv6 (::/96)"),
        ("64:ff9b:1::/48", "local-use NAT64 (64:ff9b:1::/48)"),
        ("2001::/32", "Teredo (2001::/32)"),
        ("fec0::/10", "site-local IPv6 (fec0::/10)"),
    )
)


class Blocked(Exception):
    """The destination is refused; the message is short and safe to show to the account's users.

    ``temporary``: the host could not be resolved (DNS may answer later), as opposed to an address that is not public.
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class Destination:
    host: str
    port: int
    addresses: tuple[str, ...]  # every one checked, in the resolver's order
    allow_listed: bool  # reachable only thanks to OUTBOUND_ALLOWED_HOSTS


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@contextmanager
def use_resolver(resolver: Resolver) -> Iterator[None]:
    """Resolve host names with ``resolver`` meanwhile (tests: a DNS that answers what the test needs)."""
    process = runtime.current()
    previous, process.resolver = process.resolver, resolver
    try:
        yield
    finally:
        process.resolver = previous


def why_not_public(address: IPAddress) -> str | None:
    """``None`` for a public internet address; else what the address is, in a few words."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = why_not_public(embedded)
            return f"{reason}, inside an IPv6 address" if reason else None
    if address.is_loopback:
        return "loopback (this server)"
    if address.is_unspecified:
        return "unspecified (this server)"
    if address.is_link_local:
        return "link-local (e.g. a cloud metadata service)"
    if address.is_multicast:
        return "multicast"
    for network, label in _NOT_PUBLIC:
        if address.version == network.version and address in network:
            return label
    if address.is_private:
        return "a private network"
    if address.is_reserved or not address.is_global:
        return "reserved, not the public internet"
    return None


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowList:
        names: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.add(_name(entry))
        return cls(frozenset(names), tuple(networks))

    def allows(self, address: IPAddress) -> bool:
        forms = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            forms.append(address.ipv4_mapped)
        return any(form.version == net.version and form in net for form in forms for net in self.networks)


def _name(host: str) -> str:
    return host.strip("[]").lower().rstrip(".")


def _allow_list() -> AllowList:
    return AllowList.parse(get_settings().outbound_allowed_hosts)


def _resolve(host: str, port: int) -> list[str]:
    # Numeric spellings (127.1, 2130706433, 0x7f000001, ::ffff:7f00:1) are read by the C library as it would connect
    # to them, without asking DNS; only names go to the resolver.
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
    except (OSError, UnicodeError):
        pass
    try:
        addresses = list(runtime.current().resolver(host, port))
    except (OSError, UnicodeError) as error:
        raise Blocked(f"The host {host} could not be found (DNS).", temporary=True) from error
    if not addresses:
        raise Blocked(f"The host {host} could not be found (DNS).", temporary=True)
    return addresses


def check_host(host: str, port: int) -> Destination:
    """Resolve ``host`` and check every address; :class:`Blocked` says why not."""
    name = _name(host)
    if not name:
        raise Blocked("The URL has no host.")
    allow = _allow_list()
    addresses = _resolve(host.strip("[]"), port)  # as written: "localhost." is not always "localhost"
    listed = name in allow.names
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError as error:
            raise Blocked(f"The host {host} resolves to something that is not an IP address.") from error
        reason = why_not_public(address)
        if reason is None:
            continue
        if listed or allow.allows(address):
            listed = True
            continue
        # The address itself is not shown: a user should not learn the server's internal DNS through this.
        raise Blocked(
            f"The host {host} is not on the public internet ({reason}); PaidSignal sends only to public addresses."
        )
    return Destination(name, port, tuple(addresses), listed)


def check_url(url: str) -> Destination:
    """:func:`check_host` for a URL's host and port, read the way httpx reads them when it sends."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as error:
        raise Blocked(f"The URL cannot be read: {error}") from error
    if parsed.scheme not in {"http", "https"}:
        raise Blocked("The URL must start with https://.")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return check_host(parsed.raw_host.decode("ascii"), port)


class _GuardedBackend(httpcore.NetworkBackend):
    """Each TCP connection: resolve, check, then connect to one of the checked addresses (never by name)."""

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        destination = check_host(host, port)
        failure: httpcore.ConnectError | None = None
        for address in destination.addresses:
            try:
                return self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                failure = error
        assert failure is not None
        raise failure

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise Blocked("Unix sockets are not a destination.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes through the guard; no proxy (it would do its own DNS)."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        tls = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=tls, limits=limits)
        # httpx builds its pool without a way to pass the network backend: replace it with an equal one that has ours
        # (same TLS context, so the certificate is still checked against the URL's host name).
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(),
        )


def guarded_client(*, timeout: float, verify: ssl.SSLContext | bool = True) -> httpx.Client:
    """A client for user-entered URLs: the guard on every connection, no redirects, no proxy or .netrc from the
    environment."""
    return httpx.Client(
        transport=GuardedTransport(verify=verify), timeout=timeout, follow_redirects=False, trust_env=False
    )
