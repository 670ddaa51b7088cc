"""Fitting a teacher on gold grades (soft targets in 0..1) into a folder ``protege serve`` serves:
a cross-encoder (soft BCE on the grade), an ensemble (``ensemble``) or a causal LM as an
LLM judge.

Example::

    fit_teacher("ensemble", queries, documents, (grades - 1) / 2, Path("teacher/"))
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from protege.client.training.config import TrainingConfig
from protege.client.training.trainer import train_cross_encoder

from .ensemble import fit_ensemble_teacher
from .llm_judge import train_llm_judge
from .settings import RECIPES

log = logging.getLogger("protege")


def fit_teacher(
    recipe: str,
    queries: Sequence[str],
    documents: Sequence[str],
    targets: Sequence[float],
    out: Path,
    config: TrainingConfig,
    *,
    labels: tuple[str, ...] = ("no", "yes"),
    provenance: dict | None = None,
) -> Path:
    """The teacher of ``recipe`` fitted on the graded pairs into ``out``; ``labels``: an LLM
    judge's answer labels, least relevant first."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown teacher recipe {recipe!r}: choose from {', '.join(RECIPES)}")
    log.info("fitting the %s teacher on %d gold pairs", recipe, len(queries))
    if recipe == "llm-judge":
        if not config.base:
            raise ValueError("an llm-judge teacher needs a base: a causal LM folder, hub id or .gguf file")
        options = {
            name: getattr(config, name) for name in ("epochs", "batch_size", "learning_rate", "max_length")
        }
        train_llm_judge(
            queries,
            documents,
            targets,
            base=config.base,
            out=out,
            labels=labels,
            seed=config.seed,
            provenance=provenance,
            progress=config.progress,
            **options,
        )
    elif recipe == "ensemble":
        fit_ensemble_teacher(queries, documents, targets, out, config, provenance=provenance)
    else:
        train_cross_encoder(
            queries, documents, targets, replace(config, loss="bce"), out=out, provenance=provenance
        )
    return out
