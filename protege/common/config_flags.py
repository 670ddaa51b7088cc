"""Command-line flags made from a config dataclass, so a default, a help text or a choice list is
written once, in the field (as Hugging Face's ``HfArgumentParser`` makes them from
``TrainingArguments``; that one wants a parser of its own, these join a subcommand's).

A field's ``metadata`` may give ``help``, ``choices``, ``flag`` (default ``--field-name``) and
``env`` (an environment variable that sets the default, as containers set them).

Example::

    @dataclass(frozen=True)
    class Endpoint:
        url: str | None = field(default=None, metadata={"help": "base URL", "env": "PROTEGE_URL"})
        retries: int = field(default=4, metadata={"help": "tries after the first"})

    add_flags(parser, Endpoint)            # --url, --retries
    config = from_flags(Endpoint, args)    # Endpoint(url=..., retries=...)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from typing import Any


def flag(field: dataclasses.Field) -> str:
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def _value_type(field: dataclasses.Field, hints: dict[str, Any]) -> type:
    """The type a flag's text is parsed to: the field's, without ``| None``."""
    hint = hints[field.name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, config: type) -> None:
    """One flag per field of the dataclass ``config`` with ``help`` in its metadata; its default
    the field's (or its ``env`` variable's), its help ending with the default."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        if "help" not in field.metadata:
            continue
        kind = _value_type(field, hints)
        default = field.default
        variable = field.metadata.get("env")
        if variable and os.environ.get(variable) is not None:
            default = kind(os.environ[variable])
        told = f" (default: {default})" if default not in (None, "") else ""
        told += f"; ${variable}" if variable else ""
        parser.add_argument(
            flag(field),
            dest=field.name,
            type=kind,
            default=default,
            choices=field.metadata.get("choices"),
            help=field.metadata["help"] + told,
        )


def from_flags(config: type, args: argparse.Namespace, **given: Any):
    """An instance of ``config`` from the flags ``add_flags`` made (and ``given`` values)."""
    values = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(config)
        if "help" in field.metadata and hasattr(args, field.name)
    }
    return config(**(values | given))
