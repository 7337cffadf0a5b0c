"""Help text a person reads: flags without a type, values in capitals, arguments unbracketed.

Typer's own rendering shows ``--no-worker <bool>`` and ``{file}`` in the usage line; these
two overrides (typer's ``TyperOption.display_type_rich`` and ``TyperArgument`` names) give
click's classic ``--url URL``, ``FILE`` and ``[NAME]``. ``tests/unit/api/test_cli_help.py``
walks every command's help and fails if the old forms (or RST markup) come back.
"""

from __future__ import annotations

from typing import Any

from typer import core

_PLAIN = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH", "uuid": "ID"}
_option_type = core.TyperOption.display_type_rich


def _display_type(self: core.TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None  # a flag takes no value
    if self.metavar is not None:
        return self.metavar
    label = (_option_type(self, ctx) or "").strip("<>")
    return _PLAIN.get(label, label.upper() if label.isidentifier() else label)


def _argument_name(self: core.TyperArgument) -> str:
    return self.metavar if self.metavar is not None else (self.name or "").upper()


def _argument_usage(self: core.TyperArgument) -> str:
    name = self.display_name_raw
    name = name if self.required else f"[{name}]"
    return f"{name}..." if self.nargs != 1 else name


def _argument_type(self: core.TyperArgument, ctx: Any) -> str | None:
    del self, ctx  # the name says what it is; the help says the rest
    return None


def install() -> None:
    """Apply the overrides (idempotent): ``api.cli.main`` calls it before building the app."""
    core.TyperOption.display_type_rich = _display_type  # type: ignore[method-assign]
    core.TyperArgument.display_name_raw = property(_argument_name)  # type: ignore[assignment]
    core.TyperArgument._usage_display_name = _argument_usage  # type: ignore[method-assign]
    core.TyperArgument.display_type_rich = _argument_type  # type: ignore[method-assign,assignment]
