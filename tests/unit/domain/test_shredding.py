"""The crypto-shredding primitives: tokens, key wrapping, digests (domain.kernel.shredding)."""

from __future__ import annotations

import base64
import os

import pytest

from domain.kernel import shredding as sh

MASTER = base64.b64encode(os.urandom(32)).decode()


def test_a_token_holds_the_value_sealed_and_names_its_subject() -> None:
    key = sh.new_data_key()
    token = sh.encrypt_value(key, "s1", {"note": "Zelda"})
    assert token[sh.SUBJECT_FIELD] == "s1"
    assert "Zelda" not in str(token)
    assert sh.is_token(token)
    assert sh.decrypt_value(key, token) == {"note": "Zelda"}


def test_the_same_value_seals_differently_each_time() -> None:
    key = sh.new_data_key()
    assert sh.encrypt_value(key, "s", "x") != sh.encrypt_value(key, "s", "x")


def test_another_key_cannot_open_a_token() -> None:
    token = sh.encrypt_value(sh.new_data_key(), "s", "secret")
    with pytest.raises(sh.ShreddingError):
        sh.decrypt_value(sh.new_data_key(), token)


def test_a_token_moved_to_another_subject_does_not_open() -> None:
    key = sh.new_data_key()
    token = {**sh.encrypt_value(key, "alice", "secret"), sh.SUBJECT_FIELD: "bob"}
    with pytest.raises(sh.ShreddingError):
        sh.decrypt_value(key, token)


def test_an_altered_ciphertext_does_not_open() -> None:
    key = sh.new_data_key()
    token = sh.encrypt_value(key, "s", "secret")
    raw = bytearray(base64.b64decode(token[sh.CIPHERTEXT_KEY]))
    raw[-1] ^= 1
    with pytest.raises(sh.ShreddingError):
        sh.decrypt_value(key, {**token, sh.CIPHERTEXT_KEY: base64.b64encode(raw).decode()})


def test_a_wrapped_key_unwraps_only_under_its_master_and_subject() -> None:
    kek, data_key = sh.wrapping_key(MASTER), sh.new_data_key()
    wrapped = sh.wrap(kek, data_key, "s1")
    assert data_key not in wrapped
    assert sh.unwrap(kek, wrapped, "s1") == data_key
    with pytest.raises(sh.ShreddingError):
        sh.unwrap(kek, wrapped, "s2")
    other = sh.wrapping_key(base64.b64encode(os.urandom(32)).decode())
    with pytest.raises(sh.ShreddingError):
        sh.unwrap(other, wrapped, "s1")


def test_derived_keys_are_separate_per_purpose() -> None:
    assert sh.wrapping_key(MASTER) != sh.lookup_key(MASTER)
    assert len(sh.lookup_key(MASTER)) == 32


def test_a_digest_is_stable_and_keyed() -> None:
    key = sh.lookup_key(MASTER)
    assert sh.digest(key, "a@b.c") == sh.digest(key, "a@b.c")
    assert sh.digest(key, "a@b.c") != sh.digest(b"x" * 32, "a@b.c")
    assert "a@b.c" not in sh.digest(key, "a@b.c")


def test_non_tokens_are_not_taken_for_tokens() -> None:
    assert not sh.is_token({"$pd": "s"})
    assert not sh.is_token("[erased]")
