"""Does the filter reject bad teacher labels and keep good ones? Home Depot, buckets 0-7 only.

    python bench/filter_quality.py [--teacher-pairs 3000] [--warmup-pairs 1000] [--candidates 2000]
                                   [--flip 0.1,0.2,0.4] [--seed 0]

A teacher (MiniLM-L6) is fitted on gold grades of the teacher-train buckets (0-2); it labels
student-pool pairs (buckets 3-7); a student (MiniLM-L6) warms up on a random sample of them
(round 0). The remaining pool pairs become candidates, with a share ``--flip`` of their
teacher scores corrupted (y → 1 - y), measured at each share given; ``--gibberish``
random-letter queries and as many good generated queries (drop, typo, reorder of pool
queries) are added, all teacher-labelled. The student's statistics are computed once per
share; then each filter setting is applied, and the
rejections are scored against the known bad items. The test buckets (8-9) are never read.
Prints one JSON line last with precision and recall of rejection per setting.
"""

from __future__ import annotations

import argparse
import csv
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOMEDEPOT, emit, log
from sentence_transformers import SentenceTransformer
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.augment import drop_token, reorder, typo
from protege.client.data.query_hash import bucket
from protege.client.retrieval.embedder import embed as sentence_embed
from protege.client.retrieval.embedder import load_embedder
from protege.client.training.config import TrainingConfig
from protege.client.training.trainer import train_cross_encoder
from protege.filters.base import Candidates, FilterPipeline
from protege.filters.frontier import FrontierBand, IfdCeiling
from protege.filters.likelihood import StudentLikelihood
from protege.filters.profile import Profile
from protege.filters.queries import Plausibility, StudentQueryEmbedder, seed_distances
from protege.filters.select import select, training_profile
from protege.filters.settings import FilterSettings


def gibberish(rng: np.random.Generator) -> str:
    words = rng.integers(2, 4)
    return " ".join(
        "".join(rng.choice(list(string.ascii_lowercase), rng.integers(3, 8))) for _ in range(words)
    )


def score(rejected: np.ndarray, bad: np.ndarray, clean: np.ndarray) -> dict[str, float]:
    caught = (rejected & bad).sum()
    return {
        "rejected": int(rejected.sum()),
        "precision": round(float(caught / max(rejected.sum(), 1)), 3),
        "recall": round(float(caught / max(bad.sum(), 1)), 3),
        "clean_kept": round(float((~rejected & clean).sum() / max(clean.sum(), 1)), 3),
    }


def recall(rejected: np.ndarray, group: np.ndarray) -> float:
    return round(float((rejected & group).sum() / max(group.sum(), 1)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    parser.add_argument("--teacher-pairs", type=int, default=3000)
    parser.add_argument("--teacher-epochs", type=float, default=1.0)
    parser.add_argument("--warmup-pairs", type=int, default=1000)
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument(
        "--flip",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[0.1, 0.2, 0.4],
        help="shares of candidate labels to corrupt, one measurement each",
    )
    parser.add_argument("--gibberish", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: this benchmark needs the shared Home Depot data")
    started = time.perf_counter()
    bench = Bench.prepare(args)
    results = {f"flip {flip:g}": bench.measure(flip) for flip in args.flip}
    emit(
        {
            "benchmark": "filter_quality",
            "data": args.data.name,
            "teacher_pairs": args.teacher_pairs,
            "warmup_pairs": len(bench.warmup),
            "candidates": len(bench.candidates),
            "gibberish": args.gibberish,
            "seconds": round(time.perf_counter() - started, 1),
            "results": results,
        }
    )


@dataclass
class Bench:
    """The models and candidates every flip share is measured on."""

    rng: np.random.Generator
    student: CrossEncoder
    warmup: list[tuple[str, str, float]]
    candidates: list[tuple[str, str, float]]
    candidate_scores: np.ndarray  # the teacher's, of the candidates
    queries: list[str]  # the candidates' and the generated pairs'
    documents: list[str]
    generated_scores: np.ndarray
    strategy: np.ndarray  # seed, drop (a good generated query) or refine (gibberish)
    train_profile: Profile
    # Seed queries embedded once, by the student's encoder and by its backbone's sentence embeddings
    # (the same plausibility test in both spaces).
    embed: StudentQueryEmbedder = field(init=False)
    seed_vectors: np.ndarray = field(init=False)
    backbone: SentenceTransformer = field(init=False)
    backbone_seeds: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        seeds = list(dict.fromkeys(np.array(self.queries, dtype=object)[self.strategy == "seed"].tolist()))
        self.embed = StudentQueryEmbedder(self.student)
        self.seed_vectors = self.embed(seeds)
        self.backbone = load_embedder()
        self.backbone_seeds = self.backbone_embed(seeds)

    def backbone_embed(self, texts: list[str]) -> np.ndarray:
        return sentence_embed(self.backbone, list(texts))

    @classmethod
    def prepare(cls, args: argparse.Namespace) -> Bench:
        """Fits the teacher and warms up the student, then adds good and gibberish generated queries."""
        rng = np.random.default_rng(args.seed)
        with args.data.open(encoding="latin-1", newline="") as file:
            rows = [
                (r["search_term"], r["product_title"], float(r["relevance"])) for r in csv.DictReader(file)
            ]
        teacher_rows = [row for row in rows if bucket(row[0]) <= 2]
        pool = [row for row in rows if 3 <= bucket(row[0]) <= 7]
        teacher_rows = [teacher_rows[i] for i in rng.permutation(len(teacher_rows))[: args.teacher_pairs]]
        pool = [pool[i] for i in rng.permutation(len(pool))[: args.warmup_pairs + args.candidates]]
        log(f"fitting the teacher on {len(teacher_rows)} gold pairs")
        grades = [(grade - 1) / 2 for _, _, grade in teacher_rows]
        teacher = train_cross_encoder(
            *_texts(teacher_rows), grades, TrainingConfig(epochs=args.teacher_epochs, seed=args.seed)
        )
        pool_scores = teacher.predict([(q, d) for q, d, _ in pool], batch_size=64, show_progress_bar=False)
        warmup, candidates = pool[: args.warmup_pairs], pool[args.warmup_pairs :]
        log(f"warming the student up on {len(warmup)} teacher-labelled pool pairs")
        warm_scores = pool_scores[: args.warmup_pairs]
        student = train_cross_encoder(*_texts(warmup), warm_scores, TrainingConfig(seed=args.seed + 1))
        queries, documents = _texts(candidates)
        # Good generated queries (local perturbations of pool queries, with the teacher's labels) and
        # gibberish ones, so plausibility can be wrong both ways.
        perturb = (drop_token, typo, reorder)
        picks = rng.choice(len(candidates), args.gibberish, replace=False)
        good = [
            (perturb[k % 3](queries[i], rng) or queries[i] + " kit", documents[i])
            for k, i in enumerate(picks)
        ]
        junk = [(gibberish(rng), documents[int(i)]) for i in rng.choice(len(documents), args.gibberish)]
        strategy = np.array(
            ["seed"] * len(candidates) + ["drop"] * len(good) + ["refine"] * len(junk), dtype=object
        )
        return cls(
            rng, student, warmup, candidates, pool_scores[args.warmup_pairs :],
            queries + [q for q, _ in good + junk], documents + [d for _, d in good + junk],
            teacher.predict(good + junk, show_progress_bar=False), strategy,
            # The student's own training set, profiled after training: the reference the defaults use.
            training_profile(student, *_texts(warmup), warm_scores),
        )  # fmt: skip

    def measure(self, flip: float) -> dict[str, dict]:
        """Each setting's rejections, scored, with a share ``flip`` of the candidates' labels corrupted."""
        size = len(self.candidates)
        flipped = np.zeros(len(self.queries), dtype=bool)
        flipped[self.rng.choice(size, int(flip * size), replace=False)] = True
        teacher = np.concatenate([self.candidate_scores, self.generated_scores])
        scores = np.where(flipped, 1.0 - teacher, teacher)
        moved = flipped & (np.abs(1.0 - 2.0 * teacher) >= 0.2)  # flipping a label near 0.5 changes little
        is_junk, good = self.strategy == "refine", self.strategy == "drop"
        bad = flipped | is_junk
        rejected_by = self.rejections(scores)
        results = {}
        for name, rejected in rejected_by.items():
            results[name] = {
                **score(rejected, bad, ~bad),
                "recall_flipped": recall(rejected, flipped),
                "recall_flipped_moved": recall(rejected, moved),
                "recall_gibberish": recall(rejected, is_junk),
                "good_generated_kept": round(float((~rejected & good).sum() / good.sum()), 3),
            }
            log(f"flip {flip:g} {name:45s} {results[name]}")
        return results

    def rejections(self, scores: np.ndarray) -> dict[str, np.ndarray]:
        """Which pairs each setting rejects, the shipped defaults through the call `distill` makes."""
        statistics = StudentLikelihood(self.student).statistics(self.queries, self.documents, scores)
        is_seed = self.strategy == "seed"
        candidate = Profile.from_statistics(
            {
                **{name: statistics[name][is_seed] for name in ("nll", "ifd")},
                "seed_distance": seed_distances(self.seed_vectors),
            }
        )
        train = self.train_profile
        backbone_profile = Profile(
            {**train.values, "seed_distance": np.sort(seed_distances(self.backbone_seeds))}
        )
        settings = {
            "band 0.1-0.9 (candidates)": (candidate, [FrontierBand(0.1, 0.9)]),
            "band 0-0.8 (candidates)": (candidate, [FrontierBand(0.0, 0.8)]),
            **{f"band 0-{high} (training set)": (train, [FrontierBand(0.0, high)])
               for high in (0.9, 0.95, 0.98, 0.99)},
            "band 0.1-0.99 (training set)": (train, [FrontierBand(0.1, 0.99)]),
            "ifd > 1.1": (train, [IfdCeiling(0.1)]),
            "ifd > 1.0": (train, [IfdCeiling(0.0)]),
            "plausibility 0.95, student encoder":
                (candidate, [Plausibility(self.seed_vectors, self.embed, 0.95)]),
            "plausibility 0.95, backbone":
                (backbone_profile, [Plausibility(self.backbone_seeds, self.backbone_embed, 0.95)]),
        }  # fmt: skip
        table = Candidates(
            {"query": np.array(self.queries, dtype=object), "strategy": self.strategy, **statistics}
        )
        rejected_by = {
            name: ~FilterPipeline(filters)(table, profile).accepted
            for name, (profile, filters) in settings.items()
        }
        selection = select(
            self.student, self.queries, self.documents, scores, strategy=self.strategy.tolist(),
            reference=train, embed_queries=self.backbone_embed,
        )  # fmt: skip
        rejected_by["defaults " + describe(FilterSettings())] = ~selection.decision.accepted
        return rejected_by


def _texts(rows: list[tuple[str, str, float]]) -> tuple[list[str], list[str]]:
    return [q for q, _, _ in rows], [d for _, d, _ in rows]


def describe(settings: FilterSettings) -> str:
    return ", ".join(f"{name}={value}" for name, value in settings.as_dict().items() if value is not None)


if __name__ == "__main__":
    main()
