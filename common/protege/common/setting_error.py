"""The error of a setting that cannot take its value. The library names a setting as its config
does (``noise_tail``); the command line names the same setting by its flag (``--noise-tail``), so
that each says what its reader can change.

Example::

    raise SettingError(f"{{noise_tail}} is a share in [0, 1), not {value:g}", "noise_tail")
    # str(error): "noise_tail is a share in [0, 1), not 2"; the CLI prints "--noise-tail is ..."
"""

from __future__ import annotations

from collections.abc import Callable


class SettingError(ValueError):
    """``message`` with each of ``settings`` written ``{setting}`` where it is named."""

    def __init__(self, message: str, *settings: str) -> None:
        self.message, self.settings = message, settings
        super().__init__(self.named(str))

    def named(self, name_of: Callable[[str], str]) -> str:
        """The message with each setting written as ``name_of(setting)`` (its flag, on the CLI)."""
        text = self.message
        for setting in self.settings:
            text = text.replace("{" + setting + "}", name_of(setting))
        return text
