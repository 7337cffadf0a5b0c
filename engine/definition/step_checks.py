"""A definition's shape and step rules: fields, unique ids, known needs, no cycle, `uses`, inputs.

Part of submit-time validation (`engine.definition.validation` gathers every problem): each
function here yields `Problem`s, each with the JSON Pointer of what it is about.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, TypeGuard

import networkx as nx
import pydantic

from domain.kernel.errors import Problem
from domain.kernel.pointers import escape as _escape
from domain.runs.links import SIGNAL_NAME
from engine.definition.dsl import (
    BUILTIN_KINDS,
    SKILL_NAME_PATTERN,
    SKILL_PREFIX,
    STEP_ID_PATTERN,
    WORKFLOW_PREFIX,
    Definition,
    Step,
    parse_uses,
    parse_workflow_uses,
)
from engine.definition.ranges import range_problem
from engine.scheduling.retry import never_retried

SkillResolver = Callable[[str, str | None], "bool | str"]
"""(skill name, semver range or None) -> True if an installed active skill matches, else False or
an error message."""

_STEP_ID = re.compile(STEP_ID_PATTERN)
_SKILL_NAME = re.compile(SKILL_NAME_PATTERN)
_RANGE = re.compile(r"^[0-9A-Za-z.*^~<>=!,| +-]{1,100}$")


def suggest(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean 'x'?" for the closest of `choices`, else ""."""
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f"; did you mean '{match[0]}'?" if match else ""


def step_ids(steps: list[Any]) -> dict[str, int]:
    """Each step id's position (its first use, when an id is used twice)."""
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        sid = step.get("id") if isinstance(step, dict) else None
        if isinstance(sid, str) and sid not in ids:
            ids[sid] = i
    return ids


# --------------------------------------------------------------------------------------------
# Shape


_FIELDS: dict[str, list[str]] = {
    "": list(Definition.model_fields),
    "step": [f.alias or name for name, f in Step.model_fields.items()],
    "retry": [
        "max_attempts",
        "initial_interval_s",
        "multiplier",
        "max_interval_s",
        "jitter",
        "retry_on",
    ],
    "defaults": ["timeout_s", "retry"],
}


def shape_problems(definition: dict[str, Any]) -> Iterator[Problem]:
    """The definition against the model, strictly: a value of another JSON type than the
    published schema says (``0`` for ``false``, ``"3"`` for ``3``) is a problem, not coerced.
    (Loading a stored definition, ``compiled.py``, stays lax: versions saved before this check
    still run.)"""
    try:
        Definition.model_validate(definition, strict=True)
    except pydantic.ValidationError as e:
        for error in e.errors():
            loc = [part for part in error["loc"] if not _is_union_tag(part)]
            yield Problem(
                "/" + "/".join(_escape(p) for p in loc) if loc else "", _shape_message(error, loc)
            )


def _is_union_tag(part: Any) -> bool:
    # pydantic names the branch of `X | None` it tried, e.g. ("retry", "RetryPolicy", "jitter")
    return isinstance(part, str) and part[:1].isupper()


def _shape_message(error: Any, loc: list[Any]) -> str:
    kind, field = error["type"], str(loc[-1]) if loc else ""
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "extra_forbidden":
        section = (
            "step" if len(loc) == 3 and loc[0] == "steps" else str(loc[-2]) if len(loc) >= 2 else ""
        )
        return f"unknown field '{field}'" + suggest(field, _FIELDS.get(section, []))
    if kind == "string_pattern_mismatch" and (field == "id" or "needs" in loc):
        return (
            f"'{error['input']}' is not a valid step id: it must start with a lowercase letter, "
            "then up to 62 lowercase letters, digits or underscores"
        )
    if kind == "literal_error" and field == "trigger":
        return f"trigger '{error['input']}' is not one of all_success, any_success, all_done"
    return str(error["msg"])


# --------------------------------------------------------------------------------------------
# Steps and the graph


def step_problems(steps: list[Any], resolver: SkillResolver | None) -> Iterator[Problem]:
    ids = step_ids(steps)
    graph: nx.DiGraph[str] = nx.DiGraph()
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        at = f"/steps/{i}"
        sid = step.get("id")
        name = f"step '{sid}'" if isinstance(sid, str) else f"step {i}"
        if isinstance(sid, str) and ids.get(sid) != i:
            yield Problem(f"{at}/id", f"step id '{sid}' is already used by /steps/{ids[sid]}")
        uses = step.get("uses")
        if isinstance(uses, str):
            yield from _uses_problems(uses, f"{at}/uses", name, resolver)
            yield from _kind_input_problems(uses, step, at, name)
            if uses == "wait":
                yield from _wait_timeout_problems(step, at, name)
        needs = step.get("needs")
        if isinstance(needs, list):
            seen: set[str] = set()
            for j, need in enumerate(needs):
                if not isinstance(need, str) or not _STEP_ID.match(need):
                    continue  # the shape check reports it
                if need in seen:
                    yield Problem(f"{at}/needs/{j}", f"{name} lists '{need}' in needs twice")
                elif need == sid:
                    yield Problem(f"{at}/needs/{j}", f"{name} needs itself")
                elif need not in ids:
                    yield Problem(
                        f"{at}/needs/{j}",
                        f"{name} needs '{need}', which is not a step id" + suggest(need, ids),
                    )
                elif isinstance(sid, str) and ids.get(sid) == i:
                    graph.add_edge(need, sid)
                seen.add(need)
        if step.get("max_parallel") is not None and step.get("foreach") is None:
            yield Problem(f"{at}/max_parallel", f"{name} sets max_parallel but has no foreach")
        retry = step.get("retry")
        yield from _retry_problems(retry, f"{at}/retry")
    for cycle in islice(nx.simple_cycles(graph), 5):
        members = sorted(cycle, key=ids.__getitem__)
        first = members[0]
        # edges run need -> dependant, so walking the cycle backwards reads "x needs y"
        loop = [*cycle[cycle.index(first) :], *cycle[: cycle.index(first)], first][::-1]
        chain = ", which needs ".join(f"'{s}'" for s in loop[1:])
        yield Problem(
            f"/steps/{ids[first]}/needs",
            f"the steps' needs form a cycle: '{first}' needs {chain}",
        )


def _retry_problems(retry: Any, at: str) -> Iterator[Problem]:
    if not isinstance(retry, dict) or not isinstance(retry.get("retry_on"), list):
        return
    for j, kind in enumerate(retry["retry_on"]):
        if isinstance(kind, str) and never_retried(kind):
            yield Problem(
                f"{at}/retry_on/{j}",
                f"errors of kind '{kind}' are never retried: another attempt would fail alike",
            )


def _uses_problems(
    uses: str, at: str, name: str, resolver: SkillResolver | None
) -> Iterator[Problem]:
    if uses in BUILTIN_KINDS:
        return
    if uses.startswith(WORKFLOW_PREFIX):  # resolved by `engine.definition.subworkflows`
        if parse_workflow_uses(uses) is None:
            yield Problem(at, f"{name} uses '{uses}': write '{WORKFLOW_PREFIX}<name>[@<version>]'")
        return
    if not uses.startswith(SKILL_PREFIX):
        choices = [*BUILTIN_KINDS, f"{SKILL_PREFIX}<name>", f"{WORKFLOW_PREFIX}<name>"]
        yield Problem(
            at,
            f"{name} uses '{uses}', which is neither a built-in kind ({', '.join(BUILTIN_KINDS)}) "
            f"nor '{SKILL_PREFIX}<name>[@<range>]' nor '{WORKFLOW_PREFIX}<name>[@<version>]'"
            + suggest(uses, choices),
        )
        return
    skill, version_range = parse_uses(uses)
    if not _SKILL_NAME.match(skill):
        yield Problem(at, f"'{skill}' is not a valid skill name (lowercase letters, digits, _ . -)")
        return
    if "@" in uses:
        problem = (
            range_problem(version_range)
            if version_range and _RANGE.match(version_range)
            else f"'{version_range or ''}' is not a semver range (e.g. '^1.2', '>=1.0,<2')"
        )
        if problem:
            yield Problem(at, problem)
            return
    if resolver is not None:
        found = resolver(skill, version_range)
        if found is not True:
            wanted = f"'{skill}'" + (f" matching '{version_range}'" if version_range else "")
            yield Problem(
                at, found if isinstance(found, str) else f"no installed active skill {wanted}"
            )


def _kind_input_problems(uses: str, step: dict[str, Any], at: str, name: str) -> Iterator[Problem]:
    """The built-in kinds' required inputs (only where `with` is a literal object)."""
    given = step.get("with")
    if given is not None and not isinstance(given, dict):
        if uses in ("http", "notify", "wait", "approval", "signal") and not _is_template(given):
            yield Problem(f"{at}/with", f"{name} ({uses}) needs an object as its with")
        return
    keys = set(given or {})
    required = {"http": ["url"], "approval": ["role"], "notify": ["message"],
                "signal": ["name"]}.get(uses, [])  # fmt: skip
    for key in required:
        if key not in keys:
            yield Problem(f"{at}/with", f"{name} ({uses}) needs with.{key}")
    role = (given or {}).get("role")
    empty = not isinstance(role, str) or not role.strip()
    if uses == "approval" and "role" in keys and not _is_template(role) and empty:
        yield Problem(f"{at}/with/role", f"{name} (approval) needs a role name in with.role")
    signal = (given or {}).get("name")
    named = isinstance(signal, str) and SIGNAL_NAME.match(signal)
    if uses == "signal" and "name" in keys and not _is_template(signal) and not named:
        yield Problem(f"{at}/with/name", f"{name} (signal): a signal name is 1-100 letters, "
                      "digits, '_', '.', ':' or '-'")  # fmt: skip
    if uses == "wait" and len(keys & {"seconds", "until"}) != 1:
        yield Problem(f"{at}/with", f"{name} (wait) needs exactly one of with.seconds, with.until")


def _wait_timeout_problems(step: dict[str, Any], at: str, name: str) -> Iterator[Problem]:
    """A `wait` whose explicit `timeout_s` is shorter than its literal `seconds` could never
    end within it (`defaults.timeout_s` does not apply to a wait: a timer's length is its own)."""
    timeout, given = step.get("timeout_s"), step.get("with")
    seconds = _literal_seconds(given.get("seconds") if isinstance(given, dict) else None)
    if not (_is_number(timeout) and _is_number(seconds)) or timeout >= seconds:
        return
    yield Problem(
        f"{at}/timeout_s",
        f"{name} (wait) has timeout_s {timeout:g}, shorter than its with.seconds {seconds:g}: "
        "the timer could never end within its timeout",
    )


def _literal_seconds(value: Any) -> Any:
    """`with.seconds` as the wait kind reads it (a number, or a numeric string), if literal."""
    if isinstance(value, str) and not _is_template(value):
        try:
            return float(value)
        except ValueError:
            return None
    return value


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_template(value: Any) -> bool:
    return isinstance(value, str) and "${{" in value
