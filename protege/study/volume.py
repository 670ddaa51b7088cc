"""The volume arm: the teacher labels a large augmented pair set, students of the headline shape
train on growing shares of it, and the student's own selection keeps a quarter of the largest.

The pair set is what a real student job has: the pool's queries (all of them, validation ones
held out), their rewrites (``augment``'s local strategies) and queries cut from product titles,
each with its judged pool products, its nearest products in the catalog (every product of the
file) and random negatives. No validation or test query, and nothing equal to one after
``augment.normalise``, enters it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from protege.client.augment import Augmenter, Generated, normalise
from protege.client.data.query_hash import bucket, is_validation
from protege.client.data.sampling import whole_queries
from protege.client.evaluation.scoreboard import Board
from protege.client.filtering import filter_labels
from protege.client.labelling.jobs import label_table, read_labels
from protege.client.labelling.teacher_client import TeacherClient
from protege.client.retrieval.catalog import CATALOG_RECORD, Catalog
from protege.client.retrieval.coverage import DEFAULT_TAU, CoverageIndex
from protege.client.retrieval.embedder import MemoEmbedder, embed
from protege.common.files import write_parquet_atomic
from protege.common.runtimes import load_cross_encoder
from protege.common.setting_names import setting
from protege.common.stage import Stage
from protege.filters.select import training_profile
from protege.filters.settings import FilterSettings

from .settings import Sizes
from .split import POOL_BUCKETS, TEST_BUCKETS
from .students import Shape, study_student

log = logging.getLogger("protege.study")

REWRITES = ("drop", "reorder", "typo")
NO_FILTERS = FilterSettings(
    band_high=None, plausibility_quantile=None, dedup_threshold=None, refinement=False
)


@dataclass(frozen=True)
class PairPlan:
    """How many queries of each kind a pair set of ``pairs`` needs at ``per_query`` pairs each."""

    pool: int
    rewrites: int
    products: int

    @classmethod
    def for_pairs(cls, pairs: int, per_query: float, pool_queries: int, sizes: Sizes) -> PairPlan:
        total = math.ceil(pairs / per_query)
        products = round(sizes.product_share * total)
        pool = min(pool_queries, total - products)
        return cls(pool, max(0, total - products - pool), products)


def catalog_shortfall(table: pa.Table, sizes: Sizes) -> str | None:
    """Before any work: why the pair set could not hold the largest volume, where the catalog is
    too small to give each query its ``top_k + negatives`` products (else ``None``)."""
    products, per_query = len(set(table["doc_id"].to_pylist())), sizes.top_k + sizes.negatives
    if not sizes.volumes or products >= per_query:
        return None
    return (
        f"a catalog of {products} products gives each query at most {products} pairs (a full pair set "
        f"takes {per_query}): the pair set may not fill the largest volume asked ({max(sizes.volumes)})"
    )


def forbidden_queries(table: pa.Table) -> set[str]:
    """Every validation and test query of the file, normalised: none may enter the pair set."""
    held = set()
    for query in dict.fromkeys(table["query"].to_pylist()):
        part = bucket(query)
        if part in TEST_BUCKETS or (part in POOL_BUCKETS and is_validation(query)):
            held.add(normalise(query))
    return held


def volume_pairs(table: pa.Table, sizes: Sizes, out: Path, embedder: MemoEmbedder, seed: int) -> pa.Table:
    """The augmented pair set (``out/pairs.parquet``, made once): at least ``max(sizes.volumes)``
    pairs, by whole queries."""
    path = out / "pairs.parquet"
    if Stage(out, marker=path.name).done:
        return pq.read_table(path)
    rng = np.random.default_rng(seed)
    forbidden = forbidden_queries(table)
    queries = table["query"].to_pylist()
    pool = [
        query
        for query in dict.fromkeys(queries)
        if bucket(query) in POOL_BUCKETS and not is_validation(query) and normalise(query) not in forbidden
    ]
    catalog = _catalog(table, out / "catalog", embedder)
    per_query = sizes.top_k + sizes.negatives
    plan = PairPlan.for_pairs(round(max(sizes.volumes) * 1.05), per_query, len(pool), sizes)
    seeds = [pool[i] for i in np.sort(rng.choice(len(pool), plan.pool, replace=False))]
    made = _generated(seeds, plan, catalog, forbidden, seed)
    log.info(
        "volume pair set: %d pool queries, %d rewrites, %d queries from products; catalog of %d products",
        len(seeds),
        sum(g.strategy in REWRITES for g in made),
        sum(g.strategy == "product" for g in made),
        len(catalog),
    )
    retrieved = catalog.pair_set(
        [Generated(query, "seed") for query in seeds] + made, embedder, sizes.top_k, sizes.negatives, rng
    )
    pairs = _with_judged(retrieved, table, set(seeds))
    if pairs.num_rows < max(sizes.volumes):
        log.warning(
            "the augmented pair set holds %d pairs, fewer than the largest volume asked (%d): "
            "the largest volume is cut to the labels there are (ask for at most %d in %s, "
            "or give a file with more queries or products)",
            pairs.num_rows,
            max(sizes.volumes),
            pairs.num_rows,
            setting("volumes"),
        )
    write_parquet_atomic(pairs, path)
    return pairs


def _catalog(table: pa.Table, folder: Path, embedder: MemoEmbedder) -> Catalog:
    """Every product of the file, indexed once (a real job knows its catalog)."""
    if (folder / CATALOG_RECORD).exists():
        return Catalog.load(folder)
    products = dict(zip(table["doc_id"].to_pylist(), table["document"].to_pylist(), strict=True))
    log.info("indexing the catalog's %d products", len(products))
    catalog = Catalog.build(
        list(products), list(products.values()), embedder, "all-MiniLM-L6-v2", progress=True
    )
    catalog.save(folder)
    return catalog


def _generated(
    seeds: list[str], plan: PairPlan, catalog: Catalog, forbidden: set[str], seed: int
) -> list[Generated]:
    """``plan.rewrites`` rewrites of the seeds and ``plan.products`` queries from product titles,
    none equal to a held-out query after normalising."""
    per_seed = max(1, math.ceil(plan.rewrites / max(1, len(seeds))))
    rewrites = Augmenter(REWRITES, per_seed=per_seed, seed=seed).generate(seeds, [])
    rewrites = [g for g in rewrites if normalise(g.query) not in forbidden][: plan.rewrites]
    products = list(zip(catalog.doc_ids, catalog.texts, strict=True))
    # Some cut queries repeat or are held out: ask for more than needed.
    drawn = Augmenter(("product",), seed=seed + 1).generate(
        seeds, products, min(len(products), plan.products * 2)
    )
    taken = {normalise(g.query) for g in rewrites}
    fresh = [g for g in drawn if normalise(g.query) not in forbidden and normalise(g.query) not in taken]
    return rewrites + fresh[: plan.products]


def _with_judged(retrieved: pa.Table, table: pa.Table, seeds: set[str]) -> pa.Table:
    """``retrieved`` with the seed queries' judged products of the file (the impressions a real
    job logs), each (query, product) once."""
    judged = table.filter(pc.is_in(table["query"], pa.array(sorted(seeds))))
    size = judged.num_rows
    extra = pa.table(
        {
            "pair_id": pa.array([f"judged-{i}" for i in range(size)]),
            "query": judged["query"],
            "document": judged["document"],
            "doc_id": judged["doc_id"].cast(pa.string()),
            "origin_query": pa.nulls(size, pa.string()),
            "origin_doc_id": pa.nulls(size, pa.string()),
            "strategy": pa.array(["seed"] * size),
            "retrieval": pa.array(["judged"] * size),
        }
    )
    pairs = pa.concat_tables([extra, retrieved.select(extra.column_names)])
    first: dict[tuple[str, str], int] = {}
    for row, key in enumerate(zip(pairs["query"].to_pylist(), pairs["doc_id"].to_pylist(), strict=True)):
        first.setdefault(key, row)
    return pairs.take(pa.array(sorted(first.values()), pa.int64()))


def label_pairs(teacher: TeacherClient, pairs: pa.Table, out: Path) -> pa.Table:
    """The teacher's labels of every pair (a resumable ``LabelJob`` over ``LabelStream``), with the
    pairs' provenance columns."""
    label_table(teacher, pairs, out / "pairs.parquet", out / "labels")
    return with_labels(pairs, out)


def with_labels(pairs: pa.Table, out: Path) -> pa.Table:
    """``pairs`` with the teacher's ``score`` of each, as ``label_pairs`` recorded it in ``out``."""
    labels = read_labels(out / "labels")
    scores = dict(zip(labels["pair_id"].to_pylist(), labels["score"].to_pylist(), strict=True))
    return pairs.append_column(
        "score", pa.array([scores[p] for p in pairs["pair_id"].to_pylist()], pa.float64())
    )


def volume_rows(labels: pa.Table, volume: int, seed: int) -> pa.Table:
    """About ``volume`` labels by whole queries, nested: a seed's smaller volumes are the first
    queries of its larger ones."""
    queries = labels["query"].to_pylist()
    order = list(dict.fromkeys(queries[i] for i in np.random.default_rng(seed).permutation(len(queries))))
    rows_of: dict[str, list[int]] = {}
    for row, query in enumerate(queries):
        rows_of.setdefault(query, []).append(row)
    chosen: list[int] = []
    for query in order:
        if len(chosen) >= volume:
            break
        chosen += rows_of[query]
    return labels.take(pa.array(sorted(chosen), pa.int64()))


@dataclass
class VolumeArm:
    """The volume students of each seed and the quarter comparison, on one board."""

    labels: pa.Table
    sizes: Sizes
    shape: Shape
    board: Board
    out: Path
    embedder: MemoEmbedder
    filters: FilterSettings | None

    def name(self, volume: int) -> str:
        return f"volume@{volume}"

    def students(self, seed: int, volumes: list[int]) -> dict[int, Path]:
        """A student per volume for ``seed``, each on the board, its coverage of the test queries kept."""
        trained = {}
        for volume in volumes:
            rows = volume_rows(self.labels, volume, seed)
            path = self.out / f"seed-{seed}" / f"volume-{volume}"
            study_student(
                path, rows, rows["score"].to_numpy(), self.shape, seed, self.sizes.student_epochs(volume)
            )
            if not (path / "rows.parquet").exists():  # what it trained on: the selector's reference
                write_parquet_atomic(rows.select(["query", "document", "score"]), path / "rows.parquet")
            self.board.add(self.name(volume), path, self.shape.scorer(path))
            self._coverage(path, rows)
            figures = self.board.last_run(self.name(volume))
            log.info("%s: test RMSE %.4f, NDCG@10 %.4f", path.name, figures["rmse"], figures["ndcg@10"])
            trained[volume] = path
        return trained

    def volumes(self) -> list[int]:
        """The volumes asked for, the largest cut to the labels there are."""
        return sorted({min(volume, self.labels.num_rows) for volume in self.sizes.volumes})

    def quarter(self, seed: int, selector: Path) -> dict:
        """From the largest volume's labels: ``selector``'s own choice of a quarter (the filters as
        distill runs them, with a quota of a quarter) and a random quarter, each trained for as many
        steps as the student on all of them."""
        largest = max(self.volumes())
        rows = volume_rows(self.labels, largest, seed)
        keep = max(2, round(self.sizes.quarter * rows.num_rows))
        settings = self.filters or NO_FILTERS
        epochs = self.sizes.student_epochs(largest) * rows.num_rows / keep
        chosen = {
            "quarter_selected": selected(
                rows,
                replace(settings, quota=keep, quota_rule=replace(settings.quota_rule, seed=seed)),
                selector,
                self.shape.runtime,
                self.embedder,
                self.out / f"seed-{seed}" / "selection.parquet",
            ),
            "quarter_random": rows.take(
                pa.array(whole_queries(rows["query"].to_pylist(), keep, np.random.default_rng(seed)))
            ),
        }
        for name, subset in chosen.items():
            path = self.out / f"seed-{seed}" / name
            study_student(path, subset, subset["score"].to_numpy(), self.shape, seed, epochs)
            self.board.add(name, path, self.shape.scorer(path))
        return {"from_labels": rows.num_rows, "kept": keep, "epochs": round(epochs, 2)}

    def _coverage(self, path: Path, rows: pa.Table) -> None:
        """coverage@τ of the test queries by the student's training queries, kept beside it."""
        stage = Stage(path, marker="coverage.json")
        if stage.done:
            return
        index = CoverageIndex(partial(embed, self.embedder))
        index.add(rows["query"].to_pylist())
        test = list(dict.fromkeys(self.board.evaluations["test"].queries))
        figures = {
            "tau": DEFAULT_TAU,
            "coverage": round(index.coverage(test), 4),
            "train_queries": len(index),
        }
        stage.finish(figures)


def selected(
    rows: pa.Table,
    settings: FilterSettings,
    selector: Path,
    runtime: str,
    embedder: MemoEmbedder,
    record: Path,
) -> pa.Table:
    """The rows of ``rows`` that the student in ``selector`` keeps under ``settings`` (its quota the
    pairs to keep), against the profile of what it trained on (``selector/rows.parquet``); kept in
    ``record``, made once."""
    if Stage(record.parent, marker=record.name).done:
        return pq.read_table(record)
    student = load_cross_encoder(selector, runtime)
    trained = pq.read_table(selector / "rows.parquet")
    reference = training_profile(
        student, trained["query"].to_pylist(), trained["document"].to_pylist(), trained["score"].to_pylist()
    )
    selection = filter_labels(
        student, rows, settings, embed_queries=partial(embed, embedder), reference=reference
    )
    log.info("selection of %d pairs: %s", settings.quota or rows.num_rows, selection.decision.counts())
    chosen = rows.filter(pa.array(selection.decision.accepted))
    record.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(chosen, record)
    return chosen


def pair_set_counts(labels: pa.Table) -> dict:
    """Labelled pairs and distinct queries of the pair set, by strategy."""
    counts = {"labels": labels.num_rows, "queries": len(set(labels["query"].to_pylist()))}
    strategies = labels["strategy"].to_pylist()
    for strategy in sorted(set(strategies)):
        counts[f"labels_{strategy}"] = strategies.count(strategy)
    return counts
