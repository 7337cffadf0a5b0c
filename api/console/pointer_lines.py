"""Where a JSON Pointer points in a definition's source text: its 1-based line (pure).

The text is composed (not constructed) with PyYAML, the parser the definitions are read with;
composing keeps every node's start mark and never expands an alias, so walking one pointer
is bounded by its length. JSON is read the same way: every JSON text the editor takes is a
YAML flow document once its tabs (legal in JSON only as whitespace) are spaces.
"""

from __future__ import annotations

import json

import yaml


def _tokens(pointer: str) -> list[str]:
    """RFC 6901: ``/a~1b/0`` → ``["a/b", "0"]``."""
    if not pointer:
        return []
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.lstrip("/").split("/")]


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text.replace("\t", " ") if _looks_json(text) else text,
                            Loader=yaml.SafeLoader)  # fmt: skip
    except (yaml.YAMLError, RecursionError):
        return None


def _looks_json(text: str) -> bool:
    return text.lstrip().startswith(("{", "["))


def line_of(text: str, pointer: str) -> int | None:
    """The line of the node ``pointer`` names (a mapping member's line is its key's); when the
    pointer goes past what exists (a missing member), the deepest node that does exist.
    None when the text does not parse."""
    node = _compose(text)
    if node is None:
        return None
    line = node.start_mark.line
    for token in _tokens(pointer):
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == token:
                    line, child = key.start_mark.line, value
                    break
        elif isinstance(node, yaml.SequenceNode) and token.isdigit():
            index = int(token)
            if index < len(node.value):
                child = node.value[index]
                line = child.start_mark.line
        if child is None:
            break
        node = child
    return line + 1


def parse_error_line(text: str) -> int | None:
    """The line where the text stops parsing: JSON's own position for a text that starts
    like JSON, else the YAML parser's mark. None when it parses."""
    if _looks_json(text):
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            return e.lineno
        except RecursionError:
            return None
        else:
            return None
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        return mark.line + 1 if mark is not None else None
    except (yaml.YAMLError, RecursionError):
        return None
    return None
