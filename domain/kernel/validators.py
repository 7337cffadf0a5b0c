"""Pure validators: each takes a raw value and a JSON Pointer, returns the normalised value
or raises ``ValidationError`` naming that pointer. ``Checks`` gathers several at once."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final, TypeVar, cast
from urllib.parse import urlsplit

import email_validator
import jsonschema
import semver
import zxcvbn

from domain.kernel.errors import Problem, ValidationError
from domain.kernel.pointers import escape as _escape
from domain.kernel.pointers import join

T = TypeVar("T")

SLUG_RE: Final = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
KEY_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
LONG_TEXT_MAX: Final = 100_000
"""Characters of a TEXT field (a message, a conversation turn, a description)."""


class Checks:
    """Runs validators, collecting every problem instead of stopping at the first.

    On failure ``run`` hands back the raw input so the caller can carry on checking;
    nothing may be used before ``done()`` has passed.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def run(self, validator: Callable[[Any, str], T], value: Any, pointer: str) -> T:
        try:
            return validator(value, pointer)
        except ValidationError as e:
            self.problems.extend(e.problems)
            return cast(T, value)

    def add(self, pointer: str, message: str) -> None:
        self.problems.append(Problem(pointer, message))

    def extend(self, problems: Collection[Problem]) -> None:
        self.problems.extend(problems)

    def done(self) -> None:
        if self.problems:
            raise ValidationError(self.problems)


def _fail(pointer: str, message: str) -> ValidationError:
    return ValidationError.one(pointer, message)


def _unstorable_message(found: str) -> str:
    if found == "\x00":
        return "must not contain NUL characters"
    return "must not contain lone surrogates (not UTF-8 text)"


def _unstorable_text(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None (C-speed: ``in`` and ``encode``): NUL
    (PostgreSQL text and jsonb cannot hold it) and lone surrogates (not UTF-8: no event store
    can encode them) are refused, whatever path the value came by."""
    if "\x00" in value:
        return _unstorable_message("\x00")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _unstorable_message("\ud800")
    return None


def unstorable(value: Any, pointer: str = "") -> Problem | None:
    """Where ``value`` (any JSON-like structure, keys included) holds NUL or a lone surrogate,
    and why; None when it is storable. Iterative: any depth is safe to walk."""
    stack: list[tuple[Any, str]] = [(value, pointer)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if why := _unstorable_text(item):
                return Problem(where, why)
        elif isinstance(item, Mapping):
            for k, val in item.items():
                here = f"{where}/{_escape(k)}"
                if isinstance(k, str) and (why := _unstorable_text(k)):
                    return Problem(here, "key " + why)
                stack.append((val, here))
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend((val, f"{where}/{i}") for i, val in enumerate(item))
    return None


def storable(value: Any, pointer: str) -> Any:
    """``value`` unchanged when it holds neither NUL nor a lone surrogate."""
    problem = unstorable(value, pointer)
    if problem:
        raise ValidationError([problem])
    return value


def text(value: Any, pointer: str, *, min_len: int = 1, max_len: int | None = None) -> str:
    """A string of ``min_len``..``max_len`` characters after stripping outer whitespace,
    without NUL or lone surrogates."""
    if not isinstance(value, str):
        raise _fail(pointer, "must be a string")
    if why := _unstorable_text(value):
        raise _fail(pointer, why)
    stripped = value.strip()
    if len(stripped) < min_len:
        raise _fail(pointer, f"must be at least {min_len} characters")
    if max_len is not None and len(stripped) > max_len:
        raise _fail(pointer, f"must be at most {max_len} characters")
    return stripped


def name(value: Any, pointer: str = "/name") -> str:
    """A display name of 2-255 characters."""
    return text(value, pointer, min_len=2, max_len=255)


def slug(value: Any, pointer: str = "/slug") -> str:
    """Kebab-case: ``^[a-z0-9-]+$``, at most 100, no leading, trailing or double hyphen."""
    if not isinstance(value, str):
        raise _fail(pointer, "must be a string")
    if not 1 <= len(value) <= 100:
        raise _fail(pointer, "must be 1 to 100 characters")
    if not SLUG_RE.fullmatch(value):
        raise _fail(pointer, "must be kebab-case: lower-case letters, digits and single hyphens")
    return value


def key(value: Any, pointer: str = "/key") -> str:
    """A configuration or preference key: 1-100 of letters, digits and ``_ . : -``."""
    if not isinstance(value, str) or not 1 <= len(value) <= 100 or not KEY_RE.fullmatch(value):
        raise _fail(pointer, "must be 1 to 100 letters, digits, '_', '.', ':' or '-'")
    return value


def email(value: Any, pointer: str = "/email") -> str:
    """A syntactically valid address, normalised and lower-cased (no DNS lookup)."""
    if not isinstance(value, str) or len(value) > 255:
        raise _fail(pointer, "must be an email address of at most 255 characters")
    try:
        info = email_validator.validate_email(value, check_deliverability=False)
    except email_validator.EmailNotValidError as e:
        raise _fail(pointer, str(e)) from None
    return info.normalized.lower()


PASSWORD_MIN = 12
PASSWORD_MAX = 1024  # bounds the hashing cost
_PASSWORD_SCORED = 72  # zxcvbn's own input cap: the first 72 characters are estimated
PASSWORD_MIN_SCORE = 3  # zxcvbn: >= 10^8 guesses ("safely unguessable" online)


def password(value: Any, pointer: str = "/password") -> str:
    """A password of 12-1024 characters that is not common or guessable: zxcvbn (its lists
    of common passwords, words and names, keyboard walks, repeats, sequences, dates) must
    estimate at least 10^8 guesses. No composition rules (ASVS 5 V6.2, NIST SP 800-63B)."""
    if not isinstance(value, str) or not PASSWORD_MIN <= len(value) <= PASSWORD_MAX:
        raise _fail(pointer, f"must be {PASSWORD_MIN} to {PASSWORD_MAX} characters")
    if why := _unstorable_text(value):
        raise _fail(pointer, why)
    if zxcvbn.zxcvbn(value[:_PASSWORD_SCORED])["score"] < PASSWORD_MIN_SCORE:
        raise _fail(
            pointer, "is too common or easy to guess: use a longer phrase of unrelated words"
        )
    return value


def semver_version(value: Any, pointer: str = "/version") -> str:
    """A semantic version (``1.2.3``, pre-release and build allowed), at most 20 characters."""
    if not isinstance(value, str) or len(value) > 20:
        raise _fail(pointer, "must be a semantic version of at most 20 characters")
    try:
        return str(semver.Version.parse(value))
    except ValueError:
        raise _fail(pointer, "must be a semantic version like 1.2.3") from None


def _decimal(value: Any, pointer: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _fail(pointer, "must be a number")
    try:
        # str() first so a float like 0.1 means 0.1, not its binary expansion
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fail(pointer, "must be a number") from None
    if not number.is_finite():
        raise _fail(pointer, "must be a finite number")
    if abs(number) >= Decimal("1e12"):
        # keeps quantize() inside the default 28-digit context
        raise _fail(pointer, "is too large")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2 and number != number.quantize(Decimal("0.01")):
        raise _fail(pointer, "must have at most 2 decimal places")
    return number.quantize(Decimal("0.01"))


def price(value: Any, pointer: str = "/price") -> Decimal:
    """A price >= 0 with at most 2 decimals, fitting DECIMAL(10,2)."""
    number = _decimal(value, pointer)
    if number < 0 or number >= Decimal("100000000"):
        raise _fail(pointer, "must be between 0 and 99999999.99")
    return number


def rating(value: Any, pointer: str = "/rating") -> Decimal:
    """A rating from 0 to 5 with at most 2 decimals."""
    number = _decimal(value, pointer)
    if not Decimal(0) <= number <= Decimal(5):
        raise _fail(pointer, "must be between 0 and 5")
    return number


def one_of(allowed: Collection[str]) -> Callable[[Any, str], str]:
    """A validator accepting only the given values."""

    def check(value: Any, pointer: str) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise _fail(pointer, f"must be one of: {', '.join(sorted(allowed))}")
        return value

    return check


def json_object(value: Any, pointer: str) -> dict[str, Any]:
    """A JSON object (dict with string keys that survives a JSON round trip)."""
    if not isinstance(value, dict):
        raise _fail(pointer, "must be a JSON object")
    try:
        checked = cast(dict[str, Any], json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError, RecursionError):
        raise _fail(pointer, "must contain only JSON values") from None
    return cast(dict[str, Any], storable(checked, pointer))


def optional_json_object(value: Any, pointer: str) -> dict[str, Any]:
    """Like ``json_object`` but ``None`` means empty."""
    return {} if value is None else json_object(value, pointer)


def json_value(value: Any, pointer: str) -> Any:
    """Any JSON value (no NaN, no non-string keys)."""
    try:
        checked = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError):
        raise _fail(pointer, "must be a JSON value") from None
    return storable(checked, pointer)


def schema_problems(instance: Any, schema: Mapping[str, Any], pointer: str) -> list[Problem]:
    """Every place where ``instance`` violates JSON Schema ``schema``."""
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    return [Problem(pointer + join(*e.path), e.message) for e in errors]


def json_schema(value: Any, pointer: str) -> dict[str, Any]:
    """A valid JSON Schema document (checked against its metaschema)."""
    schema = json_object(value, pointer)
    validator_cls = jsonschema.validators.validator_for(schema)
    try:
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as e:
        message = f"not a valid JSON Schema: {e.message}"
        raise _fail(pointer + join(*e.path), message) from None
    return schema


def conforms(schema: Mapping[str, Any]) -> Callable[[Any, str], Any]:
    """A validator accepting values valid against ``schema``."""

    def check(value: Any, pointer: str) -> Any:
        problems = schema_problems(value, schema, pointer)
        if problems:
            raise ValidationError(problems)
        return value

    return check


def http_url(value: Any, pointer: str) -> str:
    """An absolute http(s) URL."""
    if not isinstance(value, str) or len(value) > 2048:
        raise _fail(pointer, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _fail(pointer, "must be an http(s) URL")
    return value
