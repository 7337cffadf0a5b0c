"""The ``notify`` kind: queue a notification through the Platform application."""

from __future__ import annotations

from uuid import UUID

from domain.kernel.errors import DomainError, ValidationError
from domain.messaging.commands import SendNotification
from engine.steps import Failed, KindContext, Outcome, StepCall, Succeeded


def notify(call: StepCall, ctx: KindContext) -> Outcome:
    """``channel``, ``to_user``, ``title``, ``message``, ``priority``; succeeds once queued."""
    if ctx.platform is None:
        return Failed("unavailable", "notify: this worker has no Platform application", True)
    given = call.input if isinstance(call.input, dict) else {}
    try:
        recipient = UUID(str(given.get("to_user") or call.started_by))
        tenant = UUID(call.tenant_id)
    except ValueError:
        return Failed("invalid_input", f"notify: to_user {given.get('to_user')!r} is no user id",
                      False)  # fmt: skip
    cmd = SendNotification(
        tenant_id=tenant, recipient_user_id=recipient, type="workflow",
        title=given.get("title") or "Workflow notification", message=given.get("message"),
        channel=given.get("channel") or "email", priority=given.get("priority") or "medium",
        idempotency_key=call.idempotency_key,
    )  # fmt: skip
    try:
        notification = ctx.platform.send_notification(cmd)
    except ValidationError as e:
        return Failed("invalid_input", f"notify: {e}", False)
    except DomainError as e:
        return Failed("notify", f"notify: {e}", True)
    return Succeeded({"notification_id": str(notification.id)})
