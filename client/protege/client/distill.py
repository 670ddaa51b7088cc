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

import logging
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.augment import Augmenter
from protege.client.data.outputs import REJECTED
from protege.client.data.sampling import whole_queries
from protege.client.distill_config import DistillConfig
from protege.client.evaluation.metrics import Evaluation, ranking_metrics
from protege.client.export import export_student
from protege.client.filtering import filter_labels, screen_pairs, write_rejected
from protege.client.labelling.jobs import label_table
from protege.client.labelling.teacher_client import TeacherClient, teacher_scores
from protege.client.report import write_report
from protege.client.retrieval.candidates import pair_table, round_candidates, with_doc_ids
from protege.client.retrieval.catalog import Catalog
from protege.client.retrieval.coverage import CoverageIndex, steering_weights
from protege.client.retrieval.embedder import embed, load_embedder
from protege.client.training.rows import learnable
from protege.client.training.saving import data_hash, save_student
from protege.client.training.trainer import train_cross_encoder
from protege.common.files import write_parquet_atomic
from protege.common.stage import Stage
from protege.filters.prelabel import prelabel_pairs
from protege.filters.profile import PROFILE
from protege.filters.select import training_profile

logger = logging.getLogger(__name__)

TRAIN_COLUMNS = ("query", "document", "score")
ROUND_RECORD = "round.json"  # a round's Stage marker, written last: a round with one is finished


@dataclass
class _State:
    """What the rounds so far left: the student, the pairs it trained on, their queries' coverage,
    each round's record, and the (query, doc_id) pairs paid for."""

    coverage: CoverageIndex
    student: CrossEncoder | None = None
    train: pa.Table | None = None
    rounds: list[dict] = field(default_factory=list)
    labelled: set[tuple[str, str]] = field(default_factory=set)


class Distiller:
    """One run of the loop into ``out``: warm up, then augment, label, filter and train each round,
    resumable from the last finished round.

    Args:
        teacher: the client of the teacher that labels each round's pairs.
        pool: the seed queries and their products (columns ``query``, ``document``, and ``doc_id``
            where products have ids).
        out: the run's folder: a folder per round, then ``student/`` and ``report.json``.
        config: every setting of the loop (``DistillConfig``).
        targets: the real queries whose coverage the run tracks (default: the pool's queries).
        evaluation: gold-judged pairs each round's student is measured on (none: not measured).
        embedder: embeds queries and products for retrieval, coverage and the query filters
            (default: ``config.embedder`` loaded); a ``MemoEmbedder`` shared by several runs over
            one pool embeds each text once.

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
        if config.export:
            config.export.require()  # before hours of work, not after
        self.teacher, self.out, self.config, self.evaluation = teacher, Path(out), config, evaluation
        self.pool = with_doc_ids(pool)
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
        state = _State(CoverageIndex(self.embed))
        pool = data_hash(self.pool["query"].to_pylist(), self.pool["doc_id"].to_pylist())
        settings = self.config.round_settings() | {"pool": pool}  # a round is refused under others
        # Targets and seeds stay the same every round: embedded once.
        target_vectors, seed_vectors = self.embed(self.targets), self.embed(self.seeds)
        for number in range(self.config.rounds + 1):
            logger.info("round %d of %d", number, self.config.rounds)
            folder = self.out / f"round-{number}"
            previous = self.out / f"round-{number - 1}" / "pairs.parquet"
            if number and previous.exists():  # pairs paid for are not offered again
                paid = pq.read_table(previous, columns=["query", "doc_id"])
                state.labelled.update(zip(paid["query"].to_pylist(), paid["doc_id"].to_pylist(), strict=True))
            stage = Stage(folder, marker=ROUND_RECORD, settings=settings)
            if stage.done:  # finished by an earlier run of the same command
                self._resume(number, folder, state)
                continue
            stage.claim()
            pairs, screened = self._choose(number, folder, catalog, (target_vectors, seed_vectors), state)
            if number and not pairs.num_rows:
                logger.warning(
                    "round %d: no pairs left to label (the pool's are labelled, the filters screened out "
                    "the rest, or the label budget is spent); the run ends with round %d's student",
                    number,
                    number - 1,
                )
                break
            stage.finish(self._round(number, folder, pairs, screened, state, target_vectors))
        return self._finish(state, target_vectors, started)

    def _choose(
        self,
        number: int,
        folder: Path,
        catalog: Catalog,
        vectors: tuple[np.ndarray, np.ndarray],
        state: _State,
    ) -> tuple[pa.Table, dict[str, int] | None]:
        """Round ``number``'s pairs for the teacher, and how many the query filters screened out:
        in round 0 whole random pool queries; later, candidates from seeds drawn toward the
        least covered target clusters, screened, within the round's share of the label budget."""
        if number == 0:
            return self._warmup_pairs(), None
        target_vectors, seed_vectors = vectors
        config = self.config
        clusters = state.coverage.clusters(
            self.targets, config.tau, config.clusters, seed=config.seed, vectors=target_vectors
        )
        pairs = round_candidates(
            self.pool,
            self.seeds,
            steering_weights(seed_vectors, clusters),
            state.labelled,
            number,
            Augmenter(config.strategies, config.per_seed, seed=config.seed + number),
            catalog,
            self.embedder,
            config.seeds_per_round,
            config.top_k,
            config.negatives,
            self.rng,
        )
        pairs, screened = self._screen(pairs, folder, state.coverage.queries)
        return self._within_budget(pairs, number, state.student), screened

    def _resume(self, number: int, folder: Path, state: _State) -> None:
        """Takes up round ``number`` as an earlier run finished it."""
        state.student = CrossEncoder(str(folder / "student"))
        state.train = pq.read_table(folder / "train.parquet")
        state.coverage.add(state.train["query"].to_pylist())
        state.rounds.append(Stage(folder, marker=ROUND_RECORD).read())
        self.config.check_teacher(folder, state.rounds[-1].get("teacher_version"), self.teacher_version)
        self.labels_used += state.rounds[-1]["labelled"]

    def _round(
        self,
        number: int,
        folder: Path,
        pairs: pa.Table,
        screened: dict[str, int] | None,
        state: _State,
        target_vectors: np.ndarray,
    ) -> dict:
        """Labels ``pairs``, filters the labels, trains the student on those kept; returns the
        round's record."""
        labels = self._label(pairs, folder)
        decision, kept = self._filter(state.student, labels, state.train, folder, screened)
        state.train = kept if state.train is None else pa.concat_tables([state.train, kept])
        state.student = self._train(state.student, kept, number, folder)
        state.coverage.add(state.train["query"].to_pylist())
        record = {
            "round": number,
            "teacher_version": self.teacher_version,
            "screened": sum(screened.values()) if screened else 0,
            "labelled": labels.num_rows,
            "decision": decision,
            "train_pairs": state.train.num_rows,
            "train_queries": len(state.coverage),
            f"coverage@{self.config.tau:g}": state.coverage.coverage(target_vectors, self.config.tau),
            **({"metrics": self._evaluate(state.student)} if self.evaluation else {}),
        }
        state.rounds.append(record)
        save_student(state.student, folder / "student", self._provenance(state.train, record))
        write_parquet_atomic(state.train, folder / "train.parquet")
        logger.info("round %d: %s", number, {k: v for k, v in record.items() if k != "decision"})
        return record

    def _finish(self, state: _State, target_vectors: np.ndarray, started: float) -> dict:
        """The run's report (JSON and HTML), once the final student is saved and measured."""
        clusters = state.coverage.clusters(
            self.targets, self.config.tau, self.config.clusters, seed=self.config.seed, vectors=target_vectors
        )
        state.coverage.save(self.out / "coverage")
        filters = self.config.filters and self.config.filters.as_dict()
        report = {
            "teacher_version": self.teacher_version,
            "teacher_labels": self.labels_used,
            "train_pairs": state.train.num_rows,
            "config": asdict(self.config) | {"filters": filters},
            "rounds": state.rounds,
            "uncovered_clusters": [asdict(cluster) for cluster in clusters.clusters[:10]],
            "seconds": round(time.perf_counter() - started, 1),
        }
        exported = self._save_final(state)
        if exported is not None:
            report["export"] = str(exported)
        teacher_metrics, scores = self._measure(state) if self.evaluation is not None else (None, None)
        if teacher_metrics is not None:
            report["teacher_metrics"] = teacher_metrics
            report["student_metrics"] = state.rounds[-1]["metrics"]
        report["html"] = str(write_report(report, self.out, teacher_metrics, scores))
        return report

    def _save_final(self, state: _State) -> Path | None:
        """The final student in ``out/student`` with its profile, and its export where asked for."""
        final = self.out / "student"
        save_student(state.student, final, self._provenance(state.train, state.rounds[-1]))
        training_profile(state.student, *_train_columns(state.train)).save(final / PROFILE)
        if not self.config.export:
            return None
        exported = self.out / f"student-{self.config.export.name}"
        shutil.rmtree(exported, ignore_errors=True)  # a resumed run's final student may be new
        return export_student(final, exported, self.config.export)

    def _measure(self, state: _State) -> tuple[dict, dict[str, np.ndarray]]:
        """The teacher's ranking metrics on the judged pairs, and both models' scores of them."""
        queries, documents = self.evaluation.queries, self.evaluation.documents
        teacher = teacher_scores(self.teacher, queries, documents, progress=self.config.progress)
        scores = {"teacher": teacher, "student": self._scores(state.student)}
        return ranking_metrics(queries, self.evaluation.gold, teacher), scores

    def _warmup_pairs(self) -> pa.Table:
        rows = whole_queries(self.pool["query"].to_pylist(), self.config.warmup_pairs, self.rng)
        chosen = self.pool.take(pa.array(rows))
        return pair_table(chosen, [f"w{i}" for i in range(chosen.num_rows)], None, "seed")

    def _within_budget(self, pairs: pa.Table, number: int, student: CrossEncoder | None) -> pa.Table:
        """``pairs`` less what the run's label budget cannot pay for: whole queries, picked by
        ``config.prelabel`` (the student's choice before any label) or at random."""
        if self.config.label_budget is None:
            return pairs
        rounds_left = self.config.rounds - number + 1
        allowance = max(0, (self.config.label_budget - self.labels_used) // rounds_left)
        if pairs.num_rows <= allowance:
            return pairs
        rule = self.config.prelabel
        if rule.prelabel_rule == "random" and not rule.prelabel_clusters:
            return pairs.take(pa.array(whole_queries(pairs["query"].to_pylist(), allowance, self.rng)))
        queries, documents = pairs["query"].to_pylist(), pairs["document"].to_pylist()
        rule = replace(rule, seed=self.config.seed + number)  # round 0 is the warm-up: a student is here
        return pairs.take(pa.array(prelabel_pairs(student, queries, documents, allowance, rule, self.embed)))

    def _screen(
        self, pairs: pa.Table, folder: Path, trained: list[str]
    ) -> tuple[pa.Table, dict[str, int] | None]:
        """``screen_pairs`` of this round, or what it decided before where the round is resumed;
        ``None`` when the filters are off."""
        settings, record = self.config.filters, folder / "screened.parquet"
        if settings is None:
            return pairs, None
        if (folder / "pairs.parquet").exists():  # resuming: this round's pairs were chosen before
            return pairs, dict(Counter(pq.read_table(record, columns=["reason"])["reason"].to_pylist()))
        return screen_pairs(pairs, settings, self.embed, trained, record)

    def _label(self, pairs: pa.Table, folder: Path) -> pa.Table:
        labels = label_table(
            self.teacher,
            pairs,
            folder / "pairs.parquet",
            folder / "labels",
            retry_seconds=self.config.retry_seconds,
            progress=self.config.progress,
        )
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
        reference = training_profile(student, *_train_columns(train), batch_size=64)
        selection = filter_labels(
            student,
            labels,
            replace(settings, quota=self.config.quota),
            embed_queries=self.embed,
            reference=reference,
        )
        decision = selection.decision
        selection.profile.save(folder / PROFILE)
        write_rejected(labels, decision, folder / REJECTED)
        counts = decision.counts()
        for reason, count in (screened or {}).items():
            counts[reason] = counts.get(reason, 0) + count
        return counts, labels.filter(pa.array(decision.accepted)).select(list(TRAIN_COLUMNS))

    def _train(
        self, student: CrossEncoder | None, train: pa.Table, number: int, folder: Path
    ) -> CrossEncoder:
        config = self.config
        queries, documents, scores = _train_columns(train)
        if student is not None and not learnable(queries, scores, config.training.loss):
            # Nothing new passed the filters, or nothing a margin loss learns from (no query kept two
            # differently scored documents): the student stays as it is this round.
            logger.info(
                "round %d: no pair to learn from among the %d kept; the student is unchanged",
                number,
                len(queries),
            )
            return student
        training = replace(config.training, seed=config.seed + number, progress=config.progress)
        return train_cross_encoder(
            queries,
            documents,
            scores,
            training if student is None else replace(training, layers=None),
            model=student,
            checkpoints=folder / "checkpoints",  # a run killed mid-round resumes there
        )

    def _evaluate(self, model) -> dict:
        return ranking_metrics(self.evaluation.queries, self.evaluation.gold, self._scores(model))

    def _scores(self, model) -> np.ndarray:
        pairs = list(zip(self.evaluation.queries, self.evaluation.documents, strict=True))
        return model.predict(pairs, batch_size=64, show_progress_bar=False)

    def _provenance(self, train: pa.Table, last: dict) -> dict:
        return {
            "teacher_version": self.teacher_version,
            "teacher_labels": self.labels_used,
            "data_hash": data_hash(*_train_columns(train)),
            "train_pairs": train.num_rows,
            "rounds": self.config.rounds,
            "filter_settings": self.config.filters and self.config.filters.as_dict(),
            "loss": self.config.training.loss,
            "layers": self.config.training.layers,
            "metrics": last.get("metrics"),
        }


def _train_columns(train: pa.Table) -> tuple[list, list, list]:
    return tuple(train[name].to_pylist() for name in TRAIN_COLUMNS)  # type: ignore[return-value]
