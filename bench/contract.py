"""``python -m bench.contract`` (``make contract``): the OpenAPI document against the live service.

Starts ``platinum serve`` on 127.0.0.1 on a fresh database of its own (the bench's harness:
``DATABASE_URL``'s server or an embedded one), creates through the HTTP API a tenant, its admin,
a viewer, an API key (role admin) and a little data to read (an active workflow, a run), then
runs the ``schemathesis`` CLI against ``/openapi.json`` once per role, with that role's bearer
credential: every check (``--checks all``), every phase (examples, coverage, fuzzing,
stateful), for ``--seconds`` each (default 240: fuzzing and stateful testing repeat until the
time is spent). Writes ``contract.json`` (cases and failures per role) and each role's
schemathesis reports to ``--out``; exits 1 on any failure or error.

What the service is told for the run: the login throttle is raised out of reach
(``PLATINUM_LOGIN_FAILURES_PER_ACCOUNT``/``_PER_IP``): schemathesis logs in with wrong
passwords by the thousand, and a 429 there would only test the throttle. Every other limit is
the production default.

Nothing is excluded: schemathesis reads an event stream (``GET /v1/runs/{id}/events/stream``)
until it ends, or for at most ``--request-timeout`` seconds, so a stream that follows a run
waiting for an approval does not hang the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import ADMIN_TOKEN, bench_server, fresh_database

ROLES = ("admin", "viewer", "api_key")
PHASES = ("examples", "coverage", "fuzzing", "stateful")
RESULTS = Path(__file__).resolve().parent / "results"
PASSWORD = "correct horse battery staple"
TENANT = "contract"

SERVICE_SETTINGS = {
    "PLATINUM_LOGIN_FAILURES_PER_ACCOUNT": str(10**9),
    "PLATINUM_LOGIN_FAILURES_PER_IP": str(10**9),
}
"""The service's settings for the run (module doc: the login throttle out of reach)."""

ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429"]
"""What a schema-valid request may be answered (``positive_data_acceptance``): schemathesis's
default less 5xx, plus 409 (a state: a workflow not active, a run already ended) and 412 (a
well-formed ``If-Match`` naming another version)."""

MISSING_HEADER = [400, 401, 403, 406, 415, 422, 428]
"""What a request without a required header may be answered (``missing_required_header``):
schemathesis's default plus 428 Precondition Required (RFC 6585), the answer to a write that
needs ``If-Match`` and came without it."""

_DAG = (
    "a definition must also be a graph: `needs` name its steps, no cycle, CEL expressions and"
    " templates that compile; the text form must parse to one"
)
_PASSWORD = "a password must pass zxcvbn's strength check (and is required unless invited)"
UNEXPRESSED: dict[str, str] = {
    "POST /v1/workflows": _DAG,
    "PUT /v1/workflows/{workflow_id}/definition": _DAG,
    "POST /v1/users": _PASSWORD,
    "PUT /v1/users/{user_id}/roles": "`role_ids` must name roles of the tenant (else 422)",
    "PATCH /v1/users/{user_id}": _PASSWORD,
    "POST /v1/marketplace/skills": "`definition` holds a JSON Schema and an implementation",
    "POST /v1/installations": "the skill must exist and be installable (else 422 on skill_id)",
    "POST /v1/notifications": "the recipient must be a user of the tenant (else 422)",
    "POST /v1/workflows/{workflow_id}/schedules": "`cron` must parse, `timezone` be an IANA zone",
    "PATCH /v1/schedules/{schedule_id}": "`cron` must parse, `timezone` be an IANA zone",
    "POST /v1/workflows/{workflow_id}/hooks": "`mapping` must compile and read only `input`",
    "POST /v1/runs/{run_id}/signals/{name}": "the payload must be storable (no NUL, even in keys)",
    "POST /v1/runs/{run_id}/rerun": "`from_step` must be a step of the run (else 422)",
    "GET /v1/audit/proofs/consistency": "`to_size` must not pass the signed tree (else 422)",
    "GET /v1/audit/proofs/inclusion": "`tree_size` must not pass the signed tree (else 422)",
    "GET /v1/history/{resource_type}/{resource_id}": (
        "`as_of` is a version or an RFC 3339 time with an offset: not yet in its schema"
    ),
}
"""Operations whose schema-valid requests may still be refused as invalid (422), and why: what
the code checks there is beyond what a JSON Schema can say. Every check still runs on them, this
one accepting a 422 too (here; ``tests/api/test_schemathesis.py`` leaves it out there)."""

WORKFLOW = {
    "name": "contract",
    "steps": [{"id": "a", "uses": "noop"}, {"id": "b", "uses": "noop", "needs": ["a"]}],
}
APPROVAL = {
    "name": "contract-approval",
    "steps": [{"id": "approve", "uses": "approval", "with": {"role": "viewer"}}],
}
KNOWN_SHARE = 0.5
"""How often a parameter with a seeded value (``World.known``) takes one of them, not a made-up
one: made-up ids mostly meet 404s, real ones reach the code behind them."""


@dataclass(frozen=True)
class Principal:
    """How one role authenticates: a login (``login`` set) or a fixed bearer secret."""

    role: str
    token: str
    login: dict[str, str] | None
    ids: tuple[str, ...]  # its own user / key ids


@dataclass(frozen=True)
class World:
    principals: dict[str, Principal]
    decoy_user: str
    decoy_key: str
    known: dict[str, list[str]]
    """Seeded values by parameter (``path.run_id``): schemathesis dictionaries."""

    @property
    def protected(self) -> list[str]:
        """Every principal's ids: no run may disable the credential of a run to come
        (bench/contract_hooks.py)."""
        return [i for p in self.principals.values() for i in p.ids]


def _ok(r: httpx.Response, what: str) -> dict[str, Any]:
    if r.status_code >= 300:
        raise RuntimeError(f"setup: {what} answered {r.status_code}: {r.text[:500]}")
    body: dict[str, Any] = r.json() if r.content else {}
    return body


def setup(base: str) -> World:
    """The tenant, its principals, their decoys and something to read, through the HTTP API."""
    platform = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, timeout=30) as c:
        admin_email = "ada@contract.example.com"
        tenant = _ok(c.post("/v1/tenants", headers=platform, json={
            "name": "Contract", "slug": TENANT, "admin_email": admin_email,
            "admin_password": PASSWORD}), "POST /v1/tenants")  # fmt: skip

        def login(email: str) -> tuple[dict[str, str], dict[str, Any]]:
            creds = {"tenant": TENANT, "email": email, "password": PASSWORD}
            return creds, _ok(c.post("/v1/auth/login", json=creds), f"login {email}")

        admin_login, session = login(admin_email)
        admin_id = session["user"]["id"]
        auth = {"Authorization": f"Bearer {session['token']}"}

        def post(path: str, body: Any = None) -> dict[str, Any]:
            return _ok(c.post(path, headers=auth, json=body), f"POST {path}")

        def user(email: str, role: str) -> str:
            body = {"email": email, "name": role.title(), "password": PASSWORD, "role": role}
            return str(post("/v1/users", body)["id"])

        viewer_email = "vic@contract.example.com"
        viewer_id = user(viewer_email, "viewer")
        decoy_user = user("dee@contract.example.com", "user")
        viewer_login, viewer_session = login(viewer_email)
        api_key = post("/v1/api-keys", {"name": "contract", "role": "admin"})
        decoy_key = post("/v1/api-keys", {"name": "decoy", "role": "admin"})
        workflows, runs = [], []
        for definition in (WORKFLOW, APPROVAL):
            wf = post("/v1/workflows", {"name": definition["name"], "definition": definition})
            post(f"/v1/workflows/{wf['id']}/activate")
            workflows.append(str(wf["id"]))
            runs.append(str(post(f"/v1/workflows/{wf['id']}/runs", {"input": {}})["id"]))
        schedule = post(f"/v1/workflows/{workflows[0]}/schedules", {"cron": "0 9 * * 1-5"})
        hook = post(f"/v1/workflows/{workflows[0]}/hooks", {})
        notification = post("/v1/notifications", {
            "recipient_user_id": viewer_id, "channel": "push", "type": "contract",
            "title": "Contract", "message": "A notification to read."})  # fmt: skip
        post("/v1/audit/checkpoints")
        events = _ok(c.get("/v1/audit/events", headers=auth), "audit events")["items"]
    principals = {
        "admin": Principal("admin", session["token"], admin_login, (admin_id,)),
        "viewer": Principal("viewer", viewer_session["token"], viewer_login, (viewer_id,)),
        # its creator is the admin: deactivating the admin would stop the key for good
        "api_key": Principal("api_key", api_key["secret"], None, (api_key["id"],)),
    }
    known = {
        "path.workflow_id": workflows,
        "query.workflow_id": workflows,
        "path.run_id": runs,
        "path.step_id": ["a", "approve"],
        "path.schedule_id": [str(schedule["id"])],
        "path.hook_id": [str(hook["id"])],
        "path.notification_id": [str(notification["id"])],
        "path.user_id": [viewer_id, decoy_user],
        "path.key_id": [str(decoy_key["id"])],
        "path.tenant_id": [str(tenant["id"])],
        "path.resource_type": ["workflow", "run"],
        "path.resource_id": workflows + runs,
        "query.event_id": [str(e["id"]) for e in events[:3]],
    }
    return World(principals, decoy_user, str(decoy_key["id"]),
                 {k: v for k, v in known.items() if v})  # fmt: skip


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def config_text(principal: Principal, world: World, cache: Path) -> str:
    """The run's ``schemathesis.toml``: credentials, accepted statuses, exemptions, the seeded
    values to draw from."""
    lines = [
        "[cache]",  # the crashes it found, replayed first next time: beside the reports
        f"directory = {_toml(str(cache))}",
        "",
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {_toml(ACCEPTED)}",
        "",
        "[checks.missing_required_header]",
        f"expected-statuses = {_toml(MISSING_HEADER)}",
        "",
        "[dictionaries]",
        *(
            f"{_toml(name)} = {{ values = {_toml(values)} }}"
            for name, values in world.known.items()
        ),
        "",
        "[parameters]",
        *(
            f"{_toml(name)} = {{ dictionary = {_toml(name)}, probability = {KNOWN_SHARE} }}"
            for name in world.known
        ),
        "",
    ]
    if principal.login is not None:
        # a session: logged in again whenever it stops (a fuzzed logout, a revocation)
        lines += [
            "[auth.dynamic.openapi.bearer]",
            'path = "/v1/auth/login"',
            f"payload = {_toml(principal.login)}",
            'extract_selector = "/token"',
            "",
        ]
    else:
        lines += ["[auth.openapi.bearer]", f"bearer = {_toml(principal.token)}", ""]
    for name in sorted(UNEXPRESSED):
        lines += [
            "[[operations]]",
            f"include-name = {_toml(name)}",
            f"checks.positive_data_acceptance.expected-statuses = {_toml([*ACCEPTED, '422'])}",
            "",
        ]
    return "\n".join(lines)


def schemathesis_bin() -> str:
    return str(Path(sys.executable).parent / "schemathesis")


def run_role(
    base: str,
    principal: Principal,
    world: World,
    seconds: float,
    out: Path,
    workers: int,
    seed: int | None,
) -> dict[str, Any]:
    """One schemathesis run with ``principal``'s credential; its figures."""
    out.mkdir(parents=True, exist_ok=True)
    config = out / "schemathesis.toml"
    config.write_text(config_text(principal, world, out / "cache"))
    report = out / "report.json"
    command = [
        schemathesis_bin(), "--config-file", str(config), "run", f"{base}/openapi.json",
        "--checks", "all", "--phases", ",".join(PHASES), "--max-time", str(int(seconds)),
        "--workers", str(workers), "--request-timeout", "10", "--no-color",
        "--report", "json,junit", "--report-dir", str(out),
        "--report-json-path", str(report), "--report-junit-path", str(out / "junit.xml"),
    ]  # fmt: skip
    if seed is not None:
        command += ["--seed", str(seed)]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "bench.contract_hooks",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "PLATINUM_CONTRACT_PROTECTED": ",".join(world.protected),
        "PLATINUM_CONTRACT_DECOY_USER": world.decoy_user,
        "PLATINUM_CONTRACT_DECOY_KEY": world.decoy_key,
    }
    started = time.monotonic()
    with open(out / "schemathesis.log", "w") as log:
        code = subprocess.call(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    return summarise(principal.role, code, elapsed, report, out / "schemathesis.log")


def summarise(role: str, code: int, elapsed: float, report: Path, log: Path) -> dict[str, Any]:
    """The role's figures from schemathesis's JSON report (or its log when there is none)."""
    if not report.exists():
        return {"role": role, "exit_code": code, "elapsed_s": round(elapsed, 1),
                "cases": 0, "failures": 1, "errors": 1,
                "error_examples": [log.read_text()[-2000:]]}  # fmt: skip
    doc = json.loads(report.read_text())
    cases = doc.get("test_cases") or {}
    failures = doc.get("failures") or []
    errors = doc.get("errors") or []
    return {
        "role": role,
        "exit_code": code,
        "elapsed_s": round(elapsed, 1),
        "stop_reason": doc.get("stop_reason"),
        "operations": (doc.get("operations") or {}).get("tested"),
        "cases": cases.get("generated", 0),
        "failures": cases.get("unique_failures", 0),
        "cases_with_failures": cases.get("with_failures", 0),
        "errors": sum(int(e.get("count", 1)) for e in errors),
        "failure_kinds": [
            {"title": f.get("title"), "count": f.get("count"), "operations": f.get("operations")}
            for f in failures
        ],
        "error_examples": [e.get("title") for e in errors][:5],
        "reauth_count": (doc.get("auth") or {}).get("reauth_count", 0),
        "phases": {k: v.get("status") for k, v in (doc.get("phases") or {}).items()},
    }


def still_valid(base: str, principal: Principal) -> bool:
    """Whether the role's own credential still works after its run (the hooks kept it)."""
    token = principal.token
    if principal.login is not None:
        r = httpx.post(f"{base}/v1/auth/login", json=principal.login, timeout=30)
        if r.status_code != 200:
            return False
        token = r.json()["token"]
    r = httpx.get(f"{base}/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return r.status_code == 200


def table(results: dict[str, Any]) -> str:
    rows = [("role", "cases", "failures", "errors", "operations", "seconds")]
    for r in results["roles"]:
        rows.append((r["role"], str(r["cases"]), str(r["failures"]), str(r["errors"]),
                     str(r.get("operations")), str(r["elapsed_s"])))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    for r in results["roles"]:
        for kind in r.get("failure_kinds", []):
            lines.append(f"  {r['role']}: {kind['title']} x{kind['count']}: {kind['operations']}")
        for err in r.get("error_examples", []):
            lines.append(f"  {r['role']}: error: {str(err)[:300]}")
        if not r.get("credential_kept", True):
            lines.append(f"  {r['role']}: its credential no longer works after the run")
    lines.append(f"contract: {'ok' if results['ok'] else 'FAILED'} ({results['elapsed_s']} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.contract",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float,
                        default=float(os.environ.get("PLATINUM_CONTRACT_SECONDS", "240")),
                        help="schemathesis's --max-time per role (default 240, or"
                             " PLATINUM_CONTRACT_SECONDS)")  # fmt: skip
    parser.add_argument("--roles", default=",".join(ROLES), help=f"subset of {','.join(ROLES)}")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis's workers")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis's seed")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where contract.json goes")
    args = parser.parse_args(argv)
    roles = [r.strip() for r in args.roles.split(",") if r.strip()]
    if unknown := sorted(set(roles) - set(ROLES)):
        parser.error(f"unknown roles {unknown}")

    from bench.api_load import live_server

    t0 = time.monotonic()
    results: dict[str, Any] = {"seconds_per_role": args.seconds, "phases": list(PHASES),
                               "checks": "all", "roles": []}  # fmt: skip
    reports = args.out / "contract"
    with (
        bench_server() as srv,
        fresh_database(srv) as env,
        live_server(env, SERVICE_SETTINGS) as base,
    ):
        world = setup(base)
        for role in roles:
            print(f"[contract] {role}: schemathesis for {args.seconds:g} s ...", file=sys.stderr,
                  flush=True)  # fmt: skip
            principal = world.principals[role]
            figures = run_role(base, principal, world, args.seconds, reports / role,
                               args.workers, args.seed)  # fmt: skip
            figures["credential_kept"] = still_valid(base, principal)
            results["roles"].append(figures)
            print(f"[contract] {role}: {figures['cases']} cases, {figures['failures']} failures,"
                  f" {figures['errors']} errors", file=sys.stderr, flush=True)  # fmt: skip
    results["elapsed_s"] = round(time.monotonic() - t0, 1)
    results["ok"] = all(
        r["failures"] == 0 and r["errors"] == 0 and r["exit_code"] == 0 and r["credential_kept"]
        for r in results["roles"]
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "contract.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
