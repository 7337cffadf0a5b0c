"""Properties of the domain validators and lifecycles: any input is either accepted and
round-trips, or rejected with a DomainError, never any other exception."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import semver
from hypothesis import given
from hypothesis import strategies as st

from domain.identity.permissions import permission_list
from domain.kernel import lifecycle
from domain.kernel import validators as v
from domain.kernel.errors import DomainError, TransitionError, ValidationError
from domain.workflows.workflow import Workflow

anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(),
    st.lists(st.integers(), max_size=3),
)


def accepts(validator: Callable[[Any, str], Any], value: Any) -> tuple[bool, Any]:
    """Run a validator; only ValidationError naming our pointer may escape as a rejection."""
    try:
        return True, validator(value, "/field")
    except ValidationError as e:
        problems = e.problems
    assert problems
    assert all(p.startswith("/field") for p, _ in problems)
    return False, None


@given(st.one_of(st.text(max_size=120), st.from_regex(r"[a-z0-9-]{1,110}", fullmatch=True)))
def test_slug_accepts_only_kebab_case_and_round_trips(value: str) -> None:
    ok, out = accepts(v.slug, value)
    if ok:
        assert out == value
        assert len(value) <= 100
        assert re.fullmatch(r"[a-z0-9-]+", value)
        assert not value.startswith("-")
        assert not value.endswith("-")
        assert "--" not in value


@given(st.from_regex(r"[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,5}", fullmatch=True))
def test_every_kebab_case_slug_is_accepted(value: str) -> None:
    assert v.slug(value) == value


@given(st.one_of(st.text(max_size=80), st.emails(), anything))
def test_email_is_rejected_or_normalised_to_a_fixed_point(value: Any) -> None:
    ok, out = accepts(v.email, value)
    if ok:
        assert out == out.lower()
        assert v.email(out) == out


@given(st.one_of(st.text(max_size=30), anything))
def test_semver_is_rejected_or_round_trips(value: Any) -> None:
    ok, out = accepts(v.semver_version, value)
    if ok:
        assert str(semver.Version.parse(out)) == out


@given(st.integers(0, 10**5), st.integers(0, 10**5), st.integers(0, 10**5))
def test_every_plain_semver_is_accepted(major: int, minor: int, patch: int) -> None:
    text = f"{major}.{minor}.{patch}"
    assert v.semver_version(text) == text


@given(anything)
def test_price_is_rejected_or_a_non_negative_two_decimal_amount(value: Any) -> None:
    ok, out = accepts(v.price, value)
    if ok:
        assert isinstance(out, Decimal)
        assert out >= 0
        assert out.as_tuple().exponent == -2
        assert v.price(out) == out
        assert v.price(str(out)) == out


@given(st.integers(0, 10**8 - 1), st.integers(0, 99))
def test_every_whole_cents_price_is_accepted(units: int, cents: int) -> None:
    assert v.price(f"{units}.{cents:02d}") == Decimal(units) + Decimal(cents) / 100


@given(anything)
def test_rating_is_rejected_or_between_0_and_5(value: Any) -> None:
    ok, out = accepts(v.rating, value)
    if ok:
        assert Decimal(0) <= out <= Decimal(5)
        assert v.rating(out) == out


@given(st.one_of(st.text(max_size=300), anything))
def test_name_is_rejected_or_2_to_255_characters(value: Any) -> None:
    ok, out = accepts(v.name, value)
    if ok:
        assert 2 <= len(out) <= 255
        assert v.name(out) == out


@given(st.one_of(st.text(max_size=120), anything))
def test_key_is_rejected_or_round_trips(value: Any) -> None:
    ok, out = accepts(v.key, value)
    if ok:
        assert out == value
        assert 1 <= len(out) <= 100


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=3), st.integers()), children, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_json_object_is_rejected_or_survives_a_json_round_trip(value: Any) -> None:
    ok, out = accepts(v.json_object, value)
    if ok:
        assert isinstance(out, dict)
        assert v.json_object(out, "/x") == out


@given(json_values)
def test_permissions_are_rejected_or_known_and_distinct(value: Any) -> None:
    ok, out = accepts(permission_list, value)
    if ok:
        assert len(set(out)) == len(out)


lifecycles = st.sampled_from(
    [
        lifecycle.TENANT,
        lifecycle.USER,
        lifecycle.WORKFLOW,
        lifecycle.SKILL,
        lifecycle.INSTALLATION,
        lifecycle.NOTIFICATION,
    ]
)


@given(lifecycles, st.data())
def test_a_transition_is_allowed_exactly_when_the_table_says_so(
    lc: lifecycle.Lifecycle, data: st.DataObject
) -> None:
    statuses = sorted(lc.statuses)
    current = data.draw(st.sampled_from(statuses))
    target = data.draw(st.one_of(st.sampled_from(statuses), st.text(max_size=10)))
    try:
        assert lc.check("id", current, target) == target
    except TransitionError:
        assert target in lc.statuses
        assert target not in lc.transitions[current]
    except ValidationError:
        assert target not in lc.statuses
    else:
        assert target in lc.transitions[current]


@given(st.lists(st.sampled_from(["activate", "pause", "archive"]), max_size=12))
def test_workflow_commands_either_record_one_event_or_raise_and_archived_stays_final(
    actions: list[str],
) -> None:
    workflow = Workflow(
        tenant_id=uuid4(), name="wf", definition={}, created_by=None, created_at=datetime.now(UTC)
    )
    workflow.collect_events()
    for action in actions:
        before = workflow.status
        try:
            getattr(workflow, action)()
        except DomainError:
            assert workflow.collect_events() == []
            assert workflow.status == before
        else:
            assert before != "archived"
            assert len(workflow.collect_events()) == 1
            assert workflow.status in lifecycle.WORKFLOW.transitions[before]
