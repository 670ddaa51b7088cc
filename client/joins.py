"""A relevance set given as a folder of tables, joined into one file of pairs.

Public sets often keep judgements apart from the texts they judge: Wayfair's WANDS has
``label.csv`` (query_id, product_id, label) beside ``query.csv`` and ``product.csv``; Amazon's
ESCI has the examples beside a products file keyed by (product_id, product_locale). The file of
judgements is the one with a grade column; every other table whose shared columns identify its
rows (a product per product_id) adds its columns to each judgement, as a left join that keeps
the judgements' order. The joined table is written once to the cache (parquet) and read from
there by the usual readers, so every command takes the folder as it takes a file.

Example::

    joined = join_folder(Path("WANDS/dataset"))  # label.csv, + query.csv on query_id, + product.csv ...
    read_header(joined)  # ['id', 'query_id', 'product_id', 'label', 'query', 'query_class', ...]
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from protege import cache_dir

from .jobs import write_parquet_atomic
from .readers import (
    COMPRESSIONS,
    KNOWN_COLUMNS,
    DataError,
    find_columns,
    find_columns_by_content,
    sample_rows,
    usual_name,
)

log = logging.getLogger(__name__)
ROW = "__protege_row"  # the judgements' row number, to restore their order after the join
FOUND = "__protege_found"  # set on the rows a joined table gave, to count the judgements it had none for


def join_folder(folder: Path, cache: Path | None = None) -> Path:
    """The parquet file of ``folder``'s judgements joined with the tables they refer to, written
    under ``cache`` (default: the protege cache) unless an earlier call wrote it for the same
    files; a folder of one data file gives that file."""
    files = data_files(folder)
    if len(files) == 1:
        return files[0]
    target = (cache or cache_dir() / "joined") / f"{folder.resolve().name}-{_digest(files)}.parquet"
    if target.exists():
        log.info("%s: reading its tables joined before, %s", folder, target)
        return target
    samples = {path: sample_rows(path) for path in files}
    judgements = _judgements(folder, samples)
    table = _read(judgements)
    table = table.append_column(ROW, pa.array(range(table.num_rows), pa.int64()))
    joined = [judgements.name]
    for path in files:
        if path == judgements:
            continue
        names = samples[path].column_names
        shared = [name for name in names if name in table.column_names]
        added = [name for name in names if name not in table.column_names]
        if not shared or not added:
            why = "adds no column to" if shared else "shares no column with"
            log.warning("%s: left out, it %s %s", path.name, why, judgements.name)
            continue
        other = _read(path).select(shared + added)
        if other.group_by(shared).aggregate([]).num_rows < other.num_rows:
            log.warning(
                "%s: left out, values of its %s repeat, so it has no one row to add to a judgement",
                path.name, " + ".join(shared),
            )  # fmt: skip
            continue
        other = other.append_column(FOUND, pa.array([True] * other.num_rows))
        candidate = _left_join(table, other, shared, path)
        missing = candidate[FOUND].null_count
        if missing == table.num_rows:  # ids of another split (a Kaggle test file's)
            log.warning("%s: left out, no judgement has its %s", path.name, " + ".join(shared))
            continue
        if missing:
            log.warning(
                "%s: %d of %d judgements have no row in it (its columns are empty there)",
                path.name, missing, table.num_rows,
            )  # fmt: skip
        table = candidate.drop_columns([FOUND])
        joined.append(f"{path.name} on {' + '.join(shared)}")
    table = table.sort_by(ROW).drop_columns([ROW])
    target.parent.mkdir(parents=True, exist_ok=True)
    write_parquet_atomic(table, target)
    log.info("%s: joined %s: %d rows, %s", folder, " + ".join(joined), table.num_rows, target)
    return target


def data_files(folder: Path) -> list[Path]:
    """The data files (CSV, TSV, JSONL, parquet, compressed or not) directly in ``folder``."""
    # Not .json: beside data, that is metadata (a Hugging Face dataset folder's dataset_info.json).
    suffixes = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq", *COMPRESSIONS)
    files = sorted(
        path for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in suffixes
    )  # fmt: skip
    if not files:
        raise DataError(f"{folder}: a folder with no data file (.csv, .tsv, .jsonl or .parquet)")
    return files


def _judgements(folder: Path, samples: dict[Path, pa.Table]) -> Path:
    """The one file with a grade column: by its usual name (not a products file's
    "average_rating"), else by the words of its name, else by its values. A column of one value
    grades nothing (a Kaggle sample submission's "relevance", all 1)."""

    def grade(path: Path, by: str) -> str | None:
        names = samples[path].column_names
        if by == "usual name":
            return next((name for name in names if usual_name(name) in KNOWN_COLUMNS["label"]), None)
        if by == "words":
            return find_columns(names, ("label",))["label"]
        return find_columns_by_content(samples[path], ("label",))["label"]

    for by in ("usual name", "words", "values"):
        graded = [
            path for path in samples
            if (column := grade(path, by)) and pc.count_distinct(samples[path][column]).as_py() > 1
        ]  # fmt: skip
        if graded:
            break
    if len(graded) != 1:
        raise DataError(
            f"{folder}: protege joins a folder's tables to its one file of graded judgements, and "
            f"{'none' if not graded else ', '.join(path.name for path in graded)} of "
            f"{', '.join(path.name for path in samples)} {'has' if len(graded) < 2 else 'have'} a grade "
            "column; give one file as --data"
        )
    return graded[0]


def _read(path: Path) -> pa.Table:
    """All of ``path``'s rows and columns, as the readers read them (CSV: text)."""
    return sample_rows(path, rows=sys.maxsize)


def _left_join(table: pa.Table, other: pa.Table, keys: list[str], path: Path) -> pa.Table:
    for key in keys:  # an id read as text in one file and as a number in another still matches
        if table[key].type != other[key].type:
            table = table.set_column(table.column_names.index(key), key, pc.cast(table[key], pa.string()))
            other = other.set_column(other.column_names.index(key), key, pc.cast(other[key], pa.string()))
    try:
        return table.join(other, keys, join_type="left outer")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise DataError(f"{path}: cannot join it on {' + '.join(keys)}: {error}") from None


def _digest(files: list[Path]) -> str:
    """Changes when any file does (name, size or time written)."""
    digest = hashlib.sha256()
    for path in files:
        status = path.stat()
        digest.update(f"{path.name}\0{status.st_size}\0{status.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]
