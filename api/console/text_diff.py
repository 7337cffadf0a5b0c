"""Two definition versions side by side: the rows of a line diff (pure, difflib)."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DiffRow:
    kind: str  # "same", "changed", "removed" or "added"
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def as_text(definition: Any) -> list[str]:
    """A definition as the lines the diff compares (sorted keys: order is not a change)."""
    return json.dumps(definition, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def diff_rows(left: list[str], right: list[str]) -> list[DiffRow]:
    """Every line of both sides, aligned; a replaced block pairs its lines."""
    rows: list[DiffRow] = []
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            rows += [DiffRow("same", i + 1, left[i], j + 1, right[j])
                     for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]  # fmt: skip
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            i, j = i1 + k, j1 + k
            has_left, has_right = i < i2, j < j2
            kind = "changed" if has_left and has_right else ("removed" if has_left else "added")
            rows.append(DiffRow(
                kind, i + 1 if has_left else None, left[i] if has_left else "",
                j + 1 if has_right else None, right[j] if has_right else "",
            ))  # fmt: skip
    return rows
