"""One definition of a resource's methods, two senders: the descriptors ``endpoint`` and
``listing`` turn a call builder (``calls*.py``) into a method that sends its ``Call``.

A resource class is written once, generic in how it sends (``Blocking`` or ``Awaiting``);
``Client`` holds ``Workflows[Blocking]`` whose ``get(...)`` returns the answer, and
``AsyncClient`` holds ``Workflows[Awaiting]`` whose ``get(...)`` returns an awaitable of it.
The types follow (``__get__`` is overloaded on the resource's mode), so mypy checks both.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Generic, ParamSpec, Protocol, Self, TypeVar, overload

from api.client.calls import Call, Lister
from api.client.paging import AsyncPager, Pager

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


class Blocking:
    """The mode of ``Client``'s resources: a method returns the answer."""


class Awaiting:
    """The mode of ``AsyncClient``'s resources: a method returns an awaitable of it."""


S = TypeVar("S", Blocking, Awaiting)


class Sender(Protocol):
    """What a resource sends through: a client."""

    def send(self, call: Call[Any], /) -> Any: ...

    def pager(self, listing: Lister[Any], /) -> Any: ...


class Resource(Generic[S]):
    """A group of endpoints (``client.runs``...), sent through ``client``."""

    def __init__(self, client: Sender) -> None:
        self._client = client


class endpoint(Generic[P, T]):  # noqa: N801 - used like a decorator, lower-case reads better
    """A method that sends ``build(...)`` and gives its parsed answer."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Resource[Blocking], owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: Resource[Awaiting], owner: type[Any]) -> Callable[P, Awaitable[T]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        send, build = obj._client.send, self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return send(build(*args, **kwargs))

        return method


class listing(Generic[P, T]):  # noqa: N801
    """A method that gives a pager over every page of ``build(...)``'s list endpoint."""

    def __init__(self, build: Callable[P, Lister[T]]) -> None:
        self.build = build

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: Resource[Blocking], owner: type[Any]) -> Callable[P, Pager[T]]: ...
    @overload
    def __get__(
        self, obj: Resource[Awaiting], owner: type[Any]
    ) -> Callable[P, AsyncPager[T]]: ...
    def __get__(self, obj: Resource[Any] | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        pager, build = obj._client.pager, self.build

        @functools.wraps(build)
        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return pager(build(*args, **kwargs))

        return method


def sends(build: Callable[..., Call[Any]]) -> Callable[[F], F]:
    """Marks a method written per mode (a stream, a login) with the call it sends, so the
    client's table of calls (``calls_of``) lists it too."""

    def mark(method: F) -> F:
        method.build = build  # type: ignore[attr-defined]
        return method

    return mark


def calls_of(cls: type[Any]) -> dict[str, Callable[..., Any]]:
    """The builders behind ``cls``'s methods (``endpoint``, ``listing``, ``sends``), by name."""
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            build = getattr(value, "build", None)
            if callable(build) and not name.startswith("_"):
                found[name] = build
    return found
