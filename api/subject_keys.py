"""The data subjects' keys in PostgreSQL (``subject_keys``): made on first use, destroyed on erase.

Each row holds one subject's AES-256 data key *wrapped* under a key derived from the master
cipher key (``domain.kernel.shredding``); erasure sets ``wrapped_key`` to NULL and stamps
``erased_at``, so every token of the subject is unreadable from then on, in every process once
its short cache entry expires (``PLATINUM_SUBJECT_KEY_TTL`` seconds, default 5). The row stays,
so a later event of an erased subject is stored as ``"[erased]"``, never under a new key.
Built by the event-sourced applications from ``SUBJECT_KEYS_TOPIC`` (``api/database.py``),
on the applications' own datastore (the system role).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from domain.kernel import shredding as sh

TOPIC = "api.subject_keys:PostgresSubjectKeys"


class PostgresSubjectKeys:
    """``domain.kernel.personal_data.SubjectKeys`` over the ``subject_keys`` table."""

    # one cache per process, shared by its applications (subject ids are unique UUIDs): an
    # erasure through one application is seen by the others of the process at once
    _cache: ClassVar[dict[str, tuple[float, bytes | None]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, env: Any, factory: Any) -> None:
        master = env.get("CIPHER_KEY")
        if not master:
            raise ValueError("SUBJECT_KEYS_TOPIC needs CIPHER_KEY (the master key)")
        # in-memory persistence (``eventsourcing.popo``): the keys live as long as the events
        self.datastore = getattr(factory, "datastore", None)
        self._memory: dict[str, bytes | None] = {}
        self.kek = sh.wrapping_key(master)
        self.lookup_key = sh.lookup_key(master)
        self.ttl = float(env.get("PLATINUM_SUBJECT_KEY_TTL") or 5)

    def data_key(self, subject_id: str, tenant_id: str | None, *, create: bool) -> bytes | None:
        with self._lock:
            hit = self._cache.get(subject_id)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        if self.datastore is None:
            if create and subject_id not in self._memory:
                self._memory[subject_id] = sh.new_data_key()
            return self._memory.get(subject_id)
        with self.datastore.transaction(commit=True) as curs:
            if create:
                curs.execute(
                    "INSERT INTO subject_keys (subject_id, tenant_id, wrapped_key)"
                    " VALUES (%s, %s, %s) ON CONFLICT (subject_id) DO NOTHING",
                    (subject_id, tenant_id, sh.wrap(self.kek, sh.new_data_key(), subject_id)),
                )
            curs.execute(
                "SELECT wrapped_key FROM subject_keys WHERE subject_id = %s", (subject_id,)
            )
            row = curs.fetchone()
        wrapped = None if row is None else row["wrapped_key"]
        key = None if wrapped is None else sh.unwrap(self.kek, bytes(wrapped), subject_id)
        if row is not None:  # a missing key may still be made: only cache what exists
            with self._lock:
                self._cache[subject_id] = (time.monotonic(), key)
        return key

    def destroy(self, subject_id: str, tenant_id: str | None) -> None:
        if self.datastore is None:
            self._memory[subject_id] = None
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO subject_keys (subject_id, tenant_id, wrapped_key, erased_at)"
                " VALUES (%s, %s, NULL, now()) ON CONFLICT (subject_id) DO UPDATE"
                " SET wrapped_key = NULL,"
                " erased_at = coalesce(subject_keys.erased_at, excluded.erased_at)",
                (subject_id, tenant_id),
            )
        with self._lock:
            self._cache[subject_id] = (time.monotonic(), None)
