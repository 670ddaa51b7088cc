"""``protege coverage``'s job: coverage@τ of a target query set by the training queries of a file or
a ``protege label`` / ``protege filter`` folder, and the targets' least covered clusters.

With an ``index`` folder, the training queries go into a ``CoverageIndex`` that is saved and grows
run by run (every training query held). Without one, they are read, embedded and folded through a
``CoverageFold`` of the targets ``batch`` queries at a time: memory for the targets only, however
many training queries there are.

Example::

    job = CoverageConfig(target=Path("test.csv"), train=Path("labels/"), query_col="search_term")
    report = measure_coverage(job, partial(embed, load_embedder()))
    report["coverage@0.8"]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from protege.client.data import Columns, read_pairs
from protege.client.data.pairs import read_queries
from protege.client.labelling.jobs import pair_files

from .coverage import QUERIES, CoverageIndex, Embed, coverage_report
from .coverage_config import CoverageConfig
from .coverage_fold import CoverageFold


def measure_coverage(job: CoverageConfig, embed: Embed) -> dict:
    """coverage@τ of ``job.target``'s queries for each of ``job.taus``, the training queries counted,
    and the five least covered target clusters with example queries."""
    if not job.taus:
        raise ValueError("no τ to measure coverage at")
    targets = read_queries(job.target, job.query_col, job.encoding)
    if not targets:
        raise ValueError(f"{job.target}: no target queries in column {job.query_col!r}")
    vectors = embed(targets)
    if job.index is not None:
        best, counted = _indexed(job.index, job, embed, vectors)
    elif job.train is not None:
        best, counted = _folded(job.train, job, embed, vectors)
    else:
        raise ValueError("no training queries: give --train, or --index with a saved index")
    report = coverage_report(targets, vectors, best, job.taus, job.clusters)
    return {"targets": report.pop("targets"), **counted, **report}


def training_query_batches(path: Path, column: str, encoding: str, rows: int) -> Iterator[list[str]]:
    """The distinct queries of each ``rows`` rows of a data file, a label job's shards or a filter
    folder's accepted pairs, in file order (a query in two batches comes twice)."""
    if path.is_dir():
        for file in pair_files(path):
            parquet = pq.ParquetFile(file)
            if column not in parquet.schema_arrow.names:
                raise ValueError(
                    f"{file} has no column {column!r} (it has: {', '.join(parquet.schema_arrow.names)})"
                )
            for batch in parquet.iter_batches(batch_size=rows, columns=[column]):
                yield list(dict.fromkeys(batch.column(0).drop_null().to_pylist()))
        return
    for chunk in read_pairs(path, Columns(query=column, docs=(column,)), encoding=encoding, chunk_rows=rows):
        yield list(dict.fromkeys(chunk["query"].to_pylist()))


def _indexed(folder: Path, job: CoverageConfig, embed: Embed, vectors: np.ndarray) -> tuple[np.ndarray, dict]:
    """Each target's nearest training query in the saved index at ``folder``, grown by ``job.train``."""
    index = CoverageIndex.load(folder, embed) if (folder / QUERIES).exists() else CoverageIndex(embed)
    if job.train is not None:
        for batch in training_query_batches(job.train, job.query_col, job.encoding, job.batch):
            index.add(batch)
    if not len(index):
        raise ValueError("no training queries: give --train, or --index with a saved index")
    index.save(folder)
    return index.nearest(vectors)[0], {"training_queries": len(index)}


def _folded(train: Path, job: CoverageConfig, embed: Embed, vectors: np.ndarray) -> tuple[np.ndarray, dict]:
    """Each target's best training match, ``train`` folded through an index of the targets."""
    fold = CoverageFold(vectors, floor=min(job.taus))
    read = 0
    with tqdm(desc="coverage fold", unit="query") as bar:
        for batch in training_query_batches(train, job.query_col, job.encoding, job.batch):
            fold.fold(embed(batch), np.arange(read, read + len(batch)))
            read += len(batch)
            bar.update(len(batch))
    if not read:
        raise ValueError(f"{train}: no training queries in column {job.query_col!r}")
    return fold.best, {"training_queries_folded": read}
