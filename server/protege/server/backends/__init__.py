"""Teacher backends, by kind.

Example::

    from protege.server.backends import load_backend

    backend = load_backend("cross-encoder", "path/to/fitted-teacher")
    backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
"""

from __future__ import annotations

import importlib
from typing import Any

from protege.common.paths import local_or_hub
from protege.common.runtimes import not_installed

from .base import Backend, BackendRefused, BackendUnavailable, Scores, teacher_version

# Each kind's module and class, imported only when a backend of that kind loads: the model
# libraries take seconds to import (``protege --help`` should not), and ``openai`` is an extra.
BACKENDS = {
    "cross-encoder": "cross_encoder:CrossEncoderBackend",
    "llm-judge": "llm_judge:LLMJudgeBackend",
    "bi-encoder": "bi_encoder:BiEncoderBackend",
    "ensemble": "ensemble:EnsembleBackend",
    "openai-compatible": "openai_compatible:OpenAICompatibleBackend",
}
BACKEND_KINDS = tuple(BACKENDS)
# The extra that installs what a kind's module imports beyond the core dependencies.
EXTRAS = {"openai-compatible": ("openai", "openai")}


def backend_class(kind: str) -> type[Backend]:
    """The class of a kind of backend, its module imported now."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")
    module, name = BACKENDS[kind].split(":")
    try:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)
    except ModuleNotFoundError as error:
        package, extra = EXTRAS.get(kind, (None, None))
        if error.name != package:
            raise
        raise ImportError(not_installed(f"the {kind} backend", package, extra)) from error


def load_backend(kind: str, model: str, **options: Any) -> Backend:
    """Loads ``model`` (a local path or hub id) as a teacher of the given kind."""
    backend = backend_class(kind)
    return backend(local_or_hub(model) if backend.model_is_a_path else model, **options)


__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendRefused",
    "BackendUnavailable",
    "Scores",
    "backend_class",
    "load_backend",
    "teacher_version",
]
