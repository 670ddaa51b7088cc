"""The shared split of ``../shared/data/README.md``, and the rows a study reads of a file.

``bucket(query) = int(sha1(query.strip().lower()), 16) % 10``: buckets 0–2 fit the teacher on
gold grades, 3–7 are the student pool (queries and products only: its labels come from the
teacher), 8–9 are the test set, read only to report. A fifth of the pool's queries
(``is_validation``) is held out with its gold grades: the validation set, the only gold any
setting or grade map is chosen on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from protege.client.data import read_table
from protege.client.data.grades import normalise_grades
from protege.client.data.query_hash import bucket, is_validation, pair_order_key, query_order_key
from protege.client.data.sampling import whole_queries
from protege.client.evaluation.metrics import Evaluation
from protege.client.retrieval.candidates import with_doc_ids
from protege.common.setting_names import setting
from protege.server.validation import Limits

log = logging.getLogger("protege.study")

TEACHER_BUCKETS, POOL_BUCKETS, TEST_BUCKETS = range(0, 3), range(3, 8), range(8, 10)
# Queries a cut file keeps where it has them, each with fewer judged documents if need be, so
# its test set keeps enough queries to compare models on.
MIN_QUERIES = 2_000


@dataclass
class Split:
    """The four parts of a study's rows (columns ``query``, ``document``, ``label`` in 0..1, …)."""

    teacher: pa.Table
    pool: pa.Table
    validation: pa.Table
    test: pa.Table

    def sizes(self) -> dict[str, int]:
        return {
            "teacher_train": self.teacher.num_rows,
            "pool": self.pool.num_rows,
            "validation": self.validation.num_rows,
            "test": self.test.num_rows,
        }

    def judged(self, name: str, grades: tuple[float, float]) -> Evaluation:
        """The validation or test pairs with their grades on the file's own scale."""
        rows = getattr(self, name)
        low, high = grades
        gold = (rows["label"].to_numpy(zero_copy_only=False) * (high - low) + low).tolist()
        return Evaluation(rows["query"].to_pylist(), rows["document"].to_pylist(), gold)


def split_rows(
    table: pa.Table,
    teacher_pairs: int | None,
    pool_pairs: int | None,
    test_queries: int | None,
    seed: int,
    source: Path,
) -> Split:
    """The shared split of ``table``, each part sampled down to the sizes given (``None``: all)."""
    rng = np.random.default_rng(seed)
    queries = table["query"].to_pylist()
    buckets = np.array([bucket(query) for query in queries])
    held_out = np.array([is_validation(query) for query in queries])
    teacher_rows = _whole_queries(
        np.flatnonzero(np.isin(buckets, TEACHER_BUCKETS)), teacher_pairs, queries, rng
    )
    pool_rows = _whole_queries(np.flatnonzero(np.isin(buckets, POOL_BUCKETS)), pool_pairs, queries, rng)
    split = Split(
        teacher=table.take(pa.array(teacher_rows, pa.int64())),
        pool=table.take(pa.array(pool_rows[~held_out[pool_rows]], pa.int64())),
        validation=table.take(pa.array(pool_rows[held_out[pool_rows]], pa.int64())),
        test=table.take(pa.array(_test_rows(queries, buckets, test_queries, rng), pa.int64())),
    )
    if not all(split.sizes().values()):
        parts = ", ".join(f"{count} {name.replace('_', '-')}" for name, count in split.sizes().items())
        raise ValueError(f"{source}: the split left {parts} pairs; the study needs some of each")
    log.info("split: %s pairs", ", ".join(f"{count:,} {name}" for name, count in split.sizes().items()))
    return split


def sample(rows: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    """``size`` of ``rows`` drawn without replacement, in order (all of them when ``size`` is None)."""
    if size is None or size >= len(rows):
        return rows
    return np.sort(rng.choice(rows, size, replace=False))


def _whole_queries(
    rows: np.ndarray, size: int | None, queries: list[str], rng: np.random.Generator
) -> np.ndarray:
    """``size`` of ``rows``, drawn by whole queries (``client.data.sampling``)."""
    return rows[whole_queries([queries[row] for row in rows], size, rng)]


def _test_rows(
    queries: list[str], buckets: np.ndarray, count: int | None, rng: np.random.Generator
) -> np.ndarray:
    """Test pairs: all judged pairs of a sample of ``count`` test queries."""
    rows = np.flatnonzero(np.isin(buckets, TEST_BUCKETS))
    if count is None:
        return rows
    names = np.array(queries, dtype=object)[rows]
    distinct = sorted(set(names))
    keep = set(rng.choice(distinct, min(count, len(distinct)), replace=False).tolist())
    return rows[[name in keep for name in names]]


def cut_long_texts(table: pa.Table, limit: int, data: Path) -> pa.Table:
    """Queries and documents cut to the served teacher's ``limit`` on text (which it would refuse);
    its model and the students read far fewer tokens than that many characters anyway."""
    for name, plural in (("query", "queries"), ("document", "documents")):
        column = table[name]
        long = pc.greater(pc.utf8_length(column), limit)
        if pc.any(long).as_py():
            count = pc.sum(long).as_py()
            log.warning(
                "%s: %d %s are longer than the teacher's limit of %d characters and are cut to it",
                data,
                count,
                plural,
                limit,
            )
            table = table.set_column(
                table.column_names.index(name), name, pc.utf8_slice_codeunits(column, 0, limit)
            )
    return table


def rows_within(queries: list[str], documents: list[str], limit: int | None) -> np.ndarray | None:
    """The rows a study reads of a file of more than ``limit`` rows; None when every row fits.

    Whole queries are taken in order of a hash independent of the split, so each split keeps its
    share. Each query first keeps at most as many of its documents (chosen by a hash of the pair)
    as lets the first ``MIN_QUERIES`` queries fit: a file of a few hundred queries with hundreds
    of judged documents each keeps every query, a file of short lists is cut to whole queries.
    """
    if limit is None or len(queries) <= limit:
        return None
    query_key = np.array([query_order_key(query) for query in queries], dtype=np.int64)
    pairs = zip(queries, documents, strict=True)
    pair_key = np.array([pair_order_key(query, document) for query, document in pairs], dtype=np.int64)
    order = np.lexsort((pair_key, query_key))  # a query's rows lie together, in pair-hash order
    first, counts = np.unique(query_key[order], return_index=True, return_counts=True)[1:]
    low, high = 1, int(counts.max())  # the most documents per query that fits MIN_QUERIES queries
    while low < high:
        middle = (low + high + 1) // 2
        fits = np.minimum(counts[:MIN_QUERIES], middle).sum() <= limit
        low, high = (middle, high) if fits else (low, middle - 1)
    order = order[np.arange(len(order)) - np.repeat(first, counts) < low]
    # Keep the queries whose rows end within the limit.
    group_ends = np.searchsorted(query_key[order], query_key[order], side="right")
    return np.sort(order[group_ends <= limit])


def _products_keyed(table: pa.Table, source: Path) -> pa.Table:
    """``table`` with every product keyed: by its id, else by its text. Keyed by a missing id, a
    file with no product-id column once made a catalog of one product and one pair a query."""
    missing = table["doc_id"].null_count
    if missing:
        log.warning(
            "%s: %d of %d rows have no product id (no %s found): their products are keyed by their text",
            source,
            missing,
            table.num_rows,
            setting("Columns.doc_id"),
        )
    return with_doc_ids(table)


def load_rows(
    data: Path,
    columns,
    *,
    encoding: str,
    label_range: tuple[float, float] | None,
    max_rows: int | None,
    source: Path,
    text_limit: int = Limits.max_text_chars,
) -> tuple[pa.Table, tuple[float, float], bool]:
    """The graded rows a study reads of ``data``: labels mapped to 0..1 by ``label_range`` (default:
    the grades' min and max), texts cut to ``text_limit`` (the served teacher's), at most
    ``max_rows`` rows (``rows_within``). Returns the rows, the grade range and whether
    ``max_rows`` cut the file."""
    table = read_table(data, columns, encoding=encoding)
    ungraded = pc.is_null(table["label"], nan_is_null=True)
    if pc.any(ungraded).as_py():
        count = pc.sum(ungraded).as_py()
        log.warning(
            "%s: %d of %d rows have no grade and are left out of the study", source, count, table.num_rows
        )
        table = table.filter(pc.invert(ungraded))
    table = cut_long_texts(table, text_limit, source)
    table = _products_keyed(table, source)
    grades = table["label"].to_numpy(zero_copy_only=False)
    if label_range is None and len(grades) and np.nanmin(grades) == np.nanmax(grades):
        raise ValueError(
            f"{source}: every grade in column {columns.label!r} is {grades[0]:g}; a study ranks judged "
            "documents against each other, so it needs at least two (positives-only qrels rank nothing: add "
            "the judged non-relevant pairs)"
        )
    label_range = label_range or (float(np.nanmin(grades)), float(np.nanmax(grades)))
    table = table.set_column(
        table.column_names.index("label"), "label", pa.array(normalise_grades(grades, label_range))
    )
    queries = table["query"].to_pylist()
    kept = rows_within(queries, table["document"].to_pylist(), max_rows)
    if kept is not None:
        per_query = np.unique(np.array(queries, dtype=object)[kept], return_counts=True)[1]
        log.warning(
            "%s: %d graded rows of %d queries; under %s %d (0 for all) the study reads the %d rows "
            "of the first %d queries in hash order, at most %d judged documents each",
            source,
            table.num_rows,
            len(set(queries)),
            setting("max_rows"),
            max_rows,
            len(kept),
            len(per_query),
            per_query.max(),
        )
        table = table.take(pa.array(kept, pa.int64()))
    return table, label_range, kept is not None
