"""Which event fields are personal data, and the mapper that stores them as subject tokens.

``PersonalDataMapper.to_stored_event`` replaces each personal field (``RULES``, plus the
actor's IP address and user agent in ``meta``) by a token encrypted under its subject's data
key (``domain.kernel.shredding``), so stored events — and every projection of them that does
not decrypt, such as the audit log — hold only ciphertext. An application's ``mapper``
resolves tokens back to plaintext (``"[erased]"`` once the subject's key is destroyed); its
``raw_mapper`` leaves them as stored. The keys come from a ``SubjectKeys`` store named by the
environment's ``SUBJECT_KEYS_TOPIC`` (built by the composition root); without one, events are
stored as before (in-memory unit tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import resolve_topic

from domain.kernel import shredding as sh


class SubjectKeys(Protocol):
    """The store of the subjects' data keys (adapter: ``api.subject_keys``)."""

    lookup_key: bytes

    def data_key(self, subject_id: str, tenant_id: str | None, *, create: bool) -> bytes | None:
        """The subject's data key (made on first use with ``create``); None once erased."""
        ...

    def destroy(self, subject_id: str, tenant_id: str | None) -> None:
        """Erase the subject's key for good (idempotent)."""
        ...


# event qualname -> (the subject's id in the event state, the personal fields, dotted paths)
Rule = tuple[Callable[[dict[str, Any], Any], Any], tuple[str, ...]]


def _originator(state: dict[str, Any], oid: Any) -> Any:  # noqa: ARG001
    return oid


def _field(name: str) -> Callable[[dict[str, Any], Any], Any]:
    return lambda state, _oid: state.get(name)


RULES: dict[str, Rule] = {
    "User.Registered": (_originator, ("email", "name")),
    "User.Updated": (_originator, ("changes.name",)),
    "User.Snapshot": (_originator, ("state.email", "state.name")),
    "UserPreference.Set": (_field("user_id"), ("value",)),
    "UserPreference.Changed": (_field("user_id"), ("value",)),
    "Conversation.Recorded": (
        _field("user_id"),
        ("input_text", "output_text", "context_data"),
    ),
    "Notification.Created": (_field("recipient_user_id"), ("title", "message")),
}
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


class PersonalDataMapper(Mapper[UUID]):
    """A mapper that seals personal fields on the way in and (``resolve``) opens them out."""

    def __init__(self, base: Mapper[UUID], keys: SubjectKeys, *, resolve: bool) -> None:
        super().__init__(base.transcoder, base.compressor, base.cipher)
        self.keys = keys
        self.resolve = resolve

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        qualname = type(domain_event).__qualname__
        if qualname == "Snapshot" and isinstance(state.get("topic"), str):
            qualname = state["topic"].rsplit(":", 1)[-1] + ".Snapshot"  # "User.Snapshot"
        oid = state.get("originator_id")
        tenant = _uuid_text(state.get("tenant_id"))
        rule = RULES.get(qualname)
        if rule is not None:
            subject = _uuid_text(rule[0](state, oid))
            if subject is not None:
                for path in rule[1]:
                    self._seal_path(state, path.split("."), subject, tenant)
        meta = state.get("meta")
        if isinstance(meta, dict) and any(meta.get(f) for f in META_FIELDS):
            subject = _meta_subject(qualname, meta, state)
            if subject is not None:
                state["meta"] = meta = dict(meta)
                for f in META_FIELDS:
                    self._seal_path(meta, [f], subject, tenant or _uuid_text(meta.get("tenant_id")))
        sealed = object.__new__(type(domain_event))
        object.__setattr__(sealed, "__dict__", state)
        return super().to_stored_event(sealed)

    def _seal_path(
        self, state: dict[str, Any], path: list[str], subject: str, tenant: str | None
    ) -> None:
        """Replace ``state[path]`` by its token, copying the dicts on the way (never mutating
        the caller's event)."""
        head = path[0]
        if head not in state or state[head] is None:
            return
        if len(path) > 1:
            inner = state[head]
            if isinstance(inner, dict):
                state[head] = dict(inner)
                self._seal_path(state[head], path[1:], subject, tenant)
            return
        if sh.is_token(state[head]):
            return
        key = self.keys.data_key(subject, tenant, create=True)
        state[head] = sh.ERASED if key is None else sh.encrypt_value(key, subject, state[head])

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        if self.resolve:
            cache: dict[str, bytes | None] = {}
            for name, value in list(vars(event).items()):
                opened = open_tokens(self.keys, value, cache)
                if opened is not value:
                    object.__setattr__(event, name, opened)
        return event


def open_tokens(
    keys: SubjectKeys | None, value: Any, cache: dict[str, bytes | None] | None = None
) -> Any:
    """``value`` with every token opened (``"[erased]"`` for an erased subject); the same
    object when it holds no token."""
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
            return sh.decrypt_value(key, value)
        except sh.ShreddingError:
            return sh.ERASED
    if isinstance(value, dict):
        opened = {k: open_tokens(keys, v, cache) for k, v in value.items()}
        return opened if any(opened[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        items = [open_tokens(keys, v, cache) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


class ShreddingApplication(Application[UUID]):
    """An application whose events hold personal data only as subject tokens."""

    subject_keys: SubjectKeys | None = None
    raw_mapper: Mapper[UUID]

    def construct_mapper(self) -> Mapper[UUID]:
        base = super().construct_mapper()
        topic = self.env.get("SUBJECT_KEYS_TOPIC")
        if not topic:
            self.raw_mapper = base
            return base
        self.subject_keys = resolve_topic(topic)(self.env, self.factory)
        assert self.subject_keys is not None
        self.raw_mapper = PersonalDataMapper(base, self.subject_keys, resolve=False)
        return PersonalDataMapper(base, self.subject_keys, resolve=True)
