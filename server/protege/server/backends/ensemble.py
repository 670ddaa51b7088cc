"""Ensemble teacher: several teachers served as one — one score, one version (Hofstätter et al.'s
teacher ensembles).

A folder holds ``ensemble.json`` and its members' folders. A pair's score is
``sigmoid(bias + Σ weight_i · logit(score_i))``: a logistic blend of the members' scores, fitted
(``protege.teacher_fitting.ensemble``) on gold grades the members were not trained on, so the blend
is calibrated as the students and the filters read it.

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


class EnsembleBackend(Backend):
    """Serves an ensemble folder (``MANIFEST`` and its members) as one teacher.

    Example::

        backend = EnsembleBackend("teacher/")  # written by `protege teacher fit --backend ensemble`
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
    """

    kind = "ensemble"

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        runtime: str = "torch",
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
                str(folder / member["model"]),
                **(shared | self._runtime(member["kind"], runtime) | member.get("options", {})),
            )
            for member in spec["members"]
        ]
        digest = hashlib.sha256(
            json.dumps(
                {"members": [m.version for m in self.members], "weights": spec["weights"], "bias": self.bias}
            ).encode()
        )
        super().__init__(str(model), f"ensemble-{digest.hexdigest()[:20]}")

    @staticmethod
    def _runtime(kind: str, runtime: str) -> dict[str, str]:
        """``runtime`` for the cross-encoder members (the costly ones); bi-encoders run in torch."""
        return {"runtime": runtime} if kind == "cross-encoder" and runtime != "torch" else {}

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        member_scores = np.column_stack([m.score(queries, documents).scores for m in self.members])
        return Scores(1 / (1 + np.exp(-(logit(member_scores) @ self.weights + self.bias))))
