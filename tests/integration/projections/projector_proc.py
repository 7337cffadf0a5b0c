"""A projector process for the crash tests: ``python -m tests.integration.projections.projector_proc
[--batch N] [--delay S]``. Reads the service's settings from the environment, follows every
projection until all have caught up, then exits 0. ``--delay`` sleeps inside each batch's
transaction, so a SIGKILL most likely lands mid-transaction."""

from __future__ import annotations

import argparse
import time
from typing import Any


def main() -> None:
    from api.database import ConnInfo, database_for
    from api.settings import Settings
    from tests.integration.projections.conftest import close_runners, make_runners

    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    settings = Settings()
    db = database_for(settings, ConnInfo.from_url(settings.database_url or ""))
    runners = make_runners(settings, db, batch_size=args.batch)
    if args.delay:
        for r in runners:
            apply = r.projection.apply

            def slow_apply(curs: Any, events: Any, apply: Any = apply) -> None:
                apply(curs, events)
                time.sleep(args.delay)  # still inside the batch's transaction

            r.projection.apply = slow_apply
    while any(r.position() < r.head() for r in runners):
        for r in runners:
            r.run_once()
    close_runners(runners)


if __name__ == "__main__":
    main()
