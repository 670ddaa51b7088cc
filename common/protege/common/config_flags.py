"""Command-line flags made from a config dataclass, so a default, a help text or a choice list is
written once, in the field (as Hugging Face's ``HfArgumentParser`` makes them from
``TrainingArguments``; that one wants a parser of its own, these join a subcommand's).

A field becomes a flag when its ``metadata`` has ``help``; it may also give ``choices`` and ``flag``
(default ``--field-name``; a boolean gets ``--name`` and ``--no-name``). ``env_prefix`` gives every
flag a variable named as the flag (``--max-pairs`` is ``$PROTEGE_MAX_PAIRS``), as containers and
Kubernetes set them. A dataclass field with ``nested`` in its metadata contributes its own fields'
flags. Fields without a default are required unless their variable is set.

Values layer as ``flags > --config FILE > variables > defaults``, resolved by ``LayeredParser``
once the command line is parsed; a bad variable or file value is a usage error (exit 2) naming it.

Example::

    @dataclass(frozen=True)
    class Endpoint:
        url: str = field(metadata={"help": "base URL"})
        retries: int = field(default=4, metadata={"help": "tries after the first"})

    parser = LayeredParser()
    add_flags(parser, Endpoint, env_prefix="APP_")  # --url (or $APP_URL), --retries ($APP_RETRIES)
    config = from_flags(Endpoint, parser.parse_args())  # Endpoint(url=..., retries=...)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# What Kubernetes injects for a Service in the namespace (PROTEGE_PORT=tcp://10.0.0.1:50051 for one
# named "protege"): a service link, never a setting.
SERVICE_LINK = re.compile(r"^(tcp|udp|sctp)://[^/\s]+:\d+$")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
CONFIG_DEST = "config_file"


class Unset:
    """A made flag's argparse default: the command line did not give it, so a variable or the field's
    default will (shown in ``--help`` as the field's default)."""

    def __init__(self, value: Any, variable: str | None) -> None:
        self.value, self.variable = value, variable

    def __repr__(self) -> str:
        return repr(self.value)


class LayeredParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose made flags take, where the command line leaves them, a value from
    ``--config FILE`` (``add_config_flag``), then their variable, then the field's default. Unknown or
    abbreviated flags are refused by the (sub)command's own usage."""

    def __init__(self, *args: Any, allow_abbrev: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=allow_abbrev, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        args = list(sys.argv[1:] if args is None else args)
        if namespace is None:
            namespace = argparse.Namespace(**self._from_file(args))
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and not self._subparsers:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        for action in self._actions:
            if isinstance(getattr(namespace, action.dest, None), Unset):
                setattr(namespace, action.dest, self._resolved(action, getattr(namespace, action.dest)))
        return namespace, extras

    def _resolved(self, action: argparse.Action, unset: Unset) -> Any:
        text = os.environ.get(unset.variable) if unset.variable else None
        if text is not None and SERVICE_LINK.match(text.strip()):
            logger.warning(
                "ignoring $%s=%s: a Kubernetes service link, not a setting (set enableServiceLinks: "
                "false on the pod)",
                unset.variable,
                text,
            )
            text = None
        if text is not None:
            try:
                return _converted(action, text)
            except (TypeError, ValueError) as error:
                self.error(f"${unset.variable}={text!r}: {error}")
        if unset.value is dataclasses.MISSING:
            told = f" (or ${unset.variable})" if unset.variable else ""
            self.error(f"the following arguments are required: {action.option_strings[0]}{told}")
        return unset.value

    def _from_file(self, args: list[str]) -> dict[str, Any]:
        """The values of ``--config FILE`` where this parser has the flag and it is given."""
        path = _config_path(args) if any(a.dest == CONFIG_DEST for a in self._actions) else None
        if path is None:
            return {}
        try:
            given = _read_config(Path(path))
        except (OSError, ValueError) as error:
            self.error(f"--config {path}: {error}")
        actions = {
            _name(option): (action, option) for action in self._actions for option in action.option_strings
        }
        values = {}
        for key, value in given.items():
            action, option = actions.get(_name(str(key)), (None, ""))
            if action is None or action.dest in (CONFIG_DEST, "help"):
                known = ", ".join(sorted(_name(_long(a)) for a in self._actions if _long(a)))
                self.error(f"--config {path}: {key!r} is not a flag of this command (flags: {known})")
            try:
                values[action.dest] = _converted(action, value)
            except (TypeError, ValueError) as error:
                self.error(f"--config {path}: {key}: {error}")
            if isinstance(action, Switch) and option.startswith("--no-"):
                values[action.dest] = not values[action.dest]
            # This parse's parser is built for it (protege.cli.build_parser): a required flag the
            # file gives is no longer required on the command line.
            action.required = False
        return values


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    """``--config FILE``: a YAML or JSON mapping of this command's flags, named as the flags are
    (``max-steps`` or ``max_steps``); the command line beats it, it beats variables."""
    parser.add_argument(
        "--config",
        dest=CONFIG_DEST,
        type=Path,
        metavar="FILE",
        help='YAML or JSON of this command\'s flags by name (e.g. {"max-steps": 500}); flags beat it',
    )


def _config_path(args: list[str]) -> str | None:
    for index, word in enumerate(args):
        if word == "--":
            return None
        if word == "--config" and index + 1 < len(args):
            return args[index + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return None


def _read_config(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        loaded = json.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValueError(f"not YAML: {error}") from None
    else:
        raise ValueError("a config file is .json, .yaml or .yml")
    if not isinstance(loaded, dict):
        raise ValueError("a config file holds one mapping of flag names to values")
    return loaded


def _long(action: argparse.Action) -> str:
    """The action's first long option (``--verbose`` of ``-v, --verbose``), or none."""
    return next((option for option in action.option_strings if option.startswith("--")), "")


def _name(option: str) -> str:
    """A flag's name as a config key: ``--max-pairs`` and ``max_pairs`` are both ``max_pairs``."""
    return option.lstrip("-").replace("-", "_")


def _converted(action: argparse.Action, value: Any) -> Any:
    """``value`` (a variable's text or a config file's value) as the flag would have parsed it."""
    if action.nargs == 0:  # a switch: store_true, store_false or --x/--no-x
        if isinstance(value, bool):
            parsed = value
        elif str(value).strip().lower() in TRUE + FALSE:
            parsed = str(value).strip().lower() in TRUE
        else:
            raise ValueError(f"not a boolean (one of {', '.join(TRUE + FALSE)})")
        return parsed if action.const is not False else not parsed
    if isinstance(value, list) and (action.nargs not in (None, "?") or action.type is comma_list):
        items = [_typed(action, str(item) if action.type is comma_list else item) for item in value]
        return tuple(item for part in items for item in part) if action.type is comma_list else items
    return _typed(action, value)


def _typed(action: argparse.Action, value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value} is a boolean; this flag takes a value")
    convert = action.type or str
    if isinstance(value, str) or convert not in (int, float):
        value = convert(str(value))
    elif convert is int and not isinstance(value, int):
        raise ValueError(f"{value!r} is not a whole number")
    else:
        value = convert(value)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


class Switch(argparse.BooleanOptionalAction):
    """``--name``/``--no-name``, its help as written (3.11's adds a default of its own)."""

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = help


def flag(field: dataclasses.Field) -> str:
    """The field's flag: ``--field-name``, or what its metadata says."""
    return field.metadata.get("flag", "--" + field.name.replace("_", "-"))


def variable(field: dataclasses.Field, env_prefix: str | None) -> str | None:
    """The field's variable: the prefix and its flag's name (``--max-pairs``: ``PROTEGE_MAX_PAIRS``)."""
    return f"{env_prefix}{_name(flag(field)).upper()}" if env_prefix else None


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


def add_flags(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup, config: type, env_prefix: str | None = None
) -> None:
    """One flag per field of the dataclass ``config`` with ``help`` in its metadata, its help ending
    with the field's default and its variable (the parser a ``LayeredParser``, which resolves them)."""
    hints = typing.get_type_hints(config)
    for field in dataclasses.fields(config):
        kind = value_type(hints[field.name])
        if field.metadata.get("nested"):
            add_flags(parser, kind, env_prefix)
            continue
        if "help" not in field.metadata:
            continue
        value, name = default(field), variable(field, env_prefix)
        shown = ",".join(value) if isinstance(value, tuple) else value
        told = "" if value in (None, "", dataclasses.MISSING) else f" (default: {shown})"
        told += f"; ${name}" if name else ""
        options: dict[str, Any] = {
            "dest": field.name,
            "help": field.metadata["help"] + told,
            "default": Unset(value, name),
        }
        if kind is bool:
            options["action"] = Switch
        else:
            options |= {"type": _parser(kind), "choices": field.metadata.get("choices")}
        parser.add_argument(flag(field), **options)


def comma_list(text: str) -> tuple[str, ...]:
    """``a, b,c`` as ``("a", "b", "c")``; an empty text as none."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _parser(kind: Any):
    """What turns a flag's text into a value of the field's type."""
    return comma_list if typing.get_origin(kind) is tuple else kind


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
