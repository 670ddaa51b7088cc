"""The rows each loss trains on, made from (query, document, teacher score) triples, and how
many pairs a row holds.

The rows are built in chunks from Arrow columns, and written, when given a folder, to an Arrow
file that every process memory-maps (``Dataset.from_file``): a million labels train without a
Python object per label, only their scores and order in memory.

Example::

    dataset = training_dataset(queries, documents, scores, "group-margin-mse", seed=0)
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from protege.client.training.config import LOSSES
from protege.common.scores import logit

# group-margin-mse: a query's documents in rows of at most this many (every pair of a row is learned from).
GROUP_SIZE = 8
# Labels gathered into one written batch of rows: what the rows cost in memory while they are made.
CHUNK_PAIRS = 65_536

Texts = Sequence[str] | pa.Array | pa.ChunkedArray


def learnable(queries: Sequence[str], targets: Sequence[float], loss: str) -> bool:
    """Whether ``loss`` has a row to learn from: any pair for ``bce`` and ``mse``; for the margin
    losses, a query with two differently scored documents."""
    if loss not in ("margin-mse", "group-margin-mse"):
        return len(queries) > 0
    scores: dict[str, set[float]] = defaultdict(set)
    for query, target in zip(queries, targets, strict=True):
        scores[query].add(float(target))
    return any(len(values) > 1 for values in scores.values())


def training_dataset(
    queries: Texts,
    documents: Texts,
    targets: Sequence[float],
    loss: str,
    seed: int,
    folder: Path | None = None,
) -> Dataset:
    """The rows a loss trains on: (query, document, label) for ``bce`` and ``mse``; for
    ``margin-mse``, (query, document, other document of the same query) with the two teacher
    scores as logits, one row per document whose query has another, differently scored one; for
    ``group-margin-mse``, (query, up to ``GROUP_SIZE`` of its documents) with their logits.

    With ``folder``, the rows are written to an Arrow file there and memory-mapped; without, they
    are held in memory."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose from {', '.join(LOSSES)}")
    queries, documents = _arrow(queries), _arrow(documents)
    targets = np.asarray(targets, dtype=np.float64)
    if loss in ("bce", "mse"):
        batches = _pair_rows(queries, documents, targets)
    else:
        grouped = loss == "group-margin-mse"
        units = (_groups if grouped else _margin_pairs)(
            _query_runs(queries), targets, np.random.default_rng(seed)
        )
        build = _grouped if grouped else _margins
        batches = (build(chunk, queries, documents, targets) for chunk in _chunks(units))
    dataset = _written(batches, folder)
    if not len(dataset):
        raise ValueError(
            f"{loss} needs queries with two or more differently scored documents; there are none"
        )
    return dataset


def pairs_per_epoch(dataset: Dataset) -> int:
    """The (query, document) pairs an epoch over ``dataset`` passes through the model."""
    if "docs" in dataset.column_names:
        return int(pc.sum(pc.list_value_length(dataset.with_format("arrow")["docs"])).as_py() or 0)
    return len(dataset) * (len(dataset.column_names) - 2)  # query, label, and one column a document


def rows_per_batch(dataset: Dataset, pairs: int) -> int:
    """Dataset rows per step that hold about ``pairs`` (query, document) pairs: grouped rows hold
    several."""
    if "docs" not in dataset.column_names:
        return pairs
    return max(1, round(pairs * len(dataset) / pairs_per_epoch(dataset)))


def text_lengths(column: pa.ChunkedArray) -> np.ndarray:
    """Characters of each row's text (a list's texts summed), read from Arrow without Python strings."""
    found = []
    for chunk in column.chunks:
        if pa.types.is_list(chunk.type) or pa.types.is_large_list(chunk.type):
            offsets = chunk.offsets.to_numpy()
            lengths = pc.utf8_length(chunk.values.slice(offsets[0], offsets[-1] - offsets[0])).to_numpy()
            totals = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
            found.append(totals[offsets[1:] - offsets[0]] - totals[offsets[:-1] - offsets[0]])
        else:
            found.append(pc.utf8_length(chunk).to_numpy(zero_copy_only=False).astype(np.int64))
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def _arrow(texts: Texts) -> pa.ChunkedArray:
    if isinstance(texts, pa.ChunkedArray):
        return texts
    return pa.chunked_array([texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.string())])


def _query_runs(queries: pa.ChunkedArray) -> Iterator[np.ndarray]:
    """Each query's rows in input order, queries in order of first appearance: in memory, one
    integer a label for the query and one for the order, not its text."""
    encoded = pa.chunked_array([pc.dictionary_encode(chunk) for chunk in queries.chunks]).unify_dictionaries()
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks])
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_codes[1:] != sorted_codes[:-1]]))
    del codes, sorted_codes
    ends = np.append(starts[1:], len(order))
    for run in np.argsort(order[starts], kind="stable"):
        yield order[starts[run] : ends[run]]


def _pair_rows(
    queries: pa.ChunkedArray, documents: pa.ChunkedArray, targets: np.ndarray
) -> Iterator[pa.Table]:
    for start in range(0, len(targets), CHUNK_PAIRS):
        end = min(start + CHUNK_PAIRS, len(targets))
        yield pa.table(
            {
                "query": queries.slice(start, end - start),
                "document": documents.slice(start, end - start),
                "label": pa.array(targets[start:end]),
            }
        )


def _chunks(units: Iterator[Sequence[int]]) -> Iterator[list[Sequence[int]]]:
    """Rows' label indices, gathered until they hold ``CHUNK_PAIRS`` labels."""
    chunk: list[Sequence[int]] = []
    size = 0
    for unit in units:
        chunk.append(unit)
        size += len(unit)
        if size >= CHUNK_PAIRS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _groups(
    runs: Iterator[np.ndarray], targets: np.ndarray, rng: np.random.Generator
) -> Iterator[np.ndarray]:
    """Each query's documents, shuffled and cut into rows of at most ``GROUP_SIZE`` (at least two
    each), where its teacher scores differ at all."""
    for members in runs:
        if len(np.unique(targets[members])) < 2:
            continue
        order = rng.permutation(members)
        yield from np.array_split(order, -(-len(order) // GROUP_SIZE))


def _margin_pairs(
    runs: Iterator[np.ndarray], targets: np.ndarray, rng: np.random.Generator
) -> Iterator[tuple[int, int]]:
    """For each document, one other document of its query, scored differently, drawn at random."""
    for members in runs:
        for row in members:
            others = members[targets[members] != targets[row]]
            if len(others):
                yield int(row), int(others[int(rng.integers(len(others)))])


def _grouped(
    groups: list[Sequence[int]], queries: pa.ChunkedArray, documents: pa.ChunkedArray, targets: np.ndarray
) -> pa.Table:
    rows = np.concatenate(groups)
    offsets = pa.array(np.concatenate([[0], np.cumsum([len(group) for group in groups])]), pa.int32())
    return pa.table(
        {
            "query": queries.take(pa.array([group[0] for group in groups])),
            "docs": pa.ListArray.from_arrays(offsets, documents.take(pa.array(rows)).combine_chunks()),
            "label": _logit_lists(offsets, targets[rows]),
        }
    )


def _margins(
    pairs: list[Sequence[int]], queries: pa.ChunkedArray, documents: pa.ChunkedArray, targets: np.ndarray
) -> pa.Table:
    rows = np.asarray(pairs)
    offsets = pa.array(np.arange(0, 2 * len(rows) + 1, 2), pa.int32())
    return pa.table(
        {
            "query": queries.take(pa.array(rows[:, 0])),
            "first": documents.take(pa.array(rows[:, 0])),
            "second": documents.take(pa.array(rows[:, 1])),
            "label": _logit_lists(offsets, targets[rows.ravel()]),
        }
    )


def _logit_lists(offsets: pa.Array, scores: np.ndarray) -> pa.ListArray:
    return pa.ListArray.from_arrays(offsets, pa.array(logit(scores)))


def _written(batches: Iterator[pa.Table], folder: Path | None) -> Dataset:
    """The rows as a Dataset: held in memory, or written to ``folder`` and memory-mapped."""
    if folder is None:
        tables = list(batches)
        return Dataset(pa.concat_tables(tables)) if tables else Dataset(pa.table({}))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rows.arrow"
    scratch = folder / f".rows.arrow.{os.getpid()}"  # every process of a torchrun writes its own
    writer = None
    for table in batches:
        writer = writer or pa.ipc.new_stream(scratch, table.schema)
        writer.write_table(table)
    if writer is None:
        return Dataset(pa.table({}))
    writer.close()
    scratch.replace(path)
    return Dataset.from_file(str(path))
