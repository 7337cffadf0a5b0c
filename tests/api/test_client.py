"""The Python client (``api.client``) against the live API on 127.0.0.1: retries that start
one run, pages, the event stream, problem+json as typed exceptions."""

from __future__ import annotations

import uuid

import pytest

from api.client import (
    AsyncClient,
    AuthError,
    Client,
    ConflictError,
    NotFoundError,
    PreconditionFailedError,
    RetryPolicy,
    UnreachableError,
    ValidationError,
)
from api.schemas.runs import RunPublic, RunSummary
from tests.api.test_runs import APPROVAL, QUICK
from tests.factories import active_workflow
from tests.support.proxy import answer_dropping_proxy
from tests.support.servers import free_port

QUICK_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.05)


@pytest.fixture
def api(live_url, tenant):  # type: ignore[no-untyped-def]
    with Client(live_url, tenant.admin.token, retry=QUICK_RETRY) as c:
        yield c


def test_a_start_whose_answer_was_lost_is_retried_into_the_same_run(
    client, tenant, live_url, api
) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    with answer_dropping_proxy(live_url, drop=1) as proxy, Client(
        proxy.url, tenant.admin.token, retry=QUICK_RETRY
    ) as through:
        run = through.runs.start(wf, {})
        assert proxy.dropped == 1
        assert proxy.connections == 2  # the start was sent twice
    assert [r.id for r in api.runs.list(workflow_id=wf)] == [run.id]


def test_without_retries_the_lost_answer_is_an_error_but_the_run_was_started(
    client, tenant, live_url, api
) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    with answer_dropping_proxy(live_url, drop=1) as proxy, Client(
        proxy.url, tenant.admin.token, retry=RetryPolicy(attempts=1)
    ) as through, pytest.raises(UnreachableError):
        through.runs.start(wf, {})
    assert len(list(api.runs.list(workflow_id=wf))) == 1  # it did reach the server


def test_a_lost_answer_to_a_command_without_a_key_is_not_sent_again(
    client, tenant, live_url
) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    with answer_dropping_proxy(live_url, drop=1) as proxy, Client(
        proxy.url, tenant.admin.token, retry=QUICK_RETRY
    ) as through, pytest.raises(UnreachableError):
        through.workflows.pause(wf)
    assert proxy.connections == 1


def test_the_same_key_is_the_same_run(client, tenant, api) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    key = f"order-{uuid.uuid4()}"
    first = api.runs.start(wf, {}, idempotency_key=key)
    assert api.runs.start(wf, {}, idempotency_key=key).id == first.id
    with pytest.raises(ValidationError) as refused:
        api.runs.start(wf, {"other": 1}, idempotency_key=key)
    assert refused.value.errors[0]["pointer"] == "#header/idempotency-key"


def test_list_follows_the_cursor_over_every_page(client, tenant, api) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    started = [api.runs.start(wf, {}).id for _ in range(5)]
    listed = api.runs.list(workflow_id=wf, limit=2)
    pages = list(listed.pages())
    assert [len(p.items) for p in pages] == [2, 2, 1]
    runs = list(listed)
    assert all(isinstance(r, RunSummary) for r in runs)
    assert [r.id for r in runs] == started[::-1]  # newest first
    assert [r.id for r in api.runs.list(workflow_id=wf, status="failed")] == []


def test_stream_follows_a_run_to_its_end(client, tenant, api) -> None:
    wf = active_workflow(client, tenant.admin_headers, APPROVAL)
    run = api.runs.start(wf, {"amount": 5})
    seen: list[str] = []
    for event in api.runs.stream(run.id):
        if not seen:  # the run waits for its approval: given while the stream is open
            api.runs.approve(run.id, "approve", comment="ok")
        seen.append(event.type)
    assert seen[0] == "Started"
    assert "Approved" in seen
    assert seen[-1] == "Succeeded"
    ended = api.runs.wait(run.id)
    assert isinstance(ended, RunPublic)
    assert ended.status == "succeeded"
    assert [e.type for e in api.runs.events(run.id)] == seen
    assert [e.type for e in api.runs.stream(run.id, after=len(seen) - 1)] == ["Succeeded"]


def test_problems_are_typed_exceptions(client, tenant, api, live_url) -> None:
    with pytest.raises(NotFoundError) as missing:
        api.runs.get(uuid.uuid4())
    assert missing.value.status == 404
    assert missing.value.type.endswith("/not-found")
    assert missing.value.title == "Not found"
    draft = api.workflows.create("draft-one", QUICK)
    with pytest.raises(ConflictError):
        api.runs.start(draft.id, {})
    wf = active_workflow(client, tenant.admin_headers, APPROVAL)
    run = api.runs.start(wf, {"amount": 1})
    current = api.runs.get(run.id).version
    with pytest.raises(PreconditionFailedError):
        api.runs.cancel(run.id, if_match=current - 1)
    assert api.runs.cancel(run.id, if_match=current).status == "cancelled"
    with pytest.raises(ValidationError) as invalid:
        api.runs.start(wf, {"amount": "ten"})
    assert invalid.value.errors[0]["pointer"].startswith("/input")
    with Client(live_url, "not-a-token") as stranger, pytest.raises(AuthError):
        stranger.me()


def test_an_unreachable_service_is_one_error_after_the_retries() -> None:
    nobody = Client(f"http://127.0.0.1:{free_port()}", "t", retry=QUICK_RETRY)
    with nobody, pytest.raises(UnreachableError) as down:
        list(nobody.runs.list())
    assert down.value.url.startswith("http://127.0.0.1:")


def test_workflows_from_a_yaml_file_through_their_lifecycle(api) -> None:
    text = "name: yaml-one\nsteps:\n  - {id: a, uses: noop}\n"
    wf = api.workflows.submit(text)
    assert (wf.name, wf.status, wf.definition_version) == ("yaml-one", "draft", 1)
    assert api.workflows.activate(wf.id).status == "active"
    assert wf.id in [w.id for w in api.workflows.list(status="active")]
    updated = api.workflows.update(wf.id, {"name": "yaml-one", "steps": [
        {"id": "b", "uses": "noop"}]}, if_match=api.workflows.get(wf.id).version)  # fmt: skip
    assert [v.definition_version for v in api.workflows.versions(wf.id)] == [1, 2]
    assert updated.definition_version == 2
    assert api.workflows.archive(wf.id).status == "archived"
    assert api.me().tenant.slug


async def test_the_async_client_starts_streams_and_pages(client, tenant, live_url) -> None:
    wf = active_workflow(client, tenant.admin_headers, QUICK)
    async with AsyncClient(live_url, tenant.admin.token, retry=QUICK_RETRY) as aio:
        ids = [(await aio.runs.start(wf, {})).id for _ in range(3)]
        types = [e.type async for e in aio.runs.stream(ids[0])]
        assert types[-1] == "Succeeded"
        assert [r.id async for r in aio.runs.list(workflow_id=wf, limit=2)] == ids[::-1]
        with pytest.raises(NotFoundError):
            await aio.runs.get(uuid.uuid4())
