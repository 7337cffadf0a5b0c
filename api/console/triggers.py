"""A workflow page's triggers: its schedules (with their next fire times) and its hooks, read
through the JSON routes' own functions, for those who may manage them (``triggers:manage``)."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import Request

from api.auth import Principal
from api.console.session import container_of
from api.routes.hooks import list_hooks
from api.routes.schedules import list_schedules
from api.schemas.triggers import SchedulePublic
from projections.queries.paging import PageRequest

PERMISSION = "triggers:manage"
SHOWN = PageRequest(limit=100)
OVERLAPS = ("skip", "allow", "cancel_previous")
CATCHUPS = ("none", "last", "all")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _local(moment: datetime, zone: str) -> str:
    try:
        return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")
    except (ValueError, KeyError):  # a zone the cron library knows and zoneinfo not: UTC only
        return ""


def schedule_row(schedule: SchedulePublic) -> dict[str, Any]:
    """A schedule as the page shows it: its fields and each next fire time in UTC (RFC 3339)
    and in the schedule's own time zone."""
    upcoming = [{"utc": _utc(t), "local": _local(t, schedule.timezone)}
                for t in schedule.next_fire_times]  # fmt: skip
    return {"s": schedule, "next": upcoming}


def triggers_context(request: Request, principal: Principal, workflow_id: UUID) -> dict[str, Any]:
    """The workflow page's schedules and hooks (``None`` each for a role that may not manage
    them: the page shows no trigger section then)."""
    if not principal.can(PERMISSION):
        return {"schedules": None, "hooks": None}
    container = container_of(request)
    schedules = list_schedules(workflow_id, principal, container, SHOWN).items
    hooks = list_hooks(workflow_id, principal, container, SHOWN, request).items
    return {"schedules": [schedule_row(s) for s in schedules], "hooks": hooks,
            "overlaps": OVERLAPS, "catchups": CATCHUPS}  # fmt: skip


def signing_example(url: str, secret: str) -> str:
    """A shell example that signs and sends one delivery (curl and openssl), the values quoted
    for the shell."""
    return (
        f"SECRET={shlex.quote(secret)}\n"
        f"URL={shlex.quote(url)}\n"
        'BODY=\'{"hello":"world"}\'; TS=$(date +%s)\n'
        'SIG=$(printf \'%s.%s\' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" -hex'
        " | sed 's/^.* //')\n"
        "curl -sS -X POST \"$URL\" -H 'Content-Type: application/json' \\\n"
        '  -H "X-Platinum-Timestamp: $TS" -H "X-Platinum-Delivery: delivery-$TS" \\\n'
        '  -H "X-Platinum-Signature: sha256=$SIG" --data-binary "$BODY"\n'
    )
