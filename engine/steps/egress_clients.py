"""Guarded HTTP clients: network backends that connect only to addresses the egress policy checked.

httpx builds its connection pool without a way to pass a network backend, so the backend is set
on the transport's pool (:func:`transport`, :func:`guard`); every new connection then resolves
the host through `engine.steps.egress.EgressPolicy.check` and dials a checked address.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import httpcore
import httpx

from engine.steps.egress import REFUSED, EgressPolicy, EgressRefusedError, Resolver, default_policy
from engine.steps.errors import StepError


class EgressUnguardedError(StepError, RuntimeError):
    """A client whose connections cannot be routed through the egress check."""


class EgressBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy checked.

    httpcore hands this the URL's host name; the TLS server name and the ``Host`` header stay
    that name, while the socket goes to the checked address.
    """

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, *options: Any, **named: Any
    ) -> httpcore.NetworkStream:
        # ``options``: httpcore's timeout, local address and socket options, passed on as given
        addresses = self.policy.check(host, port, self.resolver)
        last: Exception | None = None
        for ip in addresses:
            try:
                return self._inner.connect_tcp(ip, port, *options, **named)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last

    def connect_unix_socket(self, *_: Any, **__: Any) -> httpcore.NetworkStream:
        raise EgressRefusedError(REFUSED)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncEgressBackend(httpcore.AsyncNetworkBackend):
    """The asynchronous twin of :class:`EgressBackend` (resolution runs in a thread)."""

    def __init__(self, policy: EgressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self.resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, *options: Any, **named: Any
    ) -> httpcore.AsyncNetworkStream:
        addresses = await anyio.to_thread.run_sync(self.policy.check, host, port, self.resolver)
        last: Exception | None = None
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(ip, port, *options, **named)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                last = e
        assert last is not None
        raise last

    async def connect_unix_socket(self, *_: Any, **__: Any) -> httpcore.AsyncNetworkStream:
        raise EgressRefusedError(REFUSED)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _install(pool: Any, backend: Any) -> None:
    # httpx builds its httpcore pool without a way to pass a network backend; the pool reads
    # this one attribute on every new connection (httpcore 1.x).
    if not hasattr(pool, "_network_backend"):
        raise EgressUnguardedError(
            "this httpcore has no pluggable network backend: egress unguarded"
        )
    pool._network_backend = backend


def transport(
    policy: EgressPolicy, *, resolver: Resolver | None = None, **kwargs: Any
) -> httpx.HTTPTransport:
    t = httpx.HTTPTransport(**kwargs)
    _install(t._pool, EgressBackend(policy, resolver))
    return t


def guard(client: httpx.Client | httpx.AsyncClient, policy: EgressPolicy | None = None) -> None:
    """Route every connection of an existing client through ``policy``, with no proxies.

    For clients whose owner is not ours to change (the dispatcher's): its default transport's
    pool gets the egress backend and proxy mounts from the environment are dropped.
    """
    policy = policy or default_policy()
    t = client._transport
    if isinstance(t, httpx.MockTransport):
        return  # no network behind it
    if isinstance(client, httpx.AsyncClient) and isinstance(t, httpx.AsyncHTTPTransport):
        _install(t._pool, AsyncEgressBackend(policy))
    elif isinstance(client, httpx.Client) and isinstance(t, httpx.HTTPTransport):
        _install(t._pool, EgressBackend(policy))
    else:
        raise EgressUnguardedError(f"cannot guard a client with transport {type(t).__name__}")
    client._mounts = {}
