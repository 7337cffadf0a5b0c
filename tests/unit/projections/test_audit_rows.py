"""Pure parts of the audit projection: ids, names, redaction, JSON safety."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from domain.audit.sensitive_reads import SensitiveRead
from domain.identity.users import User
from domain.kernel.actor import Actor, acting_as
from projections.audit.projection import audit_id, event_details, snake
from projections.jsonutil import dumps


def test_audit_ids_derive_from_the_event_so_rebuilds_reproduce_them() -> None:
    oid = uuid4()
    assert audit_id("platform", oid, 3) == audit_id("platform", oid, 3)
    assert audit_id("platform", oid, 3) != audit_id("runs", oid, 3)
    assert audit_id("platform", oid, 3) != audit_id("platform", oid, 4)


def test_resource_types_are_snake_case_aggregate_names() -> None:
    assert snake("MarketplaceSkill") == "marketplace_skill"
    assert snake("ApiKey") == "api_key"
    assert snake("Run") == "run"


def test_event_details_drop_the_envelope_and_redact_credentials() -> None:
    user = User(tenant_id=uuid4(), email="a@example.com", password_hash="$argon2id$x",
                name="A", role="user", status="active")  # fmt: skip
    (created,) = user.collect_events()
    details = event_details(created)
    assert details["password_hash"] == "********"
    assert details["email"] == "a@example.com"
    assert not {"meta", "originator_id", "originator_version", "timestamp"} & details.keys()


def test_sensitive_reads_record_the_acting_principal() -> None:
    with acting_as(Actor(user_id="u-1", ip="192.0.2.1", kind="user")):
        read = SensitiveRead(tenant_id=uuid4(), resource_type="user", resource_id="x",
                             fields=["email"])  # fmt: skip
    (event,) = read.collect_events()
    assert event.meta == {"user_id": "u-1", "ip": "192.0.2.1", "kind": "user"}  # type: ignore[attr-defined]


def test_json_for_jsonb_has_no_nul_and_no_nan() -> None:
    text = dumps({"a": float("nan"), "b": "x\x00y", "c": "\\u0000", "d": [float("inf")]})
    assert json.loads(text) == {"a": None, "b": "x\ufffdy", "c": "\\u0000", "d": [None]}


def test_event_details_apply_the_one_secret_rule() -> None:
    from domain.identity.tenants import Tenant
    from domain.marketplace.skills import Installation

    tenant = Tenant(name="A", slug="a", config={"smtp": {"password": "p4ss-word"}},
                    billing_info={})  # fmt: skip
    tenant.set_config("webhook_url", "https://hooks.example/secret-path")
    tenant.set_config("region", "eu")
    created, hook, region = tenant.collect_events()
    assert event_details(created)["config"] == {"smtp": {"password": "********"}}
    assert event_details(hook)["value"] == "********"
    assert event_details(region)["value"] == "eu"
    inst = Installation(tenant_id=uuid4(), skill_id=uuid4(), skill_version="1.0.0",
                        config={"dsn": "postgres://u:pw@db", "region": "eu"}, installed_by=None,
                        installed_at=datetime.now(UTC), secret_fields=["dsn"])  # fmt: skip
    (installed,) = inst.collect_events()
    assert event_details(installed)["config"] == {"dsn": "********", "region": "eu"}
