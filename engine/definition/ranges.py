"""Version ranges of ``skill:<name>@<range>``: npm's grammar and meaning, by node-semver.

``^0.2.3`` is ``>=0.2.3 <0.3.0``, ``1.x`` is ``>=1.0.0 <2.0.0``, ``1.2.3 - 2.3``, ``||``, and a
prerelease matches only a comparator of the same ``major.minor.patch`` that has one, as npm's
``semver.satisfies`` answers (docs/decisions.md, issue 18). Our one addition is the comma, which
the DSL has always documented as "and" (``>=1.0,<2``): it becomes npm's space.
"""

from __future__ import annotations

from functools import lru_cache

import nodesemver

MAX_RANGE_LENGTH = 100
"""Longer ranges are refused: npm's range regular expressions, which node-semver ports, are
super-linear on long inputs (whitespace runs are collapsed first, as npm itself does since its
CVE-2022-25883 fix); at 100 characters the worst input found parses in about 1 ms."""


class RangeSyntaxError(ValueError):
    """A version range that npm's grammar does not read."""

    def __init__(self, version_range: str, reason: str) -> None:
        super().__init__(f"'{version_range}' is not a semver range: {reason}")
        self.version_range = version_range
        self.reason = reason


def npm_range(version_range: str) -> str:
    """The range in npm's own syntax: the comma (our "and") becomes a space, ``==`` npm's
    ``=``, and each run of whitespace one space."""
    return " ".join(version_range.replace(",", " ").replace("==", "=").split())


@lru_cache(maxsize=1024)
def parse_range(version_range: str) -> nodesemver.Range:
    """The range, parsed once per text; `RangeSyntaxError` when npm would refuse it."""
    if len(version_range) > MAX_RANGE_LENGTH:
        raise RangeSyntaxError(version_range[:20] + "…", f"longer than {MAX_RANGE_LENGTH}")
    if "!=" in version_range:
        raise RangeSyntaxError(version_range, "npm has no '!='; write '<1.2.3 || >1.2.3'")
    try:
        return nodesemver.make_range(npm_range(version_range), False)
    except (ValueError, TypeError):
        raise RangeSyntaxError(
            version_range, "write e.g. '^1.2', '~1.2.3', '1.x', '>=1.0,<2', '1.0.0 - 2.0.0'"
        ) from None


def range_problem(version_range: str) -> str | None:
    """Why the range is unusable (a problem's message), or None."""
    try:
        parse_range(version_range)
    except RangeSyntaxError as e:
        return str(e)
    return None


def matches(version: str, version_range: str | None) -> bool:
    """Whether ``version`` is in the range (npm's meaning); None or empty matches anything.

    Raises `RangeSyntaxError` (a `ValueError`) for a range npm would refuse."""
    if not version_range:
        return True
    return bool(parse_range(version_range).test(version))
