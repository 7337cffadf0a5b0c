"""The one secrecy rule: which keys and fields are secret, and how values are hidden."""

from __future__ import annotations

import pytest

from domain.kernel.secrets import (
    REDACTED,
    is_secret_key,
    redact,
    schema_secret_fields,
    scrub,
    secret_values,
)


@pytest.mark.parametrize(
    "key",
    ["password", "DB_PASSWD", "passphrase", "client_secret", "authToken", "api-key", "API_KEY",
     "private.key", "credentials", "signing_key", "slack_webhook"],
)  # fmt: skip
def test_a_credential_name_anywhere_in_a_key_makes_it_secret(key: str) -> None:
    assert is_secret_key(key)


def test_ordinary_names_are_not_secret() -> None:
    assert [k for k in ("name", "email", "url", "host", "key", "value") if is_secret_key(k)] == []


def test_schema_marks_secret_fields_three_ways_sorted() -> None:
    schema = {
        "properties": {
            "token_b": {"type": "string", "secret": True},
            "a_pw": {"type": "string", "format": "password"},
            "c": {"type": "string", "writeOnly": True},
            "plain": {"type": "string"},
            "odd": "not a mapping",
            "not_secret": {"secret": "yes"},  # only the boolean true counts
        }
    }
    assert schema_secret_fields(schema) == ["a_pw", "c", "token_b"]


@pytest.mark.parametrize("schema", [None, [], "x", {}, {"properties": []}])
def test_a_schema_without_properties_marks_nothing(schema: object) -> None:
    assert schema_secret_fields(schema) == []


def test_redact_hides_secret_keys_at_any_depth_and_keeps_empty_values() -> None:
    value = {
        "name": "smtp",
        "password": "hunter22",
        "nested": [{"api_key": "k-123", "host": "mail"}, "plain"],
        "token": "",
        "secret": None,
        "tuple": ("a", {"credential": 7}),
    }
    assert redact(value) == {
        "name": "smtp",
        "password": REDACTED,
        "nested": [{"api_key": REDACTED, "host": "mail"}, "plain"],
        "token": "",
        "secret": None,
        "tuple": ["a", {"credential": REDACTED}],
    }
    assert value["password"] == "hunter22"  # a copy, the input is untouched


def test_redact_hides_the_value_of_a_secret_config_pair() -> None:
    assert redact({"key": "smtp.password", "value": "pw-1"}) == {
        "key": "smtp.password",
        "value": REDACTED,
    }
    assert redact({"key": "smtp.host", "value": "mail"}) == {"key": "smtp.host", "value": "mail"}


def test_redact_applies_schema_marked_fields_to_the_config_beside_them() -> None:
    event = {"secret_fields": ["pin"], "config": {"pin": "1234", "region": "eu"}}
    assert redact(event) == {"secret_fields": ["pin"], "config": {"pin": REDACTED, "region": "eu"}}
    assert redact({"pin": "1234", "region": "eu"}, secret_fields={"pin"}) == {
        "pin": REDACTED,
        "region": "eu",
    }


def test_secret_values_collects_what_redact_would_hide_long_enough_to_search() -> None:
    config = {
        "pin": 12345,
        "auth": {"token": "tok-abcdef", "user": "ann"},
        "passwords": ["first-pw", "pw"],  # too short to search for
        "flag": True,
        "host": "mail.example",
    }
    assert secret_values(config, secret_fields={"pin"}) == {"12345", "tok-abcdef", "first-pw"}
    assert secret_values(["not", "a", "mapping"]) == set()


def test_scrub_replaces_every_occurrence_longest_first_keys_included() -> None:
    secrets = {"abcd", "abcdef", "9999"}
    value = {"msg": "got abcdef and abcd", "abcd": ["x abcd", 9999, 9999.5, True], "n": None}
    assert scrub(value, secrets) == {
        "msg": f"got {REDACTED} and {REDACTED}",
        REDACTED: [f"x {REDACTED}", REDACTED, 9999.5, True],
        "n": None,
    }


def test_scrub_without_secrets_returns_the_value_itself() -> None:
    value = {"a": "b"}
    assert scrub(value, []) is value
