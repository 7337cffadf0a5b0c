"""The editor's check: a definition's text through the validate endpoint's own code, each
problem with the line it points at, and the DAG preview of what parsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from api.auth import Principal
from api.console.pointer_lines import line_of, parse_error_line
from api.console.session import container_of
from api.console.workflow_preview import Preview, preview
from api.errors import ProblemError
from api.routes.workflows import validate_workflow
from engine.definition.dsl import load_definition_text

PREFIX = "/definition"


@dataclass(frozen=True)
class Problem:
    pointer: str
    line: int | None
    message: str


@dataclass(frozen=True)
class Check:
    problems: list[Problem]
    preview: Preview | None

    @property
    def valid(self) -> bool:
        return not self.problems


def _parsed(text: str) -> Any:
    try:
        return load_definition_text(text)
    except (ValueError, RecursionError):
        return None


def check_definition(request: Request, principal: Principal, text: str) -> Check:
    """``POST /v1/workflows/validate`` with ``{"definition": text}``, called in-process (same
    parse, step cap, validator and role checks); pointers are made relative to the text."""
    try:
        result = validate_workflow(request, {"definition": text}, principal,
                                   container_of(request))  # fmt: skip
        found = [(e.pointer, e.message) for e in result.errors]
    except ProblemError as e:  # e.g. the text is not text
        found = [(str(p.get("pointer", "")), str(p.get("message", ""))) for p in e.errors or []]
        found = found or [(PREFIX, e.detail or "is not valid")]
    problems = []
    unparsed = parse_error_line(text)
    for pointer, message in found:
        relative = pointer.removeprefix(PREFIX) if pointer.startswith(PREFIX) else pointer
        line = unparsed if unparsed is not None else line_of(text, relative)
        problems.append(Problem(relative, line, message))
    return Check(problems, preview(_parsed(text)) if unparsed is None else None)
