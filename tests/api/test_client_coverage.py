"""Every operation of the OpenAPI document has a call in the Python client, and
``AsyncClient`` has the same resources and methods as ``Client`` (they share one table)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from api.client import AsyncClient, Client
from api.client.calls import Call
from api.client.endpoints import Resource, calls_of

HTTP_METHODS = {"get", "put", "post", "patch", "delete"}

NOT_FOR_A_CLIENT = {
    ("GET", "/"): "the home page: it points a browser at /docs and a client at /openapi.json",
    ("GET", "/metrics"): "Prometheus' text exposition format, for a scraper, not for code",
}
"""Documented operations the client leaves out, each with its reason. Not in the document at
all, so not listed: /docs, /redoc and their assets, /openapi.json, the console under /ui."""


def _operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, item in doc["paths"].items() for m in item if m in HTTP_METHODS}


def _groups(client: Client | AsyncClient) -> dict[str, Any]:
    """The client itself (``""``) and each of its resources, by attribute name."""
    found: dict[str, Any] = {"": client}
    found.update({k: v for k, v in vars(client).items() if isinstance(v, Resource)})
    return found


def _dummy_call(build: Callable[..., Any]) -> Call[Any]:
    """The call ``build`` makes from placeholder arguments (a list builder: its first page)."""
    required = [p.name for p in inspect.signature(build).parameters.values()
                if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]  # fmt: skip
    made = build(**dict.fromkeys(required, "x"))
    return made if isinstance(made, Call) else made(None)


def _table(client: Client | AsyncClient) -> dict[tuple[str, str], list[str]]:
    """(method, route template) → the client methods that send it."""
    table: dict[tuple[str, str], list[str]] = {}
    for group, resource in _groups(client).items():
        for name, build in calls_of(type(resource)).items():
            call = _dummy_call(build)
            table.setdefault((call.method, call.route), []).append(f"{group}.{name}".lstrip("."))
    return table


@pytest.fixture(scope="module")
def operations(client) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return _operations(client.app.openapi())


@pytest.fixture(scope="module")
def table() -> dict[tuple[str, str], list[str]]:
    with Client("http://127.0.0.1:9") as c:  # never connects: only the table is read
        return _table(c)


def test_every_operation_of_the_openapi_document_has_a_client_call(operations, table) -> None:
    missing = operations - set(table) - set(NOT_FOR_A_CLIENT)
    assert not missing, f"operations without a client call: {sorted(missing)}"


def test_every_client_call_is_an_operation_of_the_document(operations, table) -> None:
    unknown = set(table) - operations
    assert not unknown, f"client calls to no documented operation: {sorted(unknown)}"


def test_what_the_client_leaves_out_is_still_documented(operations) -> None:
    assert set(NOT_FOR_A_CLIENT) <= operations  # else the exclusion is stale: drop it


async def test_the_async_client_has_the_same_resources_and_methods() -> None:
    async with AsyncClient("http://127.0.0.1:9") as aio:
        with Client("http://127.0.0.1:9") as sync:
            blocking, awaiting = _groups(sync), _groups(aio)
            assert set(blocking) == set(awaiting)
            for group in blocking:
                sync_calls = calls_of(type(blocking[group]))
                async_calls = calls_of(type(awaiting[group]))
                assert sync_calls == async_calls, group
                assert _public(blocking[group]) == _public(awaiting[group]), group
            assert _table(sync) == _table(aio)


def _public(obj: object) -> set[str]:
    skip = {"close", "token", "url", "retry", "send", "pager", "stream_lines", "stream_events"}
    names = [n for n in dir(obj) if not n.startswith("_") and n not in skip]
    return {n for n in names if callable(getattr(obj, n))}
