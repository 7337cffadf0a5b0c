"""The data subjects' keys in PostgreSQL (``subject_keys``): made on first use, destroyed on erase.

Each row holds one subject's AES-256 data key *wrapped* under a key derived from the master
cipher key (``domain.kernel.shredding``), and the subject's kind: a user (erasure) or a run
(retention). Erasure sets ``wrapped_key`` to NULL and stamps ``erased_at``, so every token of
the subject is unreadable from then on, in every process once its cache entry expires
(``PLATINUM_SUBJECT_KEY_TTL`` seconds for a user, default 5; ``PLATINUM_RUN_KEY_TTL`` for a
run, default 300: a run's key is destroyed only days after the run ended, and a worker saves
a live run's events without a round trip per step). The row stays, so a later event of an
erased subject is stored as ``"[erased]"``, never under a new key. Built by the event-sourced
applications from ``SUBJECT_KEYS_TOPIC`` (``api/database.py``), on their own datastore (the
system role).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, ClassVar

from domain.kernel import shredding as sh
from domain.kernel.personal_data import RUN, USER

TOPIC = "api.subject_keys:PostgresSubjectKeys"
CACHE_SIZE = 20_000
"""Keys a process keeps opened at most (least recently used out): about 2 MB."""

_CREATE = (
    "WITH made AS (INSERT INTO subject_keys (subject_id, tenant_id, wrapped_key, kind)"
    " VALUES (%(id)s, %(tenant)s, %(wrapped)s, %(kind)s) ON CONFLICT (subject_id) DO NOTHING"
    " RETURNING true AS made, wrapped_key, kind),"
    " no_flush AS (SELECT set_config('synchronous_commit', 'off', true))"
    " SELECT made, wrapped_key, kind FROM made, no_flush"
    " UNION ALL SELECT false, wrapped_key, kind FROM subject_keys WHERE subject_id = %(id)s"
)
"""Make the subject's key, or read the one it has, in one round trip (a worker's first save of
a run it did not start meets an existing key). Both parts see the statement's snapshot: a key
committed by another transaction after it began is found by neither (``ON CONFLICT`` waited
for it and did nothing), so then the key is read again.

A new key's transaction does not wait for its WAL flush (``synchronous_commit`` off for it
alone): the key is used only by events saved after it, in later transactions, whose commit
flushes the WAL up to their own commit record, past the key's. If no such save commits, a key
lost in a crash was never used. A run start saves one flush (an fsync) this way."""
_READ = "SELECT wrapped_key, kind FROM subject_keys WHERE subject_id = %s"


class PostgresSubjectKeys:
    """``domain.kernel.personal_data.SubjectKeys`` over the ``subject_keys`` table."""

    # one cache per process, shared by its applications (subject ids are unique UUIDs): an
    # erasure through one application is seen by the others of the process at once.
    # subject -> (expires at, key or None once erased)
    _cache: ClassVar[OrderedDict[str, tuple[float, bytes | None]]] = OrderedDict()
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
        self.ttl = {
            USER: float(env.get("PLATINUM_SUBJECT_KEY_TTL") or 5),
            RUN: float(env.get("PLATINUM_RUN_KEY_TTL") or 300),
        }

    def _cached(self, subject_id: str) -> tuple[bool, bytes | None]:
        with self._lock:
            hit = self._cache.get(subject_id)
            if hit is None or hit[0] < time.monotonic():
                return False, None
            self._cache.move_to_end(subject_id)
            return True, hit[1]

    def _keep(self, subject_id: str, kind: str, key: bytes | None) -> None:
        with self._lock:
            self._cache[subject_id] = (time.monotonic() + self.ttl.get(kind, 5.0), key)
            self._cache.move_to_end(subject_id)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def data_key(
        self, subject_id: str, tenant_id: str | None, *, create: bool, kind: str = USER
    ) -> bytes | None:
        found, key = self._cached(subject_id)
        if found:
            return key
        if self.datastore is None:
            if create and subject_id not in self._memory:
                self._memory[subject_id] = sh.new_data_key()
            return self._memory.get(subject_id)
        with self.datastore.transaction(commit=True) as curs:
            row = None
            if create:
                new = sh.new_data_key()
                wrapped = sh.wrap(self.kek, new, subject_id)
                values = {"id": subject_id, "tenant": tenant_id, "wrapped": wrapped, "kind": kind}
                curs.execute(_CREATE, values)
                row = curs.fetchone()
                if row is not None and row["made"]:  # a new subject: nothing to unwrap
                    self._keep(subject_id, kind, new)
                    return new
            if row is None:
                curs.execute(_READ, (subject_id,))
                row = curs.fetchone()
        if row is None:  # a missing key may still be made: only cache what exists
            return None
        wrapped = row["wrapped_key"]
        key = None if wrapped is None else sh.unwrap(self.kek, bytes(wrapped), subject_id)
        self._keep(subject_id, row["kind"], key)
        return key

    def destroy(self, subject_id: str, tenant_id: str | None, *, kind: str = USER) -> None:
        if self.datastore is None:
            self._memory[subject_id] = None
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                "INSERT INTO subject_keys (subject_id, tenant_id, wrapped_key, erased_at, kind)"
                " VALUES (%s, %s, NULL, now(), %s) ON CONFLICT (subject_id) DO UPDATE"
                " SET wrapped_key = NULL,"
                " erased_at = coalesce(subject_keys.erased_at, excluded.erased_at)",
                (subject_id, tenant_id, kind),
            )
        self._keep(subject_id, kind, None)
