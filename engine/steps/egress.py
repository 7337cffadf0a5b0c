"""Egress policy: which addresses outgoing HTTP may reach, judged for each address resolved.

Every outgoing call of ``http`` steps, skills over HTTP and notification webhooks goes through an
:class:`EgressPolicy`. The host is resolved once, every resolved address is checked, and the
connection is opened to a checked address (never to the name again), so a DNS answer that changes
between check and connect (DNS rebinding) cannot move the call inside the network. Blocked:
loopback, private, link-local, CGNAT, multicast, reserved, unspecified and cloud-metadata
addresses, in every spelling (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, IPv4-mapped,
-compatible, NAT64 and 6to4 IPv6). The platform's allow-list (``PLATINUM_EGRESS_ALLOW``: CIDRs and
host names) makes exceptions; a tenant's ``egress.allow`` can only narrow what is reachable.

The check runs where the socket is opened: `engine.steps.egress_clients` puts it into httpcore's
network backend. The policy is built by the composition root from settings and handed in
(:func:`configure` sets the process default that clients made without an explicit policy use);
the engine reads no settings itself.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpcore

from engine.steps.errors import StepError

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]
"""``(host, port) -> addresses`` as text; the default asks the system resolver."""

TENANT_CONFIG_KEY = "egress.allow"
"""Tenant config key: a list (or comma-separated text) of CIDRs and host names."""

LOOPBACK_ALLOW = ("127.0.0.0/8", "::1/128", "localhost")
"""What the embedded mode (and the test settings) allow on top of the configured list."""

REFUSED = "could not connect to the endpoint"
"""The one text for a refused, closed, unreachable, timed-out or blocked destination."""

_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network", unspecified
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # CGNAT (and Alibaba's metadata 100.100.100.200)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local (cloud metadata 169.254.169.254)
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, ::1 is below; IPv4-compatible (deprecated)
        "::1/128",  # loopback
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # NAT64 local use
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, benchmarking)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local (AWS metadata fd00:ec2::254)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_6TO4 = ipaddress.IPv6Network("2002::/16")


class EgressError(StepError, ValueError):
    """An allow-list entry that is neither a CIDR nor a host name."""


class EgressRefusedError(httpcore.ConnectError, StepError):
    """The destination is not allowed (raised where the connection would be opened).

    A ``ConnectError`` on purpose: callers (httpx) see it exactly as a refused connection.
    """


class EgressNarrowedError(EgressRefusedError):
    """Refused because a tenant's own ``egress.allow`` excludes the destination.

    Same text as every refusal; a caller that retries may treat it as permanent (the tenant's
    list, not the network, decides it). Raised when a refused address is outside the list.
    """


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64 well-known prefix, 6to4)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _6TO4:
        return address.sixtofour
    return None


def canonical(address: IPAddress) -> IPAddress:
    """The address to judge: an IPv4-mapped IPv6 address is its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_blocked(address: IPAddress) -> bool:
    """Loopback, private, link-local, CGNAT, multicast, reserved, unspecified or metadata."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and is_blocked(inner):
            return True
        address = address.__class__(str(address).split("%")[0])  # drop a zone id
        return address.ipv4_mapped is None and any(address in n for n in _BLOCKED_V6)
    return any(address in n for n in _BLOCKED_V4)


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells, in any form the C library would accept, else None.

    ``inet_aton`` reads ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` as 127.0.0.1,
    which is what a connect to that "name" would reach.
    """
    text = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        pass
    if not text or not all(c in "0123456789abcdefxABCDEFX." for c in text):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except OSError:
        return None


def normal_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for *_, sockaddr in infos:
        ip = str(sockaddr[0])
        if ip not in seen:
            seen.append(ip)
    return seen


@dataclass(frozen=True)
class AllowList:
    """CIDRs and host names (``name``, or ``*.name`` / ``.name`` for its subdomains)."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: str | list[Any] | tuple[Any, ...] | None) -> AllowList:
        if entries is None:
            return cls()
        if isinstance(entries, str):
            items: list[Any] = entries.split(",")
        elif isinstance(entries, list | tuple):
            items = list(entries)
        else:
            raise EgressError("an egress allow-list is a list, or text separated by commas")
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        suffixes: list[str] = []
        for item in items:
            if not isinstance(item, str):
                raise EgressError(f"egress allow entry {item!r} is not text")
            text = item.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = normal_host(text)
            wildcard = name.startswith(("*.", "."))
            bare = name.lstrip("*.")
            labels = bare.split(".")
            if (
                not bare
                or not all(
                    label
                    and len(label) <= 63
                    and label.replace("-", "").replace("_", "").isalnum()
                    and label.isascii()
                    for label in labels
                )
                or labels[-1].isdigit()  # a top-level label is never numeric
                or literal_address(bare) is not None
            ):
                raise EgressError(f"egress allow entry {text!r} is neither a CIDR nor a host name")
            if wildcard:
                suffixes.append("." + bare)
            else:
                hosts.add(bare)
        return cls(tuple(networks), frozenset(hosts), tuple(suffixes))

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts or self.suffixes)

    def matches(self, host: str, address: IPAddress) -> bool:
        name = normal_host(host)
        if name in self.hosts or any(name.endswith(s) for s in self.suffixes):
            return literal_address(name) is None
        judged = canonical(address)
        return any(judged.version == n.version and judged in n for n in self.networks)

    def describe(self) -> str:
        parts = [str(n) for n in self.networks] + sorted(self.hosts)
        return ",".join(parts + ["*" + s for s in self.suffixes]) or "(none)"


@dataclass(frozen=True)
class EgressPolicy:
    """What outgoing calls may reach: public addresses, plus ``allow``; within ``only`` if set."""

    allow: AllowList = field(default_factory=AllowList)
    only: AllowList | None = None
    """A tenant's list: when set, a destination must match it as well (it never widens)."""

    @classmethod
    def from_setting(cls, text: str | None, *, loopback: bool = False) -> EgressPolicy:
        """``PLATINUM_EGRESS_ALLOW`` (comma-separated), plus loopback when asked (embedded)."""
        entries = [e for e in (text or "").split(",") if e.strip()]
        if loopback:
            entries += LOOPBACK_ALLOW
        return cls(AllowList.parse(entries))

    def narrowed(self, entries: str | list[Any] | tuple[Any, ...] | None) -> EgressPolicy:
        """This policy within a tenant's list (``None``: unchanged). Raises EgressError."""
        if entries is None:
            return self
        return replace(self, only=AllowList.parse(entries))

    def permits(self, host: str, address: IPAddress) -> bool:
        if self.only is not None and not self.only.matches(host, address):
            return False
        return not is_blocked(address) or self.allow.matches(host, address)

    def check(self, host: str, port: int, resolver: Resolver | None = None) -> list[str]:
        """The addresses to connect to for ``host``, every one checked; else EgressRefusedError.

        A name with any blocked address is refused as a whole (an attacker's name may list a
        public and a private address and hope the private one is tried).
        """
        literal = literal_address(host)
        if literal is not None:
            addresses = [str(canonical(literal))]  # ::ffff:a.b.c.d is dialled as a.b.c.d
        else:
            try:
                addresses = list((resolver or system_resolver)(host, port))
            except OSError as e:
                log.info("egress: %s does not resolve: %s", host, e)
                raise EgressRefusedError(REFUSED) from None
        refused = [a for a in addresses if not self.permits(host, ipaddress.ip_address(a))]
        if refused or not addresses:
            tenant = f"; tenant: {self.only.describe()}" if self.only is not None else ""
            log.warning("egress refused: %s:%s resolves to %s; refused %s (allowed: %s%s)",
                        host, port, addresses, refused, self.allow.describe(), tenant)  # fmt: skip
            only = self.only
            if only is not None and any(
                not only.matches(host, ipaddress.ip_address(a)) for a in refused
            ):
                raise EgressNarrowedError(REFUSED)
            raise EgressRefusedError(REFUSED)
        return addresses


# ------------------------------------------------------------------------- process default

_default = EgressPolicy()


def configure(policy: EgressPolicy) -> None:
    """Set the policy of clients made without one (the composition root calls this at start)."""
    global _default
    _default = policy


def default_policy() -> EgressPolicy:
    """The configured policy; before :func:`configure`, public addresses only."""
    return _default
