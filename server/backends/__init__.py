"""Teacher backends, by kind.

Example::

    from protege.server.backends import load_backend

    backend = load_backend("cross-encoder", "path/to/fitted-teacher")
    backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Backend

BACKEND_KINDS = ("cross-encoder", "llm-judge", "bi-encoder", "ensemble")


def __getattr__(name: str) -> Any:
    # torch loads only when a backend is used, so `protege health` and `--help` start fast.
    if name in ("Backend", "Scores", "teacher_version"):
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_backend(kind: str, model: str, **options: Any) -> Backend:
    """Loads ``model`` (a local path or hub id) as a teacher of the given kind."""
    if kind == "cross-encoder":
        from .cross_encoder import CrossEncoderBackend

        return CrossEncoderBackend(model, **options)
    if kind == "bi-encoder":
        from .bi_encoder import BiEncoderBackend

        return BiEncoderBackend(model, **options)
    if kind == "llm-judge":
        from .llm_judge import LLMJudgeBackend

        return LLMJudgeBackend(model, **options)
    if kind == "ensemble":
        from .ensemble import EnsembleBackend

        return EnsembleBackend(model, **options)
    raise ValueError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")


__all__ = ["BACKEND_KINDS", "Backend", "Scores", "load_backend", "teacher_version"]
