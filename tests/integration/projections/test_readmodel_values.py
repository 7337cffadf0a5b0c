"""Values the domain accepts never stop the projector (a stuck projector stalls every read)."""

from __future__ import annotations

import psycopg

from domain.identity.commands import CreateTenant
from tests.conftest import unique_slug


def test_a_json_null_config_value_is_projected_and_the_projector_moves_on(container) -> None:
    platform = container.platform
    tenant = platform.create_tenant(CreateTenant(name="Nulls", slug=unique_slug("nul"))).tenant
    platform.set_tenant_config(tenant.id, "feature.flag", None)
    platform.set_tenant_config(tenant.id, "after", {"n": 1})
    container.wait_projected(platform.recorder.max_notification_id())

    with psycopg.connect(container.db.system.conninfo) as conn:
        rows = dict(
            conn.execute(
                "SELECT config_key, config_value::text FROM tenant_config WHERE tenant_id = %s",
                (tenant.id,),
            ).fetchall()
        )
    assert rows == {"feature.flag": "null", "after": '{"n": 1}'}
    assert container.projection_lag()["readmodel"]["platform"] == 0
