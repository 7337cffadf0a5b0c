"""Egress policy: which addresses outgoing HTTP may reach, in every spelling, and no rebinding."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from engine.steps import egress, egress_clients
from engine.steps.egress import AllowList, EgressError, EgressPolicy, EgressRefusedError
from engine.steps.http import EgressClient

STRICT = EgressPolicy()


def public_resolver(host: str, port: int) -> list[str]:
    raise AssertionError(f"an address literal {host!r} must not be resolved")


# Every one of these is loopback, private, link-local, CGNAT, multicast, reserved, unspecified
# or a cloud metadata address, however it is written.
BLOCKED = [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0x7f.1", "0x7F.0.0.1",
    "0177.0.0.1", "0177.1", "017700000001", "127.255.255.254", "0", "0.0.0.0", "0x0",
    "10.0.0.1", "012.0.0.1", "167772161", "172.16.0.1", "172.31.255.255", "192.168.1.1",
    "0xc0.0xa8.1.1", "169.254.169.254", "0xa9fea9fe", "2852039166", "100.64.0.1",
    "100.100.100.200", "192.0.0.170", "198.18.0.1", "224.0.0.1", "239.255.255.250",
    "255.255.255.255", "240.0.0.1",
    "::1", "[::1]", "0:0:0:0:0:0:0:1", "::", "::ffff:127.0.0.1", "::ffff:7f00:1",
    "[::ffff:169.254.169.254]", "::ffff:10.0.0.1", "::127.0.0.1", "::7f00:1", "::ffff:0:7f00:1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.0.0.1", "64:ff9b:1::1",
    "2002:7f00:1::1", "2002:a9fe:a9fe::", "fe80::1", "fe80::1%25eth0", "febf::1", "fc00::1",
    "fd00:ec2::254", "fdff::1", "ff02::1", "ff05::1:3", "fec0::1", "2001:db8::1",
    "2001::1", "100::1",
]  # fmt: skip

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "134744072", "0x8.0x8.0x8.0x8", "93.184.216.34",
    "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    "100.63.255.255", "100.128.0.1", "172.32.0.1", "192.169.0.1",
]  # fmt: skip


@pytest.mark.parametrize("host", BLOCKED)
def test_internal_addresses_are_refused_in_every_spelling(host: str) -> None:
    assert egress.literal_address(host.replace("%25", "%")) is not None, host
    with pytest.raises(EgressRefusedError):
        STRICT.check(host.replace("%25", "%"), 80, public_resolver)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_pass(host: str) -> None:
    assert STRICT.check(host, 443, public_resolver)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"),
     ("127.1", "127.0.0.1"), ("[::ffff:7f00:1]", "::ffff:127.0.0.1")],
)  # fmt: skip
def test_numeric_spellings_read_as_the_address_a_connect_would_reach(
    spelling: str, address: str
) -> None:
    assert egress.literal_address(spelling) == ipaddress.ip_address(address)


def test_names_are_resolved_and_any_internal_answer_refuses_the_name() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return {"ok.example": ["93.184.216.34"], "mixed.example": ["93.184.216.34", "10.0.0.7"],
                "meta.example": ["169.254.169.254"], "v6.example": ["fd00::1"]}[host]  # fmt: skip

    assert STRICT.check("ok.example", 80, resolver) == ["93.184.216.34"]
    for name in ("mixed.example", "meta.example", "v6.example"):
        with pytest.raises(EgressRefusedError):
            STRICT.check(name, 80, resolver)


def test_localhost_is_refused_through_the_system_resolver() -> None:
    with pytest.raises(EgressRefusedError):
        STRICT.check("localhost", 80)


def test_a_name_that_does_not_resolve_is_refused_like_a_blocked_one() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(EgressRefusedError) as e:
        STRICT.check("nowhere.example", 80, resolver)
    assert str(e.value) == egress.REFUSED


def test_the_allow_list_makes_exceptions_by_cidr_and_by_name() -> None:
    policy = EgressPolicy.from_setting("10.1.0.0/16, hooks.internal, *.svc.cluster, 127.0.0.1")
    assert policy.check("10.1.2.3", 80) == ["10.1.2.3"]
    assert policy.check("2130706433", 80) == ["127.0.0.1"]  # 127.0.0.1 in any spelling
    assert policy.check("::ffff:127.0.0.1", 80) == ["127.0.0.1"]  # dialled as IPv4

    def resolver(host: str, port: int) -> list[str]:
        return ["10.9.9.9"]

    assert policy.check("hooks.internal", 80, resolver) == ["10.9.9.9"]
    assert policy.check("a.b.svc.cluster", 80, resolver) == ["10.9.9.9"]
    for host in ("10.2.0.1", "127.0.0.2", "other.internal", "svc.cluster.evil"):
        with pytest.raises(EgressRefusedError):
            policy.check(host, 80, resolver)


def test_embedded_mode_allows_loopback_and_nothing_else_private() -> None:
    policy = EgressPolicy.from_setting("", loopback=True)
    assert policy.check("127.0.0.1", 80)
    assert policy.check("::1", 80)
    assert policy.check("localhost", 80)
    with pytest.raises(EgressRefusedError):
        policy.check("10.0.0.1", 80)


@pytest.mark.parametrize("entry", ["http://x.example", "10.0.0.0/99", "a b", "1.2.3.4.5", "é.x",
                                   "-", "*.", 7])  # fmt: skip
def test_bad_allow_entries_are_errors(entry: Any) -> None:
    with pytest.raises(EgressError):
        AllowList.parse([entry])


@pytest.mark.parametrize("value", [{"api.example.com": True}, 7, True, {"x"}])
def test_an_allow_list_is_a_list_or_text(value: Any) -> None:
    with pytest.raises(EgressError):
        AllowList.parse(value)


def test_a_tenant_list_narrows_and_never_widens() -> None:
    platform = EgressPolicy.from_setting("127.0.0.0/8")

    def resolver(host: str, port: int) -> list[str]:
        return {"api.example.com": ["93.184.216.34"], "other.example.com": ["93.184.216.35"],
                "internal.example.com": ["10.0.0.5"]}[host]  # fmt: skip

    tenant = platform.narrowed(["api.example.com", "10.0.0.0/8"])
    assert tenant.check("api.example.com", 443, resolver) == ["93.184.216.34"]
    for host in ("other.example.com", "127.0.0.1", "8.8.8.8"):  # narrowed away
        with pytest.raises(EgressRefusedError):
            tenant.check(host, 443, resolver)
    # the tenant's 10.0.0.0/8 does not widen what the platform refuses
    for host in ("10.0.0.1", "internal.example.com"):
        with pytest.raises(EgressRefusedError):
            tenant.check(host, 443, resolver)
    assert platform.narrowed(None) is platform
    assert platform.narrowed("127.0.0.1/32").check("127.0.0.1", 80) == ["127.0.0.1"]


def test_a_refusal_by_the_tenant_list_is_told_apart_only_by_its_class() -> None:
    """Outside the tenant's list: EgressNarrowedError (a webhook fails for good); refused by
    the platform alone, or not resolving: the plain refusal (transient). Same text for all."""
    platform = EgressPolicy.from_setting("")
    tenant = platform.narrowed(["93.184.216.0/24", "10.0.0.0/8"])

    def resolver(host: str, port: int) -> list[str]:
        if host == "nowhere.example.com":
            raise OSError("no such name")
        return {"api.example.com": ["93.184.216.34"], "other.example.com": ["198.18.0.9"],
                "public.example.com": ["8.8.8.8"]}[host]  # fmt: skip

    with pytest.raises(egress.EgressNarrowedError, match=egress.REFUSED):
        tenant.check("public.example.com", 443, resolver)  # public, but not in the list
    with pytest.raises(egress.EgressNarrowedError):
        tenant.check("other.example.com", 443, resolver)  # outside both
    for host in ("10.0.0.1", "nowhere.example.com"):  # in the list, refused by the platform
        with pytest.raises(EgressRefusedError, match=egress.REFUSED) as caught:
            tenant.check(host, 443, resolver)
        assert type(caught.value) is EgressRefusedError
    with pytest.raises(EgressRefusedError) as caught:
        platform.check("10.0.0.1", 443)  # no tenant list
    assert type(caught.value) is EgressRefusedError
    assert tenant.check("api.example.com", 443, resolver) == ["93.184.216.34"]


def test_settings_parse_the_allow_setting_and_embedded_mode_adds_loopback(
    tmp_path: Any,
) -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    embedded = Settings(database_url=None, data_dir=tmp_path)
    assert embedded.egress_policy().check("127.0.0.1", 80)
    served = Settings(database_url="postgresql://x@127.0.0.1/db", data_dir=tmp_path)
    with pytest.raises(EgressRefusedError):
        served.egress_policy().check("127.0.0.1", 80)
    allowed = Settings(database_url="postgresql://x@127.0.0.1/db", data_dir=tmp_path,
                       egress_allow="192.168.7.0/24")  # fmt: skip
    assert allowed.egress_policy().check("192.168.7.7", 80)
    with pytest.raises(ValidationError):
        Settings(egress_allow="not a host!")


def test_the_embedded_mode_says_in_the_startup_log_that_loopback_is_allowed(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from api.background import configure_egress
    from api.settings import Settings

    before = egress.default_policy()
    try:
        with caplog.at_level("INFO", logger="api.background"):
            policy = configure_egress(Settings(database_url=None, data_dir=tmp_path))
        assert egress.default_policy() is policy
        assert policy.check("127.0.0.1", 80) == ["127.0.0.1"]
        assert any("embedded mode" in r.message and "loopback" in r.message
                   and r.levelname == "WARNING" for r in caplog.records)  # fmt: skip
    finally:
        egress.configure(before)


# ------------------------------------------------------------------ through a real connection


class _Named(ThreadingHTTPServer):
    daemon_threads = True
    name = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Named

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        data = json.dumps({"server": self.server.name, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET  # noqa: N815


@pytest.fixture
def two_servers() -> Iterator[int]:
    """Servers named "checked" on 127.0.0.1 and "rebound" on 127.0.0.2, on one port."""
    first = _Named(("127.0.0.1", 0), _Handler)
    first.name = "checked"
    port = first.server_address[1]
    second = _Named(("127.0.0.2", port), _Handler)
    second.name = "rebound"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (first, second)]
    for t in threads:
        t.start()
    yield port
    for s in (first, second):
        s.shutdown()
        s.server_close()


def test_dns_rebinding_connects_to_the_address_that_was_checked(two_servers: int) -> None:
    answers: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        # first answer allowed (127.0.0.1), every later one not (127.0.0.2)
        answers.append("127.0.0.1" if not answers else "127.0.0.2")
        return [answers[-1]]

    policy = EgressPolicy.from_setting("127.0.0.1/32")
    with EgressClient(policy, resolver=rebinding) as client:
        r = client.get(f"http://rebind.example:{two_servers}/")
    assert r.json() == {"server": "checked", "host": f"rebind.example:{two_servers}"}
    assert answers == ["127.0.0.1"]  # resolved once: the check and the connect share it
    # a new connection resolves again, gets the rebound answer, and is refused
    import httpx

    again = EgressClient(policy, resolver=rebinding)
    with again, pytest.raises(httpx.ConnectError) as e:
        again.get(f"http://rebind.example:{two_servers}/")
    assert str(e.value) == egress.REFUSED
    assert answers == ["127.0.0.1", "127.0.0.2"]


def test_tls_keeps_the_name_for_sni_and_the_certificate_check(tmp_path: Any) -> None:
    import ssl
    import subprocess

    import httpx

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=tls.example",
         "-addext", "subjectAltName=DNS:tls.example"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = _Named(("127.0.0.1", 0), _Handler)
    server.name = "tls"
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(sock: Any, name: str | None, ctx: Any) -> None:
        names.append(name)

    context.sni_callback = remember
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        policy = EgressPolicy.from_setting("127.0.0.1/32")
        trust = ssl.create_default_context(cafile=str(cert))
        t = egress_clients.transport(policy, resolver=lambda *_: ["127.0.0.1"], verify=trust)
        with httpx.Client(transport=t) as client:
            r = client.get(f"https://tls.example:{port}/")
        assert r.json() == {"server": "tls", "host": f"tls.example:{port}"}
        assert names == ["tls.example"]  # the name, not the address, went out as SNI
    finally:
        server.shutdown()
        server.server_close()


async def _aget(policy: EgressPolicy, url: str, resolver: Any) -> Any:
    import httpx

    async with httpx.AsyncClient() as client:
        egress_clients.guard(client, policy)
        # guard() keeps the resolver of the policy's default; give it ours for the test
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        backend.resolver = resolver
        return (await client.get(url)).json()


def test_the_async_guard_connects_to_the_checked_address(two_servers: int) -> None:
    import asyncio

    import httpx

    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1" if len(calls) == 1 else "127.0.0.2"]

    policy = EgressPolicy.from_setting("127.0.0.1/32")
    url = f"http://rebind.example:{two_servers}/"
    assert asyncio.run(_aget(policy, url, rebinding))["server"] == "checked"
    with pytest.raises(httpx.ConnectError):
        asyncio.run(_aget(policy, url, rebinding))
    with pytest.raises(httpx.ConnectError):  # the strict default: loopback refused
        asyncio.run(_aget(STRICT, f"http://127.0.0.1:{two_servers}/", None))


def test_skills_over_http_pass_the_egress_policy(two_servers: int) -> None:
    import uuid

    from engine.steps import Failed, KindContext, StepCall, Succeeded
    from engine.steps.http import client
    from engine.steps.skills import ResolvedSkill, run_skill

    url = f"http://127.0.0.1:{two_servers}/skill"

    class Directory:
        def resolve(self, tenant_id: str, name: str, version_range: str | None) -> ResolvedSkill:
            return ResolvedSkill(name, "1.0.0", "i-1", {}, {"kind": "http", "url": url})

    call = StepCall(uuid.uuid4(), str(uuid.uuid4()), "w", "s", None, 1, "skill:echo", {}, 5.0,
                    "u", datetime.now(UTC))  # fmt: skip
    with client(STRICT) as strict:
        refused = run_skill(call, KindContext(http=strict, skills=Directory()))
    assert refused == Failed("connection", f"POST {url}: could not connect to the endpoint", True)
    with client(EgressPolicy.from_setting("127.0.0.1/32")) as allowed:
        reached = run_skill(call, KindContext(http=allowed, skills=Directory()))
    assert isinstance(reached, Succeeded)
    assert reached.output["server"] == "checked"


# ------------------------------------------------------------------------------ Retry-After


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from engine.steps.http import retry_after

    assert retry_after("3") == 3.0
    assert retry_after(" 120 ") == 120.0
    assert retry_after(None) is None
    assert retry_after("soon") is None
    assert retry_after("-1") is None
    assert retry_after("²") is None
    base = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(base.replace(second=5), usegmt=True)
    assert retry_after(later, format_datetime(base, usegmt=True)) == 5.0  # against Date
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
