"""The one rule for what is secret, and the functions that apply it wherever data leaves.

A value is secret when it is

1. under a key whose name says credential (``SECRET_KEY``: password/passwd/passphrase,
   secret, token, api key, private key, credential, signing key, webhook; any case, anywhere
   in the name, at any depth of a JSON value). A webhook URL is a bearer credential;
2. the ``value`` of a ``{"key": k, "value": v}`` pair whose ``k`` is such a name (how a
   configuration entry travels in events: ``Tenant.ConfigSet``);
3. a field of a skill installation's config that the skill's ``config_schema`` marks secret
   (a property with ``"secret": true``, ``"writeOnly": true`` or ``"format": "password"``);
   installation events carry those names as ``secret_fields`` next to ``config``.

Everything that leaves (API answers, audit details, exports, history, run inputs and outputs
as stored) replaces a secret value by ``REDACTED``; ``scrub`` replaces the secret *values*
wherever they reappear as text (a skill that echoes its config, an error message).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache
from typing import Any

SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[-_.]?key|private[-_.]?key|credential"
    r"|signing[-_.]?key|webhook",
    re.IGNORECASE,
)
"""Key names whose values are credentials (a webhook URL is a bearer credential too)."""

REDACTED = "********"
"""What a secret value becomes wherever data leaves."""

SECRET_FIELDS = "secret_fields"  # noqa: S105 (a field name)
"""The event attribute naming the schema-marked secret fields of the ``config`` beside it."""

_MIN_SCRUB = 4  # shorter values are not searched for in text (too many false hits)


@lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    return SECRET_KEY.search(key) is not None


def schema_secret_fields(schema: Any) -> list[str]:
    """The top-level properties a skill's config schema marks secret, sorted."""
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    return sorted(
        str(name)
        for name, spec in props.items()
        if isinstance(spec, Mapping)
        and (
            spec.get("secret") is True
            or spec.get("writeOnly") is True
            or spec.get("format") == "password"
        )
    )


def _hidden(value: Any) -> Any:
    return value if value in (None, "") else REDACTED


def redact(value: Any, secret_fields: Collection[str] = ()) -> Any:
    """A copy of a JSON-like value with every secret (rules 1-3) replaced, at any depth.

    ``secret_fields`` are extra key names to treat as secret (rule 3) at the top level of
    ``value`` when it is a config mapping; a mapping that carries ``secret_fields`` beside a
    ``config`` applies them to that config itself.
    """
    if isinstance(value, Mapping):
        own = value.get(SECRET_FIELDS)
        marked = {str(f) for f in own} if isinstance(own, list | tuple) else set()
        pair_key = value.get("key")
        secret_pair = isinstance(pair_key, str) and is_secret_key(pair_key)
        out: dict[Any, Any] = {}
        for k, v in value.items():
            name = str(k)
            if name == SECRET_FIELDS:  # the names of the secret fields are no secret
                out[k] = v
            elif is_secret_key(name) or name in secret_fields or (secret_pair and name == "value"):
                out[k] = _hidden(v)
            elif name == "config" and marked:
                out[k] = redact(v, marked)
            else:
                out[k] = redact(v)
        return out
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def secret_values(config: Any, secret_fields: Collection[str] = ()) -> set[str]:
    """The secret strings inside a config (what ``redact`` would hide), for ``scrub``."""
    found: set[str] = set()

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, secret or is_secret_key(str(k)))
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v, secret)
        elif secret and isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= _MIN_SCRUB:
                found.add(text)

    if isinstance(config, Mapping):
        for k, v in config.items():
            walk(v, str(k) in secret_fields or is_secret_key(str(k)))
    return found


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON-like value with every occurrence of a secret string replaced."""
    ordered = sorted(set(secrets), key=len, reverse=True)
    if not ordered:
        return value
    pattern = re.compile("|".join(re.escape(s) for s in ordered))

    def walk(v: Any) -> Any:
        if isinstance(v, str):
            return pattern.sub(REDACTED, v)
        if isinstance(v, Mapping):
            return {walk(k) if isinstance(k, str) else k: walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        if isinstance(v, int | float) and not isinstance(v, bool) and str(v) in ordered:
            return REDACTED
        return v

    return walk(value)
