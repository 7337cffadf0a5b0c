"""When an approval step starts waiting, every holder of its role is notified (PostgreSQL, the
service's own projector process; no browser needed)."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.browser.flows import APPROVAL, active_workflow, start_run
from tests.factories import TenantCtx, UserCtx
from tests.support.polling import wait_until


def _approval_notices(client: Any, user: UserCtx, run_id: str) -> list[dict[str, Any]]:
    r = client.get("/v1/notifications", headers=user.headers)
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if n["type"] == "approval" and run_id in n["message"]]


def test_the_holders_of_the_role_are_notified_once_and_no_one_else(
    client: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    run_id = start_run(client, tenant.admin_headers,
                       active_workflow(client, tenant.admin_headers, APPROVAL))  # fmt: skip
    # manager and admin hold "manager" (admin is above it): both hear of it
    for holder in (users["manager"], users["admin"], tenant.admin):
        found = wait_until(lambda h=holder: _approval_notices(client, h, run_id),
                           message=f"a notice for {holder.role}")  # fmt: skip
        assert len(found) == 1
        notice = found[0]
        assert notice["priority"] == "high"
        assert notice["title"] == "Approval needed: approve"
        assert f"/ui/runs/{run_id}" in notice["message"]
    for other in (users["viewer"], users["user"]):
        assert _approval_notices(client, other, run_id) == []


def test_handling_the_event_again_queues_nothing_new(
    client: Any, container: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    from projections.approval_notices import ApprovalNotices

    run_id = start_run(client, tenant.admin_headers,
                       active_workflow(client, tenant.admin_headers, APPROVAL))  # fmt: skip
    manager = users["manager"]
    wait_until(lambda: _approval_notices(client, manager, run_id), message="the first notice")
    from uuid import UUID

    waiting = next(e for e in container.runs.repository.event_store.get(UUID(run_id))
                   if type(e).__qualname__ == "Run.StepWaiting")  # fmt: skip
    notices = ApprovalNotices(container.platform, container.runs)
    with psycopg.connect(container.db.system.conninfo) as conn, conn.cursor() as curs:
        told = notices.tell(curs, waiting)
    assert UUID(manager.id) in told  # it sends again: the idempotency key finds the first
    container.wait_caught_up("platform")
    assert len(_approval_notices(client, manager, run_id)) == 1


def test_a_decided_approval_tells_no_one_when_handled_late(
    client: Any, container: Any, tenant: TenantCtx, users: dict[str, UserCtx]
) -> None:
    from uuid import UUID

    from projections.approval_notices import ApprovalNotices

    run_id = start_run(client, tenant.admin_headers,
                       active_workflow(client, tenant.admin_headers, APPROVAL))  # fmt: skip
    r = client.post(f"/v1/runs/{run_id}/steps/approve/approve", headers=users["manager"].headers)
    assert r.status_code == 200, r.text
    waiting = next(e for e in container.runs.repository.event_store.get(UUID(run_id))
                   if type(e).__qualname__ == "Run.StepWaiting")  # fmt: skip
    with psycopg.connect(container.db.system.conninfo) as conn, conn.cursor() as curs:
        assert ApprovalNotices(container.platform, container.runs).tell(curs, waiting) == []
