"""The student's view of a labelled pair: how unlikely the teacher's label is under it.

For student logit ``s`` and teacher soft label ``y`` in 0..1:

* ``nll(q, d) = -[y log σ(s) + (1-y) log(1-σ(s))]`` — the label's negative log-likelihood;
* ``nll(∅, d)`` — the same with the query blanked, computed once per document;
* ``ifd = nll(q, d) / nll(∅, d)`` — near 1: the student cannot use the query yet
  (informative); well below 1: already learned; above 1: the query makes the label less
  likely (contradictory, beyond the frontier, or a teacher error);
* ``excess = nll(q, d) − H(y)`` — the KL divergence of the student's label from the teacher's:
  the part of the loss the student can still remove. For a soft label ``nll`` never falls below
  the label's entropy ``H(y)``, so near ``y = 0.5`` raw ``nll`` and ``ifd`` measure the teacher's
  uncertainty, not what the student knows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch

from protege.common.runtimes import CompiledCrossEncoder

# nll(∅, d) below this is treated as this, so ifd stays finite for documents the student
# already scores confidently without any query.
MIN_BLANK_NLL = 1e-4
# Passes of at least this many pairs show a progress bar (100,000 pairs are minutes on a CPU).
PROGRESS_PAIRS = 10_000


def label_entropy(targets: np.ndarray) -> np.ndarray:
    """The entropy ``H(y)`` of soft labels in 0..1: the least ``label_nll`` any logit reaches.

    Example::

        >>> label_entropy(np.array([0.5, 1.0])).round(4)
        array([0.6931, 0.    ])
    """
    y = np.clip(np.asarray(targets, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 · log 0 is taken as 0
        terms = np.where(y > 0, y * np.log(y), 0.0) + np.where(y < 1, (1.0 - y) * np.log1p(-y), 0.0)
    return -terms


def label_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of soft targets under sigmoid logits, as ``softplus(s) - y·s``
    (the same value, stable for any ``s``).

    Example::

        >>> label_nll(np.array([0.0]), np.array([1.0])).round(4)
        array([0.6931])
    """
    logits = np.asarray(logits, dtype=np.float64)
    return np.logaddexp(0.0, logits) - np.asarray(targets, dtype=np.float64) * logits


class StudentLikelihood:
    """Batched forward passes of a one-label ``CrossEncoder`` student (or one run by ONNX Runtime or
    OpenVINO: ``common.runtimes.load_cross_encoder``).

    The query-blanked logit of each document is cached, so profiling many queries against
    the same products costs one extra pass per product. A cache belongs to one state of the
    student: make a new ``StudentLikelihood`` after the student trains.

    Example::

        likelihood = StudentLikelihood(CrossEncoder("student/"))
        stats = likelihood.statistics(queries, documents, teacher_scores)
        stats["ifd"]
    """

    def __init__(self, model, batch_size: int = 64) -> None:
        if getattr(model, "num_labels", 1) != 1:
            raise ValueError(f"the student must have one output label, not {model.num_labels}")
        self.model = model
        self.batch_size = batch_size
        self.forward_pairs = 0  # pairs run through the student so far: the filter's cost
        self._blank: dict[str, float] = {}

    def logits(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        if not len(queries):
            return np.zeros(0)
        self.forward_pairs += len(queries)
        pairs = list(zip(queries, documents, strict=True))
        if isinstance(self.model, CompiledCrossEncoder):  # ONNX Runtime, OpenVINO
            logits = self.model.predict(pairs, batch_size=self.batch_size, apply_sigmoid=False)
        else:
            logits = self.model.predict(
                pairs,
                batch_size=self.batch_size,
                activation_fn=torch.nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=len(queries) >= PROGRESS_PAIRS,
            )
        return np.asarray(logits, dtype=np.float64).reshape(-1)

    def blank_logits(self, documents: Sequence[str]) -> np.ndarray:
        """Logits of (empty query, document), each document computed once."""
        keys = [hashlib.sha1(document.encode("utf-8")).hexdigest() for document in documents]
        missing = {
            key: document for key, document in zip(keys, documents, strict=True) if key not in self._blank
        }
        if missing:
            fresh = self.logits([""] * len(missing), list(missing.values()))
            self._blank.update(zip(missing, fresh.tolist(), strict=True))
        return np.array([self._blank[key] for key in keys], dtype=np.float64)

    def statistics(
        self, queries: Sequence[str], documents: Sequence[str], targets: Sequence[float]
    ) -> dict[str, np.ndarray]:
        """``logit``, ``nll``, ``nll_blank``, ``ifd`` and ``excess`` per pair."""
        targets = np.clip(np.asarray(targets, dtype=np.float64), 0.0, 1.0)
        logits = self.logits(queries, documents)
        nll = label_nll(logits, targets)
        nll_blank = label_nll(self.blank_logits(documents), targets)
        return {
            "logit": logits,
            "nll": nll,
            "nll_blank": nll_blank,
            "ifd": nll / np.maximum(nll_blank, MIN_BLANK_NLL),
            "excess": np.maximum(nll - label_entropy(targets), 0.0),
        }
