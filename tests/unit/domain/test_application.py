"""The Platform application: naming, persistence settings (cipher, compressor)."""

from __future__ import annotations

import base64

from domain.identity.commands import CreateTenant
from domain.platform import Platform


def test_application_is_named_platform() -> None:
    assert Platform.name == "platform"


def test_events_are_encrypted_and_compressed_when_configured(make_app) -> None:
    # eventsourcing.cipher:AESCipher needs pycryptodome, which is not installed here;
    # the cryptography-based cipher is the same AES-GCM
    app = make_app(
        env={
            "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
            "CIPHER_KEY": base64.b64encode(b"k" * 32).decode(),
            "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        }
    )
    tenant = app.create_tenant(CreateTenant(name="Secret Corp", slug="secret-corp")).tenant
    (raw,) = app.recorder.select_events(tenant.id)
    assert b"Secret Corp" not in raw.state
    assert app.get_tenant(tenant.id).name == "Secret Corp"


def test_default_definition_validator_accepts_any_object(app: Platform) -> None:
    tenant = app.create_tenant(CreateTenant(name="Acme", slug="acme")).tenant
    assert app.validate_definition(tenant.id, {"anything": True}) == []
