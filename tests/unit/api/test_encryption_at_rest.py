"""Events are always encrypted: without a configured key one is generated into the data folder
(and reported), never a clear-text store."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.utils import Environment

from api.database import ConnInfo
from api.settings import Settings
from domain.kernel.compression import SmallWindowZlibCompressor
from tests.support.doubles import CHEAP_HASHER, PASSWORD

URL = "postgresql://platinum@db.example.internal:5432/platinum"


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLATINUM_CIPHER_KEY", raising=False)


def _settings(data_dir: Path) -> Settings:
    return Settings(database_url=URL, data_dir=data_dir, cipher_key=None)


def test_database_url_without_a_key_generates_one_and_says_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="api.settings"):
        env = ConnInfo.from_url(URL).eventsourcing_env(_settings(tmp_path))
    key_file = tmp_path / "cipher.key"
    assert env["CIPHER_TOPIC"] == "eventsourcing.cryptography:AESCipher"
    assert env["CIPHER_KEY"] == key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file.resolve()) in caplog.text
    assert "PLATINUM_CIPHER_KEY is not set" in caplog.text
    # a second process with the same data folder finds the same key
    assert _settings(tmp_path).resolved_cipher_key() == env["CIPHER_KEY"]


def test_a_configured_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    key = AESCipher.create_key(32)
    settings = Settings(database_url=URL, data_dir=tmp_path, cipher_key=key)
    assert ConnInfo.from_url(URL).eventsourcing_env(settings)["CIPHER_KEY"] == key
    assert not (tmp_path / "cipher.key").exists()


def test_password_hashes_are_stored_encrypted_without_a_configured_key(tmp_path: Path) -> None:
    from domain.identity.commands import CreateTenant
    from domain.platform import Platform

    env = ConnInfo.from_url(URL).eventsourcing_env(_settings(tmp_path))
    env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
    hasher = CHEAP_HASHER
    app = Platform(env, password_hasher=hasher)
    app.create_tenant(CreateTenant(name="Clear", slug="clear-co", admin_email="ada@example.com",
                                   admin_password=PASSWORD))  # fmt: skip
    states = [n.state for n in app.recorder.select_notifications(start=1, limit=100)]
    compressor = SmallWindowZlibCompressor()
    cipher = AESCipher(Environment(env={"CIPHER_KEY": env["CIPHER_KEY"]}))
    plain = [compressor.decompress(cipher.decrypt(s)) for s in states]
    assert any(b"$argon2" in p for p in plain)  # the hash is there, once decrypted
    for state in states:
        assert b"$argon2" not in state
        with pytest.raises(Exception):  # noqa: B017 - not a compressed clear text
            compressor.decompress(state)
