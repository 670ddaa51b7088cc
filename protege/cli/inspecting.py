"""``protege inspect``: what a data file holds, the role each column would play and why, and the
flags that read it so."""

from __future__ import annotations

import argparse
from pathlib import Path

from protege.client.data import inspect_data, join_folder

from .arguments import add_encoding_argument


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    inspect = subparsers.add_parser(
        "inspect",
        help="show a data file's columns, the role each would play, its grades and the flags to pass",
        description="Reads a data file (or a folder of tables, joined) and prints its format, encoding, "
        "rows, "
        "a few values of each column, the column each role would take (by its name, else by its values) "
        "and the column flags that read it so. Other commands read only the columns their flags name or "
        "that have a role's usual name.",
    )
    inspect.add_argument("data", type=Path, help="a data file, or a folder of tables")
    add_encoding_argument(inspect)
    inspect.set_defaults(run=run_inspect)


def run_inspect(args: argparse.Namespace) -> int:
    path = join_folder(args.data, encoding=args.encoding) if args.data.is_dir() else args.data
    print(inspect_data(path, args.encoding).text())
    return 0
