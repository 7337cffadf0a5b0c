"""Event state is encrypted at rest: no plaintext in ``state``, raw or zlib-inflated.

Scans every row of ``platform_events`` and ``platform_snapshots`` as the table owner. The
positive control decrypts the same bytes with the application's cipher and finds the text,
so the scan is known to be looking at the rows that carry it.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from domain.messaging.commands import RecordConversation
from domain.platform import Platform
from tests.integration.domain.pg_support import (
    EVENTS_TABLE,
    SNAPSHOTS_TABLE,
    create_tenant,
    decrypt_state,
    inflate,
    raw_states,
    register,
    unique_email,
)


def carriers(app: Platform, states: dict[str, bytes], secret: bytes) -> int:
    return sum(secret in decrypt_state(app, s) for s in states.values())


def test_emails_and_conversation_text_are_not_readable_in_the_tables(
    app: Platform, owner_conn: psycopg.Connection[Any]
) -> None:
    # the env the API runs with really configures both
    assert type(app.mapper.cipher).__name__ == "AESCipher"
    assert type(app.mapper.compressor).__name__ == "SmallWindowZlibCompressor"
    marker = uuid.uuid4().hex
    email = unique_email(f"secret-{marker[:8]}")
    said = f"my account number is {marker}"
    tenant_id = create_tenant(app)
    user = register(app, tenant_id, email=email)
    turn = app.record_conversation(
        RecordConversation(tenant_id, user.id, "s-1", said, f"noted: {marker[::-1]}")
    )
    # 49 logins take the user to version 50: a snapshot (with the email) is written too
    for _ in range(49):
        app.record_login(tenant_id, user.id)
    plain = [email.encode(), marker.encode(), marker[::-1].encode()]

    events = raw_states(owner_conn, EVENTS_TABLE)
    snapshots = raw_states(owner_conn, SNAPSHOTS_TABLE)
    for row, state in (events | snapshots).items():
        inflated = inflate(state)
        for text in plain:
            assert text not in state, f"{row} holds {text!r} in plain text"
            assert inflated is None or text not in inflated, f"{row} holds {text!r}, compressed"
        # and no row is merely compressed: AES-GCM output never inflates
        assert inflated is None, f"{row} is compressed but not encrypted"
    # decrypted with the master key, the rows hold the personal fields only sealed under the
    # user's own key (crypto-shredding, docs/erasure.md): User.Registered, the user's
    # snapshot and Conversation.Recorded carry tokens, the email index a keyed digest
    for text in plain:
        assert carriers(app, events | snapshots, text) == 0, text
    assert carriers(app, events, b'"$pd"') >= 2
    assert carriers(app, snapshots, b'"$pd"') == 1
    # control: the application, which holds the user's key, reads them back
    assert app.get_user(tenant_id, user.id).email == email.lower()
    assert app.get_conversation(tenant_id, turn.id).input_text == said
