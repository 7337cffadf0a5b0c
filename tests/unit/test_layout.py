"""The house rules a reader relies on: each module says its one job first, and stays short."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "engine", "projections", "api")
MAX_LINES = 400


def _modules() -> list[Path]:
    return sorted(
        p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    )


MODULES = _modules()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_opens_with_the_one_job_it_does(path: Path) -> None:
    text = path.read_text()
    if path.name == "__init__.py" and not text.strip():
        return  # an empty package marker says nothing and needs nothing
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring, f"{path.relative_to(ROOT)} has no docstring"
    first = docstring.strip().splitlines()[0]
    assert len(first.split()) >= 3, f"{path.relative_to(ROOT)}: {first!r} says too little"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_module_stays_under_the_line_limit(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


def test_the_rules_see_every_package() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in MODULES} == set(PACKAGES)


OTEL_API = ("opentelemetry.trace", "opentelemetry.context", "opentelemetry.propagate")
"""The OpenTelemetry API: a no-op without an SDK; the SDK and instrumentations are the ``otel``
extra, set up by ``api/telemetry.py`` alone (import-linter keeps domain and projections out)."""


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", [p for p in MODULES if p.relative_to(ROOT).parts[0] == "engine"],
    ids=lambda p: str(p.relative_to(ROOT)),
)  # fmt: skip
def test_the_engine_uses_only_the_opentelemetry_api(path: Path) -> None:
    for name in _imported(path):
        if name.split(".")[0] == "opentelemetry":
            assert name.startswith(OTEL_API), f"{path.relative_to(ROOT)} imports {name}"
