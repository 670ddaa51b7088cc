"""The ``protege`` command: one entry point for the teacher and student sides."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from protege import __version__


def build_parser() -> argparse.ArgumentParser:
    from protege.client import cli as client_cli
    from protege.client import student_cli
    from protege.server import cli as server_cli

    from . import demo, experiment, teacher

    parser = argparse.ArgumentParser(
        prog="protege",
        description="Distillation with student-side filtering: serve, label, filter, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"protege {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    server_cli.add_parser(subparsers)
    teacher.add_parser(subparsers)
    client_cli.add_parsers(subparsers)
    student_cli.add_parsers(subparsers)
    experiment.add_parser(subparsers)
    demo.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Models load from local paths or a warm cache; never wait on an unreachable hub.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if prepare := getattr(args, "prepare", None):  # a --data folder joined, in its --encoding
            prepare(args)
        return args.run(args)
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as error:
        print(f"protege {args.command}: {error}", file=sys.stderr)
        return 2
