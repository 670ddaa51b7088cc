"""The distillation loop: warm up, then augment → label → filter → train, round after round.

Round 0 trains the student on teacher labels of a random sample of real pool pairs (its
statistics mean nothing before). Each later round picks seed queries, more of them near the
target clusters the training queries cover least, generates new queries from them, retrieves
candidate products from the catalog (FAISS), drops the pairs whose query the query-only filters
reject (implausible, near-duplicate: the teacher is never asked about them), labels the rest
through the teacher (a resumable ``LabelJob``), keeps what the student's other filters accept
(likelihood band, refinements), and trains the student further
on the pairs it kept (each label is trained on once, so a filtered and an unfiltered student
with the same labels get the same passes). ``label_budget`` caps the teacher labels of the
whole run. Each round's folder holds its pairs, labels, filter decision and student; a rerun
skips finished rounds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from protege.filters.base import Decision
from protege.filters.select import screen_queries, select, training_profile
from protege.filters.settings import FilterSettings
from tqdm.auto import tqdm

from .augment import Augmenter, Generated
from .catalog import Catalog, embed, load_embedder
from .coverage import CoverageIndex, steering_weights
from .evaluation import Evaluation, ranking_metrics
from .jobs import LabelJob, read_labels, write_parquet_atomic
from .readers import Columns
from .report import write_report
from .sampling import whole_queries
from .teacher_client import Pair, TeacherClient
from .training import data_hash, save_student, train_cross_encoder

logger = logging.getLogger(__name__)

TRAIN_COLUMNS = ("query", "document", "score")
ROUND_RECORD = "round.json"  # written last: a round with one is finished


class DistillError(RuntimeError):
    """A distillation run that cannot go on as asked."""


@dataclass
class DistillConfig:
    """What one distillation run does; ``filters=None`` keeps every labelled pair."""

    rounds: int = 2
    warmup_pairs: int = 500
    seeds_per_round: int = 200
    per_seed: int = 2
    strategies: tuple[str, ...] = ("drop", "reorder", "typo")
    top_k: int = 4
    negatives: int = 2
    budget: int | None = None  # accepted pairs per round, the most informative first
    label_budget: int | None = None  # teacher labels for the whole run, shared evenly by rounds 1..
    allow_mixed_teachers: bool = False  # go on after earlier rounds labelled by another teacher version
    retry_seconds: float = 300.0  # how long labelling waits for an unreachable teacher before stopping
    filters: FilterSettings | None = field(default_factory=FilterSettings)
    base: str | None = None
    layers: int | None = None
    loss: str = "bce"
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 128
    tau: float = 0.8
    clusters: int = 20
    embedder: str | None = None
    seed: int = 0
    progress: bool = True


class Distiller:
    """One run of the loop into ``out``. ``embedder`` (default: ``config.embedder`` loaded) embeds
    queries and products for retrieval, coverage and the query filters; a ``MemoEmbedder`` shared by
    several runs over one pool embeds each text once.

    Example::

        with TeacherClient("localhost:50051") as teacher:
            report = Distiller(teacher, pool, Path("run/"), DistillConfig(rounds=2)).run()
        CrossEncoder("run/student")
    """

    def __init__(
        self,
        teacher: TeacherClient,
        pool: pa.Table,
        out: Path,
        config: DistillConfig,
        targets: Sequence[str] | None = None,
        evaluation: Evaluation | None = None,
        embedder=None,
    ) -> None:
        for name in ("query", "document"):
            if name not in pool.column_names:
                raise ValueError(f"the pool has no {name!r} column")
        if not pool.num_rows:
            raise ValueError("the pool is empty")
        self.teacher, self.out, self.config, self.evaluation = teacher, Path(out), config, evaluation
        self.pool = _with_doc_ids(pool)
        self.seeds = list(dict.fromkeys(self.pool["query"].to_pylist()))
        self.targets = list(dict.fromkeys(targets)) if targets is not None else self.seeds
        self.rng = np.random.default_rng(config.seed)
        self.embedder = embedder if embedder is not None else load_embedder(config.embedder)
        self.teacher_version = ""
        self.labels_used = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed(self.embedder, list(texts))

    def run(self) -> dict:
        started = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self.teacher_version = self.teacher.describe().teacher_version
        documents = self.pool.select(["doc_id", "document"]).to_pylist()
        products = list({row["doc_id"]: row["document"] for row in documents}.items())
        catalog = Catalog.build([p for p, _ in products], [t for _, t in products], self.embedder)
        coverage = CoverageIndex(self.embed)
        # Targets and seeds stay the same every round: embedded once.
        target_vectors, seed_vectors = self.embed(self.targets), self.embed(self.seeds)
        rounds, train = [], None
        student = None
        labelled: set[tuple[str, str]] = set()  # (query, doc_id) pairs paid for in earlier rounds
        for number in range(self.config.rounds + 1):
            folder = self.out / f"round-{number}"
            logger.info("round %d of %d", number, self.config.rounds)
            if number and (self.out / f"round-{number - 1}" / "pairs.parquet").exists():
                previous = pq.read_table(
                    self.out / f"round-{number - 1}" / "pairs.parquet", columns=["query", "doc_id"]
                )
                labelled.update(
                    zip(previous["query"].to_pylist(), previous["doc_id"].to_pylist(), strict=True)
                )
            if (folder / ROUND_RECORD).exists():  # finished by an earlier run of the same command
                from sentence_transformers.cross_encoder import CrossEncoder

                student = CrossEncoder(str(folder / "student"))
                train = pq.read_table(folder / "train.parquet")
                coverage.add(train["query"].to_pylist())
                rounds.append(json.loads((folder / ROUND_RECORD).read_text()))
                self._check_teacher(number, rounds[-1].get("teacher_version"))
                self.labels_used += rounds[-1]["labelled"]
                continue
            if number == 0:
                pairs, screened = self._warmup_pairs(), None
            else:
                clusters = coverage.clusters(
                    self.targets,
                    self.config.tau,
                    self.config.clusters,
                    seed=self.config.seed,
                    vectors=target_vectors,
                )
                weights = steering_weights(seed_vectors, clusters)
                pairs = self._candidates(number, catalog, weights, labelled)
                pairs, screened = self._screen(pairs, folder, coverage.queries)
                pairs = self._within_budget(pairs, number)
            labels = self._label(pairs, folder)
            decision, kept = self._filter(student, labels, train, folder, screened)
            train = kept if train is None else pa.concat_tables([train, kept])
            student = self._train(student, kept, number, folder)
            coverage.add(train["query"].to_pylist())
            rounds.append(
                {
                    "round": number,
                    "teacher_version": self.teacher_version,
                    "screened": sum(screened.values()) if screened else 0,
                    "labelled": labels.num_rows,
                    "decision": decision,
                    "train_pairs": train.num_rows,
                    "train_queries": len(coverage),
                    f"coverage@{self.config.tau:g}": coverage.coverage(target_vectors, self.config.tau),
                    **({"metrics": self._evaluate(student)} if self.evaluation else {}),
                }
            )
            save_student(student, folder / "student", self._provenance(train, rounds[-1]))
            write_parquet_atomic(train, folder / "train.parquet")
            (folder / ROUND_RECORD).write_text(json.dumps(rounds[-1], indent=2))
            logger.info("round %d: %s", number, {k: v for k, v in rounds[-1].items() if k != "decision"})
        clusters = coverage.clusters(
            self.targets, self.config.tau, self.config.clusters, seed=self.config.seed, vectors=target_vectors
        )
        coverage.save(self.out / "coverage")
        report = {
            "teacher_version": self.teacher_version,
            "teacher_labels": self.labels_used,
            "train_pairs": train.num_rows,
            "config": {
                **asdict(self.config),
                "filters": self.config.filters and self.config.filters.as_dict(),
            },
            "rounds": rounds,
            "uncovered_clusters": [asdict(cluster) for cluster in clusters.clusters[:10]],
            "seconds": round(time.perf_counter() - started, 1),
        }
        final = self.out / "student"
        save_student(student, final, self._provenance(train, rounds[-1]))
        training_profile(student, *_train_columns(train)).save(final / "profile.json")
        teacher_metrics, scores = None, None
        if self.evaluation is not None:
            pairs = list(zip(self.evaluation.queries, self.evaluation.documents, strict=True))
            scores = {
                "teacher": teacher_scores(
                    self.teacher,
                    self.evaluation.queries,
                    self.evaluation.documents,
                    progress=self.config.progress,
                ),
                "student": student.predict(pairs, batch_size=64, show_progress_bar=False),
            }
            teacher_metrics = ranking_metrics(
                self.evaluation.queries, self.evaluation.gold, scores["teacher"]
            )
            report["teacher_metrics"] = teacher_metrics
            report["student_metrics"] = rounds[-1]["metrics"]
        report["html"] = str(write_report(report, self.out, teacher_metrics, scores))
        return report

    def _warmup_pairs(self) -> pa.Table:
        rows = whole_queries(self.pool["query"].to_pylist(), self.config.warmup_pairs, self.rng)
        chosen = self.pool.take(pa.array(rows))
        return _pair_table(chosen, [f"w{i}" for i in range(chosen.num_rows)], None, "seed")

    def _check_teacher(self, number: int, version: str | None) -> None:
        """Refuses to train one student on labels of two teacher versions, unless told to."""
        if version and version != self.teacher_version:
            if not self.config.allow_mixed_teachers:
                raise DistillError(
                    f"{self.out / f'round-{number}'} was labelled by teacher version {version}, but the "
                    f"teacher now reports {self.teacher_version}; one student is not trained on labels of "
                    "two teacher versions: use a new --out, or pass --allow-mixed-teachers"
                )
            logger.warning("round %d was labelled by teacher %s, the teacher is now %s", number, version,
                           self.teacher_version)  # fmt: skip

    def _within_budget(self, pairs: pa.Table, number: int) -> pa.Table:
        """A random share of ``pairs``, by whole queries, when the run's label budget cannot pay for all."""
        if self.config.label_budget is None:
            return pairs
        rounds_left = self.config.rounds - number + 1
        allowance = max(0, (self.config.label_budget - self.labels_used) // rounds_left)
        if pairs.num_rows <= allowance:
            return pairs
        return pairs.take(pa.array(whole_queries(pairs["query"].to_pylist(), allowance, self.rng)))

    def _candidates(
        self, number: int, catalog: Catalog, weights: np.ndarray, labelled: set[tuple[str, str]]
    ) -> pa.Table:
        """Seed pairs of the round's seeds (drawn by ``weights``) not ``labelled`` before, plus
        pairs of the queries generated from them."""
        pairs = list(zip(self.pool["query"].to_pylist(), self.pool["doc_id"].to_pylist(), strict=True))
        # Seeds whose pool pairs are all labelled (round 0 takes whole queries) bring none: draw
        # among the others while any are left.
        unlabelled = {query for query, doc_id in pairs if (query, doc_id) not in labelled}
        fresh = np.array([seed in unlabelled for seed in self.seeds])
        if fresh.any() and (weights * fresh).sum() > 0:
            weights = weights * fresh / (weights * fresh).sum()
        count = min(self.config.seeds_per_round, int(np.count_nonzero(weights)))
        chosen = self.rng.choice(len(self.seeds), count, replace=False, p=weights)
        seeds = [self.seeds[int(i)] for i in chosen]
        wanted = set(seeds)
        seed_rows = [
            i
            for i, (query, doc_id) in enumerate(pairs)
            if query in wanted and (query, doc_id) not in labelled
        ]
        seed_pairs = _pair_table(
            self.pool.take(pa.array(seed_rows, pa.int64())),
            [f"r{number}-s{i}" for i in range(len(seed_rows))],
            None,
            "seed",
        )
        augmenter = Augmenter(self.config.strategies, self.config.per_seed, seed=self.config.seed + number)
        generated: list[Generated] = augmenter.generate(seeds, [])
        if not generated:
            return seed_pairs
        retrieved = catalog.pair_set(
            generated, self.embedder, self.config.top_k, self.config.negatives, self.rng
        )
        retrieved = retrieved.set_column(
            0, "pair_id", pa.array([f"r{number}-{p}" for p in retrieved["pair_id"].to_pylist()])
        )
        return pa.concat_tables([seed_pairs, retrieved.select(seed_pairs.column_names)])

    def _screen(
        self, pairs: pa.Table, folder: Path, trained: list[str]
    ) -> tuple[pa.Table, dict[str, int] | None]:
        """``pairs`` less those whose query the query-only filters reject (``trained``: the
        queries of earlier rounds, which a generated one must not duplicate), and the rejections per
        reason; the rejected pairs go to ``screened.parquet`` with their reason. ``None`` when
        nothing was screened before labelling (no filters, or a round folder written before
        screening existed): then every filter runs after labelling."""
        settings, record = self.config.filters, folder / "screened.parquet"
        if settings is None:
            return pairs, None
        if (folder / "pairs.parquet").exists():  # resuming: this round's pairs were chosen before
            if not record.exists():
                return pairs, None
            return pairs, dict(Counter(pq.read_table(record, columns=["reason"])["reason"].to_pylist()))
        decision = screen_queries(
            pairs["query"].to_pylist(),
            self.embed,
            origin_query=pairs["origin_query"].to_pylist(),
            strategy=pairs["strategy"].to_pylist(),
            settings=settings,
            accepted=trained,
        )
        folder.mkdir(parents=True, exist_ok=True)
        _write_rejected(pairs, decision, record)  # before pairs.parquet, which marks the choice made
        counts = decision.counts()
        counts.pop("accepted")
        return pairs.filter(pa.array(decision.accepted)), counts

    def _label(self, pairs: pa.Table, folder: Path) -> pa.Table:
        folder.mkdir(parents=True, exist_ok=True)
        source = folder / "pairs.parquet"
        if not source.exists():
            write_parquet_atomic(pairs, source)
        job = LabelJob(
            source,
            Columns(pair_id="pair_id", doc_id="doc_id"),
            folder / "labels",
            retry_seconds=self.config.retry_seconds,
            progress=self.config.progress,
        )
        job.run(self.teacher)
        labels = read_labels(folder / "labels")
        self.labels_used += labels.num_rows
        return labels

    def _filter(
        self, student, labels: pa.Table, train: pa.Table | None, folder: Path, screened: dict[str, int] | None
    ):
        settings = self.config.filters
        if student is None or settings is None:
            return {"accepted": labels.num_rows}, labels.select(list(TRAIN_COLUMNS))
        if screened is not None:  # the query-only filters ran before labelling
            settings = replace(settings, plausibility_quantile=None, dedup_threshold=None)
        column = {name: labels[name].to_pylist() for name in ("origin_query", "strategy", "doc_id")}
        reference = training_profile(student, *_train_columns(train), batch_size=64)
        selection = select(
            student,
            labels["query"].to_pylist(),
            labels["document"].to_pylist(),
            labels["score"].to_pylist(),
            origin_query=column["origin_query"],
            strategy=column["strategy"],
            doc_id=column["doc_id"],
            settings=replace(settings, budget=self.config.budget),
            query_embedder=self.embed,
            reference=reference,
        )
        decision = selection.decision
        selection.profile.save(folder / "profile.json")
        _write_rejected(labels, decision, folder / "rejected.parquet")
        counts = decision.counts()
        for reason, count in (screened or {}).items():
            counts[reason] = counts.get(reason, 0) + count
        return counts, labels.filter(pa.array(decision.accepted)).select(list(TRAIN_COLUMNS))

    def _train(self, student, train: pa.Table, number: int, folder: Path):
        config = self.config
        if not train.num_rows and student is not None:  # nothing new passed the filters
            return student
        queries, documents, scores = _train_columns(train)
        return train_cross_encoder(
            queries,
            documents,
            scores,
            base=config.base,
            model=student,
            layers=config.layers if student is None else None,
            loss=config.loss,
            epochs=config.epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            max_length=config.max_length,
            seed=config.seed + number,
            checkpoints=folder / "checkpoints",  # a run killed mid-round resumes there
            progress=config.progress,
        )

    def _evaluate(self, model) -> dict:
        pairs = list(zip(self.evaluation.queries, self.evaluation.documents, strict=True))
        scores = model.predict(pairs, batch_size=64, show_progress_bar=False)
        return ranking_metrics(self.evaluation.queries, self.evaluation.gold, scores)

    def _provenance(self, train: pa.Table, last: dict) -> dict:
        return {
            "teacher_version": self.teacher_version,
            "teacher_labels": self.labels_used,
            "data_hash": data_hash(*_train_columns(train)),
            "train_pairs": train.num_rows,
            "rounds": self.config.rounds,
            "filter_settings": self.config.filters and self.config.filters.as_dict(),
            "loss": self.config.loss,
            "layers": self.config.layers,
            "metrics": last.get("metrics"),
        }


def teacher_scores(
    teacher: TeacherClient, queries: Sequence[str], documents: Sequence[str], *, progress: bool = False
) -> np.ndarray:
    """The teacher's scores of (query, document) pairs, over one ``LabelStream``; ``progress``
    shows a bar with the rate and ETA (an LLM judge on a CPU scores a few pairs a second)."""
    pairs = [Pair(str(i), q, d) for i, (q, d) in enumerate(zip(queries, documents, strict=True))]
    scores = np.zeros(len(pairs))
    with tqdm(total=len(pairs), unit="pair", desc="teacher scoring", disable=not progress) as bar:
        for label in teacher.label_stream(pairs):
            scores[int(label.id)] = label.score
            bar.update()
    return scores


def _write_rejected(table: pa.Table, decision: Decision, path: Path) -> None:
    """The rows of ``table`` that ``decision`` rejects, each with its reason, to ``path``."""
    rejected = ~decision.accepted
    write_parquet_atomic(
        table.filter(pa.array(rejected)).append_column(
            "reason", pa.array(decision.reasons[rejected].tolist(), pa.string())
        ),
        path,
    )


def _train_columns(train: pa.Table) -> tuple[list, list, list]:
    return tuple(train[name].to_pylist() for name in TRAIN_COLUMNS)  # type: ignore[return-value]


def _with_doc_ids(pool: pa.Table) -> pa.Table:
    """Products need ids for retrieval and for refinement matching; the text stands in for none."""
    if "doc_id" in pool.column_names and pool["doc_id"].null_count == 0:
        return pool
    documents = pool["document"].to_pylist()
    given = pool["doc_id"].to_pylist() if "doc_id" in pool.column_names else [None] * len(documents)
    ids = pa.array(
        [
            doc_id or "d" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
            for doc_id, text in zip(given, documents, strict=True)
        ]
    )
    if "doc_id" in pool.column_names:
        return pool.set_column(pool.column_names.index("doc_id"), "doc_id", ids)
    return pool.append_column("doc_id", ids)


def _pair_table(rows: pa.Table, pair_ids: list[str], origin: str | None, strategy: str) -> pa.Table:
    size = rows.num_rows
    return pa.table(
        {
            "pair_id": pa.array(pair_ids, pa.string()),
            "query": rows["query"],
            "document": rows["document"],
            "doc_id": rows["doc_id"],
            "origin_query": pa.array([origin] * size, pa.string()),
            "strategy": pa.array([strategy] * size, pa.string()),
            "retrieval": pa.array(["pool"] * size, pa.string()),
        }
    )
