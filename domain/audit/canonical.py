"""The one canonical form of an audit row: rendered from an export line, byte for byte.

An export line (``projections.audit.export``) is a CloudEvent that PostgreSQL renders from
the stored row. Two texts derive from it here, without a database:

* ``render_line(event)``: the line as the export writes it, so a line that is not exactly
  that (a flipped byte in a key, a quote, a space) is named with its byte offset and field;
* ``row_canonical(event)``: the row's canonical JSON, which is PostgreSQL's ``jsonb`` text of
  ``platinum_audit_canonical(row)`` (keys ordered by length then bytes, ``", "`` and ``": "``
  separators, numbers as ``numeric`` prints them). Its SHA-256 is the row's chain hash
  (``platinumhash``) and it is the row's Merkle leaf: ``leaf = SHA-256(0x00 || canonical)``.
  ``row_leaf`` is the one function that says what a leaf is.
"""

from __future__ import annotations

import ipaddress
import json
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid5

from domain.audit.merkle import leaf_hash

CHECKPOINT_TYPE = "com.platinum.audit.Checkpoint"
CHECKPOINT_NAMESPACE = UUID("6f1d3c2e-8a4b-5e7f-9c0d-1b2a3e4f5a6b")
_SOURCE, _TYPE = "/platinum/", "com.platinum."

# (attribute, kind, required) in the export's order; kind: s string, i integer, j JSON value
LINE_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("specversion", "s", True), ("id", "s", True), ("source", "s", True),
    ("type", "s", True), ("subject", "s", True), ("time", "s", True),
    ("datacontenttype", "s", True), ("tenantid", "s", False), ("aggregateid", "s", True),
    ("aggregateversion", "i", True), ("platinumseq", "i", True),
    ("platinumprevhash", "s", True), ("platinumhash", "s", True),
    ("platinumposition", "i", True), ("resourcetype", "s", True), ("resourceid", "s", False),
    ("actorid", "s", False), ("actorkind", "s", False), ("actorip", "s", False),
    ("useragent", "s", False), ("requestid", "s", False), ("data", "j", True),
)  # fmt: skip


class LineError(ValueError):
    """A line that is not an export line; ``offset`` (bytes) and ``field`` say where."""

    def __init__(self, message: str, offset: int | None = None, field: str | None = None):
        super().__init__(message)
        self.offset, self.field = offset, field


def loads(text: str) -> Any:
    """JSON as jsonb reads it: decimals kept as written (``1.50`` stays ``1.50``)."""
    return json.loads(text, parse_float=Decimal)


def _string(value: str) -> str:
    # Python's escaping with ensure_ascii=False is PostgreSQL's escape_json: \" \\ \b \f \n
    # \r \t and \u00xx (lowercase) for the other control characters; the rest as is
    return json.dumps(value, ensure_ascii=False)


def render_jsonb(value: Any) -> str:
    """``value`` as PostgreSQL prints a ``jsonb`` (``jsonb::text``)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal | float):
        text = format(Decimal(value), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(render_jsonb(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{_string(k)}: {render_jsonb(value[k])}" for k in keys) + "}"
    raise LineError(f"not a JSON value: {type(value).__name__}")


def render_line(event: dict[str, Any]) -> tuple[str, list[tuple[str, int, int]]]:
    """The export line of ``event`` and each attribute's (name, start, end) in it."""
    unknown = set(event) - {name for name, _, _ in LINE_FIELDS}
    if unknown:
        raise LineError("unknown attribute", field=sorted(unknown)[0])
    parts, spans, at = [], [], 1
    for name, kind, required in LINE_FIELDS:
        if name not in event:
            if required:
                raise LineError("a required attribute is missing", field=name)
            continue
        value = event[name]
        if kind == "s" and not isinstance(value, str):
            raise LineError("must be a string", field=name)
        if kind == "i" and (not isinstance(value, int) or isinstance(value, bool)):
            raise LineError("must be an integer", field=name)
        part = f"{_string(name)}:{render_jsonb(value)}"
        spans.append((name, at, at + len(part.encode())))
        at += len(part.encode()) + 1
        parts.append(part)
    return "{" + ",".join(parts) + "}", spans


def _strip(value: str, prefix: str, field: str) -> str:
    if not value.startswith(prefix):
        raise LineError(f"does not start with {prefix!r}", field=field)
    return value[len(prefix) :]


def _inet_text(ip: str | None) -> str | None:
    """``inet::text`` of a host address as the projection stores it (full mask)."""
    if ip is None:
        return None
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise LineError("not an IP address", field="actorip") from None
    return f"{ip}/{address.max_prefixlen}"


def _check_derived(event: dict[str, Any]) -> None:
    """The attributes the row's canonical JSON does not hold must be what the export says."""
    subject = f"{event['resourcetype']}/{event.get('resourceid') or ''}"
    for name, expected in (("specversion", "1.0"), ("datacontenttype", "application/json"),
                           ("subject", subject)):  # fmt: skip
        if event[name] != expected:
            raise LineError(f"must be {expected!r}", field=name)


def row_canonical(event: dict[str, Any]) -> bytes:
    """The row's canonical JSON (UTF-8), rebuilt from its export line."""
    _check_derived(event)
    row = {
        "id": event["id"],
        "tenant_id": event.get("tenantid"),
        "source": _strip(event["source"], _SOURCE, "source"),
        "seq": event["platinumseq"],
        "prev_hash": event["platinumprevhash"],
        "notification_id": event["platinumposition"],
        "originator_id": event["aggregateid"],
        "originator_version": event["aggregateversion"],
        "action": _strip(event["type"], _TYPE, "type"),
        "resource_type": event["resourcetype"],
        "resource_id": event.get("resourceid"),
        "user_id": event.get("actorid"),
        "actor_kind": event.get("actorkind"),
        "ip_address": _inet_text(event.get("actorip")),
        "user_agent": event.get("useragent"),
        "request_id": event.get("requestid"),
        "timestamp": event["time"],
        "details": event["data"],
    }
    return render_jsonb(row).encode()


def row_leaf(canonical: bytes) -> bytes:
    """The row's Merkle leaf hash: ``SHA-256(0x00 || canonical JSON)`` (RFC 9162).

    The database computes the same in ``platinum_audit_leaf(row)`` (migration
    ``readmodel_0007``); keep the two the one definition of a leaf."""
    return leaf_hash(canonical)


def checkpoint_line(
    tenant_id: str, tree_size: int, root_hex: str, key_id: str, note: str, time: str | None
) -> str:
    """The export's last line (no newline): a checkpoint as a CloudEvent. Every attribute
    derives from the signed note and the tenant, so the verifier renders it again to compare."""
    event = {
        "specversion": "1.0",
        "id": str(uuid5(CHECKPOINT_NAMESPACE, f"{tenant_id}:{tree_size}")),
        "source": "/platinum/audit",
        "type": CHECKPOINT_TYPE,
        "subject": f"checkpoint/{tree_size}",
        **({"time": time} if time else {}),
        "datacontenttype": "application/json",
        "tenantid": tenant_id,
        "data": {"tree_size": tree_size, "root_hash": root_hex, "key_id": key_id, "note": note},
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
