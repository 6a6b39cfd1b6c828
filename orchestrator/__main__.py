"""`python -m orchestrator <command>`: the Flask CLI group `lianban`, plus `serve`."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["serve"]:
        from orchestrator.server import serve

        serve(args[1:])
        return
    from flask.cli import FlaskGroup

    from orchestrator import create_app

    cli = FlaskGroup(create_app=lambda: create_app(), add_default_commands=False)
    sys.argv = [sys.argv[0], "lianban", *args]
    cli.main(prog_name="python -m orchestrator")


if __name__ == "__main__":
    main()
