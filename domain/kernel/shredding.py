"""Crypto-shredding primitives: per-subject data keys, field tokens, key wrapping, digests.

Pure functions over bytes (AES-256-GCM and HMAC-SHA-256 from ``cryptography`` and the standard
library); no storage. A personal value in an event is replaced by a *token*
``{"$pd": "<subject id>", "ct": "<base64 nonce||ciphertext||tag>"}`` encrypted under the
subject's data key with the subject id as associated data, so a token cannot be moved to
another subject. A data key is stored only *wrapped* (encrypted) under a key derived from the
master key (envelope encryption); destroying the wrapped key makes every token of the subject
unreadable for good, while the token bytes themselves never change (docs/erasure.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SUBJECT_FIELD = "$pd"
CIPHERTEXT_KEY = "ct"
ERASED = "[erased]"
"""What a token of an erased subject reads as, everywhere plaintext would be shown."""

_NONCE = 12
_WRAP_INFO = b"platinum subject key wrapping v1"
_LOOKUP_INFO = b"platinum personal data lookup v1"


class ShreddingError(Exception):
    """A token or wrapped key that does not decrypt under the key given (tampered or wrong)."""


def derive_key(master_key_b64: str, purpose: bytes) -> bytes:
    """A 256-bit key for one purpose, derived from the base64 master (cipher) key."""
    return hmac.new(base64.b64decode(master_key_b64), purpose, hashlib.sha256).digest()


def wrapping_key(master_key_b64: str) -> bytes:
    """The key-encryption key that wraps every subject's data key."""
    return derive_key(master_key_b64, _WRAP_INFO)


def lookup_key(master_key_b64: str) -> bytes:
    """The HMAC key of the lookup digests (email index), never used to encrypt."""
    return derive_key(master_key_b64, _LOOKUP_INFO)


def new_data_key() -> bytes:
    """A fresh random AES-256 data key for one subject."""
    return AESGCM.generate_key(bit_length=256)


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except (InvalidTag, ValueError):
        raise ShreddingError("authentication failed: wrong key or altered bytes") from None


def wrap(kek: bytes, data_key: bytes, subject_id: str) -> bytes:
    """The data key encrypted under the key-encryption key, bound to its subject."""
    return _seal(kek, data_key, subject_id.encode())


def unwrap(kek: bytes, wrapped: bytes, subject_id: str) -> bytes:
    return _open(kek, wrapped, subject_id.encode())


def is_token(value: Any) -> bool:
    return isinstance(value, dict) and SUBJECT_FIELD in value and CIPHERTEXT_KEY in value


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def encrypt_value(
    data_key: bytes, subject_id: str, value: Any, encode: Callable[[Any], bytes] = _json
) -> dict[str, str]:
    """The token of a JSON value (text, number, object...) of ``subject_id``; ``encode``: how
    the value becomes bytes (run data uses the event store's transcoder, so datetimes and
    UUIDs come back as themselves)."""
    plaintext = encode(value)
    sealed = _seal(data_key, plaintext, subject_id.encode())
    return {SUBJECT_FIELD: subject_id, CIPHERTEXT_KEY: base64.b64encode(sealed).decode()}


def decrypt_value(
    data_key: bytes, token: dict[str, Any], decode: Callable[[bytes], Any] = json.loads
) -> Any:
    """The value a token holds; ``ShreddingError`` if it was not sealed under this key.
    ``decode`` may be the transcoder's: it reads plain JSON too."""
    sealed = base64.b64decode(token[CIPHERTEXT_KEY])
    return decode(_open(data_key, sealed, str(token[SUBJECT_FIELD]).encode()))


def digest(key: bytes, value: str) -> str:
    """A keyed digest (HMAC-SHA-256, hex): stable for lookups, reveals nothing without the key."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
