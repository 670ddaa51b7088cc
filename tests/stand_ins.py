"""Stand-ins the tests use for real parts: a backend that waits, a student whose logits a test
sets, and a few judged pairs a tiny judge can learn."""

from __future__ import annotations

import threading
import time

import numpy as np

from protege.server.backends import Backend, Scores

RELEVANT = [
    ("cordless drill", "cordless drill driver kit"),
    ("white paint", "white gloss paint"),
    ("angle bracket", "corner brace angle bracket"),
    ("light bulb", "led light bulb soft white"),
]
IRRELEVANT = [
    ("cordless drill", "white gloss paint"),
    ("white paint", "cordless drill driver kit"),
    ("angle bracket", "led light bulb"),
    ("light bulb", "corner brace"),
]


class SlowBackend(Backend):
    """Takes ``delay`` seconds per batch; ``gate`` holds batches back until set."""

    kind = "cross-encoder"

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__("slow", "slow-v1")
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        self.gate.wait(30)
        time.sleep(self.delay)
        return Scores(np.full(len(queries), 0.5))


class DesignedStudent:
    """A stand-in student whose logit for each (query, document) is set by the test."""

    num_labels = 1

    def __init__(self, logits: dict[tuple[str, str], float]) -> None:
        self.table = logits
        self.calls: list[int] = []

    def predict(self, pairs, **_: object) -> np.ndarray:
        self.calls.append(len(pairs))
        return np.array([self.table[pair] for pair in pairs], dtype=np.float32)
