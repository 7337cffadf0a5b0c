"""Skill version ranges mean what npm's `semver.satisfies` says (node-semver), plus our comma."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.definition.ranges import (
    MAX_RANGE_LENGTH,
    RangeSyntaxError,
    matches,
    npm_range,
    range_problem,
)

NPM = json.loads((Path(__file__).parent / "npm_semver_ranges.json").read_text())
"""300 ranges (240 that npm reads, 60 that it refuses) against 17 versions, as answered by npm's
own `semver` 7.7.4 (`validRange`, `satisfies`): "1" where the version satisfies the range, null
for a range npm refuses. The ranges are random draws from npm's grammar (x-ranges, tildes,
carets, hyphens, `||`, prereleases, `v` and `=` prefixes, stray spaces)."""


@pytest.mark.parametrize(
    ("version_range", "inside", "outside"),
    [
        # caret: the leftmost non-zero part is fixed
        ("^1.2.3", ["1.2.3", "1.9.9"], ["1.2.2", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2", "1.0.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4", "0.1.0"]),
        ("^0.x", ["0.0.0", "0.9.9"], ["1.0.0"]),
        ("^1.2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0"]),
        # tilde: patch-level changes (minor-level when only the major is given)
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("~0.2.3", ["0.2.5"], ["0.3.0"]),
        # x-ranges and partial versions
        ("1.x", ["1.0.0", "1.5.0", "1.9.9"], ["0.9.9", "2.0.0"]),
        ("1.2.x", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("1", ["1.0.0", "1.7.3"], ["2.0.0"]),
        ("*", ["0.0.1", "10.0.0"], ["1.0.0-beta"]),
        ("<=1.2", ["1.2.9", "0.1.0"], ["1.3.0"]),
        (">1.x", ["2.0.0"], ["1.9.9"]),
        # hyphen ranges: a partial upper bound covers its whole x-range
        ("1.2.3 - 2.3.4", ["1.2.3", "2.3.4"], ["1.2.2", "2.3.5"]),
        ("1.2.3 - 2.3", ["2.3.9"], ["2.4.0"]),
        ("1.2 - 2", ["1.2.0", "2.9.9"], ["1.1.9", "3.0.0"]),
        # or
        ("1.x || >=3.0.0", ["1.4.0", "3.0.0", "4.1.0"], ["2.0.0"]),
        ("^1 || ^2", ["1.0.0", "2.5.0"], ["3.0.0", "0.9.0"]),
        # exact
        ("1.2.3", ["1.2.3"], ["1.2.4"]),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        ("v1.2.3", ["1.2.3"], ["1.2.4"]),
        # prereleases: only through a comparator of the same major.minor.patch that has one
        ("^1.2.3-beta.2", ["1.2.3-beta.2", "1.2.3-beta.3", "1.2.3", "1.5.0"],
         ["1.2.3-alpha", "1.2.4-beta", "2.0.0-rc.1"]),
        (">=1.0.0", ["1.0.0", "2.0.0"], ["2.0.0-beta"]),
        ("^1.2.3", ["1.3.0"], ["1.3.0-beta", "1.2.4-rc.1"]),
        (">=2.0.0-beta <2.0.0", ["2.0.0-beta", "2.0.0-rc.1"], ["2.0.0", "2.0.1-beta"]),
        # build metadata is ignored
        ("1.2.3", ["1.2.3+build.7"], []),
    ],
)  # fmt: skip
def test_npm_semantics(version_range: str, inside: list[str], outside: list[str]) -> None:
    for version in inside:
        assert matches(version, version_range), (version, version_range)
    for version in outside:
        assert not matches(version, version_range), (version, version_range)


@pytest.mark.parametrize(
    ("version", "version_range", "ok"),
    [
        # the forms the DSL documented before npm's grammar (docs/skills.md, the 422's hint)
        ("1.4.0", ">=1.0.0,<2.0.0", True), ("2.0.0", ">=1.0.0,<2.0.0", False),
        ("1.4.0", ">=1.0,<2", True), ("1.4.0", ">= 1.0, < 2", True),
        ("1.2.0", "=1.2.0", True), ("1.2.0", "1.2.0", True), ("1.2.0", "==1.2.0", True),
        ("1.3.0", "~1.2", False), ("1.4.0", "^1.2", True),
        # what the hand-written parser got wrong
        ("1.5.0", "1.x", True), ("0.3.0", "^0.2.3", False), ("1.2.0", "1.2", True),
        ("1.2.5", "1.2", True),
        # no range
        ("0.0.1", None, True), ("0.0.1", "", True),
    ],
)  # fmt: skip
def test_the_documented_forms(version: str, version_range: str | None, ok: bool) -> None:
    assert matches(version, version_range) is ok


def test_the_comma_is_npms_space() -> None:
    assert npm_range(">=1.0,<2") == ">=1.0 <2"
    assert npm_range(">=1.0, <2 ||  ^3") == ">=1.0 <2 || ^3"
    assert npm_range("==1.2.3") == "=1.2.3"


@pytest.mark.parametrize(
    "version_range",
    ["^^1", "abc", "1.2.3.4", "=>1", ">1 <", "foo || bar", "1.2.3 -", "{1}", "01.2.3"],
)
def test_what_npm_refuses_is_refused_with_a_hint(version_range: str) -> None:
    problem = range_problem(version_range)
    assert problem is not None
    assert f"'{version_range}' is not a semver range" in problem
    with pytest.raises(RangeSyntaxError):
        matches("1.0.0", version_range)


def test_not_equal_is_refused_with_its_npm_spelling() -> None:
    assert "write '<1.2.3 || >1.2.3'" in (range_problem(">=1.0,!=1.5.0") or "")
    assert matches("1.4.0", "<1.5.0 || >1.5.0")
    assert not matches("1.5.0", "<1.5.0 || >1.5.0")


def test_long_ranges_are_refused_and_whitespace_runs_cost_nothing() -> None:
    assert "longer than" in (range_problem("1" + " " * MAX_RANGE_LENGTH) or "")
    # 98 spaces between two tokens took node-semver's regular expressions ~0.1 s, 180 ~2 s
    # (npm's CVE-2022-25883): the runs are collapsed before parsing
    hostile = "1.2.3" + " " * (MAX_RANGE_LENGTH - 6) + "<"
    started = time.process_time()
    assert range_problem(hostile) is not None
    assert time.process_time() - started < 0.05


def test_the_same_answers_as_npm() -> None:
    versions, ranges = NPM["versions"], NPM["ranges"]
    assert len(ranges) == 300
    for version_range, expected in ranges.items():
        if expected is None:
            assert range_problem(version_range) is not None, version_range
            continue
        assert range_problem(version_range) is None, version_range
        got = "".join("1" if matches(v, version_range) else "0" for v in versions)
        assert got == expected, version_range
