"""The offline verification of an audit export: lines, chains, leaves, roots, signatures.

Needs the export, the log's public key(s) and, optionally, checkpoints kept from earlier;
no database, no service code (``platinum-verify`` runs on a laptop). The first problem is
raised as ``VerifyError`` naming the export's 1-based line (and, when a line's bytes are not
what the export writes, the byte offset and the attribute).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from domain.audit import checkpoint as notes
from domain.audit import merkle
from domain.audit.canonical import (
    CHECKPOINT_TYPE,
    LineError,
    checkpoint_line,
    loads,
    render_line,
    row_canonical,
    row_leaf,
)


class VerifyError(Exception):
    """The first problem found; ``str()`` is the message for stderr."""

    def __init__(
        self, message: str, line: int | None = None, offset: int | None = None,
        field: str | None = None,
    ) -> None:  # fmt: skip
        where = [] if line is None else [f"line {line}"]
        if offset is not None:
            where.append(f"byte offset {offset}")
        if field is not None:
            where.append(f"field {field}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.line, self.offset, self.field = line, offset, field


@dataclass
class Verified:
    rows: int
    tree_size: int
    root_hash: str
    key: str
    kept: list[int] = field(default_factory=list)


def _parse(raw: bytes, n: int) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifyError("not UTF-8", n, e.start) from None
    try:
        return text, loads(text)
    except json.JSONDecodeError as e:
        raise VerifyError(f"not JSON ({e.msg})", n, len(text[: e.pos].encode())) from None


def _at(raw: bytes, field: str | None) -> int | None:
    """The byte offset of attribute ``field`` in the line (None: not found)."""
    if field is None:
        return None
    found = raw.find(json.dumps(field).encode() + b":")
    return None if found < 0 else found


def _check_line(raw: bytes, n: int) -> dict[str, Any]:
    """The line's event, if its bytes are exactly what the export writes for it."""
    text, event = _parse(raw, n)
    if not isinstance(event, dict):
        raise VerifyError("not a JSON object", n, 0)
    try:
        expected, spans = render_line(event)
    except LineError as e:
        raise VerifyError(str(e), n, _at(raw, e.field), e.field) from None
    if expected != text:
        exp, got = expected.encode(), raw
        at = next((i for i, (a, b) in enumerate(zip(exp, got, strict=False)) if a != b),
                  min(len(exp), len(got)))  # fmt: skip
        name = next((s for s, start, end in spans if start <= at < end), None)
        raise VerifyError("the line is not in the export's canonical form", n, at, name)
    return event


class _Chains:
    """Each source's chain, followed line by line."""

    def __init__(self) -> None:
        self.heads: dict[str, tuple[int, str]] = {}
        self.tenant: str | None = None

    def follow(self, event: dict[str, Any], n: int, raw: bytes) -> bytes:
        """Check the line's place in its chain; returns its canonical bytes."""
        try:
            canonical = row_canonical(event)
        except LineError as e:
            raise VerifyError(str(e), n, _at(raw, e.field), e.field) from None

        def fail(message: str, field: str) -> VerifyError:
            return VerifyError(message, n, _at(raw, field), field)

        if self.tenant is None:
            self.tenant = event.get("tenantid")
        if event.get("tenantid") != self.tenant:
            raise fail("another tenant's row", "tenantid")
        source, seq = event["source"], event["platinumseq"]
        last_seq, last_hash = self.heads.get(source, (0, "0" * 64))
        if seq <= last_seq:
            raise fail(f"rows were reordered: seq {seq} after {last_seq}", "platinumseq")
        if seq != last_seq + 1:
            raise fail(f"rows were removed: seq {seq} follows {last_seq}", "platinumseq")
        if event["platinumprevhash"] != last_hash:
            raise fail("not the previous row's platinumhash", "platinumprevhash")
        if hashlib.sha256(canonical).hexdigest() != event["platinumhash"]:
            raise fail("the line's content does not hash to its platinumhash (a value was"
                       " changed)", "platinumhash")  # fmt: skip
        self.heads[source] = (seq, event["platinumhash"])
        return canonical


def _checkpoint_of(
    raw: bytes, n: int, keys: list[Ed25519PublicKey], tenant: str | None
) -> tuple[Any, str]:
    text, event = _parse(raw, n)
    if not isinstance(event, dict) or event.get("type") != CHECKPOINT_TYPE:
        raise VerifyError(f"the export's last line must be a {CHECKPOINT_TYPE} event", n)
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("note"), str):
        raise VerifyError("no signed note", n, None, "data.note")
    try:
        cp, key = notes.verify(data["note"], keys)
    except notes.CheckpointError as e:
        raise VerifyError(str(e), n, None, "data.note") from None
    tenant = tenant or str(event.get("tenantid"))
    expected = checkpoint_line(tenant, cp.tree_size, cp.root_hash.hex(), key, data["note"],
                               cp.time)  # fmt: skip
    if expected != text:
        exp = expected.encode()
        at = next((i for i, (a, b) in enumerate(zip(exp, raw, strict=False)) if a != b),
                  min(len(exp), len(raw)))  # fmt: skip
        raise VerifyError("the checkpoint line is not what its signed note says", n, at)
    return cp, key


def read_kept(text: str) -> str:
    """A kept checkpoint: a signed note, or JSON holding one: an export's last line, a
    checkpoint of ``GET /v1/audit/checkpoints`` (``note``) or that whole answer (its first)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError:  # an export's last lines: the checkpoint is the last one
        obj = json.loads(stripped.splitlines()[-1])
    if isinstance(obj, dict) and isinstance(obj.get("checkpoints"), list) and obj["checkpoints"]:
        obj = obj["checkpoints"][0]
    inner = obj.get("data", obj) if isinstance(obj, dict) else {}
    note = inner.get("note") if isinstance(inner, dict) else None
    if not isinstance(note, str):
        raise VerifyError("a kept checkpoint file holds no signed note")
    return note


def verify_export(data: bytes, keys: list[Ed25519PublicKey], kept: Sequence[str] = ()) -> Verified:
    """Verify an export (its bytes) against ``keys`` and the ``kept`` signed notes."""
    if not data.endswith(b"\n"):
        raise VerifyError("the export does not end with a newline: it was cut short")
    lines = data[:-1].split(b"\n")
    chains, leaves = _Chains(), []
    for n, raw in enumerate(lines[:-1], start=1):
        leaves.append(row_leaf(chains.follow(_check_line(raw, n), n, raw)))
    last = len(lines)
    tenant = chains.tenant
    cp, key = _checkpoint_of(lines[-1], last, keys, tenant)
    if tenant is not None and not cp.origin.endswith("/" + tenant):
        raise VerifyError(f"the checkpoint is of another log ({cp.origin})", last)
    if cp.tree_size > len(leaves):
        raise VerifyError(f"rows were removed: the checkpoint covers {cp.tree_size} rows, the"
                          f" export has {len(leaves)}", last)  # fmt: skip
    if cp.tree_size < len(leaves):
        raise VerifyError(f"rows after the checkpoint's {cp.tree_size}", cp.tree_size + 1)
    if merkle.root(leaves) != cp.root_hash:
        raise VerifyError("the rows do not hash to the signed root: rows were changed,"
                          " inserted or reordered and their chain recomputed", last)  # fmt: skip
    sizes = []
    for i, note in enumerate(kept, start=1):
        sizes.append(_check_kept(note, i, keys, cp, leaves))
    return Verified(len(leaves), cp.tree_size, cp.root_hash.hex(), key, sizes)


def _check_kept(
    note: str, i: int, keys: list[Ed25519PublicKey], newest: Any, leaves: list[bytes]
) -> int:
    """A kept checkpoint must be signed, of this log, and a prefix of the export's tree."""
    try:
        old, _ = notes.verify(note, keys)
    except notes.CheckpointError as e:
        raise VerifyError(f"kept checkpoint {i}: {e}") from None
    if old.origin != newest.origin:
        raise VerifyError(f"kept checkpoint {i} is of another log ({old.origin})")
    if old.tree_size > len(leaves):
        raise VerifyError(
            f"rows were removed: kept checkpoint {i} covers {old.tree_size} rows, the export"
            f" has only {len(leaves)} (the rows after line {len(leaves)} are missing)",
            len(leaves) + 1,
        )
    if old.tree_size == 0:
        return 0
    proof = merkle.consistency_proof(old.tree_size, leaves)
    if not merkle.verify_consistency(
        old.tree_size, len(leaves), proof, old.root_hash, newest.root_hash
    ):
        raise VerifyError(
            f"kept checkpoint {i} (size {old.tree_size}) is not a prefix of the export: rows"
            f" among lines 1..{old.tree_size} were changed, removed or reordered"
        )
    return int(old.tree_size)
