"""Index aggregates: a duplicate key is a version clash, translated to ConflictError."""

from __future__ import annotations

from uuid import uuid4

import pytest

from domain.kernel.errors import ConflictError
from domain.kernel.ids import index_id
from domain.kernel.index import UniqueKey
from domain.platform import Platform


def test_key_id_is_deterministic() -> None:
    owner = uuid4()
    key = UniqueKey(key="slug:acme", owner_id=owner, tenant_id=None)
    assert key.id == index_id("slug:acme") != index_id("slug:acme-2")
    assert (key.owner_id, key.is_free) == (owner, False)


def test_saving_a_duplicate_index_raises_conflict_and_stores_nothing(app: Platform, stored) -> None:
    app._save(UniqueKey(key="role:auditor", owner_id=uuid4(), tenant_id=None))
    before = stored()
    owner = UniqueKey(key="unrelated", owner_id=uuid4(), tenant_id=None)
    duplicate = UniqueKey(key="role:auditor", owner_id=uuid4(), tenant_id=None)
    with pytest.raises(ConflictError):
        app._save(owner, duplicate)
    # the whole save is atomic: the unrelated aggregate was not stored either
    assert stored() == before


def test_racing_reclaims_of_a_released_key_conflict(app: Platform) -> None:
    key = UniqueKey(key="installation:x", owner_id=uuid4(), tenant_id=None)
    key.release()
    app.save(key)
    # two writers load the free key and both reclaim it; the second save loses
    first, second = app.repository.get(key.id), app.repository.get(key.id)
    first.reclaim(uuid4())
    second.reclaim(uuid4())
    app._save(first)
    with pytest.raises(ConflictError):
        app._save(second)
