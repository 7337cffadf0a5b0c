"""api/errors.py: one handler per root error class, each answering problem+json."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install_error_handlers
from domain.kernel import errors as err
from engine.errors import EngineError


class _PlanError(EngineError):
    """An engine error escaping to a route."""


RAISED: dict[str, Exception] = {
    "validation": err.ValidationError(
        [err.Problem("/name", "is required"), err.Problem("/steps/0", "bad")]
    ),
    "missing": err.NotFoundError("workflow", "w-1"),
    "conflict": err.ConflictError("already ended"),
    "transition": err.TransitionError("workflow", "w-1", "archived", "active"),
    "stale": err.StaleVersionError("workflow", "w-1", 3, 2),
    "denied": err.PermissionDeniedError("runs:approve", "u-1"),
    "other": err.AuthenticationError(),
    "engine": _PlanError("run r-1: the definition is gone"),
}


def _raising(exc: Exception) -> Callable[[], None]:
    def route() -> None:
        raise exc

    return route


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    for name, exc in RAISED.items():
        app.add_api_route(f"/{name}", _raising(exc))
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "kind"),
    [
        ("missing", 404, "not-found"),
        ("conflict", 409, "conflict"),
        ("transition", 409, "conflict"),
        ("stale", 412, "precondition-failed"),
        ("denied", 403, "forbidden"),
        ("other", 422, "validation"),
        ("engine", 500, "internal"),
    ],
)
def test_each_error_class_has_its_status(client: TestClient, name: str, status: int,
                                         kind: str) -> None:  # fmt: skip
    r = client.get(f"/{name}")
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"https://platinum.dev/problems/{kind}"
    assert body["instance"] == f"/{name}"
    assert "errors" not in body
    if name == "engine":  # ours, not the caller's: the engine's text stays in the log
        assert body["detail"] == "An unexpected error occurred."
    else:
        assert body["detail"] == str(RAISED[name])


def test_a_validation_error_lists_every_problem(client: TestClient) -> None:
    r = client.get("/validation")
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"pointer": "/name", "message": "is required"},
        {"pointer": "/steps/0", "message": "bad"},
    ]


def test_every_domain_error_is_answered() -> None:
    """A err.DomainError subclass the table does not name is still a problem, never a 500."""

    class NewRefusalError(err.DomainError):
        pass

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/new")
    def new() -> None:
        raise NewRefusalError("refused")

    r = TestClient(app, raise_server_exceptions=False).get("/new")
    assert (r.status_code, r.json()["detail"]) == (422, "refused")
