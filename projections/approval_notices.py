"""Tell the holders of its role when an approval step starts waiting: a follower of the runs'
events that sends a notification (``Platform.send_notification``) per holder.

Not a view: its handler acts. It runs like a projection (``ProjectionRunner``, its own tracking
table ``approval_notices_tracking``), so each event is handled once its run's save committed,
in order, by one active process. Exactly once in effect: each notification's idempotency key is
``approval:<run>:<step>[:<index>]:<attempt>:<user>``, so an event handled again (a crash after
sending, before the tracking commit) finds the notifications it already queued. An approval
that is no longer waiting when its event is handled (decided already, or an old event on the
first start of this follower) tells no one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from domain.identity.permissions import BUILTIN_ROLES, role_at_least
from domain.kernel.errors import DomainError, NotFoundError
from domain.messaging.commands import SendNotification
from domain.platform import Platform
from domain.runs.application import Runs
from projections.batch import Cursor
from projections.queries.users import role_holders

CHANNEL = "email"
"""Like the ``notify`` step's default; each user's notifications list shows it as well."""


class ApprovalNotices:
    """Follows the runs' events; only ``Run.StepWaiting`` of an approval acts."""

    name = "approval_notices"
    uses = ("platform", "runs")
    """The applications it acts through, by name (given by ``api/background.py``)."""

    def __init__(self, platform: Platform, runs: Runs) -> None:
        self.platform = platform
        self.runs = runs

    def apply(self, curs: Cursor, events: Sequence[tuple[Any, Tracking]]) -> None:
        for event, _tracking in events:
            if type(event).__qualname__ == "Run.StepWaiting" and event.kind == "approval":
                self.tell(curs, event)

    def reset(self, curs: Cursor, application_name: str) -> bool:  # noqa: ARG002
        """Sent notifications stay sent: a rebuild keeps the position."""
        return False

    def tell(self, curs: Cursor, event: Any) -> list[UUID]:
        """Queue one notification per holder of the step's role; returns the recipients."""
        try:
            run = self.runs.load(event.originator_id)
            slot = run.slot(event.step_id, event.index)
        except NotFoundError:
            return []
        waiting = slot.get("waiting") or {}
        role = waiting.get("role")
        if waiting.get("kind") != "approval" or slot.get("attempt") != event.attempt:
            return []  # decided (or retried) since: nothing waits for this event any more
        if not isinstance(role, str) or not role.strip():
            return []
        role = role.strip()
        builtin = [r for r in BUILTIN_ROLES if role_at_least(r, role.casefold())]
        tenant = UUID(run.tenant_id)
        where = event.step_id if event.index is None else f"{event.step_id}[{event.index}]"
        key = event.step_id if event.index is None else f"{event.step_id}:{event.index}"
        told = []
        for user_id in role_holders(curs, tenant, builtin, role):
            command = SendNotification(
                tenant_id=tenant, recipient_user_id=user_id, type="approval",
                title=f"Approval needed: {where}"[:255],
                message=(f"Run {run.id} of workflow {run.workflow_id} waits at step {where}"
                         f" for a decision by the role {role}: /ui/runs/{run.id}"),
                channel=CHANNEL, priority="high",
                idempotency_key=f"approval:{run.id}:{key}:{event.attempt}:{user_id}"[:255],
            )  # fmt: skip
            try:
                self.platform.send_notification(command)
            except DomainError:  # e.g. the user was removed meanwhile: the others still hear
                continue
            told.append(user_id)
        return told
