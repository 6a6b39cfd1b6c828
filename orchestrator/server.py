"""`python -m orchestrator serve`: migrate, seed, start the embedded scheduler, serve on 127.0.0.1:8000."""

from __future__ import annotations

import argparse
import logging

from orchestrator import create_app
from orchestrator.db import transaction
from orchestrator.migrations import upgrade
from orchestrator.scheduler import start_in_thread
from orchestrator.services.seed import seed_bundles

log = logging.getLogger(__name__)


def serve(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestrator serve")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    app = create_app()
    upgrade(app.config["DATABASE_URL"])
    if app.config["DEMO_ACCOUNTS"]:  # first: the bundles' steps name these departments
        from orchestrator.services.demo_accounts import seed_demo_accounts

        with transaction(app.extensions["lianban.sessions"]) as session:
            created_users = seed_demo_accounts(session)
        log.info("demo accounts: %s created (password lianban-demo; LIANBAN_DEMO_ACCOUNTS=0 disables)", created_users)
    if app.config["SEED_ON_START"]:
        from pathlib import Path

        with transaction(app.extensions["lianban.sessions"]) as session:
            created, unchanged = seed_bundles(session, Path(app.config["BPMN_DIR"]))
        log.info("seeded bundles: %s new, %s unchanged", created, unchanged)
    start_in_thread(app.extensions["lianban.sessions"], app.config["SCHEDULER_INTERVAL_S"])
    from waitress import serve as waitress_serve

    log.info("联办 Lianban serving on http://%s:%s", args.host, args.port)
    waitress_serve(app, host=args.host, port=args.port, threads=args.threads)
