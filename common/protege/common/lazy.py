"""A package's exported names, each imported from its module when first read: the training,
retrieval and evaluation modules load torch, FAISS and scikit-learn, which ``protege --help`` and a
labelling client do not need.

Example::

    HOMES = {"train_cross_encoder": ".trainer"}
    __all__ = ["train_cross_encoder"]
    __getattr__ = lazy_exports(__name__, HOMES)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that finds each name of ``homes`` in its (relative) module."""

    def __getattr__(name: str) -> object:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name], package), name)

    return __getattr__
