"""The outbound guard for user-entered URLs (webhook pixels): only public addresses, checked when the pixel is saved
and again on the connection itself (DNS rebinding), no redirects, no body of a refused answer shown, TLS still
checked against the host name. Real receivers on 127.0.0.1, 127.0.0.2 and ::1 count every connection."""

from __future__ import annotations

import ipaddress
import json
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from app.integrations import address_guard, outbound, signed_webhook
from app.integrations.address_guard import Blocked
from app.models import ConversionDelivery, DeliveryAttempt, Pixel
from app.models.base import new_public_id, utcnow
from app.services import conversion_sender, conversions, pixels
from app.services.crypto import encrypt_secret
from app.services.errors import ValidationFailed
from app.services.permissions import Actor
from app.settings import Settings, get_settings
from tests.utils.conversions import drain, pay
from tests.utils.dns import PUBLIC, FakeDNS
from tests.utils.factories import make_owner
from tests.utils.loopback import SECRET_BODY, LoopbackReceivers
from tests.utils.payments import Shop, make_shop
from tests.utils.smtp import make_certificates
from tests.utils.stripe_fakes import StripeRecorder

# Every way of writing "this machine" that was accepted before (the list, and a few more).
LOOPBACK_SPELLINGS = [
    "127.0.0.1",
    "127.0.0.2",
    "[::1]",
    "127.1",
    "2130706433",
    "0x7f000001",
    "017700000001",
    "0.0.0.0",
    "localhost",
    "localhost.",
    "LOCALHOST",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::]",
]
SIGNING_SECRET = "hook-signing-secret-0123"


@pytest.fixture
def receivers() -> Iterator[LoopbackReceivers]:
    with LoopbackReceivers() as started:
        yield started


def _create(db: Session, actor: Actor, url: str) -> pixels.PixelRow:
    return pixels.create_pixel(
        session=db, actor=actor, provider="webhook", name="Hook", settings={"url": url},
        credentials={"signing_secret": SIGNING_SECRET}, is_default=True,
    )  # fmt: skip


def _stored(db: Session, actor: Actor, url: str) -> Pixel:
    """A webhook pixel as an older version let it be saved (no check now): the sender must still refuse it."""
    pixel = Pixel(
        public_id=new_public_id("px"), account_id=actor.account_id, provider="webhook", name="Old hook",
        settings={"url": url}, credentials_encrypted=encrypt_secret(json.dumps({"signing_secret": SIGNING_SECRET})),
        credentials_hint="••••0123", events=["purchase"], is_default=True,
    )  # fmt: skip
    db.add(pixel)
    db.commit()
    return pixel


def _webhook(url: str) -> outbound.Outbound:
    now = utcnow()
    conversion = conversion_sender.sample_conversion(now)
    secrets = {"signing_secret": SIGNING_SECRET}
    return signed_webhook.build(conversion, {"url": url}, secrets, test=True, now=now, delivery_id="cvd_test")


# --- which addresses are public -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.2", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "0.0.0.0/8"),
        ("10.1.2.3", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.127.255.254", "carrier-grade NAT"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "private"),
        ("240.0.0.1", "private"),
        ("192.0.0.8", "192.0.0.0/24"),
        ("192.0.2.1", "private"),
        ("198.18.0.1", "198.18.0.0/15"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback (this server), inside an IPv6 address"),
        ("::ffff:10.0.0.1", "private network, inside an IPv6 address"),
        ("::ffff:169.254.169.254", "link-local"),
        ("::ffff:100.64.0.1", "carrier-grade NAT"),
        ("::7f00:1", "IPv4-compatible"),
        ("64:ff9b::7f00:1", "loopback (this server), inside an IPv6 address"),
        ("64:ff9b::a9fe:a9fe", "link-local"),
        ("64:ff9b:1::a00:1", "local-use NAT64"),
        ("2002:7f00:1::", "loopback (this server), inside an IPv6 address"),
        ("2002:c0a8:101::", "private network, inside an IPv6 address"),
        ("2001::1", "Teredo"),
        ("2001:db8::1", "private"),
        ("fe80::1", "link-local"),
        ("fec0::1", "site-local"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("ff02::1", "multicast"),
        ("100::1", "private"),
    ],
)
def test_addresses_that_are_not_the_public_internet(address: str, reason: str) -> None:
    found = address_guard.why_not_public(ipaddress.ip_address(address))
    assert found is not None and reason in found


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses_pass(address: str) -> None:
    assert address_guard.why_not_public(ipaddress.ip_address(address)) is None


# --- resolving and checking a host --------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_every_spelling_of_this_machine_is_refused(spelling: str, guard_settings: Callable[..., None]) -> None:
    guard_settings("")
    with pytest.raises(Blocked) as refused:
        address_guard.check_url(f"https://{spelling}:8443/hook")
    # "localhost." is not in /etc/hosts: where no DNS answers for it, it is not found (a retry); else loopback.
    assert "not on the public internet" in str(refused.value) or refused.value.temporary


def test_names_are_checked_on_every_address_they_resolve_to(dns: FakeDNS, guard_settings: Callable[..., None]) -> None:
    guard_settings("")
    dns.set("public.test", PUBLIC)
    dns.set("both.test", [PUBLIC, "2606:4700:4700::1111"])
    for name, answer in [
        ("internal.test", "10.0.0.5"),
        ("mixed.test", [PUBLIC, "127.0.0.1"]),
        ("cgnat.test", "100.64.1.1"),
        ("metadata.test", "169.254.169.254"),
        ("ula.test", "fd00::1"),
        ("mapped.test", "::ffff:169.254.169.254"),
        ("nat64.test", "64:ff9b::a00:5"),
        ("multicast.test", "ff05::2"),
        ("zero.test", "0.0.0.0"),
    ]:
        dns.set(name, answer)
        with pytest.raises(Blocked, match="not on the public internet") as refused:
            address_guard.check_url(f"https://{name}/hook")
        assert not refused.value.temporary
        # The user learns what kind of address it is, not the address (the server's internal DNS stays private).
        assert "10.0.0.5" not in str(refused.value) and "169.254" not in str(refused.value)
    assert address_guard.check_url("https://public.test/x") == address_guard.Destination(
        "public.test", 443, (PUBLIC,), allow_listed=False
    )
    assert address_guard.check_url("https://both.test:8443/x").addresses == (PUBLIC, "2606:4700:4700::1111")
    with pytest.raises(Blocked, match="could not be found") as unknown:
        address_guard.check_url("https://nowhere.test/hook")
    assert unknown.value.temporary
    # httpx's reading of the URL is the one checked (the one it connects to), not another parser's.
    with pytest.raises(Blocked, match="not on the public internet"):
        address_guard.check_url("https://public.test\\@127.0.0.1/hook")


def test_the_allow_list_names_hosts_addresses_and_networks(dns: FakeDNS, guard_settings: Callable[..., None]) -> None:
    dns.set("recorder.test", "10.1.2.3")
    dns.set("other.test", "10.9.9.9")
    guard_settings("Recorder.Test., 127.0.0.0/8, ::1")
    assert address_guard.check_url("http://recorder.test:8080/x").allow_listed
    assert address_guard.check_url("https://127.0.0.2/x").allow_listed
    assert address_guard.check_url("https://[::ffff:127.0.0.9]/x").allow_listed
    assert address_guard.check_url("https://[::1]/x").allow_listed
    with pytest.raises(Blocked):
        address_guard.check_url("https://other.test/x")
    with pytest.raises(Blocked):
        address_guard.check_url("https://[::2]/x")  # ::1 only, not its neighbours
    assert get_settings().outbound_allowed_hosts == ["recorder.test", "127.0.0.0/8", "::1/128"]
    with pytest.raises(ValueError, match="OUTBOUND_ALLOWED_HOSTS entry 'not a host!'"):
        Settings(outbound_allowed_hosts="localhost,not a host!")  # type: ignore[arg-type]


# --- saving a pixel -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("production", [False, True], ids=["development", "production"])
@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_saving_a_webhook_to_this_machine_is_refused(
    db: Session, guard_settings: Callable[..., None], receivers: LoopbackReceivers, spelling: str, production: bool
) -> None:
    _, _, owner = make_owner(db)
    guard_settings("", production=production)
    with pytest.raises(ValidationFailed) as refused:
        _create(db, owner, f"https://{spelling}:{receivers.port}/hooks/shop")
    assert refused.value.field == "settings.url"
    assert "not on the public internet" in refused.value.message or "could not be found" in refused.value.message
    assert db.exec(select(Pixel)).first() is None and receivers.total == 0


def test_http_only_for_allow_listed_hosts_outside_production(
    db: Session, dns: FakeDNS, guard_settings: Callable[..., None]
) -> None:
    _, _, owner = make_owner(db)
    dns.set("hooks.example.com", PUBLIC)
    guard_settings("127.0.0.1")
    with pytest.raises(ValidationFailed, match="must use https"):
        _create(db, owner, "http://hooks.example.com/ps")
    assert _create(db, owner, "https://hooks.example.com/ps").settings["url"] == "https://hooks.example.com/ps"
    assert _create(db, owner, "http://127.0.0.1:9/ps").settings["url"] == "http://127.0.0.1:9/ps"
    guard_settings("127.0.0.1", production=True)
    with pytest.raises(ValidationFailed, match="must use https"):
        _create(db, owner, "http://127.0.0.1:9/ps")
    # An operator may allow-list a receiver of their own in production; it still needs https.
    assert _create(db, owner, "https://127.0.0.1:9/ps").settings["url"] == "https://127.0.0.1:9/ps"


def test_a_stored_pixel_is_checked_again_by_check_and_test_send(
    db: Session, guard_settings: Callable[..., None]
) -> None:
    _, _, owner = make_owner(db)
    guard_settings("")
    pixel = _stored(db, owner, "https://127.0.0.1:9/hooks/shop")
    result = pixels.check_pixel(session=db, actor=owner, pixel_public_id=pixel.public_id)
    assert not result.ok and "not on the public internet" in result.message


# --- sending --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_the_sender_never_connects_to_this_machine(
    db: Session, guard_settings: Callable[..., None], receivers: LoopbackReceivers, spelling: str
) -> None:
    """Pixels saved before the guard existed (plain http, so a request would arrive whole) reach nothing."""
    _, _, owner = make_owner(db)
    guard_settings("")
    url = f"http://{spelling}:{receivers.port}/hooks/shop"
    answer = outbound.send(_webhook(url), timeout=3)
    assert answer.status is None and answer.body == ""
    assert answer.outcome == "dead" or (answer.outcome == "retry" and "could not be found" in answer.message)
    pixel = _stored(db, owner, url)
    result = conversion_sender.send_test(session=db, actor=owner, pixel_public_id=pixel.public_id)
    assert not result.ok and SECRET_BODY not in result.message
    assert receivers.total == 0, receivers.connections


def test_dns_rebinding_after_the_check_reaches_nothing(
    db: Session,
    stripe_api: StripeRecorder,
    dns: FakeDNS,
    guard_settings: Callable[..., None],
    receivers: LoopbackReceivers,
) -> None:
    """The name is public when the pixel is saved and loopback when the conversion is sent: the real outbox job
    checks the answer it connects with, and refuses."""
    shop: Shop = make_shop(db, stripe_api)
    guard_settings("")
    dns.set("rebind.test", PUBLIC, "127.0.0.1")
    _create(db, shop.actor, f"https://rebind.test:{receivers.port}/hooks/shop")
    db.commit()
    pay(shop, db)
    drain()
    [delivery] = db.exec(select(ConversionDelivery)).all()
    assert delivery.status == "dead" and "not on the public internet (loopback" in delivery.reason
    [attempt] = db.exec(select(DeliveryAttempt)).all()
    assert attempt.response_status is None and attempt.response_body == ""
    assert receivers.total == 0 and dns.lookups == ["rebind.test", "rebind.test"]


def test_the_connection_goes_to_the_address_that_was_checked(
    dns: FakeDNS, guard_settings: Callable[..., None], receivers: LoopbackReceivers
) -> None:
    """One lookup per connection, and the connection uses its answer: a second answer is never asked for."""
    guard_settings("127.0.0.2")
    dns.set("pinned.test", "127.0.0.2", "127.0.0.1")
    answer = outbound.send(_webhook(f"http://pinned.test:{receivers.port}/hooks/shop"), timeout=3)
    assert answer.outcome == "sent", answer.message
    assert receivers.connections == {"127.0.0.2": 1} and dns.lookups == ["pinned.test"]


def test_redirects_are_not_followed(guard_settings: Callable[..., None], receivers: LoopbackReceivers) -> None:
    guard_settings("127.0.0.1")
    receivers.answer(302, "", Location=f"http://127.0.0.2:{receivers.port}/internal")
    answer = outbound.send(_webhook(f"http://127.0.0.1:{receivers.port}/hooks/shop"), timeout=3)
    assert answer.outcome == "dead" and answer.status == 302
    assert answer.message == "HTTP 302 Found: a redirect, which PaidSignal does not follow; give the final URL."
    assert receivers.paths == [("127.0.0.1", "/hooks/shop")]


def test_answers_of_a_webhook_show_a_status_never_a_body(
    db: Session, stripe_api: StripeRecorder, guard_settings: Callable[..., None], receivers: LoopbackReceivers
) -> None:
    shop: Shop = make_shop(db, stripe_api)
    guard_settings("127.0.0.1")
    row = _create(db, shop.actor, f"http://127.0.0.1:{receivers.port}/hooks/shop")
    db.commit()
    receivers.answer(500, reason="Leaked-Reason-Phrase")
    result = conversion_sender.send_test(session=db, actor=shop.actor, pixel_public_id=row.public_id)
    assert result == pixels.TestResult(
        False, "Hook: HTTP 500 Internal Server Error: the receiver refused the request (its answer is not shown)."
    )
    receivers.answer(200)
    result = conversion_sender.send_test(session=db, actor=shop.actor, pixel_public_id=row.public_id)
    assert result.ok and SECRET_BODY not in result.message

    # The real outbox: a 404 is stored and shown without its body, in the diagnostics too.
    receivers.answer(404)
    pay(shop, db)
    drain()
    [delivery] = db.exec(select(ConversionDelivery)).all()
    detail = conversions.delivery_detail(
        session=db, account_id=shop.actor.account_id, delivery_public_id=delivery.public_id
    )
    [attempt] = detail.attempts
    assert (attempt.response_status, attempt.response_body) == (404, "")
    assert attempt.message.startswith("HTTP 404 Not Found: the receiver refused")
    assert SECRET_BODY not in str(detail) and "Leaked" not in str(detail)


def test_tls_is_checked_against_the_host_name_while_connecting_to_the_checked_address(
    tmp_path: Path, dns: FakeDNS, guard_settings: Callable[..., None]
) -> None:
    """The connection goes to 127.0.0.1 (the checked address), the TLS handshake names hooks.test (SNI) and the
    certificate must be valid for hooks.test: a name whose certificate it is not fails."""
    server_tls = make_certificates(tmp_path, host="hooks.test")
    trust = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    guard_settings("127.0.0.1")
    dns.set("hooks.test", "127.0.0.1")
    dns.set("other.test", "127.0.0.1")
    with (
        LoopbackReceivers(tls=server_tls, addresses=("127.0.0.1",)) as server,
        address_guard.guarded_client(timeout=3, verify=trust) as client,
    ):
        assert client.post(f"https://hooks.test:{server.port}/hooks/shop").status_code == 200
        assert server.sni == ["hooks.test"]
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            client.post(f"https://other.test:{server.port}/hooks/shop")
        assert server.sni == ["hooks.test", "other.test"] and server.paths == [("127.0.0.1", "/hooks/shop")]
