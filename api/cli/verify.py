"""``platinum-verify EXPORT --key PEM [--checkpoint FILE]...``: an audit export, offline.

Imports no database or service code (only ``domain.audit``): it runs from the wheel on a
laptop with no server. Exit 0 when every check holds; 1 with the first problem on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from domain.audit.checkpoint import CheckpointError, load_public_keys
from domain.audit.offline import VerifyError, read_kept, verify_export


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="platinum-verify",
        description="Verify a Platinum audit export offline: every line, chain, leaf, root,"
        " signature, and kept checkpoints.",
    )
    parser.add_argument("export", type=Path, help="the NDJSON file GET /v1/audit/export gave")
    parser.add_argument("--key", type=Path, action="append", required=True,
                        help="PEM public key(s) of the log (repeat for rotated keys)")  # fmt: skip
    parser.add_argument("--checkpoint", type=Path, action="append", default=[],
                        help="a checkpoint kept earlier (signed note or its JSON)")  # fmt: skip
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # usage errors exit 1 too (the contract: 0 ok, 1 otherwise)
        return 0 if e.code == 0 else 1
    try:
        keys = [k for path in args.key for k in load_public_keys(path.read_bytes())]
        kept = [read_kept(path.read_text(encoding="utf-8")) for path in args.checkpoint]
        result = verify_export(args.export.read_bytes(), keys, kept)
    except (VerifyError, CheckpointError, OSError, ValueError) as e:
        print(f"platinum-verify: {e}", file=sys.stderr)
        return 1
    print(
        f"ok: {result.rows} rows, tree size {result.tree_size}, root {result.root_hash},"
        f" signed by {result.key}; kept checkpoints consistent: {result.kept or 'none'}"
    )
    return 0


def run() -> None:
    """The console script."""
    sys.exit(main())


if __name__ == "__main__":
    run()
