"""The ticker of ``platinum serve`` survives the database going away: ticks start runs again
once it is back, and no tick ever starts two runs."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import httpx

from tests.factories import create_tenant
from tests.integration.test_database_outage import QUICK, STOP_S, Database, Process
from tests.integration.test_database_outage import database as database
from tests.integration.test_database_outage import serve as serve
from tests.support.polling import wait_until


def ticks(client: httpx.Client, headers: dict[str, str], wf: str) -> list[str]:
    """The ticks of the workflow's runs; [] while the API answers 503 (the database away)."""
    page = client.get(f"/v1/runs?workflow_id={wf}&limit=100", headers=headers)
    if page.status_code != 200:
        return []
    out = []
    for r in page.json()["items"]:
        run = client.get(f"/v1/runs/{r['id']}", headers=headers)
        if run.status_code != 200:
            return []
        out.append(run.json()["trigger"]["tick"])
    return out


def test_the_serve_ticker_fires_again_after_a_database_outage(
    database: Database, serve: tuple[Process, httpx.Client]
) -> None:
    proc, client = serve
    tenant = create_tenant(client)
    h = tenant.admin_headers
    r = client.post("/v1/workflows", json={"name": "quick", "definition": QUICK}, headers=h)
    wf = r.json()["id"]
    assert client.post(f"/v1/workflows/{wf}/activate", headers=h).status_code == 200
    r = client.post(f"/v1/workflows/{wf}/schedules", headers=h,
                    json={"cron": "* * * * * *", "overlap": "allow"})  # fmt: skip
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_until(lambda: len(ticks(client, h, wf)) >= 2, 30, message="the first ticks")
    database.stop()
    time.sleep(STOP_S)  # the outage itself (no assertion is ordered by it)
    database.start()
    back = datetime.now(UTC)
    wait_until(
        lambda: any(datetime.fromisoformat(t) > back for t in ticks(client, h, wf)), 30,
        message="a tick after the database came back",
    )  # fmt: skip
    assert client.patch(f"/v1/schedules/{sid}", json={"status": "paused"},
                        headers=h).status_code == 200  # fmt: skip
    seen = Counter(ticks(client, h, wf))
    assert all(n == 1 for n in seen.values()), seen
    assert proc.alive()
