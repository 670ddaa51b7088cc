"""Command-line flags made from a config dataclass, so a default, a help text or a choice list is
written once, in the field (as Hugging Face's ``HfArgumentParser`` makes them from
``TrainingArguments``; that one wants a parser of its own, these join a subcommand's).

A field becomes a flag when its ``metadata`` has ``help``; it may also give ``choices``, ``flag``
(default ``--field-name``; ``--no-field-name`` for a boolean that defaults to true) and ``env``
(an environment variable that sets the default; ``env_prefix`` gives every field one, as
containers and Kubernetes set them). A dataclass field with ``nested`` in its metadata contributes
its own fields' flags. Fields without a default are required unless their variable is set.

Example::

    @dataclass(frozen=True)
    class Endpoint:
        url: str = field(metadata={"help": "base URL"})
        retries: int = field(default=4, metadata={"help": "tries after the first"})

    add_flags(parser, Endpoint, env_prefix="APP_")  # --url (or $APP_URL), --retries ($APP_RETRIES)
    config = from_flags(Endpoint, args)             # Endpoint(url=..., retries=...)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import types
import typing
from typing import Any


def flag(field: dataclasses.Field) -> str:
    """The field's flag: ``--field-name``, or what its metadata says."""
    if "flag" in field.metadata:
        return field.metadata["flag"]
    name = field.name.replace("_", "-")
    return f"--no-{name}" if field.default is True else f"--{name}"


def default(field: dataclasses.Field) -> Any:
    """The field's default (``dataclasses.MISSING`` where it has none)."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def value_type(hint: Any) -> Any:
    """A type hint without ``| None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def _environment(field: dataclasses.Field, env_prefix: str | None) -> str | None:
    if "env" in field.metadata:
        return field.metadata["env"]
    return f"{env_prefix}{field.name.upper()}" if env_prefix else None


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, config: type, env_prefix: str | None = None
) -> None:
    """One flag per field of the dataclass ``config`` with ``help`` in its metadata, its default the
    field's (or its variable's), its help ending with the default and the variable."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        kind = value_type(hints[field.name])
        if field.metadata.get("nested"):
            add_flags(parser, kind, env_prefix)
            continue
        if "help" not in field.metadata:
            continue
        value, variable = default(field), _environment(field, env_prefix)
        if variable and os.environ.get(variable) is not None:
            value = _parsed(kind, os.environ[variable])
        shown = ",".join(value) if isinstance(value, tuple) else value
        told = "" if value in (None, "", dataclasses.MISSING) or kind is bool else f" (default: {shown})"
        told += f"; ${variable}" if variable else ""
        options: dict[str, Any] = {"dest": field.name, "help": field.metadata["help"] + told}
        if kind is bool:
            options |= {"action": "store_false" if value else "store_true", "default": value}
        else:
            options |= {"type": _parser(kind), "choices": field.metadata.get("choices")}
            if value is dataclasses.MISSING:
                options["required"] = True
            else:
                options["default"] = value
        parser.add_argument(flag(field), **options)


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,c`` as ``("a", "b", "c")``; an empty text as none."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser(kind: Any):
    """What turns a flag's text into a value of the field's type."""
    return comma_list if typing.get_origin(kind) is tuple else kind


def _parsed(kind: type, text: str) -> Any:
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes", "on")
    return _parser(kind)(text)


def from_flags(config: type, args: argparse.Namespace, **given: Any):
    """An instance of ``config`` from the flags ``add_flags`` made, and ``given`` values."""
    hints = typing.get_type_hints(config)
    values = {}
    for field in dataclasses.fields(config):
        kind = value_type(hints[field.name])
        if field.metadata.get("nested") and field.name not in given:
            values[field.name] = from_flags(kind, args)
        elif "help" in field.metadata and hasattr(args, field.name):
            values[field.name] = getattr(args, field.name)
    return config(**(values | given))
