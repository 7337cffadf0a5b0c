"""The definition layer's errors: one root, the expression error a step fails with, and refusals."""

from __future__ import annotations

from engine.errors import EngineError


class DefinitionError(EngineError):
    """Root of the errors of `engine.definition` (loading, compiling, evaluating)."""


class DefinitionTextError(DefinitionError, ValueError):
    """Submitted text that is neither JSON nor YAML, or that nests or expands too far.

    A ValueError too: callers that parse user input treat it as one."""


class DefinitionCycleError(DefinitionError, ValueError):
    """A definition compiled without validation whose steps' needs form a cycle."""


class ExpressionError(DefinitionError):
    """An expression failed to compile or to evaluate; a step failing on it fails with kind
    `expression`."""

    kind = "expression"

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"expression `{source.strip()}`: {message}")
        self.source = source
        self.message = message


class EvaluationDeferred(DefinitionError):  # noqa: N818 - a signal, not an error
    """On the request path, an expression that is not cheap: leave the run to a worker."""


class SandboxError(DefinitionError):
    """An evaluation failed in the sandbox or exceeded a budget; ``str`` is the reason."""


class NotJsonError(DefinitionError, ValueError):
    """A CEL value that JSON lacks (a non-finite number, bytes, a type); ``str`` is the reason."""
