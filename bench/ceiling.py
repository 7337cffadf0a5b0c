"""Database ceiling: raw INSERTs of ~300-byte rows into a table shaped like the event store.

Measured twice: with pgbench when it is on PATH (a C client: the server's limit), and with
psycopg threads (what one Python process can push). Neither takes the library's table lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.harness import BenchEnv, Profile, figure, unavailable, with_ratio

TABLE = "bench_ceiling"
TOPIC = "domain.runs.run:Run.StepCompleted"  # a real-looking topic
STATE = os.urandom(250)  # + uuid, version, topic, id, tuple header ≈ 312 bytes a row
CONFIGS = [(1, 1), (1, 10), (8, 1), (8, 10)]  # (connections, rows per transaction)


def create_table(env: BenchEnv) -> None:
    with env.connect(autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(
            f"CREATE TABLE {TABLE} (originator_id uuid NOT NULL,"
            " originator_version bigint NOT NULL, topic text, state bytea,"
            " notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(f"CREATE UNIQUE INDEX {TABLE}_nid ON {TABLE} (notification_id)")


def _python_sample(env: BenchEnv, conns: int, batch: int, seconds: float) -> float:
    """Rows/s from ``conns`` threads, each committing ``batch`` rows per transaction."""
    import psycopg

    stop = threading.Event()
    counts = [0] * conns
    start_barrier = threading.Barrier(conns + 1)
    stmt = (
        f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s)"
    )

    def work(i: int) -> None:
        with psycopg.connect(env.info.conninfo) as conn:
            start_barrier.wait()
            n = 0
            while not stop.is_set():
                with conn.transaction(), conn.cursor() as cur:
                    oid = uuid.uuid4()
                    if batch == 1:
                        cur.execute(stmt, (oid, 1, TOPIC, STATE))
                    else:
                        cur.executemany(stmt, [(oid, v, TOPIC, STATE) for v in range(batch)])
                n += batch
            counts[i] = n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    start_barrier.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


def _pgbench_script(batch: int) -> str:
    state = f"'\\x{STATE.hex()}'::bytea"
    if batch == 1:
        return (
            f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state)"
            f" VALUES (gen_random_uuid(), 1, '{TOPIC}', {state});\n"
        )
    # one statement, one transaction, ``batch`` rows of one originator
    return (
        f"INSERT INTO {TABLE} (originator_id, originator_version, topic, state)"
        f" SELECT u, v, '{TOPIC}', {state} FROM gen_random_uuid() u,"
        f" generate_series(1, {batch}) v;\n"
    )


def _pgbench_sample(env: BenchEnv, pgbench: str, script: Path, conns: int, batch: int,
                    seconds: float) -> float:
    i = env.info
    cmd = [pgbench, "-n", "-c", str(conns), "-j", str(min(conns, os.cpu_count() or 1)),
           "-T", str(max(1, round(seconds))), "-f", str(script),
           "-h", i.host, "-p", str(i.port), "-U", i.user, i.dbname]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env={**os.environ, "PGPASSWORD": i.password})
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out.stdout)
    if not m:
        raise RuntimeError(f"pgbench output not understood: {out.stdout[-300:]}")
    return float(m.group(1)) * batch


def run(env: BenchEnv, profile: Profile) -> dict[str, Any]:
    create_table(env)
    out: dict[str, Any] = {"row_bytes": 312, "configs": {}}
    python: dict[str, Any] = {}
    for conns, batch in CONFIGS:
        key = f"{conns}conn_{batch}rows_per_tx"
        python[key] = figure(
            [_python_sample(env, conns, batch, profile.seconds) for _ in range(profile.repeats)],
            "rows/s", connections=conns, rows_per_tx=batch,
        )
    base = python["1conn_1rows_per_tx"]
    for fig in python.values():
        with_ratio(fig, base, "python 1conn 1 row/tx")
    out["python_threads"] = python

    pgbench = shutil.which("pgbench")
    if not pgbench:
        out["pgbench"] = unavailable("pgbench is not on PATH")
    else:
        res: dict[str, Any] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for conns, batch in CONFIGS:
                script = Path(tmp) / f"insert{batch}.sql"
                script.write_text(_pgbench_script(batch))
                key = f"{conns}conn_{batch}rows_per_tx"
                samples = [
                    _pgbench_sample(env, pgbench, script, conns, batch, profile.seconds)
                    for _ in range(profile.repeats)
                ]
                res[key] = figure(samples, "rows/s", connections=conns, rows_per_tx=batch)
        base = res["1conn_1rows_per_tx"]
        for fig in res.values():
            with_ratio(fig, base, "pgbench 1conn 1 row/tx")
        out["pgbench"] = res
    with env.connect(autocommit=True) as conn:
        conn.execute(f"DROP TABLE {TABLE}")
    return out
