"""How a message names a setting its reader can change. The library names a setting as its config
does (``noise_tail``); a command line names the same setting by its flag (``--noise-tail``): the
CLI names them so with ``settings_named_by`` while a command runs, and every message built
with ``setting`` or raised as a ``SettingError`` says what its reader can change.

Example::

    raise SettingError(f"{{noise_tail}} is a share in [0, 1), not {value:g}", "noise_tail")
    # str(error): "noise_tail is a share in [0, 1), not 2"; under the CLI "--noise-tail is ..."
    log.warning("reading %s as latin-1 (set %s to choose)", path, setting("encoding"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_name_of: Callable[[str], str] = str


@contextmanager
def settings_named_by(name_of: Callable[[str], str]) -> Iterator[None]:
    """Inside the block, every setting is named ``name_of(setting)`` (the CLI: its flag)."""
    global _name_of
    previous, _name_of = _name_of, name_of
    try:
        yield
    finally:
        _name_of = previous


def setting(name: str) -> str:
    """``name`` as this process names settings: itself, or its flag under the CLI."""
    return _name_of(name)


class SettingError(ValueError):
    """``message`` with each of ``settings`` written ``{setting}`` where it is named."""

    def __init__(self, message: str, *settings: str) -> None:
        self.message, self.settings = message, settings
        super().__init__(message)

    def __str__(self) -> str:
        text = self.message
        for name in self.settings:
            text = text.replace("{" + name + "}", setting(name))
        return text
