"""How much protege says. Quiet by default: its own progress (bars and one line per stage) and
results; ``--verbose`` adds debug logs, the libraries' load reports and the trainer's loss logs.

Example::

    configure(verbose=False)  # what every command does first
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

# Libraries whose INFO logs (a model saved, faiss's loader, HTTP calls) say nothing a user acts on.
CHATTY = (
    "sentence_transformers",
    "transformers",
    "datasets",
    "faiss",
    "httpx",
    "httpx2",
    "openai",
    "urllib3",
    "filelock",
)
_verbose = False


def configure(verbose: bool) -> None:
    """Sets the log levels and format, the libraries' progress bars and the trainer's loss logs."""
    global _verbose
    _verbose = verbose
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if isinstance(handler, _StderrHandler)]
    for handler in ours:
        root.removeHandler(handler)
    if not root.handlers:  # as logging.basicConfig: a host that set up logging keeps its handlers
        handler = _StderrHandler()
        pattern = "%(asctime)s %(levelname)s " + ("%(name)s: %(message)s" if verbose else "%(message)s")
        handler.setFormatter(logging.Formatter(pattern, datefmt="%H:%M:%S"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    # Hugging Face's libraries read these when they load; those loaded already are told directly.
    os.environ["TRANSFORMERS_VERBOSITY"] = "info" if verbose else "error"  # load reports go too
    os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "0" if verbose else "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "0" if verbose else "1"  # transformers' weight-loading bars
    if transformers := sys.modules.get("transformers"):
        transformers.logging.set_verbosity_info() if verbose else transformers.logging.set_verbosity_error()
        bars = transformers.utils.logging  # the weight-loading bars
        bars.enable_progress_bar() if verbose else bars.disable_progress_bar()
    if datasets := sys.modules.get("datasets"):
        datasets.enable_progress_bars() if verbose else datasets.disable_progress_bars()


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record comes (tests and notebooks replace it), and
    is the one handler ``configure`` replaces when called again."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def verbose() -> bool:
    """Whether the trainer logs its loss (``trainer_arguments``)."""
    return _verbose
