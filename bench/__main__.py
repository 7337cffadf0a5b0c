"""``python -m bench [--quick] [--sections a,b] [--out DIR]``: measure, print, write results.

Runs against ``DATABASE_URL`` when set, else an embedded PostgreSQL in a temporary folder; a
fresh database per run, dropped at the end. Writes ``latest.json`` and PNG plots to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.harness import Profile, bench_server, fresh_database, machine, section

SECTIONS = ("ceiling", "append", "replay", "runs", "scaling", "api", "console")
# its history sizes are its subject: it starts from an empty database of its own
OWN_DATABASE = {"scaling"}
RESULTS = Path(__file__).resolve().parent / "results"


def _section_fn(name: str) -> Any:
    import importlib

    module = {"api": "api_load"}.get(name, name)
    return importlib.import_module(f"bench.{module}").run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    parser.add_argument("--profile", choices=("full", "quick", "tiny"), default=None)
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where results go")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    profile = Profile.named(args.profile or ("quick" if args.quick else "full"))
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # "append-only: kept as is" on every audit rebuild: expected here, not news
    logging.getLogger("projections.runner").setLevel(logging.ERROR)

    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": profile.__dict__,
        "sections": {},
    }
    with bench_server() as srv, fresh_database(srv) as env:
        results["machine"] = machine(env)
        for name in wanted:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
            if name in OWN_DATABASE:
                with fresh_database(srv) as own:
                    results["sections"][name] = section(_section_fn(name), own, profile)
            else:
                results["sections"][name] = section(_section_fn(name), env, profile)
            print(f"[bench] {name} done in {results['sections'][name]['elapsed_s']} s",
                  file=sys.stderr, flush=True)
    results["elapsed_s"] = round(time.perf_counter() - t0, 1)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    if not args.no_plot:
        results["plots"] = report.plot(results, args.out)
    print(report.table(results))
    return results


if __name__ == "__main__":
    main()
