"""Domain errors: one root, subclasses the API maps to problem+json statuses."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple


class Problem(NamedTuple):
    """One thing wrong with an input, and where: ``Problem("/slug", "must be kebab-case")``.

    ``pointer`` is a JSON Pointer into the submitted document; it unpacks like a pair.
    """

    pointer: str
    message: str


class DomainError(Exception):
    """Root of every error raised by the domain layer."""


class ValidationError(DomainError):
    """The input is invalid; ``problems`` lists every (pointer, message) found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        detail = "; ".join(f"{p or '/'}: {m}" for p, m in self.problems)
        super().__init__(f"invalid input: {detail}")

    @classmethod
    def one(cls, pointer: str, message: str) -> ValidationError:
        return cls([Problem(pointer, message)])


class NotFoundError(DomainError):
    """No such resource, or it belongs to another tenant (indistinguishable on purpose)."""

    def __init__(self, resource_type: str, resource_id: Any) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id
        super().__init__(f"{resource_type} {resource_id} not found")


class ConflictError(DomainError):
    """A uniqueness rule or a concurrent write prevented the command."""

    def __init__(self, message: str, *, resource_type: str = "", resource_id: Any = None) -> None:
        self.resource_type = resource_type
        self.resource_id = resource_id
        super().__init__(message)


class StaleVersionError(ConflictError):
    """The caller's expected version (If-Match) is not the current one (HTTP 412)."""

    def __init__(self, resource_type: str, resource_id: Any, expected: int, actual: int) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{resource_type} {resource_id} is at version {actual}, not {expected}",
            resource_type=resource_type,
            resource_id=resource_id,
        )


class TransitionError(ConflictError):
    """An illegal status change, e.g. re-activating an archived workflow."""

    def __init__(self, resource_type: str, resource_id: Any, current: str, target: str) -> None:
        self.current = current
        self.target = target
        super().__init__(
            f"{resource_type} {resource_id} cannot go from {current!r} to {target!r}",
            resource_type=resource_type,
            resource_id=resource_id,
        )


class PermissionDeniedError(DomainError):
    """The actor lacks a permission the command requires."""

    def __init__(self, permission: str, actor_id: Any = None) -> None:
        self.permission = permission
        self.actor_id = actor_id
        super().__init__(f"actor {actor_id} lacks permission {permission!r}")


class AuthenticationError(DomainError):
    """Bad credentials; deliberately says nothing about which part was wrong."""

    def __init__(self) -> None:
        super().__init__("invalid credentials")
