"""Signed checkpoints: C2SP note format, Ed25519 signatures, key hashes, and what breaks them."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from domain.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    Signer,
    key_hash,
    load_public_keys,
    new_private_pem,
    parse,
    public_pem,
    public_raw,
    verify,
)

ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture
def signer() -> Signer:
    return Signer.from_pem("test-key-1", new_private_pem())


def test_note_is_the_checkpoint_text_a_blank_line_and_an_em_dash_signature_line(
    signer: Signer,
) -> None:
    note = signer.sign(Checkpoint("example.org/audit/t1", 5, ROOT, "2026-11-30T20:00:00Z"))
    body, _, sig = note.partition("\n\n")
    assert body.split("\n") == [
        "example.org/audit/t1", "5", base64.b64encode(ROOT).decode(), "time 2026-11-30T20:00:00Z",
    ]  # fmt: skip
    assert sig.startswith("\u2014 test-key-1 ")
    assert sig.endswith("\n")
    blob = base64.b64decode(sig.split(" ")[2])
    # key hash = SHA-256(name || 0x0A || 0x01 || raw key)[:4], then the 64-byte signature
    raw = public_raw(signer.public_key)
    assert blob[:4] == hashlib.sha256(b"test-key-1\n\x01" + raw).digest()[:4]
    assert len(blob) == 68


def test_verify_returns_the_checkpoint_with_the_right_key(signer: Signer) -> None:
    note = signer.sign(Checkpoint("o", 3, ROOT))
    cp, name = verify(note, load_public_keys(public_pem(signer.public_key)))
    assert (cp.origin, cp.tree_size, cp.root_hash, name) == ("o", 3, ROOT, "test-key-1")


def test_another_key_or_a_changed_body_does_not_verify(signer: Signer) -> None:
    note = signer.sign(Checkpoint("o", 3, ROOT))
    other = Signer.from_pem("test-key-1", new_private_pem())
    with pytest.raises(CheckpointError, match="no signature by a given key"):
        verify(note, [other.public_key])
    with pytest.raises(CheckpointError, match="does not verify"):
        verify(note.replace("\n3\n", "\n4\n"), [signer.public_key])


def test_signatures_of_unknown_keys_are_ignored(signer: Signer) -> None:
    other = Signer.from_pem("other", new_private_pem())
    cp = Checkpoint("o", 1, ROOT)
    both = signer.sign(cp) + other.sign(cp).partition("\n\n")[2]
    assert verify(both, [other.public_key])[1] == "other"


@pytest.mark.parametrize(
    "note",
    ["o\n1\n", "o\nx\nAAAA\n\n", "o\n01\nAAAA\n\n", "o\n1\n!!\n\n", "o\n1\nAAAA\n\n"],
)
def test_malformed_notes_are_refused(note: str) -> None:
    with pytest.raises(CheckpointError):
        parse(note)


def test_key_ids_are_note_key_names_and_derived_when_unset() -> None:
    pem = new_private_pem()
    derived = Signer.from_pem(None, pem)
    assert derived.key_id.startswith("platinum-")
    assert len(derived.key_id) == 17
    with pytest.raises(CheckpointError):
        Signer.from_pem("has space", pem)
    assert key_hash("a", derived.public_key) != key_hash("b", derived.public_key)


def test_the_verifier_exits_1_on_a_usage_error_and_a_missing_file(tmp_path: Any) -> None:
    from api.cli.verify import main

    assert main([]) == 1
    assert main([str(tmp_path / "none.ndjson"), "--key", str(tmp_path / "none.pem")]) == 1


def test_a_kept_checkpoint_is_read_from_a_note_or_the_json_that_holds_it(signer: Signer) -> None:
    import json

    from domain.audit.offline import VerifyError, read_kept

    note = signer.sign(Checkpoint("o", 2, ROOT))
    assert read_kept(note) == note
    assert read_kept(json.dumps({"data": {"note": note}})) == note
    assert read_kept(json.dumps({"checkpoints": [{"note": note}]}, indent=2)) == note
    with pytest.raises(VerifyError):
        read_kept("{}")
