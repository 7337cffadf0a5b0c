"""The verifiable audit log over HTTP: checkpoints, proofs, public keys, and an export that
``platinum-verify`` checks offline with nothing but a public key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from api.cli.verify import main as verify_main
from domain.audit import merkle
from domain.audit.checkpoint import load_public_keys, verify
from tests.support.polling import wait_until

DEFINITION = {"name": "verifiable", "steps": [{"id": "a", "uses": "noop"}]}


def _activity(client, tenant, n: int = 3) -> None:  # type: ignore[no-untyped-def]
    """Some audited writes: workflows created and updated."""
    for i in range(n):
        r = client.post("/v1/workflows", json={"name": f"V{i}", "definition": DEFINITION},
                        headers=tenant.admin_headers)  # fmt: skip
        assert r.status_code == 201, r.text


def _rows(client, tenant) -> int:  # type: ignore[no-untyped-def]
    r = client.get("/v1/audit/verify", headers=tenant.admin_headers)
    return int(r.json()["events"])


def _checkpoint(client, tenant) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = client.post("/v1/audit/checkpoints", headers=tenant.admin_headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _export(client, tenant, path: Path) -> bytes:  # type: ignore[no-untyped-def]
    r = client.get("/v1/audit/export", headers=tenant.admin_headers)
    assert r.status_code == 200, r.text
    path.write_bytes(r.content)
    return r.content


@pytest.fixture(scope="module")
def key_file(client, tenant, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    _checkpoint(client, tenant)  # the key that signs is registered
    r = client.get("/v1/audit/public-keys", headers=tenant.admin_headers)
    assert r.status_code == 200
    keys = r.json()["keys"]
    assert all(k["algorithm"] == "ed25519" for k in keys)
    path: Path = tmp_path_factory.mktemp("keys") / "audit.pem"
    path.write_text("".join(k["public_key_pem"] for k in keys))
    return path


@pytest.fixture(scope="module")
def exported(client, tenant, key_file, tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    _activity(client, tenant)
    wait_until(lambda: _rows(client, tenant) >= 8)
    path: Path = tmp_path_factory.mktemp("export") / "audit.ndjson"
    _export(client, tenant, path)
    return path


def test_an_export_verifies_offline_in_a_process_that_imports_no_service_code(
    exported: Path, key_file: Path
) -> None:
    # the verifier runs alone, as on an auditor's laptop; then we list what it imported
    code = (
        "import sys\n"
        "from api.cli.verify import main\n"
        f"rc = main([{str(exported)!r}, '--key', {str(key_file)!r}])\n"
        "banned = ('sqlalchemy', 'psycopg', 'fastapi', 'eventsourcing', 'uvicorn', 'starlette',"
        " 'alembic', 'projections', 'engine', 'pydantic')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in banned}))\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert done.stdout.strip().endswith("[]")


def test_the_export_ends_with_the_checkpoint_that_covers_every_line(exported: Path) -> None:
    lines = exported.read_bytes().splitlines()
    last = json.loads(lines[-1])
    assert last["type"] == "com.platinum.audit.Checkpoint"
    assert last["data"]["tree_size"] == len(lines) - 1
    assert len(last["data"]["root_hash"]) == 64
    assert "\n\n\u2014 " in last["data"]["note"]


def _flip(data: bytes, line: int, where: float) -> bytes:
    lines = data.split(b"\n")
    target = bytearray(lines[line - 1])
    at = min(len(target) - 1, int(len(target) * where))
    target[at] ^= 0x01
    lines[line - 1] = bytes(target)
    return b"\n".join(lines)


@pytest.mark.parametrize("line", [1, 2, "middle", "last row", "checkpoint"])
@pytest.mark.parametrize("where", [0.0, 0.13, 0.5, 0.77, 0.999])
def test_any_flipped_byte_is_named_by_its_line(
    exported: Path, key_file: Path, tmp_path: Path, capsys, line: Any, where: float
) -> None:  # type: ignore[no-untyped-def]
    data = exported.read_bytes()
    n = data.count(b"\n")
    number = {"middle": n // 2, "last row": n - 1, "checkpoint": n}.get(line, line)
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(_flip(data, number, where))
    assert verify_main([str(bad), "--key", str(key_file)]) == 1
    err = capsys.readouterr().err
    assert f"line {number}:" in err or f"line {number}," in err, err


def test_deleted_last_rows_are_found_against_a_kept_checkpoint(
    client, tenant, exported: Path, key_file: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    # the auditor keeps the checkpoint of a later export ...
    _activity(client, tenant, 2)
    before = exported.read_bytes().count(b"\n") - 1
    wait_until(lambda: _rows(client, tenant) >= before + 2)
    later = tmp_path / "later.ndjson"
    kept = tmp_path / "kept.json"
    kept.write_bytes(_export(client, tenant, later).splitlines()[-1])
    assert verify_main([str(later), "--key", str(key_file), "--checkpoint", str(kept)]) == 0
    # ... and is then shown the earlier export, whose own signature holds: rows are missing
    assert verify_main([str(exported), "--key", str(key_file), "--checkpoint", str(kept)]) == 1
    assert "rows were removed" in capsys.readouterr().err
    # cutting the rows but keeping the last checkpoint line is found without a kept one
    lines = later.read_bytes().split(b"\n")
    cut = tmp_path / "cut.ndjson"
    cut.write_bytes(b"\n".join([*lines[:-4], lines[-2], b""]))
    assert verify_main([str(cut), "--key", str(key_file)]) == 1
    assert "rows were removed" in capsys.readouterr().err


def test_swapped_lines_are_found(exported: Path, key_file: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lines = exported.read_bytes().split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    bad = tmp_path / "swapped.ndjson"
    bad.write_bytes(b"\n".join(lines))
    assert verify_main([str(bad), "--key", str(key_file)]) == 1
    assert "line 3" in capsys.readouterr().err


def test_an_inclusion_proof_from_the_api_verifies_offline(client, tenant, exported) -> None:  # type: ignore[no-untyped-def]
    rows = [json.loads(x) for x in exported.read_bytes().splitlines()]
    cp = rows[-1]["data"]
    event = rows[len(rows) // 2]
    r = client.get(f"/v1/audit/proofs/inclusion?event_id={event['id']}&tree_size={cp['tree_size']}",
                   headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 200, r.text
    proof = r.json()
    listed = client.get("/v1/audit/public-keys", headers=tenant.admin_headers).json()["keys"]
    keys = load_public_keys("".join(k["public_key_pem"] for k in listed))
    signed, _ = verify(cp["note"], keys)
    from domain.audit.canonical import row_canonical, row_leaf

    leaf = row_leaf(row_canonical(event))  # the leaf, from the export line alone
    assert leaf.hex() == proof["leaf_hash"]
    path = [bytes.fromhex(h) for h in proof["audit_path"]]
    assert merkle.verify_inclusion(proof["leaf_index"], signed.tree_size, leaf, path,
                                   signed.root_hash)  # fmt: skip


def test_a_consistency_proof_from_the_api_verifies(client, tenant, exported) -> None:  # type: ignore[no-untyped-def]
    old = json.loads(exported.read_bytes().splitlines()[-1])["data"]
    new = _checkpoint(client, tenant)
    r = client.get(f"/v1/audit/proofs/consistency?from_size={old['tree_size']}"
                   f"&to_size={new['tree_size']}", headers=tenant.admin_headers)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    proof = [bytes.fromhex(h) for h in body["proof"]]
    assert merkle.verify_consistency(
        old["tree_size"], new["tree_size"], proof, bytes.fromhex(old["root_hash"]),
        bytes.fromhex(new["root_hash"]),
    )  # fmt: skip


@pytest.mark.parametrize(
    "query",
    [
        "proofs/consistency?from_size=5&to_size=2",
        "proofs/consistency?from_size=0&to_size=2",
        "proofs/consistency?from_size=1&to_size=999999999",
        "proofs/consistency?from_size=x&to_size=2",
        "proofs/inclusion?event_id=nope",
        "checkpoints?from_size=-1",
    ],
)
def test_bad_proof_parameters_are_problem_json(client, tenant, exported, query: str) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"/v1/audit/{query}", headers=tenant.admin_headers)
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")


def test_another_tenants_row_is_not_found(client, tenant, other_tenant, exported) -> None:  # type: ignore[no-untyped-def]
    event_id = json.loads(exported.read_bytes().splitlines()[0])["id"]
    _checkpoint(client, other_tenant)
    r = client.get(f"/v1/audit/proofs/inclusion?event_id={event_id}",
                   headers=other_tenant.admin_headers)  # fmt: skip
    assert r.status_code == 404
    mine = client.get("/v1/audit/checkpoints", headers=other_tenant.admin_headers).json()
    theirs = client.get("/v1/audit/checkpoints", headers=tenant.admin_headers).json()
    assert mine["checkpoints"][0]["note"] != theirs["checkpoints"][0]["note"]


def test_checkpoints_are_listed_latest_first_or_by_range(client, tenant, exported) -> None:  # type: ignore[no-untyped-def]
    latest = client.get("/v1/audit/checkpoints", headers=tenant.admin_headers).json()
    assert len(latest["checkpoints"]) == 1
    ranged = client.get("/v1/audit/checkpoints?from_size=1", headers=tenant.admin_headers).json()
    sizes = [c["tree_size"] for c in ranged["checkpoints"]]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] == latest["checkpoints"][0]["tree_size"]
    assert len(sizes) >= 2
