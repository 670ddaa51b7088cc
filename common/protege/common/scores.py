"""Scores in 0..1 as logits, the one way everything here takes them (a blend's features, the
margins students learn): clipped first, since a saturated sigmoid or a clipped cosine of exactly
0 or 1 has an infinite logit.

Example::

    >>> logit(np.array([0.5, 1.0])).round(2).tolist()
    [0.0, 13.82]
"""

from __future__ import annotations

import numpy as np

SCORE_EPSILON = 1e-6


def logit(scores) -> np.ndarray:
    """``log(p / (1 - p))`` of each score, clipped to ``[SCORE_EPSILON, 1 - SCORE_EPSILON]``."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), SCORE_EPSILON, 1 - SCORE_EPSILON)
    return np.log(clipped / (1 - clipped))
