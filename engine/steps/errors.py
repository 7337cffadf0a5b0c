"""The step kinds' errors: one root for what executing a step (its egress included) can raise."""

from __future__ import annotations

from engine.errors import EngineError


class StepError(EngineError):
    """Root of the errors of `engine.steps` (kinds, skills, egress)."""
