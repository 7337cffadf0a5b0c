"""Status lifecycles: the legal transitions of every status field, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.kernel.errors import TransitionError, ValidationError


@dataclass(frozen=True)
class Lifecycle:
    """A status field's values and the transitions allowed between them."""

    resource_type: str
    transitions: Mapping[str, frozenset[str]]
    initial: str

    @property
    def statuses(self) -> frozenset[str]:
        return frozenset(self.transitions)

    def is_final(self, status: str) -> bool:
        return not self.transitions.get(status)

    def check(self, resource_id: Any, current: str, target: str, pointer: str = "/status") -> str:
        """Return ``target`` if ``current -> target`` is legal, else raise.

        An unknown target is invalid input (422); a known but illegal one is a conflict
        with the resource's state (409).
        """
        if target not in self.transitions:
            raise ValidationError.one(
                pointer, f"must be one of: {', '.join(sorted(self.transitions))}"
            )
        if target not in self.transitions.get(current, frozenset()):
            raise TransitionError(self.resource_type, resource_id, current, target)
        return target


def _lc(resource_type: str, initial: str, **transitions: tuple[str, ...]) -> Lifecycle:
    return Lifecycle(resource_type, {k: frozenset(v) for k, v in transitions.items()}, initial)


TENANT = _lc(
    "tenant",
    "active",
    active=("suspended", "cancelled"),
    suspended=("active", "cancelled"),
    cancelled=(),
)
USER = _lc(
    "user",
    "active",
    active=("inactive",),
    inactive=("active",),
    invited=("active", "inactive"),
)
WORKFLOW = _lc(
    "workflow",
    "draft",
    draft=("active", "archived"),
    active=("paused", "archived"),
    paused=("active", "archived"),
    archived=(),
)
SKILL = _lc(
    "marketplace_skill",
    "pending",
    pending=("active", "rejected", "archived"),
    active=("pending", "archived"),  # a new version goes back to review
    rejected=("pending", "archived"),
    archived=(),
)
INSTALLATION = _lc(
    "installation",
    "active",
    active=("disabled",),
    disabled=("active",),
)
NOTIFICATION = _lc(
    "notification",
    "pending",
    pending=("sent", "failed"),
    sent=("delivered", "failed"),
    delivered=(),
    failed=(),
)
