"""DATABASE_URL: TLS to any server that is not on this machine, unless the URL says otherwise."""

from __future__ import annotations

import pytest
from psycopg.conninfo import conninfo_to_dict

from api.database import ConnInfo


@pytest.fixture(autouse=True)
def _no_pgsslmode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGSSLMODE", raising=False)


@pytest.mark.parametrize("url", [
    "postgresql://u@db.example.internal:5432/p",
    "postgresql://u@10.1.2.3/p",
    "host=db.example.internal dbname=p user=u",
    "host=/var/run/postgresql,db.example.internal dbname=p user=u",  # one of a list is remote
])  # fmt: skip
def test_a_remote_server_requires_tls(url: str) -> None:
    info = ConnInfo.from_url(url)
    assert info.sslmode == "require"
    assert conninfo_to_dict(info.conninfo)["sslmode"] == "require"
    assert "sslmode=require" in info.sqlalchemy_url


@pytest.mark.parametrize("url", [
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@localhost/postgres",
    "postgresql://postgres@[::1]/postgres",
    "postgresql://postgres@/postgres?host=/var/run/postgresql",
])  # fmt: skip
def test_a_server_on_this_machine_keeps_libpqs_default(url: str) -> None:
    info = ConnInfo.from_url(url)
    assert info.sslmode is None
    assert "sslmode" not in conninfo_to_dict(info.conninfo)


def test_what_the_url_or_the_environment_says_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ConnInfo.from_url("postgresql://u@db.example.internal/p?sslmode=verify-full"
                             ).sslmode == "verify-full"  # fmt: skip
    assert ConnInfo.from_url("postgresql://u@db.example.internal/p?sslmode=disable"
                             ).sslmode == "disable"  # fmt: skip
    monkeypatch.setenv("PGSSLMODE", "verify-ca")
    assert ConnInfo.from_url("postgresql://u@db.example.internal/p").sslmode == "verify-ca"
    # a role's connection keeps the mode
    assert ConnInfo.from_url("postgresql://u@db.example.internal/p").as_role("r").sslmode == (
        "verify-ca")
