"""The pure kinds: noop, transform, fail, wait, approval, signal (no I/O; may run inline)."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.runs.links import SIGNAL_NAME
from engine.steps import Failed, KindContext, Outcome, StepCall, Succeeded, Waiting


def noop(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """Succeeds with its ``with`` as output."""
    return Succeeded(call.input)


def transform(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """Output = the evaluated ``with`` (evaluated when the step was scheduled)."""
    return Succeeded(call.input)


def fail(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """Fails (not retryable) with ``with.message``."""
    given = call.input if isinstance(call.input, dict) else {}
    return Failed("fail", str(given.get("message") or "failed by a fail step"), False)


def wait(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """A durable timer until ``with.until`` (RFC 3339) or ``with.seconds`` from now."""
    given = call.input if isinstance(call.input, dict) else {}
    try:
        if given.get("until") is not None:
            until = datetime.fromisoformat(str(given["until"]).replace("Z", "+00:00"))
        else:
            until = call.now + timedelta(seconds=float(given.get("seconds", 0)))
    except (TypeError, ValueError, OverflowError) as e:
        return Failed("invalid_input", f"wait: {e}", False)
    if until.tzinfo is None:
        return Failed("invalid_input", "wait: until needs a time zone offset", False)
    if call.timeout_s is not None and until > call.now + timedelta(seconds=call.timeout_s):
        # the step's explicit timeout_s bounds its timer: one that would end past it fails
        # now rather than at the deadline (the outcome is already certain). A later attempt
        # at an `until` may fit; one of `seconds` never would.
        return Failed(
            "timeout",
            f"wait: the timer ends at {until.isoformat()}, past the attempt's timeout of "
            f"{call.timeout_s:g}s",
            given.get("until") is not None,
        )
    return Waiting("wait", until)


def approval(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """Waits for approve/reject by a user holding ``with.role``; the deadline is timeout_s."""
    given = call.input if isinstance(call.input, dict) else {}
    role = given.get("role")
    if not isinstance(role, str) or not role.strip():  # e.g. a template that gave "" or null
        return Failed("invalid_input", "approval: with.role must name a role", False)
    until = call.now + timedelta(seconds=call.timeout_s) if call.timeout_s else None
    return Waiting("approval", until, role.strip())


def signal(call: StepCall, ctx: KindContext) -> Outcome:  # noqa: ARG001
    """Waits for the signal ``with.name`` (``POST /v1/runs/{id}/signals/{name}``; its payload
    is the output); the deadline is timeout_s (then it fails with kind ``timeout``)."""
    given = call.input if isinstance(call.input, dict) else {}
    name = given.get("name")
    if not isinstance(name, str) or not SIGNAL_NAME.match(name):
        return Failed("invalid_input", "signal: with.name must name a signal", False)
    until = call.now + timedelta(seconds=call.timeout_s) if call.timeout_s else None
    return Waiting("signal", until, name=name)
