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

from protege.client.training import TrainingConfig, train_cross_encoder

from .ensemble import fit_ensemble_teacher
from .llm_judge import train_llm_judge

log = logging.getLogger("protege")

# Per recipe: (pairs per step, tokens per pair) where not given.
RECIPE_DEFAULTS = {"cross-encoder": (32, 128), "ensemble": (32, 128), "llm-judge": (16, 256)}
RECIPES = tuple(RECIPE_DEFAULTS)


def training_for(recipe: str, **settings: object) -> TrainingConfig:
    """A ``TrainingConfig`` for ``recipe``: its batch size and max length unless given (``None``
    leaves a setting at its default), soft BCE."""
    batch_size, max_length = RECIPE_DEFAULTS[recipe]
    given = {name: value for name, value in settings.items() if value is not None}
    return TrainingConfig(**({"batch_size": batch_size, "max_length": max_length, "loss": "bce"} | given))


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
