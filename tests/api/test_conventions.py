"""Cross-cutting conventions: problem+json everywhere, pagination cursors, ETags, metrics."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from api.errors import ProblemError
from api.etag import check_if_match
from api.pagination import decode_cursor
from projections.queries.paging import PageRequest, encode_cursor, keyset_sql, split_page
from tests.factories import create_tenant
from tests.support.http import PROBLEM


def test_unknown_paths_are_404_problems(client) -> None:
    r = client.get("/v1/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == 404


def test_wrong_methods_are_405_problems(client) -> None:
    r = client.delete("/v1/roles")
    assert r.status_code == 405
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/method-not-allowed")
    assert "allow" in r.headers


def test_malformed_json_is_a_422_problem(client) -> None:
    tenant = create_tenant(client)
    r = client.post(
        "/v1/users",
        content=b"{not json",
        headers={**tenant.admin_headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)


def test_request_id_is_echoed(client) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert r.headers["x-request-id"] == "abc123"


@pytest.mark.parametrize("given", ["x" * 129, "has space", "quote\"d", "new\tline"])
def test_a_request_id_that_is_not_an_id_is_replaced(client, given: str) -> None:
    # it would go into every event's metadata and the audit log's bounded column
    r = client.get("/healthz", headers={"X-Request-ID": given})
    assert r.headers["x-request-id"] != given
    assert len(r.headers["x-request-id"]) == 32


def test_each_request_gets_an_id_a_log_line_and_the_actor_carries_it(client, caplog) -> None:
    import logging

    with caplog.at_level(logging.INFO, logger="platinum.http"):
        r = client.get(f"/v1/users/{uuid4()}", headers={"X-Request-ID": "req-7"})
        fresh = client.get("/healthz")
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "req-7"
    assert len(fresh.headers["x-request-id"]) == 32  # made when the caller sent none
    (line,) = [rec for rec in caplog.records if getattr(rec, "request_id", None) == "req-7"]
    assert (line.method, line.status) == ("GET", 401)
    assert line.path.startswith("/v1/users/")
    # the id reaches the events' actor (request.state.request_id)
    tenant = create_tenant(client)
    made = client.post("/v1/workflows", headers={**tenant.admin_headers, "X-Request-ID": "req-8"},
                       json={"name": "wf", "definition": {"name": "wf", "steps": [
                           {"id": "a", "uses": "noop"}]}})  # fmt: skip
    assert made.status_code == 201, made.text
    history = client.get(f"/v1/history/workflow/{made.json()['id']}",
                         headers=tenant.admin_headers)  # fmt: skip
    assert history.status_code == 200, history.text
    assert history.json()["events"][0]["meta"]["request_id"] == "req-8"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every log line of the process, as the service writes them (``api.logs``)."""
    from api import logs

    out = io.StringIO()
    handler = logs._stderr()
    handler.setStream(out)  # type: ignore[attr-defined]
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_every_answer_carries_the_request_id_and_every_log_line_of_it_too(
    container, json_lines: io.StringIO
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    app = create_app(container)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("an error nobody expected")

    client = TestClient(app, raise_server_exceptions=False)
    for method, path, status in (
        ("GET", "/boom", 500),
        ("DELETE", "/v1/roles", 405),
        ("GET", "/v1/no-such-thing", 404),
        ("GET", "/healthz", 200),
    ):
        r = client.request(method, path, headers={"X-Request-ID": f"req-{status}"})
        assert r.status_code == status, r.text
        assert r.headers["x-request-id"] == f"req-{status}", (method, path)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    unhandled = [x for x in lines if x["msg"].startswith("unhandled error on GET /boom")]
    assert [x.get("request_id") for x in unhandled] == ["req-500"]  # not only the access line
    assert "an error nobody expected" in unhandled[0]["exc"]


@pytest.mark.parametrize("hostile", ["evil\x1b[31m", "a" * 129, "</script>", "id with space"])
def test_a_hostile_request_id_is_never_echoed_nor_logged(
    client, json_lines: io.StringIO, hostile: str
) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": hostile})
    assert r.status_code == 200
    made = r.headers["x-request-id"]
    assert made != hostile
    assert len(made) == 32
    text = json_lines.getvalue()
    assert hostile not in text
    assert json.dumps(hostile)[1:-1] not in text  # nor JSON-escaped
    access = [json.loads(x) for x in text.splitlines() if '"msg": "request"' in x]
    assert [x["request_id"] for x in access] == [made]


def test_cursor_round_trips_and_rejects_garbage() -> None:
    at = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    rid = uuid4()
    assert decode_cursor(encode_cursor(at, rid)) == (at, str(rid))
    for bad in ("", "!!!", encode_cursor(at, rid)[:-3], "WyJ4IiwgInkiXQ"):
        with pytest.raises(ProblemError) as err:
            decode_cursor(bad)
        assert err.value.status == 422
        assert err.value.errors == [{"pointer": "#query/cursor", "message": "invalid cursor"}]


def test_keyset_sql_adds_filters_keyset_order_and_lookahead() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    sql, args = keyset_sql(
        "SELECT * FROM t",
        PageRequest(limit=10, after=(at, "x")),
        where=["status = %s"],
        params=["active"],
        descending=True,
    )
    assert sql == (
        "SELECT * FROM t WHERE (status = %s) AND (created_at, id) < (%s, %s)"
        " ORDER BY created_at DESC, id DESC LIMIT %s"
    )
    assert args == ["active", at, "x", 11]


def test_split_page_drops_lookahead_and_makes_cursor() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"created_at": at, "id": uuid4()} for _ in range(3)]
    kept, cursor = split_page(rows, PageRequest(limit=2))
    assert len(kept) == 2
    assert cursor == encode_cursor(at, rows[1]["id"])
    assert split_page(rows[:2], PageRequest(limit=2)) == (rows[:2], None)


def test_if_match_check() -> None:
    check_if_match(None, 3)
    check_if_match(3, 3)
    with pytest.raises(ProblemError) as err:
        check_if_match(2, 3)
    assert err.value.status == 412


def test_metrics_expose_requests_runs_queue_and_lag(client) -> None:
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'platinum_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "platinum_http_request_duration_seconds_bucket" in text
    assert "platinum_database_up 1.0" in text
    assert "platinum_projection_lag_events{" in text
    assert "# TYPE platinum_runs gauge" in text
    assert "# TYPE platinum_queue_depth gauge" in text
    assert "# TYPE platinum_step_duration_seconds histogram" in text


def test_metrics_label_routes_by_template_not_raw_path(client) -> None:
    tenant = create_tenant(client)
    client.get(f"/v1/users/{uuid4()}", headers=tenant.admin_headers)
    text = client.get("/metrics").text
    assert 'route="/v1/users/{user_id}"' in text
