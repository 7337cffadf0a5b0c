"""Which event fields are sealed under a subject's key, and the mapper that stores them as tokens.

``PersonalDataMapper.to_stored_event`` replaces each sealed field (the application's
``sealing_rules``: personal data, ``RULES``, plus the actor's IP address and user agent in
``meta``; the runs add their data, ``domain.runs.run_data``) by a token encrypted under its
subject's data key (``domain.kernel.shredding``), so stored events — and every projection of
them that does not decrypt, such as the audit log — hold only ciphertext. A subject is a user
(``kind`` "user") or a run ("run", retention). An application's ``mapper`` resolves tokens back
to plaintext (``"[erased]"`` once the subject's key is destroyed); its ``raw_mapper`` leaves
them as stored. The keys come from a ``SubjectKeys`` store named by the environment's
``SUBJECT_KEYS_TOPIC`` (built by the composition root); without one, events are stored as
before (in-memory unit tests).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.kernel import shredding as sh


class SubjectKeys(Protocol):
    """The store of the subjects' data keys (adapter: ``api.subject_keys``)."""

    lookup_key: bytes

    def data_key(
        self, subject_id: str, tenant_id: str | None, *, create: bool, kind: str = "user"
    ) -> bytes | None:
        """The subject's data key (made on first use with ``create``, for a subject of this
        ``kind``); None once erased."""
        ...

    def destroy(self, subject_id: str, tenant_id: str | None, *, kind: str = "user") -> None:
        """Erase the subject's key for good (idempotent; a subject without a key gets an
        erased one, so none is ever made for it)."""
        ...


USER = "user"
RUN = "run"
SubjectOf = Callable[[dict[str, Any], Any], Any]


class Rule(NamedTuple):
    """Which fields of an event (dotted paths; ``*`` is every key or item) are sealed under the
    key of which subject (read from the event state and originator id), of which kind."""

    subject: SubjectOf
    paths: tuple[str, ...]
    kind: str = USER


def originator(state: dict[str, Any], oid: Any) -> Any:  # noqa: ARG001
    return oid


def _field(name: str) -> SubjectOf:
    return lambda state, _oid: state.get(name)


RULES: dict[str, Rule] = {
    "User.Registered": Rule(originator, ("email", "name")),
    "User.Updated": Rule(originator, ("changes.name",)),
    "User.Snapshot": Rule(originator, ("state.email", "state.name")),
    "UserPreference.Set": Rule(_field("user_id"), ("value",)),
    "UserPreference.Changed": Rule(_field("user_id"), ("value",)),
    "Conversation.Recorded": Rule(
        _field("user_id"), ("input_text", "output_text", "context_data")
    ),
    "Notification.Created": Rule(_field("recipient_user_id"), ("title", "message")),
}
"""Personal data: the users' fields (docs/erasure.md)."""
META_FIELDS = ("ip", "user_agent")


def _uuid_text(value: Any) -> str | None:
    try:
        return str(UUID(str(value))) if value is not None else None
    except ValueError:
        return None


def _meta_subject(qualname: str, meta: dict[str, Any], state: dict[str, Any]) -> str | None:
    """Whose IP and user agent these are: the acting user; for an anonymous request (a login,
    a failed login), the user the event is about. Other principals' stay in clear."""
    if meta.get("kind") == "user" and meta.get("user_id"):
        return _uuid_text(meta.get("user_id"))
    if meta.get("user_id"):
        return None
    if qualname.startswith("User."):
        return _uuid_text(state.get("originator_id"))
    return _uuid_text(state.get("user_id"))


def replace_at(state: Any, path: list[str], change: Callable[[Any], Any]) -> None:
    """``state[path]`` becomes ``change(state[path])`` (``*``: every key or item; a None or
    missing value is left alone), copying the dicts and lists on the way below ``state`` (so
    a caller's nested values are never mutated)."""
    head, rest = path[0], path[1:]
    if head == "*":
        names: list[Any] = list(range(len(state)) if isinstance(state, list) else state)
    else:
        names = [head] if isinstance(state, dict) and head in state else []
    for name in names:
        value = state[name]
        if value is None:
            continue
        if not rest:
            state[name] = change(value)
        elif isinstance(value, dict | list):
            state[name] = copy = dict(value) if isinstance(value, dict) else list(value)
            replace_at(copy, rest, change)


class PersonalDataMapper(Mapper[UUID]):
    """A mapper that seals personal fields on the way in and (``resolve``) opens them out."""

    def __init__(
        self,
        base: Mapper[UUID],
        keys: SubjectKeys,
        *,
        resolve: bool,
        rules: Mapping[str, Rule] = RULES,
    ) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self.keys = keys
        self.resolve = resolve
        self.rules = rules

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        qualname = type(domain_event).__qualname__
        if qualname == "Snapshot" and isinstance(state.get("topic"), str):
            qualname = state["topic"].rsplit(":", 1)[-1] + ".Snapshot"  # "User.Snapshot"
        oid = state.get("originator_id")
        tenant = _uuid_text(state.get("tenant_id"))
        rule = self.rules.get(qualname)
        if rule is not None:
            subject = _uuid_text(rule.subject(state, oid))
            if subject is not None:
                for path in rule.paths:
                    self._seal_path(state, path.split("."), (subject, tenant, rule.kind))
        meta = state.get("meta")
        if isinstance(meta, dict) and any(meta.get(f) for f in META_FIELDS):
            subject = _meta_subject(qualname, meta, state)
            if subject is not None:
                state["meta"] = meta = dict(meta)
                owner = (subject, tenant or _uuid_text(meta.get("tenant_id")), USER)
                for f in META_FIELDS:
                    self._seal_path(meta, [f], owner)
        sealed = object.__new__(type(domain_event))
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def _seal_path(self, state: Any, path: list[str], owner: tuple[str, str | None, str]) -> None:
        """Replace ``state[path]`` by its token; ``owner``: subject, tenant, kind."""
        subject, tenant, kind = owner

        def seal(value: Any) -> Any:
            if sh.is_token(value):
                return value
            key = self.keys.data_key(subject, tenant, create=True, kind=kind)
            if key is None:
                return sh.ERASED
            if kind == USER:  # personal data: plain JSON, as the subject access code reads it
                return sh.encrypt_value(key, subject, value)
            # run data: the transcoder's bytes, so datetimes stay datetimes
            return sh.encrypt_value(key, subject, value, self.transcoder.encode)

        replace_at(state, path, seal)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        if self.resolve:
            cache: dict[str, bytes | None] = {}
            for name, value in list(vars(event).items()):
                opened = open_tokens(self.keys, value, cache, self.transcoder.decode)
                if opened is not value:
                    object.__setattr__(event, name, opened)
        return event


def open_tokens(
    keys: SubjectKeys | None,
    value: Any,
    cache: dict[str, bytes | None] | None = None,
    decode: Callable[[bytes], Any] = json.loads,
) -> Any:
    """``value`` with every token opened (``"[erased]"`` for an erased subject); the same
    object when it holds no token. ``decode``: the transcoder's, where run data may be met."""
    if keys is None:
        return value
    cache = {} if cache is None else cache
    if sh.is_token(value):
        subject = str(value[sh.SUBJECT_FIELD])
        if subject not in cache:
            cache[subject] = keys.data_key(subject, None, create=False)
        key = cache[subject]
        if key is None:
            return sh.ERASED
        try:
            return sh.decrypt_value(key, value, decode)
        except sh.ShreddingError:
            return sh.ERASED
    if isinstance(value, dict):
        opened = {k: open_tokens(keys, v, cache, decode) for k, v in value.items()}
        return opened if any(opened[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        items = [open_tokens(keys, v, cache, decode) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


class ShreddingApplication(Application[UUID]):
    """An application whose events hold personal data only as subject tokens."""

    subject_keys: SubjectKeys | None = None
    raw_mapper: Mapper[UUID]
    sealing_rules: ClassVar[Mapping[str, Rule]] = RULES
    """Which event fields this application seals (the runs add their data to ``RULES``)."""

    def construct_mapper(self) -> Mapper[UUID]:
        base = super().construct_mapper()
        topic = self.env.get("SUBJECT_KEYS_TOPIC")
        if not topic:
            self.raw_mapper = base
            return base
        self.subject_keys = resolve_topic(topic)(self.env, self.factory)
        assert self.subject_keys is not None
        rules = self.sealing_rules
        self.raw_mapper = PersonalDataMapper(base, self.subject_keys, resolve=False, rules=rules)
        return PersonalDataMapper(base, self.subject_keys, resolve=True, rules=rules)
