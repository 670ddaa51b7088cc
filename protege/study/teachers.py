"""The study's teachers: the one fitted on the teacher-train gold, the same teacher made noisy, and
what each costs per pair.

The noisy teacher replaces its score by ``1 - score`` on a fixed random share of pairs (chosen by a
hash of the pair, so every call and every student sees the same flips): what an LLM judge's
disagreements look like to a student, and what the student-side filters exist for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa

from protege import teacher_fitting
from protege.client.evaluation.metrics import Evaluation
from protege.client.evaluation.scoreboard import Board
from protege.client.labelling.jobs import label_table
from protege.client.labelling.teacher_client import TeacherClient, teacher_scores
from protege.common.runtimes import load_cross_encoder
from protege.common.stage import PROVENANCE, Stage
from protege.server.app import BackgroundTeacher
from protege.server.backends import Backend, Scores
from protege.server.backends.ensemble import MANIFEST as ENSEMBLE_MANIFEST
from protege.server.config import ServeConfig
from protege.server.validation import Limits

log = logging.getLogger("protege.study")

FLIP_RESOLUTION = 1_000_000


def study_teacher(
    rows: pa.Table, recipe: str, base: str | None, epochs: float, folder: Path, seed: int
) -> Path:
    """The teacher of ``recipe`` fitted on ``rows`` (gold ``label`` in 0..1) into ``folder``; a
    folder that already holds a finished teacher is kept as it is."""
    if Stage(folder, marker=ENSEMBLE_MANIFEST if recipe == "ensemble" else PROVENANCE).done:
        return folder
    queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
    targets = rows["label"].to_numpy(zero_copy_only=False)
    return teacher_fitting.fit_teacher(
        recipe,
        queries,
        documents,
        targets,
        folder,
        teacher_fitting.training_for(recipe, base=base, epochs=epochs, seed=seed),
    )


def cross_encoder_of(recipe: str, folder: Path) -> Path | None:
    """The teacher's cross-encoder, which students start from (its first layers and its head, as
    DistilBERT starts from its teacher's layers): the teacher itself, an ensemble's cross-encoder
    member, or None for an LLM judge."""
    if recipe == "cross-encoder":
        return folder
    if recipe == "ensemble":
        members = json.loads((folder / ENSEMBLE_MANIFEST).read_text())["members"]
        return next((folder / m["model"] for m in members if m["kind"] == "cross-encoder"), None)
    return None


def flipped(queries: Sequence[str], documents: Sequence[str], share: float) -> np.ndarray:
    """Which pairs a noisy teacher flips: a fixed ``share`` of them, by a hash of the pair."""
    threshold = round(share * FLIP_RESOLUTION)
    return np.array(
        [
            int(hashlib.sha1(f"{query}\n{document}".encode()).hexdigest(), 16) % FLIP_RESOLUTION < threshold
            for query, document in zip(queries, documents, strict=True)
        ],
        dtype=bool,
    )


def with_flips(
    scores: np.ndarray, queries: Sequence[str], documents: Sequence[str], share: float
) -> np.ndarray:
    """``scores`` as the noisy teacher gives them: ``1 - score`` on the flipped pairs."""
    scores = np.array(scores, dtype=np.float64)
    flips = flipped(queries, documents, share)
    scores[flips] = 1 - scores[flips]
    return scores


class NoisyBackend(Backend):
    """A teacher whose score is ``1 - score`` on a fixed random ``share`` of pairs, with a version of
    its own (its labels are never cached as the clean teacher's). ``known``: the clean teacher's
    scores of pairs it has labelled already (the pool's), used instead of asking it again.

    Example::

        noisy = NoisyBackend(load_backend("ensemble", "teacher/"), share=0.2)
    """

    kind = "noisy"

    def __init__(
        self, inner: Backend, share: float, known: dict[tuple[str, str], float] | None = None
    ) -> None:
        self.inner, self.share, self.known = inner, share, known or {}
        super().__init__(f"{inner.model_name} (noisy {share:g})", f"noisy{share:g}-{inner.version}")

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        pairs = list(zip(queries, documents, strict=True))
        missing = [number for number, pair in enumerate(pairs) if pair not in self.known]
        clean = np.array([self.known.get(pair, np.nan) for pair in pairs])
        if missing:
            asked = self.inner.score([queries[i] for i in missing], [documents[i] for i in missing])
            clean[missing] = asked.scores
        return Scores(with_flips(clean, queries, documents, self.share))


def pairs_per_second(
    score: Callable[[list[str], list[str]], object], queries: list[str], documents: list[str], batch: int = 32
) -> float:
    """In-process pairs a second of ``score`` over the pairs, in batches of ``batch``."""
    started = time.perf_counter()
    for start in range(0, len(queries), batch):
        score(queries[start : start + batch], documents[start : start + batch])
    return len(queries) / (time.perf_counter() - started)


SPEED_PAIRS = 1024  # test pairs timed for the teacher's and the student's pairs/s


def measure_speed(
    teacher: Callable[[], Backend], student: Path, board: Board, record: Path, runtime: str = "torch"
) -> dict:
    """In-process pairs/s of the teacher (each time as ``teacher()`` loads it, its caches empty)
    and the student (run by ``runtime``) on the same test pairs, batch 32, timed alternately twice
    (the best of each: these machines are noisy); the student's cost share. Kept in ``record``,
    like every finished stage."""
    stage = Stage(record.parent, marker=record.name)
    if stage.done:
        return stage.read()
    test = board.evaluations["test"]
    queries, documents = test.queries[:SPEED_PAIRS], test.documents[:SPEED_PAIRS]
    model = load_cross_encoder(student, runtime)

    def student_scores(q: list[str], d: list[str]) -> np.ndarray:
        return model.predict(list(zip(q, d, strict=True)), batch_size=len(q), show_progress_bar=False)

    timings = {"teacher": [], "student": []}
    for _ in range(2):
        timings["teacher"].append(pairs_per_second(teacher().score, queries, documents))
        timings["student"].append(pairs_per_second(student_scores, queries, documents))
    speed = {name: round(max(values), 1) for name, values in timings.items()}
    speed |= {"student_cost_share": round(speed["teacher"] / speed["student"], 3), "pairs": len(queries)}
    stage.finish(speed)
    return speed


def add_noisy_teacher(board: Board, share: float) -> None:
    """The noisy teacher's scores: the clean teacher's with its flips, on the same pairs."""
    run = board.runs["teacher"][0]
    flipped = {
        split: with_flips(run[split], evaluation.queries, evaluation.documents, share)
        for split, evaluation in board.evaluations.items()
    }
    board.add_scores("teacher_noisy", flipped["validation"], flipped["test"])


def label_pool(teacher: TeacherClient, pool: pa.Table, out: Path) -> pa.Table:
    """The teacher's labels of every pool pair (a resumable ``LabelJob``), in pool order."""
    pairs = pool.select(["pair_id", "query", "document", "doc_id"])
    return label_table(teacher, pairs, out / "pool.parquet", out / "pool-labels")


@contextmanager
def served(backend: Backend, cache: Path, limits: Limits) -> Iterator[TeacherClient]:
    """``backend`` served over gRPC on localhost, with its label cache at ``cache``, and a client of it."""
    config = ServeConfig(
        backend.kind,
        backend.model_name,
        host="127.0.0.1",
        port=0,
        metrics_port=0,
        cache=str(cache),
        limits=limits,
    )
    with (
        BackgroundTeacher(config, backend) as server,
        TeacherClient(f"127.0.0.1:{server.port}", timeout=120) as client,
    ):
        yield client


def served_scores(teacher: TeacherClient, evaluation: Evaluation) -> np.ndarray:
    """The served teacher's scores of ``evaluation``'s pairs (a ``Board`` scorer)."""
    return teacher_scores(teacher, evaluation.queries, evaluation.documents, progress=True)
