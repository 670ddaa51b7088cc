"""Ensemble teacher: several teachers served as one — one score, one version (Hofstätter et al.'s
teacher ensembles).

A folder holds ``ensemble.json`` and its members' folders. A pair's score is
``sigmoid(bias + Σ weight_i · logit(score_i))``: a logistic blend of the members' scores, fitted
(``fit_blend``) on gold grades the members were not trained on, so the blend is calibrated as the
students and the filters read it.

Example ``ensemble.json``::

    {"members": [{"kind": "cross-encoder", "model": "cross-encoder"},
                 {"kind": "bi-encoder", "model": "bi-encoder"}],
     "weights": [0.81, 3.2], "bias": -1.4}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from protege.common.scores import logit

from .base import Backend, Scores
from .bi_encoder import BiEncoderBackend
from .cross_encoder import CrossEncoderBackend
from .llm_judge import LLMJudgeBackend

MANIFEST = "ensemble.json"
# The kinds a member may be: any backend but another ensemble.
MEMBER_KINDS = {
    "cross-encoder": CrossEncoderBackend,
    "bi-encoder": BiEncoderBackend,
    "llm-judge": LLMJudgeBackend,
}


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


class EnsembleBackend(Backend):
    """Serves an ensemble folder (``MANIFEST`` and its members) as one teacher.

    Example::

        backend = EnsembleBackend("teacher/")  # written by `protege teacher fit --recipe ensemble`
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
    """

    kind = "ensemble"

    def __init__(
        self, model: str, device: str | None = None, dtype: str | None = None, max_length: int | None = None
    ) -> None:
        folder = Path(model)
        manifest = folder / MANIFEST
        if not manifest.is_file():
            raise ValueError(f"{folder} holds no {MANIFEST}: not an ensemble teacher folder")
        spec = json.loads(manifest.read_text())
        self.weights = np.asarray(spec["weights"], dtype=np.float64)
        self.bias = float(spec["bias"])
        if len(self.weights) != len(spec["members"]) or not len(self.weights):
            raise ValueError(f"{manifest}: one weight per member, and at least one member")
        shared = {"device": device, "dtype": dtype}
        if max_length is not None:  # serve --max-length: every member's token limit
            shared["max_length"] = max_length
        unknown = {member["kind"] for member in spec["members"]} - MEMBER_KINDS.keys()
        if unknown:
            raise ValueError(
                f"{manifest}: members of kind {', '.join(sorted(unknown))}; "
                f"choose from {', '.join(MEMBER_KINDS)}"
            )
        self.members = [
            MEMBER_KINDS[member["kind"]](
                str(folder / member["model"]), **(shared | member.get("options", {}))
            )
            for member in spec["members"]
        ]
        digest = hashlib.sha256(
            json.dumps(
                {"members": [m.version for m in self.members], "weights": spec["weights"], "bias": self.bias}
            ).encode()
        )
        super().__init__(str(model), f"ensemble-{digest.hexdigest()[:20]}")

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        member_scores = np.column_stack([m.score(queries, documents).scores for m in self.members])
        return Scores(1 / (1 + np.exp(-(logit(member_scores) @ self.weights + self.bias))))


def write_ensemble(
    folder: str | Path, members: list[dict], weights: np.ndarray, bias: float, **record
) -> Path:
    """Writes ``folder/ensemble.json`` for members (``kind``, ``model`` relative to ``folder``)
    already saved there; ``record`` (how the blend was fitted) is kept beside the weights."""
    path = Path(folder) / MANIFEST
    spec = {"members": members, "weights": [float(w) for w in weights], "bias": float(bias), **record}
    path.write_text(json.dumps(spec, indent=2))
    return path
