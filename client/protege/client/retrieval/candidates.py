"""Candidate pairs for the teacher to label, from a file of seed queries and products: the seed
queries and queries generated from them (``augment``), each with its nearest products in the
catalog's FAISS index and random ones (``catalog``). What ``protege augment`` writes; ``distill``
makes each round's candidates with the same ``Augmenter`` and ``Catalog.pair_set``.

Example::

    table = augmented_pairs(spec, AugmentConfig(strategies=("drop", "typo"), per_seed=2))
    write_parquet_atomic(table, Path("pairs.parquet"))  # `protege label --data pairs.parquet` reads it
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from protege.client.augment import LOCAL_STRATEGIES, STRATEGIES, Augmenter, Generated, SynonymTable
from protege.client.data import DataSpec, read_pairs
from protege.client.retrieval.catalog import CATALOG_RECORD, Catalog
from protege.client.retrieval.embedder import load_embedder

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """What ``augmented_pairs`` generates and retrieves (``protege augment``'s flags are made from it).

    Example::

        AugmentConfig(strategies=("typo", "product"), per_seed=3, catalog=Path("catalog/"))
    """

    strategies: tuple[str, ...] = field(
        default=LOCAL_STRATEGIES, metadata={"help": "comma-separated, from: " + ", ".join(STRATEGIES)}
    )
    per_seed: int = field(default=2, metadata={"help": "new queries per seed query"})
    from_products: int = field(default=0, metadata={"help": "queries cut from product texts"})
    max_seeds: int | None = field(
        default=None, metadata={"help": "use only the first N distinct seed queries"}
    )
    keep_seeds: bool = field(
        default=True,
        metadata={"help": "the seed queries' own candidates in the pair set too", "flag": "--seeds"},
    )
    top_k: int = field(default=8, metadata={"help": "nearest products per query"})
    negatives: int = field(default=2, metadata={"help": "random products per query"})
    catalog: Path | None = field(
        default=None, metadata={"help": "catalog index folder: loaded if present, else built there"}
    )
    embedder: str | None = field(
        default=None,
        metadata={"help": "sentence-transformers model (default: the packaged all-MiniLM-L6-v2)"},
    )
    seed: int = field(default=0, metadata={"help": "random seed"})


def augmented_pairs(
    spec: DataSpec, config: AugmentConfig, refine: Callable[[str, int, int], list[str]] | None = None
) -> pa.Table:
    """The pair set of ``spec``'s seed queries and products (columns of ``catalog.PAIR_SET_COLUMNS``);
    ``refine(query, n, seed)``: a generative teacher's rewrites, for the ``refine`` strategy."""
    seeds, products = seeds_and_products(spec)
    seeds = seeds[: config.max_seeds]
    log.info("%d seed queries, %d products", len(seeds), len(products))
    embedder = load_embedder(config.embedder)
    catalog = _catalog(config, products, embedder)
    synonyms = (
        SynonymTable.build([*seeds, *products.values()], embedder) if "synonym" in config.strategies else None
    )
    augmenter = Augmenter(config.strategies, config.per_seed, config.seed, synonyms, refine)
    generated = augmenter.generate(seeds, list(products.items()), config.from_products)
    queries = [Generated(query, "seed") for query in seeds] if config.keep_seeds else []
    rng = np.random.default_rng(config.seed)
    return catalog.pair_set(queries + generated, embedder, config.top_k, config.negatives, rng)


def seeds_and_products(spec: DataSpec) -> tuple[list[str], dict[str, str]]:
    """The distinct queries of ``spec`` in file order, and its products by id (by text where a
    row has no id)."""
    seeds: dict[str, None] = {}
    products: dict[str, str] = {}
    for chunk in read_pairs(spec.path, spec.columns, encoding=spec.encoding):
        rows = zip(*(chunk[name].to_pylist() for name in ("query", "document", "doc_id")), strict=True)
        for query, document, doc_id in rows:
            seeds.setdefault(query)
            products.setdefault(doc_id or document, document)
    return list(seeds), products


def _catalog(config: AugmentConfig, products: dict[str, str], embedder: SentenceTransformer) -> Catalog:
    if config.catalog and (config.catalog / CATALOG_RECORD).exists():
        catalog = Catalog.load(config.catalog)
        log.info("loaded catalog index %s (%d products)", config.catalog, len(catalog))
        return catalog
    name = config.embedder or "all-MiniLM-L6-v2"
    catalog = Catalog.build(list(products), list(products.values()), embedder, name, progress=True)
    if config.catalog:
        catalog.save(config.catalog)
    return catalog


def with_doc_ids(pool: pa.Table) -> pa.Table:
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


def pair_table(rows: pa.Table, pair_ids: list[str], origin: str | None, strategy: str) -> pa.Table:
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


def round_candidates(
    pool: pa.Table,
    seeds: list[str],
    weights: np.ndarray,
    labelled: set[tuple[str, str]],
    number: int,
    augmenter: Augmenter,
    catalog: Catalog,
    embedder: SentenceTransformer,
    seeds_per_round: int,
    top_k: int,
    negatives: int,
    rng: np.random.Generator,
) -> pa.Table:
    """A distillation round's candidates: the pool pairs of ``seeds_per_round`` seed queries drawn by
    ``weights`` not ``labelled`` before, plus pairs of the queries ``augmenter`` generates from them
    with their ``top_k`` nearest products in ``catalog`` and ``negatives`` random ones."""
    pairs = list(zip(pool["query"].to_pylist(), pool["doc_id"].to_pylist(), strict=True))
    # Seeds whose pool pairs are all labelled (round 0 takes whole queries) bring none: draw
    # among the others while any are left.
    unlabelled = {query for query, doc_id in pairs if (query, doc_id) not in labelled}
    fresh = np.array([seed in unlabelled for seed in seeds])
    if fresh.any() and (weights * fresh).sum() > 0:
        weights = weights * fresh / (weights * fresh).sum()
    count = min(seeds_per_round, int(np.count_nonzero(weights)))
    chosen = [seeds[int(i)] for i in rng.choice(len(seeds), count, replace=False, p=weights)]
    wanted = set(chosen)
    rows = [
        i for i, (query, doc_id) in enumerate(pairs) if query in wanted and (query, doc_id) not in labelled
    ]
    seed_pairs = pair_table(
        pool.take(pa.array(rows, pa.int64())), [f"r{number}-s{i}" for i in range(len(rows))], None, "seed"
    )
    generated = augmenter.generate(chosen, [])
    if not generated:
        return seed_pairs
    retrieved = catalog.pair_set(generated, embedder, top_k, negatives, rng)
    ids = pa.array([f"r{number}-{pair_id}" for pair_id in retrieved["pair_id"].to_pylist()])
    return pa.concat_tables(
        [seed_pairs, retrieved.set_column(0, "pair_id", ids).select(seed_pairs.column_names)]
    )
