"""The ``http`` kind: call an endpoint; connection errors, timeouts and 5xx are retryable."""

from __future__ import annotations

import json
from typing import Any

import httpx

from engine.kinds import Failed, KindContext, Outcome, StepCall, Succeeded

DEFAULT_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 200_000


def client() -> httpx.Client:
    """A shared client for a worker (thread-safe, pooled connections)."""
    return httpx.Client(
        follow_redirects=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=64),
    )


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
    return request(ctx.http, str(given.get("method") or "GET").upper(), url, call,
                   expect=given.get("expect_status"), **kwargs)  # fmt: skip


def request(
    client: httpx.Client | None, method: str, url: str, call: StepCall, *, expect: Any, **kw: Any
) -> Outcome:
    """Send, then map the result to an outcome (shared with HTTP skills)."""
    timeout = call.timeout_s or DEFAULT_TIMEOUT_S
    own = client is None
    c = client or httpx.Client()
    try:
        response = c.request(method, url, timeout=timeout, **kw)
    except httpx.TimeoutException as e:
        return Failed("timeout", f"{method} {url}: timed out after {timeout:g}s ({e})", True)
    except httpx.HTTPError as e:
        return Failed("connection", f"{method} {url}: {type(e).__name__}: {e}", True)
    finally:
        if own:
            c.close()
    output = {"status": response.status_code, "headers": dict(response.headers),
              "body": _body(response)}  # fmt: skip
    wanted = _expected(expect)
    ok = response.status_code in wanted if wanted else response.status_code < 400
    if ok:
        return Succeeded(output)
    retryable = response.status_code >= 500 or response.status_code == 429
    text = str(output["body"])[:500]
    return Failed("http_status", f"{method} {url}: status {response.status_code}: {text}",
                  retryable)  # fmt: skip


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
