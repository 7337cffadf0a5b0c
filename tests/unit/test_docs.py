"""User docs that are generated or hold code: docs/dsl-reference.md is its script's output, and
every example in it is a valid definition."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.definition.validation import validate_definition

ROOT = Path(__file__).resolve().parents[2]


def generator() -> ModuleType:
    path = ROOT / "docs" / "gen_dsl_reference.py"
    spec = importlib.util.spec_from_file_location("gen_dsl_reference", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dsl_reference_is_the_generated_one() -> None:
    committed = (ROOT / "docs" / "dsl-reference.md").read_text()
    assert committed == generator().render(), "run: python docs/gen_dsl_reference.py"


def test_the_reference_covers_every_built_in_kind_and_both_uses_forms() -> None:
    from engine.definition.dsl import BUILTIN_KINDS, SKILL_PREFIX, WORKFLOW_PREFIX

    kinds = [k for k, _, _ in generator().KINDS]
    assert set(BUILTIN_KINDS) <= set(kinds)
    assert any(k.startswith(SKILL_PREFIX) for k in kinds)
    assert any(k.startswith(WORKFLOW_PREFIX) for k in kinds)


@pytest.mark.parametrize("kind", [k for k, _, _ in generator().KINDS])
def test_each_kinds_example_validates(kind: str) -> None:
    example: dict[str, Any] = generator().examples()[kind]
    assert validate_definition(example) == []
    uses = {step["uses"].split(":")[0].split("@")[0] for step in example["steps"]}
    assert kind.split(":")[0].split("<")[0] in uses


def test_a_field_without_a_description_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = generator()
    monkeypatch.delitem(gen.NOTES, "step.needs")
    with pytest.raises(SystemExit, match=r"step\.needs"):
        gen.render()
