"""Teacher backends, by kind.

Example::

    from protege.server.backends import load_backend

    backend = load_backend("cross-encoder", "path/to/fitted-teacher")
    backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
"""

from __future__ import annotations

from typing import Any

from protege.common.paths import local_or_hub

from .base import Backend, BackendRefused, BackendUnavailable, Scores, teacher_version
from .bi_encoder import BiEncoderBackend
from .cross_encoder import CrossEncoderBackend
from .ensemble import EnsembleBackend
from .llm_judge import LLMJudgeBackend
from .openai_compatible import OpenAICompatibleBackend

BACKENDS: dict[str, type[Backend]] = {
    "cross-encoder": CrossEncoderBackend,
    "llm-judge": LLMJudgeBackend,
    "bi-encoder": BiEncoderBackend,
    "ensemble": EnsembleBackend,
    "openai-compatible": OpenAICompatibleBackend,
}
BACKEND_KINDS = tuple(BACKENDS)


def load_backend(kind: str, model: str, **options: Any) -> Backend:
    """Loads ``model`` (a local path or hub id) as a teacher of the given kind."""
    if kind not in BACKENDS:
        raise ValueError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")
    # An openai-compatible backend's model is the name the endpoint serves, not a folder.
    return BACKENDS[kind](model if kind == "openai-compatible" else local_or_hub(model), **options)


__all__ = [
    "BACKEND_KINDS",
    "Backend",
    "BackendRefused",
    "BackendUnavailable",
    "Scores",
    "load_backend",
    "teacher_version",
]
