"""The subject keys' store on PostgreSQL (``api.subject_keys``): one key per subject, whoever
asks first and however many ask at once; an erased subject never gets a new key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from api.subject_keys import PostgresSubjectKeys
from domain.kernel.personal_data import RUN
from tests.support.racing import race


@pytest.fixture
def keys(container: Any) -> PostgresSubjectKeys:
    store = container.runs.subject_keys
    assert isinstance(store, PostgresSubjectKeys)
    return store


def forget(subject: str) -> None:
    """As another process would start: nothing of ``subject`` in the process cache."""
    with PostgresSubjectKeys._lock:
        PostgresSubjectKeys._cache.pop(subject, None)


def stored(container: Any, subject: str) -> Any:
    with container.runs.subject_keys.datastore.transaction(commit=False) as curs:
        curs.execute("SELECT wrapped_key, kind FROM subject_keys WHERE subject_id = %s", (subject,))
        return curs.fetchall()


def test_a_process_that_did_not_make_the_key_gets_the_same_key(keys, container) -> None:
    subject, tenant = str(uuid.uuid4()), str(uuid.uuid4())
    made = keys.data_key(subject, tenant, create=True, kind=RUN)
    forget(subject)
    # a worker's first save of a run it did not start: create=True meets the existing key
    assert keys.data_key(subject, tenant, create=True, kind=RUN) == made
    forget(subject)
    assert keys.data_key(subject, tenant, create=False, kind=RUN) == made
    rows = stored(container, subject)
    assert len(rows) == 1
    assert rows[0]["kind"] == RUN
    assert rows[0]["wrapped_key"] != made  # stored wrapped, never in clear


def test_concurrent_first_uses_agree_on_one_key(keys, container) -> None:
    subject, tenant = str(uuid.uuid4()), str(uuid.uuid4())

    def first_use() -> bytes | None:
        forget(subject)
        return keys.data_key(subject, tenant, create=True, kind=RUN)

    outcomes = race(*[first_use] * 8)
    assert [o.error for o in outcomes] == [None] * 8
    got = {o.value for o in outcomes}
    assert len(got) == 1
    assert None not in got
    assert len(stored(container, subject)) == 1


def test_an_erased_subject_gets_no_new_key(keys) -> None:
    subject, tenant = str(uuid.uuid4()), str(uuid.uuid4())
    keys.data_key(subject, tenant, create=True, kind=RUN)
    keys.destroy(subject, tenant, kind=RUN)
    forget(subject)
    assert keys.data_key(subject, tenant, create=True, kind=RUN) is None
    assert keys.data_key(subject, tenant, create=False, kind=RUN) is None
