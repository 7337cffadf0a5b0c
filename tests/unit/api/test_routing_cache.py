"""The 405 decision remembered per path shape (api/routing.py, ``AllowTable``) is exactly the
one a scan of every template gives, for every path, however often it is asked."""

from __future__ import annotations

import itertools
import re
from typing import Any
from unittest import mock

import pytest
from fastapi import FastAPI

from api.routing import AllowTable, allowed_methods


@pytest.fixture(scope="module")
def app() -> FastAPI:
    from api.app import create_app

    container: Any = mock.MagicMock()
    container.settings.max_body_bytes = 1024 * 1024
    container.telemetry = None
    return create_app(container)


def _paths(table: AllowTable) -> list[str]:
    """Every template with parameters filled in by ids, by literals of other templates (a
    workflow named "validate"), empty and extra segments."""
    fills = ["00000000-0000-0000-0000-00000000abcd", "validate", "runs", "x"]
    out = ["/", "", "//", "/v1", "/v1/", "/nope", "/v1/workflows/", "/v1//workflows"]
    for t in table.templates:
        params = re.findall(r"\{[^}]+\}", t.path)
        for values in itertools.product(fills, repeat=len(params)):
            path = t.path
            for value in values:
                path = re.sub(r"\{[^}]+\}", value, path, count=1)
            out += [path, path + "/", path + "/more", "/ui" + path, path.replace("/v1", "/v2")]
    return out


def test_the_remembered_decision_is_the_scanned_one(app: FastAPI) -> None:
    table = AllowTable(app.routes)
    assert table.cacheable
    paths = _paths(table)
    assert len(paths) > 500
    for _ in range(2):  # the first round fills the cache, the second reads it
        for path in paths:
            assert table.allowed(path) == allowed_methods(table.templates, table.mounts, path), path
    assert len(table._decided) < len(paths)  # shapes are shared


def test_a_typed_or_partial_parameter_turns_the_cache_off() -> None:
    for route in ("/files/{name:path}", "/v1/items/{item_id:int}", "/v1/files/{stem}.json"):
        app = FastAPI()
        app.get(route)(lambda: None)
        app.get("/v1/items/new")(lambda: None)
        table = AllowTable(app.routes)
        assert not table.cacheable, route
        assert table.allowed("/v1/items/new") == frozenset({"GET"})
        # one shape, other answers: "5" is an int, "abc" is not; "a.json" fits, "a.txt" not
        paths = ["/v1/items/5", "/v1/items/abc", "/v1/files/a.json", "/v1/files/a.txt"]
        for path in paths * 2:
            assert table.allowed(path) == allowed_methods(table.templates, table.mounts, path)


def test_the_cache_stays_bounded(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.routing

    monkeypatch.setattr(api.routing, "_CACHE_LIMIT", 8)
    table = AllowTable(app.routes)
    for depth in range(1, 40):
        table.allowed("/a" * depth)
        assert len(table._decided) <= 8
