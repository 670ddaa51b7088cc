"""Teacher backends, by kind.

Example::

    from protege.server.backends import load_backend

    backend = load_backend("cross-encoder", "path/to/fitted-teacher")
    backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
"""

from __future__ import annotations

from typing import Any

from .base import Backend, Scores, teacher_version

BACKEND_KINDS = ("cross-encoder", "llm-judge", "bi-encoder")


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
    raise ValueError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")


__all__ = ["BACKEND_KINDS", "Backend", "Scores", "load_backend", "teacher_version"]
