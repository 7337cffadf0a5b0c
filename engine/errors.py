"""The engine's errors: one root, so callers catch the engine's failures and nothing else."""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error raised by the engine layer (definition, scheduling, steps, runtime,
    delivery). Subclasses carry the ids they are about as attributes and in the message."""
