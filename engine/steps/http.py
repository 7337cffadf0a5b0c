"""The ``http`` kind: call an endpoint through the egress policy.

Connection errors, timeouts, 5xx, 408 and 429 are retryable; a ``Retry-After`` answer (seconds or
an HTTP date) is recorded with the failure, and the scheduler waits at least that long before the
next attempt (within the step's ``max_interval_s``). Every failure to reach the endpoint (refused,
closed, unreachable, not resolving, blocked by the egress policy) is one error kind and text, so
a run cannot tell an open port from a closed or forbidden one; the details go to the server log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from uuid import UUID

import httpx

from engine.steps import Failed, KindContext, Outcome, StepCall, Succeeded, egress, egress_clients

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 200_000
RETRYABLE_STATUS = frozenset({408, 429})
"""Besides every 5xx."""
LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=64)
TENANT_POLICY_TTL_S = 5.0


class EgressClient(httpx.Client):
    """A worker's shared client (thread-safe, pooled), guarded by the platform's egress policy.

    A tenant that narrows egress (``egress.allow``) gets a client of its own with the narrowed
    policy, so its connections are checked, and pooled, under its own list.
    """

    def __init__(
        self,
        policy: egress.EgressPolicy,
        resolver: egress.Resolver | None = None,
        *,
        wrap: Callable[[Any], Any] | None = None,
    ) -> None:
        transport: Any = egress_clients.transport(policy, resolver=resolver, limits=LIMITS)
        if wrap is not None:  # tracing: the instrumentation wraps the guarded transport
            transport = wrap(transport)
        super().__init__(transport=transport, follow_redirects=False, trust_env=False)
        self.policy = policy
        self.resolver = resolver
        self.wrap = wrap
        self._narrowed: dict[egress.AllowList, EgressClient] = {}
        self._lock = threading.Lock()

    def narrowed(self, only: egress.AllowList) -> EgressClient:
        with self._lock:
            found = self._narrowed.get(only)
            if found is None:
                found = EgressClient(egress.EgressPolicy(self.policy.allow, only), self.resolver,
                                     wrap=self.wrap)  # fmt: skip
                self._narrowed[only] = found
            return found

    def close(self) -> None:
        with self._lock:
            narrowed, self._narrowed = list(self._narrowed.values()), {}
        for c in narrowed:
            c.close()
        super().close()


def client(
    policy: egress.EgressPolicy | None = None, *, wrap: Callable[[Any], Any] | None = None
) -> EgressClient:
    """A shared client for a worker; ``policy`` defaults to the process's configured one;
    ``wrap`` (tracing on) wraps its transport in the HTTP client instrumentation."""
    return EgressClient(policy or egress.default_policy(), wrap=wrap)


def http(call: StepCall, ctx: KindContext) -> Outcome:
    """``method``, ``url``, ``headers``, ``json`` or ``body``, ``expect_status``."""
    given = call.input if isinstance(call.input, dict) else {}
    url = given.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        return Failed("invalid_input", f"http: url must be an http(s) URL, not {url!r}", False)
    headers = {str(k): str(v) for k, v in (given.get("headers") or {}).items()}
    headers.setdefault("Idempotency-Key", call.idempotency_key)
    kwargs: dict[str, Any] = {"headers": headers}
    if "json" in given:
        kwargs["json"] = given["json"]
    elif "body" in given:
        body = given["body"]
        kwargs["content"] = body if isinstance(body, str) else json.dumps(body)
    return request(ctx, str(given.get("method") or "GET").upper(), url, call,
                   expect=given.get("expect_status"), **kwargs)  # fmt: skip


def request(
    ctx: KindContext | httpx.Client | None,
    method: str,
    url: str,
    call: StepCall,
    *,
    expect: Any,
    **kw: Any,
) -> Outcome:
    """Send, then map the result to an outcome (shared with HTTP skills)."""
    timeout = call.timeout_s or DEFAULT_TIMEOUT_S
    try:
        c, own = _client_for(ctx, call.tenant_id)
    except egress.EgressError as e:
        return Failed("invalid_config", f"tenant config {egress.TENANT_CONFIG_KEY}: {e}", False)
    try:
        response = c.request(method, url, timeout=timeout, **kw)
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as e:
        log.info("%s %s (%s): %r", method, url, call.idempotency_key, e)
        return Failed("timeout", f"{method} {url}: no answer within {timeout:g}s", True)
    except (httpx.TransportError, httpx.InvalidURL) as e:
        # refused, closed, unreachable, connect timeout, blocked: one text, details in the log
        log.info("%s %s (%s): %r", method, url, call.idempotency_key, e)
        return Failed("connection", f"{method} {url}: {egress.REFUSED}", True)
    finally:
        if own is not None:
            own.close()
    output = {"status": response.status_code, "headers": dict(response.headers),
              "body": _body(response)}  # fmt: skip
    wanted = _expected(expect)
    ok = response.status_code in wanted if wanted else response.status_code < 400
    if ok:
        return Succeeded(output)
    status = response.status_code
    retryable = status >= 500 or status in RETRYABLE_STATUS
    wait = retry_after(response.headers.get("Retry-After"), response.headers.get("Date"))
    text = str(output["body"])[:500]
    return Failed("http_status", f"{method} {url}: status {status}: {text}", retryable,
                  retry_after_s=wait if retryable else None)  # fmt: skip


def retry_after(value: str | None, date: str | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds, or an HTTP date (against the answer's
    ``Date`` when it has one, so the two clocks need not agree); None when absent or unreadable.
    """
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    now = datetime.now(UTC)
    if date:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            now = parsedate_to_datetime(date)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# ------------------------------------------------------------------------ tenant narrowing

_tenant_lists: dict[str, tuple[float, Any]] = {}
_tenant_lock = threading.Lock()


def _client_for(
    ctx: KindContext | httpx.Client | None, tenant_id: str
) -> tuple[httpx.Client, httpx.Client | None]:
    """The client to use for a tenant (its narrowed one when it has ``egress.allow``), and
    the client to close afterwards (None for the worker's shared one)."""
    if isinstance(ctx, httpx.Client):
        return ctx, None
    base = ctx.http if ctx is not None else None
    own = None
    if base is None:
        base = own = client()
    if not isinstance(base, EgressClient):
        return base, own
    entries = _tenant_allow(ctx.platform if ctx is not None else None, tenant_id)
    if entries is None:
        return base, own
    try:
        only = egress.AllowList.parse(entries)
    except egress.EgressError:
        if own is not None:
            own.close()
        raise
    return base.narrowed(only), own  # a narrowed client is closed with its base


def _tenant_allow(platform: Any, tenant_id: str) -> Any:
    """The tenant's ``egress.allow`` (cached for a few seconds), or None."""
    if platform is None:
        return None
    now = time.monotonic()
    with _tenant_lock:
        hit = _tenant_lists.get(tenant_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    tenant = platform.get_tenant(UUID(tenant_id))
    value = tenant.config.get(egress.TENANT_CONFIG_KEY)
    with _tenant_lock:
        _tenant_lists[tenant_id] = (now + TENANT_POLICY_TTL_S, value)
    return value


def _expected(expect: Any) -> set[int]:
    if expect is None:
        return set()
    values = expect if isinstance(expect, list) else [expect]
    return {int(v) for v in values}


def _body(response: httpx.Response) -> Any:
    content = response.content[:MAX_BODY_BYTES]
    if "json" in response.headers.get("content-type", ""):
        try:
            return json.loads(content)
        except ValueError:
            pass
    return content.decode(response.encoding or "utf-8", errors="replace")
