"""Write docs/dsl-reference.md from the JSON Schema the service serves, plus one example per kind.

    python docs/gen_dsl_reference.py            # rewrite docs/dsl-reference.md
    python docs/gen_dsl_reference.py --check    # exit 1 when the committed file is stale

The field tables (types, required, defaults, limits) come from the schema at
``/v1/schemas/workflow-definition`` (``engine.definition.dsl.published_json_schema``); the prose
of a field the schema does not describe, and the examples, are below. tests/unit/test_docs.py
checks that the committed file is this script's output and that every example validates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "dsl-reference.md"

NOTES: dict[str, str] = {
    "definition.name": "The workflow's name (runs, the console and `workflow:` steps use it).",
    "definition.description": "Free text for people.",
    "definition.input_schema": "A JSON Schema (2020-12) the run's input must match at start "
    "(a mismatch is 422 and no run).",
    "definition.defaults": "`timeout_s` and `retry` for steps that set none.",
    "definition.steps": "The graph's nodes, in any order (`needs` orders them).",
    "definition.output": "The run's output, evaluated when every step is done (templates "
    "allowed); unset: no output.",
    "step.id": "Unique in the definition; other steps name it in `needs` and read "
    "`steps.<id>.output`.",
    "step.name": "A label for people.",
    "step.description": "Free text for people.",
    "step.needs": "The steps this one waits for; steps whose needs are met run in parallel. "
    "The graph must be acyclic.",
    "step.trigger": "Fan-in: `all_success` (every need succeeded), `any_success` (all needs "
    "finished, one succeeded), `all_done` (all finished, whatever the outcome: cleanup).",
    "step.timeout_s": "Per attempt; past it the attempt fails with kind `timeout`. "
    "`defaults.timeout_s` does not apply to `wait`.",
    "step.retry": "Overrides `defaults.retry` for this step.",
    "step.continue_on_error": "A failure of this step does not fail the run; `all_success` "
    "dependants are skipped.",
    "step.max_parallel": "Items of a `foreach` run at most this many at once.",
    "defaults.timeout_s": "Seconds per attempt for steps without their own.",
    "defaults.retry": "The retry policy of steps without their own.",
    "retrypolicy.initial_interval_s": "Delay before the second attempt.",
    "retrypolicy.multiplier": "Each further delay is the previous one times this.",
    "retrypolicy.max_interval_s": "Cap of a delay (also of a `Retry-After` an `http` target "
    "asks for).",
}

KINDS: list[tuple[str, str, str]] = [
    ("noop", "Succeeds with its `with` as output. A join point, or a branch that does nothing.", """
name: noop-example
steps:
  - id: start
    uses: noop
    with: {note: "nothing to do"}
"""),
    ("transform", "Output = the evaluated `with`: reshape data with templates.", """
name: transform-example
input_schema: {type: object, properties: {first: {type: string}, last: {type: string}}}
steps:
  - id: full_name
    uses: transform
    with: {name: "${{ input.first }} ${{ input.last }}", letters: "${{ size(input.last) }}"}
output:
  name: "${{ steps.full_name.output.name }}"
"""),
    ("http", "Calls an HTTP endpoint: `url` (required), `method`, `headers`, `json` or `body`, "
     "`expect_status`. Output `{status, headers, body}`. Connection errors, timeouts, 5xx, 408 "
     "and 429 are retryable (`Retry-After` is honoured within `max_interval_s`); other 4xx are "
     "not. Only destinations the egress policy allows are reached (docs/security.md).", """
name: http-example
steps:
  - id: lookup
    uses: http
    with:
      method: GET
      url: "https://api.example.com/orders/${{ input.order_id }}"
      headers: {Accept: application/json}
    timeout_s: 10
    retry: {max_attempts: 4, initial_interval_s: 1, multiplier: 2}
"""),
    ("notify", "Queues a notification: `message` (required), `channel` (email, sms, push, "
     "slack, discord), `to_user`, `title`, `priority`. Succeeds once queued; the "
     "dispatcher delivers it (docs/notifications.md).", """
name: notify-example
steps:
  - id: tell
    uses: notify
    with:
      channel: email
      to_user: "${{ run.started_by }}"
      title: Done
      message: "Run ${{ run.id }} finished"
"""),
    ("wait", "A durable timer: exactly one of `seconds` or `until` (RFC 3339). It survives "
     "restarts; an explicit `timeout_s` shorter than `seconds` is refused at submit.", """
name: wait-example
steps:
  - id: cool_off
    uses: wait
    with: {seconds: 3600}
  - id: remind
    uses: notify
    needs: [cool_off]
    with: {message: "An hour has passed"}
"""),
    ("approval", "Waits for a user holding `role` (required) or a higher one: approve gives "
     "`{approved: true, by, comment}`, reject fails the step with kind `rejected`, and past "
     "`timeout_s` it fails with kind `timeout`.", """
name: approval-example
steps:
  - id: sign_off
    uses: approval
    with: {role: manager}
    timeout_s: 86400
  - id: go
    uses: noop
    needs: [sign_off]
    with: {approved_by: "${{ steps.sign_off.output.by }}"}
"""),
    ("fail", "Fails with `message`: an error path, or a guard.", """
name: fail-example
steps:
  - id: guard
    uses: fail
    if: input.total < 0
    with: {message: "a negative total"}
"""),
    ("signal", "Waits for `POST /v1/runs/{id}/signals/{name}`; the signal's JSON body is the "
     "output. `name` (required) is 1-100 letters, digits, `_`, `.`, `:` or `-`.", """
name: signal-example
steps:
  - id: paid
    uses: signal
    with: {name: payment.received}
    timeout_s: 604800
  - id: ship
    uses: transform
    needs: [paid]
    with: {amount: "${{ steps.paid.output.amount }}"}
"""),
    ("skill:<name>[@<range>]", "Runs the tenant's active installation of a marketplace skill "
     "(an npm semver range picks among versions: `^1.2`, `~1.2.3`, `1.x`, `1.0.0 - 2.0.0`, "
     "`^1 || ^2`, with a comma for \"and\": `>=1.0,<2`); `with` is the skill's input and "
     "`${{ config.x }}` reads its installation's config (docs/skills.md).", """
name: skill-example
steps:
  - id: echo
    uses: skill:echo@^1
    with: {hello: world}
"""),
    ("workflow:<name>[@<version>]", "Starts a child run of the tenant's active workflow "
     "`<name>` (its current version, or `<version>`) with `with` as input, waits for it and "
     "succeeds with the child's output; fails when the child fails or is cancelled.", """
name: workflow-example
steps:
  - id: child
    uses: workflow:order-approval
    with: {order_id: A-1, total: 10, lines: []}
"""),
]
"""(kind, what it does, an example definition in YAML): one per built-in kind and `uses` form."""


def examples() -> dict[str, dict[str, Any]]:
    """Each kind's example, parsed."""
    return {kind: yaml.safe_load(text) for kind, _, text in KINDS}


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds) + " or null"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    if kind == "array" and "items" in prop:
        return f"list of {_type(prop['items'])}"
    return str(kind)


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for p in [prop, *prop.get("anyOf", [])]:
        for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                          ("minLength", "length ≥"), ("maxLength", "length ≤"),
                          ("minItems", "items ≥"), ("maxItems", "items ≤")):  # fmt: skip
            if key in p:
                parts.append(f"{word} {p[key]}")
        if "pattern" in p and "uses" not in p.get("title", "").lower():
            parts.append(f"`{p['pattern']}`")
    return ", ".join(parts)


def _table(section: str, schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required / default | limits | meaning |",
             "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, prop in schema["properties"].items():
        meaning = prop.get("description") or NOTES.get(f"{section}.{name}", "")
        if not meaning:
            raise SystemExit(f"{section}.{name}: no description in the schema and no NOTES entry")
        default = "required" if name in required else (
            f"`{json.dumps(prop['default'])}`" if "default" in prop else "—")  # fmt: skip
        cells = [f"`{name}`", _type(prop), default, _limits(prop), meaning.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render() -> str:
    from engine.definition.dsl import published_json_schema

    schema = published_json_schema()
    defs = schema["$defs"]
    out = [
        "# Workflow definition reference",
        "",
        "<!-- generated by docs/gen_dsl_reference.py from the JSON Schema served at",
        "     /v1/schemas/workflow-definition: edit the script, then run it -->",
        "",
        f"{schema['title']}: JSON or YAML, submitted to `POST /v1/workflows`. `POST",
        "/v1/workflows/validate` lists every problem of a definition without storing it. The",
        "semantics (evaluation, retries, fan-in, failure) are in docs/engine.md; expressions are",
        "CEL, written bare (`if`, `foreach`) or as `${{ expr }}` templates inside `with` and",
        "`output`, with `input`, `steps.<id>.output`, `steps.<id>.status`, `run`, `config`,",
        "and in a foreach step `item` and `index` in scope.",
        "",
        "## Definition",
        "",
        *_table("definition", schema),
        "",
        "## Step",
        "",
        defs["Step"].get("description", ""),
        "",
        *_table("step", defs["Step"]),
        "",
        "## Defaults",
        "",
        *_table("defaults", defs["Defaults"]),
        "",
        "## RetryPolicy",
        "",
        defs["RetryPolicy"].get("description", ""),
        "",
        *_table("retrypolicy", defs["RetryPolicy"]),
        "",
        "## Step kinds",
        "",
        "`uses` names one of these. Each example is a whole definition that validates as is.",
    ]
    for kind, what, text in KINDS:
        out += ["", f"### `{kind}`", "", what, "", "```yaml", text.strip(), "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text() != text:
            sys.stderr.write(f"{OUT} is stale: run python docs/gen_dsl_reference.py\n")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
