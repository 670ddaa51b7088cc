"""The ``protege`` command: one entry point for the teacher and student sides. Each module here
adds one group of commands and turns their arguments into a config for one library call. A module
imports at its top only the configs its flags are made from; the library a command calls is
imported in the command (``protege --help`` builds every parser, and should not load torch).

Example::

    main(["inspect", "train.csv"])
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version

from protege.common import verbosity
from protege.common.config_flags import LayeredParser
from protege.common.setting_names import settings_named_by

# The module of each command, imported only for the command that runs (all of them for --help):
# the model libraries take seconds to load, and `protege health` is a container's health probe.
__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = {
    "serve": "serving", "teacher": "serving", "health": "probing", "describe": "probing",
    "label": "labelling", "augment": "labelling", "filter": "labelling",
    "train": "training", "eval": "training", "coverage": "training", "distill": "distilling",
    "experiment": "experiment", "inspect": "inspecting", "demo": "demo", "export": "exporting",
}  # fmt: skip


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or of ``command`` alone where it is one."""
    parser = LayeredParser(
        prog="protege",
        description="Distillation with student-side filtering: serve, label, filter, train, evaluate.",
    )
    parser.add_argument("--version", action="version", version=f"protege {version('protege')}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for group in groups:
        importlib.import_module(f"{__name__}.{group}").add_parsers(subparsers)
    for command in _commands(subparsers):
        command.add_argument(
            "-v", "--verbose", action="store_true", help="debug logs, library load reports and trainer logs"
        )
    return parser


def _commands(subparsers: argparse._SubParsersAction) -> list[argparse.ArgumentParser]:
    """Every command's parser, those of command groups (``teacher fit``) included."""
    found = []
    for parser in dict.fromkeys(subparsers.choices.values()):
        nested = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
        found += [command for group in nested for command in _commands(group)] or [parser]
    return found


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each setting's flag (``noise_tail``: ``--noise-tail``) in ``parser``'s commands."""
    found: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found = _flags(command) | found
        else:
            long = [option for option in action.option_strings if option.startswith("--")]
            if long:
                found.setdefault(action.dest, long[0])
    return found


def _other_flag(setting: str) -> str:
    """The flag of a setting this command's parser lacks (``inspect`` proposes the column flags of
    the commands that read pairs): a column's, else the name every config flag has."""
    from .arguments import COLUMN_FLAGS

    return COLUMN_FLAGS.get(setting) or "--" + setting.replace("_", "-")


def main(argv: Sequence[str] | None = None) -> int:
    # Models load from local paths or a warm cache; never wait on an unreachable hub.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    # gRPC's documented default, which its core reads once, as the commands' modules import it: its
    # INFO lines (fork handlers skipped each time an export forks beside a teacher served in
    # process) say nothing a user acts on. GRPC_VERBOSITY=INFO shows them.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    verbosity.configure(args.verbose)
    flags = _flags(parser)
    with settings_named_by(lambda setting: flags.get(setting) or _other_flag(setting)):  # say the flag
        try:
            return args.run(args)
        except KeyboardInterrupt:
            return 130
        except (OSError, ValueError, ImportError) as error:  # ImportError: a runtime's extra is missing
            print(f"protege {args.command}: {error}", file=sys.stderr)
            return 2
