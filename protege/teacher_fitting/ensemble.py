"""Fitting an ensemble teacher: a cross-encoder and a bi-encoder fitted on gold grades from one
sentence-embedding checkpoint, and that checkpoint as a zero-shot bi-encoder, blended into one score.

A cross-encoder fitted from a sentence-embedding checkpoint starts with a fresh head and throws
away what the embedding model knows; the fine-tuned bi-encoder keeps it, and the zero-shot one is
what it knew before. The members are fitted on four fifths of the gold queries; the blend's
weights (``fit_blend``) on the last fifth, which no member saw.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sentence_transformers import SentenceTransformer

from protege.client.data.query_hash import BLEND_SHARE, held_out_for_blend
from protege.client.models import packaged_minilm
from protege.client.training.config import TrainingConfig
from protege.client.training.trainer import train_cross_encoder
from protege.common.scores import logit
from protege.common.stage import Stage
from protege.server.backends import load_backend
from protege.server.backends.ensemble import MANIFEST

from .bi_encoder import train_bi_encoder

log = logging.getLogger("protege")

# A saved SentenceTransformer folder's last file: its marker as a finished member.
SENTENCE_TRANSFORMER = "modules.json"
MEMBERS = (
    {"kind": "cross-encoder", "model": "cross-encoder"},
    {"kind": "bi-encoder", "model": "bi-encoder"},
    {"kind": "bi-encoder", "model": "zero-shot"},
)


def fit_blend(member_scores: np.ndarray, targets: np.ndarray, l2: float = 1e-3) -> tuple[np.ndarray, float]:
    """Weights and bias of the logistic blend of member scores (pairs × members, each in 0..1)
    that minimise the soft binary cross-entropy against ``targets`` in 0..1 (plus a small L2 on
    the weights). Returns ``(weights, bias)``.

    Example::

        weights, bias = fit_blend(np.column_stack([ce_scores, bi_scores]), (grades - 1) / 2)
    """
    features = logit(member_scores)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(targets) or not len(targets):
        raise ValueError("a blend needs a (pairs × members) score matrix and one target per pair")

    def loss(parameters: np.ndarray) -> tuple[float, np.ndarray]:
        z = features @ parameters[:-1] + parameters[-1]
        predicted = 1 / (1 + np.exp(-z))
        # Soft BCE written with logaddexp, stable for any z.
        value = np.mean(np.logaddexp(0, z) - targets * z) + l2 * parameters[:-1] @ parameters[:-1]
        gradient = np.append(features.T @ (predicted - targets), np.sum(predicted - targets)) / len(z)
        gradient[:-1] += 2 * l2 * parameters[:-1]
        return float(value), gradient

    start = np.append(np.full(features.shape[1], 1 / features.shape[1]), 0.0)
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B").x
    return fitted[:-1], float(fitted[-1])


def write_ensemble(
    folder: str | Path, members: list[dict], weights: np.ndarray, bias: float, **record
) -> Path:
    """Writes ``folder/ensemble.json`` for members (``kind``, ``model`` relative to ``folder``)
    already saved there; ``record`` (how the blend was fitted) is kept beside the weights."""
    path = Path(folder) / MANIFEST
    spec = {"members": members, "weights": [float(w) for w in weights], "bias": float(bias), **record}
    path.write_text(json.dumps(spec, indent=2))
    return path


def fit_ensemble_teacher(
    queries: Sequence[str],
    documents: Sequence[str],
    targets: Sequence[float],
    out: str | Path,
    config: TrainingConfig,
    *,
    provenance: dict | None = None,
) -> dict:
    """Writes an ensemble teacher to ``out`` (``protege serve --backend ensemble --model OUT``)
    and returns its record: members, blend weights, and each member's and the blend's soft BCE
    on the held-out pairs.

    Example::

        fit_ensemble_teacher(queries, documents, (grades - 1) / 2, "teacher/")
    """
    out = Path(out)
    targets = np.asarray(targets, dtype=np.float64)
    held_out = np.array([held_out_for_blend(query) for query in queries])
    if held_out.all() or not held_out.any():
        raise ValueError(
            f"an ensemble teacher needs gold pairs of at least {BLEND_SHARE} distinct queries, so that one "
            "in five can fit the blend; fit a cross-encoder teacher instead"
        )
    fit_rows, blend_rows = np.flatnonzero(~held_out), np.flatnonzero(held_out)
    fit = [queries[i] for i in fit_rows], [documents[i] for i in fit_rows], targets[fit_rows]
    _fit_members(out, fit, replace(config, loss="bce"), provenance)
    blend = [queries[i] for i in blend_rows], [documents[i] for i in blend_rows], targets[blend_rows]
    return _fit_blend(out, blend, {"fitted_on_pairs": len(fit_rows), "provenance": provenance or {}})


def _fit_members(out: Path, pairs: tuple, config: TrainingConfig, provenance: dict | None) -> None:
    """The members fitted on ``pairs`` (queries, documents, targets) and saved in ``out``; a member
    already there (a fit cut short after it) is kept."""
    if not Stage(out / "cross-encoder").done:
        log.info("ensemble teacher: fitting its cross-encoder on %d gold pairs", len(pairs[0]))
        train_cross_encoder(*pairs, config, out=out / "cross-encoder", provenance=provenance)
    if not Stage(out / "bi-encoder", marker=SENTENCE_TRANSFORMER).done:
        log.info("ensemble teacher: fitting its bi-encoder on %d gold pairs", len(pairs[0]))
        options = {"epochs": config.epochs, "batch_size": config.batch_size, "seed": config.seed}
        train_bi_encoder(
            *pairs, base=config.base, out=out / "bi-encoder", progress=config.progress, **options
        )
    if not Stage(out / "zero-shot", marker=SENTENCE_TRANSFORMER).done:
        SentenceTransformer(config.base or packaged_minilm()).save(str(out / "zero-shot"))


def _fit_blend(out: Path, pairs: tuple, record: dict) -> dict:
    """The blend of ``MEMBERS`` fitted on the held-out ``pairs`` and written to ``out/ensemble.json``
    with ``record``, each member's held-out BCE and the blend's; returns what it wrote."""
    queries, documents, targets = pairs
    backends = [load_backend(member["kind"], str(out / member["model"])) for member in MEMBERS]
    scores = np.column_stack([_scores(backend, queries, documents) for backend in backends])
    weights, bias = fit_blend(scores, targets)
    bce = {member["model"]: _bce(scores[:, [n]], targets) for n, member in enumerate(MEMBERS)}
    record = {**record, "blend_fitted_on_pairs": len(queries)}
    record["held_out_bce"] = {**bce, "ensemble": _bce(scores, targets, weights, bias)}
    write_ensemble(out, list(MEMBERS), weights, bias, **record)
    log.info("ensemble teacher: weights %s; held-out BCE %s", weights.round(3), record["held_out_bce"])
    return {"members": list(MEMBERS), "weights": weights.tolist(), "bias": bias, **record}


def _scores(backend, queries: list[str], documents: list[str], batch: int = 64) -> np.ndarray:
    """A backend's scores, a batch at a time (its ``score`` takes one model batch)."""
    return np.concatenate(
        [
            backend.score(queries[start : start + batch], documents[start : start + batch]).scores
            for start in range(0, len(queries), batch)
        ]
    )


def _bce(scores: np.ndarray, targets: np.ndarray, weights=None, bias: float | None = None) -> float:
    """Soft BCE of a blend on held-out pairs; a member alone is scored with its own refit scale."""
    if weights is None:
        weights, bias = fit_blend(scores, targets)
    z = logit(scores) @ weights + bias
    return round(float(np.mean(np.logaddexp(0, z) - targets * z)), 5)
