"""Schemathesis hooks of the live contract run (``bench/contract.py``; ``SCHEMATHESIS_HOOKS``).

The run acts with one credential per role, and stateful testing feeds ids read from answers
(``GET /v1/me``, lists) into later calls: left alone, it would sooner or later deactivate,
demote, re-password or erase the very user whose session it runs with, or revoke the API key
it runs with, and every request after that would be a hollow 401. So a write aimed at one of
the run's own principals (``PLATINUM_CONTRACT_PROTECTED``) is sent to a decoy of the same kind
instead (``PLATINUM_CONTRACT_DECOY_USER``, ``PLATINUM_CONTRACT_DECOY_KEY``), which keeps the
operation tested. Reads are left as they are.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis

_PROTECTED = frozenset(filter(None, os.environ.get("PLATINUM_CONTRACT_PROTECTED", "").split(",")))
_DECOY = {
    "user_id": os.environ.get("PLATINUM_CONTRACT_DECOY_USER", ""),
    "key_id": os.environ.get("PLATINUM_CONTRACT_DECOY_KEY", ""),
}


@schemathesis.hook
def before_call(_ctx: Any, case: Any, **_kwargs: Any) -> None:
    if case.method.upper() == "GET" or not case.path_parameters:
        return
    for name, decoy in _DECOY.items():
        value = case.path_parameters.get(name)
        if decoy and isinstance(value, str) and value.strip().lower() in _PROTECTED:
            case.path_parameters[name] = decoy
