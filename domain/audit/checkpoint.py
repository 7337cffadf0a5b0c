"""Signed checkpoints: the C2SP tlog-checkpoint body in a C2SP signed note, Ed25519.

A checkpoint's text is ``<origin>\\n<tree size>\\n<base64 root hash>\\n`` followed by extension
lines (ours: ``time <RFC 3339 UTC>``). The signed note is that text, a blank line, and one
line per signature: ``— <key name> <base64(key hash (4 bytes) || Ed25519 signature)>``, the
signature being over the text (every body line with its newline). The key hash is the first
4 bytes of ``SHA-256(<key name> || 0x0A || 0x01 || <32-byte public key>)`` (0x01: Ed25519),
as C2SP signed-note defines it, so a verifier recognises its key's lines by name and hash
and ignores the others. The key name is our key id. Pure: no database, no service code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "ed25519"
_DASH = "\u2014 "  # an em dash and a space start every signature line
_KEY_NAME = re.compile(r"^[A-Za-z0-9._/:-]{1,100}$")


class CheckpointError(ValueError):
    """A note that is not a well-formed checkpoint, or whose signature does not hold."""


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint commits to: the log (origin), its size, its root, when."""

    origin: str
    tree_size: int
    root_hash: bytes
    time: str | None = None

    def text(self) -> str:
        """The signed body (C2SP tlog-checkpoint)."""
        root = base64.b64encode(self.root_hash).decode()
        extra = f"time {self.time}\n" if self.time else ""
        return f"{self.origin}\n{self.tree_size}\n{root}\n{extra}"


def valid_key_name(name: str) -> bool:
    """A key id usable as a signed-note key name (no spaces, no '+')."""
    return bool(_KEY_NAME.match(name))


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_hash(name: str, key: Ed25519PublicKey) -> bytes:
    """C2SP signed-note key hash: 4 bytes naming (key name, Ed25519 public key)."""
    return hashlib.sha256(name.encode() + b"\n\x01" + public_raw(key)).digest()[:4]


def public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_keys(pem: str | bytes) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in a PEM text (one or several blocks)."""
    data = pem.encode() if isinstance(pem, str) else pem
    blocks = re.findall(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", data, re.S)
    keys = []
    for block in blocks:
        key = serialization.load_pem_public_key(block)
        if not isinstance(key, Ed25519PublicKey):
            raise CheckpointError("the public key is not an Ed25519 key")
        keys.append(key)
    if not keys:
        raise CheckpointError("no PEM public key found")
    return keys


@dataclass(frozen=True)
class Signer:
    """An Ed25519 private key with its key id (the note's key name)."""

    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_pem(cls, key_id: str | None, pem: str) -> Signer:
        """The key of a PEM text; without an id, ``platinum-<8 hex of its public key hash>``."""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError("the audit signing key is not an Ed25519 private key")
        if key_id is None:
            key_id = "platinum-" + hashlib.sha256(public_raw(key.public_key())).hexdigest()[:8]
        if not valid_key_name(key_id):
            raise CheckpointError(f"key id {key_id!r}: use 1-100 of A-Z a-z 0-9 . _ / : -")
        return cls(key_id, key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def sign(self, checkpoint: Checkpoint) -> str:
        """The signed note of ``checkpoint``."""
        text = checkpoint.text()
        signature = self.private_key.sign(text.encode())
        blob = base64.b64encode(key_hash(self.key_id, self.public_key) + signature).decode()
        return f"{text}\n{_DASH}{self.key_id} {blob}\n"


def new_private_pem() -> str:
    """A fresh Ed25519 private key, PKCS#8 PEM."""
    return (
        Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(note: str) -> tuple[Checkpoint, str, list[tuple[str, bytes, bytes]]]:
    """``(checkpoint, signed text, [(key name, key hash, signature)])`` of a signed note."""
    text, sep, sigs = note.partition("\n\n")
    if not sep:
        raise CheckpointError("no blank line between the checkpoint and its signatures")
    text += "\n"
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise CheckpointError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root_b64, *extra = lines
    if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise CheckpointError(f"tree size {size!r} is not a decimal number")
    try:
        root_hash = base64.b64decode(root_b64, validate=True)
    except binascii.Error:
        raise CheckpointError("the root hash is not base64") from None
    if len(root_hash) != 32:
        raise CheckpointError("the root hash is not 32 bytes")
    time = next((e[5:] for e in extra if e.startswith("time ")), None)
    found = []
    for line in sigs.split("\n"):
        if not line:
            continue
        if not line.startswith(_DASH) or line.count(" ") != 2:
            raise CheckpointError(f"malformed signature line {line[:40]!r}")
        name, blob_b64 = line[len(_DASH) :].split(" ")
        try:
            blob = base64.b64decode(blob_b64, validate=True)
        except binascii.Error:
            raise CheckpointError("a signature is not base64") from None
        if len(blob) < 5:
            raise CheckpointError("a signature is too short")
        found.append((name, blob[:4], blob[4:]))
    return Checkpoint(origin, int(size), root_hash, time), text, found


def verify(note: str, keys: list[Ed25519PublicKey]) -> tuple[Checkpoint, str]:
    """The checkpoint of ``note`` and the key name that signed it, if one of ``keys`` did.

    A signature line whose (name, key hash) matches one of the keys must verify; lines of
    unknown keys are ignored (C2SP); at least one known key must have signed."""
    checkpoint, text, signatures = parse(note)
    for name, hashed, signature in signatures:
        for key in keys:
            if key_hash(name, key) != hashed:
                continue
            try:
                key.verify(signature, text.encode())
            except InvalidSignature:
                raise CheckpointError(f"the signature of key {name} does not verify") from None
            return checkpoint, name
    raise CheckpointError("no signature by a given key (wrong public key?)")
